using System.Globalization;
using Graft.Client;
using Graft.Core;
using Graft.EndToEnd.Tests.Network;
using Graft.Mount;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Retirement;

/// <summary>
/// A library <see cref="Volume"/> in this process whose graph is protocol/client (optionally under
/// performance/write-behind and debug/faults) talking over loopback to a `graft brick` child
/// process. Every layer inserted or removed is a real graph switch with a new connection.
/// </summary>
internal sealed class NetVolume : IAsyncDisposable
{
    public const string Brick = "b";
    private readonly string _temp;
    public readonly BrickProcess BrickProcess;
    /// <summary>The exported directory (the brick's disk).</summary>
    public string BrickDir => Path.Combine(_temp, Brick);
    public readonly Volume Volume;

    private NetVolume(string temp, BrickProcess brick, Volume v) { _temp = temp; BrickProcess = brick; Volume = v; }

    public static async Task<NetVolume> StartAsync(bool writeBehind, TimeSpan? retirementTimeout = null, string? faults = null)
    {
        var temp = BrickProcess.NewTempDir();
        var dir = Path.Combine(temp, Brick);
        Directory.CreateDirectory(dir);
        BrickProcess? brick = null;
        try
        {
            brick = await BrickProcess.ServeDirAsync(dir);
            var v = await Volume.OpenVolfileTextAsync(Volfile(brick.Port, writeBehind, faults), "client.vol", new VolumeOptions
            {
                ChildUpTimeout = TimeSpan.FromSeconds(15),
                RetirementTimeout = retirementTimeout ?? TimeSpan.FromSeconds(30),
                DrainTimeout = TimeSpan.FromSeconds(10),
            });
            return new NetVolume(temp, brick, v);
        }
        catch
        {
            if (brick is not null) await brick.DisposeAsync();
            Directory.Delete(temp, recursive: true);
            throw;
        }
    }

    /// <summary>
    /// The client volfile: protocol/client, then optionally debug/faults (with <paramref name="faults"/>
    /// as its option lines) and write-behind, under a pass-through top.
    /// </summary>
    public static string Volfile(int port, bool writeBehind, string? faults = null)
    {
        var below = "client";
        var s = $"""
            volume client
                type protocol/client
                option remote-host 127.0.0.1
                option remote-port {port.ToString(CultureInfo.InvariantCulture)}
                option remote-subvolume {Brick}
                option frame-timeout 30
                option secret-file {TestSecret.File}
            end-volume

            """;
        if (faults is not null)
        {
            s += $"volume faults\n    type debug/faults\n{faults}    subvolumes {below}\nend-volume\n\n";
            below = "faults";
        }
        if (writeBehind)
        {
            s += $"volume wb\n    type performance/write-behind\n    subvolumes {below}\nend-volume\n\n";
            below = "wb";
        }
        return s + $"volume top\n    type debug/passthrough\n    subvolumes {below}\nend-volume\n";
    }

    public async Task<SwitchResult> ApplyAsync(bool writeBehind, string? faults = null)
    {
        var r = await Volume.ApplyVolfileAsync(Volfile(BrickProcess.Port, writeBehind, faults), "client.vol");
        Assert.True(r.Outcome == SwitchOutcome.Switched, $"{r.Outcome}: {r.Message}");
        return r;
    }

    public MountState State => Volume.GetState();

    /// <summary>Waits (bounded) until only the active graph is left: every old one retired and destroyed.</summary>
    public async Task WaitOneGraphAsync(TimeSpan bound)
    {
        var deadline = DateTime.UtcNow + bound;
        while (Volume.Session.Graphs.Count != 1)
        {
            if (DateTime.UtcNow > deadline)
                throw new TimeoutException($"still {Volume.Session.Graphs.Count} graphs alive: {State.ToJson()}");
            await Task.Delay(10);
        }
    }

    public async ValueTask DisposeAsync()
    {
        // Bounded: a test that failed half-way may leave a stream whose flush never gets an answer.
        try { await Volume.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(60)); }
        finally
        {
            await BrickProcess.DisposeAsync();
            try { Directory.Delete(_temp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}

/// <summary>Fixed-size records that prove themselves: writer | sequence | filler | FNV-1a of the rest.</summary>
internal static class Records
{
    public const int Size = 64;

    public static void Make(Span<byte> rec, int writer, int seq)
    {
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(rec, writer);
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(rec[4..], seq);
        for (int i = 8; i < 60; i++) rec[i] = (byte)(writer * 31 + seq + i);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(rec[60..], Checksum(rec[..60]));
    }

    public static uint Checksum(ReadOnlySpan<byte> b)
    {
        uint h = 2166136261;
        foreach (var x in b) h = (h ^ x) * 16777619;
        return h;
    }

    /// <summary>Null when the record is intact and is (writer, seq); otherwise what is wrong.</summary>
    public static string? Check(ReadOnlySpan<byte> rec, int writer, int seq)
    {
        if (Checksum(rec[..60]) != System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(rec[60..])) return "torn record";
        var w = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(rec);
        var s = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(rec[4..]);
        return w == writer && s == seq ? null : $"record ({w}, {s}) where ({writer}, {seq}) belongs";
    }
}
