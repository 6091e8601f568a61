using Graft.Core;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// A graph switch runs two storage/posix instances on one brick directory side by side. A lookup
/// through one that races a create through the other must never give the half-made file a GFID of
/// its own: it sees the name absent, or the creator's GFID; the create succeeds with that GFID.
/// (Before the name locks were shared per brick, the lookup could stamp a random GFID first, the
/// create then failed and removed the file, and the lookup answered EIO.)
/// </summary>
public class LookupsRacingCreatesAcrossInstances
{
    [PosixFact]
    public async Task A_lookup_sees_nothing_or_the_creators_gfid()
    {
        await using var a = await PosixBrick.StartAsync();
        await using var b = await PosixBrick.StartAsync(temp: a.Temp, dir: a.Dir, ownsTemp: false);
        const int Names = 400;
        var wrong = new List<string>();
        for (int i = 0; i < Names; i++)
        {
            var name = $"f{i}";
            var gfid = Gfid.NewGfid();
            using var created = new ManualResetEventSlim();
            var lookups = Task.Run(async () =>
            {
                // Look the name up as fast as possible until the create has answered, then once more.
                for (bool last = false; ; )
                {
                    last = created.IsSet;
                    var r = await b.Xl.LookupAsync(PosixBrick.Root, Loc.Child(Gfid.Root, name));
                    if (r.Ok ? r.Value.Gfid != gfid : r.Error != Errno.ENOENT || last)
                        lock (wrong) wrong.Add($"{name}: lookup {(r.Ok ? "gfid " + r.Value.Gfid : r.Error.ToString())}, creator {gfid}");
                    if (last) return;
                }
            });
            var fd = a.NewFd(gfid, PosixMode.S_IFREG, OpenFlags.O_RDWR);
            var c = await Task.Run(async () => await a.Xl.CreateAsync(PosixBrick.Root, Loc.Child(Gfid.Root, name), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1A4, 0, gfid, fd));
            created.Set();
            await lookups.WaitAsync(TimeSpan.FromSeconds(30));
            if (!c.Ok || c.Value.Gfid != gfid) wrong.Add($"{name}: create {(c.Ok ? "gfid " + c.Value.Gfid : c.Error.ToString())}, wanted {gfid}");
            else await a.Release(fd);
        }
        Assert.True(wrong.Count == 0, string.Join('\n', wrong.Take(20)));
    }
}
