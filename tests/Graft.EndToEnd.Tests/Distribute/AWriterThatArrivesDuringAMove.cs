using Graft.Client;
using Graft.EndToEnd.Tests.Mounting;

namespace Graft.EndToEnd.Tests.Distribute;

/// <summary>
/// The window the move's mark closes: an application opens a file for writing through a mount after a
/// rebalance marked it and before its data is copied. The rebalance's own graph holds that window open
/// deterministically — a debug/faults layer over the source brick delays the first fstat, which comes
/// right after the mark — and the test opens the file only once the brick says it is marked. The write
/// is never lost: the writer waits and then writes into the moved file, or (migrate-yield) the move
/// gives way, the file stays and is reported skipped.
/// </summary>
public class AWriterThatArrivesDuringAMove
{
    [MountTheory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Loses_nothing_whether_it_waits_for_the_move_or_the_move_gives_way(bool giveWay)
    {
        await using var m = await DistributedMount.StartAsync("dht-window", 2);
        Directory.CreateDirectory(m.P("w"));
        // Hashed to b1 of two bricks, and to the new b2 once a fix-layout spreads /w over three.
        var name = Moves.NameHashedTo(2, of: 3);
        var path = m.P("w", name);
        await File.WriteAllTextAsync(path, "A\n");
        Assert.True(File.Exists(m.On(1, "/w/" + name)));
        await m.AddBrickAsync();

        var volfile = m.WriteVolfile("rebalance.vol", m.Volfile(null, giveWay ? "migrate-yield 1s" : "migrate-yield 0",
                                                                (1, "delay fstat; delay-count 1; delay-duration 4s")));
        await using var run = RebalanceProcess.Start(m.Home, volfile, "--json");
        await using (var b1 = await Volume.OpenVolfileTextAsync(m.BrickVolfile(1)))
            await Moves.UntilAsync(() => Moves.MarkedAsync(b1, "/w/" + name), "the rebalance to mark the file", 90);
        // Marked, not copied yet (the rebalance sits in its delayed fstat): open for writing now.
        var writer = Task.Run(() => File.AppendAllText(path, "B\n"));
        var r = await run.WaitAsync(120);
        await writer.WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(r.Code == 0, $"{r.Out}\n{r.Err}");
        Assert.Equal("A\nB\n", await File.ReadAllTextAsync(path));
        // The open was refused at least once by the mark: it did come inside the window.
        Assert.True(m.TranslatorCounter("dht", "waitsForMoves") >= 1, m.State());
        Assert.Equal(0, m.TranslatorCounter("dht", "moveWaitsTimedOut"));
        if (giveWay)
        {
            Assert.EndsWith("rebalance: 0 moved, 1 skipped, 0 failed", r.Out);
            Assert.Contains($"/w/{name}: skipped (open for writing)", r.Err);
            Assert.False(Moves.IsPointer(m.On(1, "/w/" + name)));
        }
        else
        {
            Assert.EndsWith("rebalance: 1 moved, 0 skipped, 0 failed", r.Out);
            Assert.False(File.Exists(m.On(1, "/w/" + name)), "the old copy is still on b1");
        }
        Moves.AssertSettledOnBricks(m, "/w", 3, allowedElsewhere: giveWay ? [name] : null);
    }
}
