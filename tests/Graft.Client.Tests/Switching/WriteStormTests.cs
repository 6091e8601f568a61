using System.Buffers.Binary;
using Graft.Core;

namespace Graft.Client.Tests.Switching;

/// <summary>
/// Many appenders keep writing and fsyncing while the graph switches hundreds of times: no call
/// fails, no record is lost, duplicated, reordered or torn, and only one graph is left at the end.
/// </summary>
public class WritersDuringASwitchStorm(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int Writers = 16, Switches = 200, RecordSize = 64;

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // two readers per file reading while it is written
    public async Task Sixteen_appenders_across_200_switches_lose_nothing(bool withReaders)
    {
        await using var t = await SwitchVolume.CreateAsync();
        using var stop = new CancellationTokenSource();
        var errors = new List<string>();
        var counts = new int[Writers];
        long written = 0;

        var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            await using var s = await t.Volume.OpenAsync($"/w{w}", OpenFlags.O_CREAT | OpenFlags.O_WRONLY | OpenFlags.O_APPEND);
            var rec = new byte[RecordSize];
            int seq = 0;
            while (!stop.IsCancellationRequested || seq < 20)
            {
                MakeRecord(rec, w, seq);
                try
                {
                    await s.WriteAsync(rec);
                    if (seq % 5 == 4) await s.FsyncAsync();
                    Interlocked.Increment(ref written);
                }
                catch (Exception e) { lock (errors) errors.Add($"writer {w} record {seq}: {e.Message}"); return; }
                seq++;
            }
            counts[w] = seq;
        })).ToArray();

        var readers = !withReaders ? [] : Enumerable.Range(0, Writers * 2).Select(r => Task.Run(async () =>
        {
            await Task.Delay(20);
            await using var s = await t.Volume.OpenAsync($"/w{r / 2}", OpenFlags.O_RDONLY);
            var buf = new byte[RecordSize * 16];
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    await Task.Delay(2); // readers share two cores with sixteen writers
                    // The newest records, which are the ones moving: each complete one must be intact.
                    var size = (await s.StatAsync()).Size / RecordSize * RecordSize;
                    s.Position = Math.Max(0, size - buf.Length);
                    int n = 0, got;
                    while (n < buf.Length && (got = await s.ReadAsync(buf.AsMemory(n))) > 0) n += got;
                    for (int i = 0; i + RecordSize <= n; i += RecordSize)
                        if (Checksum(buf.AsSpan(i, 60)) != BinaryPrimitives.ReadUInt32LittleEndian(buf.AsSpan(i + 60)))
                            throw new InvalidDataException($"torn record at {s.Position - n + i}");
                }
                catch (Exception e) { lock (errors) errors.Add($"reader {r}: {e.Message}"); return; }
            }
        })).ToArray();

        for (int i = 0; i < Switches; i++)
        {
            // Interleave for real: between two switches the writers as a whole make progress.
            var before = Interlocked.Read(ref written);
            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (Interlocked.Read(ref written) < before + Writers && DateTime.UtcNow < deadline) await Task.Delay(1);
            await t.ToggleAsync();
        }
        stop.Cancel();
        await Task.WhenAll(writers.Concat(readers)).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.True(errors.Count == 0, string.Join('\n', errors) + "\nthe volume logged:\n" + t.Log);
        for (int w = 0; w < Writers; w++)
        {
            var data = await t.Volume.ReadAllBytesAsync($"/w{w}");
            Assert.Equal(counts[w] * RecordSize, data.Length);
            for (int seq = 0; seq < counts[w]; seq++) CheckRecord(data.AsSpan(seq * RecordSize, RecordSize), w, seq);
        }
        var st = t.State;
        output.WriteLine($"records {counts.Sum()}, fd migrations {st.Counters.FdMigrations}, graphs destroyed so far {st.Counters.GraphsDestroyed}");
        Assert.Equal(Switches, st.Counters.Switches);
        Assert.Equal(0, st.Counters.FdMigrationFailures);
        Assert.True(counts.Sum() >= Switches * Writers, $"only {counts.Sum()} records were written");
        Assert.True(st.Counters.FdMigrations >= Switches, $"only {st.Counters.FdMigrations} fd migrations");
        await t.WaitOneGraphAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(0, t.State.Counters.RetirementsForced);
    }

    /// <summary>writer (4) | sequence (4) | filler (52) | FNV-1a of the first 60 bytes (4).</summary>
    private static void MakeRecord(byte[] rec, int writer, int seq)
    {
        BinaryPrimitives.WriteInt32LittleEndian(rec, writer);
        BinaryPrimitives.WriteInt32LittleEndian(rec.AsSpan(4), seq);
        for (int i = 8; i < 60; i++) rec[i] = (byte)(writer * 31 + seq + i);
        BinaryPrimitives.WriteUInt32LittleEndian(rec.AsSpan(60), Checksum(rec.AsSpan(0, 60)));
    }

    private static uint Checksum(ReadOnlySpan<byte> b)
    {
        uint h = 2166136261;
        foreach (var x in b) h = (h ^ x) * 16777619;
        return h;
    }

    private static void CheckRecord(ReadOnlySpan<byte> rec, int writer, int seq)
    {
        Assert.Equal(Checksum(rec[..60]), BinaryPrimitives.ReadUInt32LittleEndian(rec[60..]));
        Assert.Equal(writer, BinaryPrimitives.ReadInt32LittleEndian(rec));
        Assert.Equal(seq, BinaryPrimitives.ReadInt32LittleEndian(rec[4..]));
    }
}
