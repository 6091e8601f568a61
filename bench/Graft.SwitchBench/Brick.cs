using System.Diagnostics;
using System.Globalization;
using Graft.Client;
using Graft.Core;
using Graft.Mount;

namespace Graft.SwitchBench;

/// <summary>A `graft brick` child process on loopback and a library volume on it (protocol/client in this process).</summary>
internal sealed class NetVolume : IAsyncDisposable
{
    private readonly Process _brick;
    public int Port { get; }
    public Volume Volume { get; }

    private NetVolume(Process brick, int port, Volume v) { _brick = brick; Port = port; Volume = v; }

    public static async Task<NetVolume> StartAsync(string dir, bool writeBehind)
    {
        Directory.CreateDirectory(dir);
        // The brick's secret, beside (never inside) the exported directory: a session without it is
        // root-squashed, and root owns the volume's root directory.
        var secret = Path.GetFullPath(dir).TrimEnd('/') + ".secret";
        File.WriteAllText(secret, Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)) + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(secret, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in new[] { Path.Combine(AppContext.BaseDirectory, "graft.dll"), "brick", "--dir", dir, "--port", "0", "--name", "bench", "--secret-file", secret })
            psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        var line = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (line is null || !line.StartsWith("listening ", StringComparison.Ordinal)) throw new InvalidOperationException($"brick did not start: {line}");
        var port = int.Parse(line[(line.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
        // Keep reading what the brick prints (a line per connection): a full pipe would block its
        // logging, and with it the handshakes of new graphs.
        _ = p.StandardOutput.BaseStream.CopyToAsync(Stream.Null);
        Secret = secret;
        var v = await Volume.OpenVolfileTextAsync(Volfile(port, writeBehind), "bench.vol", new VolumeOptions
        {
            ChildUpTimeout = TimeSpan.FromSeconds(15),
        });
        return new NetVolume(p, port, v);
    }

    private static string Secret = "";

    /// <summary>protocol/client, optionally under performance/write-behind, under a pass-through top.</summary>
    public static string Volfile(int port, bool writeBehind) =>
        $"""
        volume client
            type protocol/client
            option remote-host 127.0.0.1
            option remote-port {port.ToString(CultureInfo.InvariantCulture)}
            option remote-subvolume bench
            option secret-file {Secret}
        end-volume
        {(writeBehind ? "volume wb\n    type performance/write-behind\n    subvolumes client\nend-volume\n" : "")}
        volume top
            type debug/passthrough
            subvolumes {(writeBehind ? "wb" : "client")}
        end-volume
        """;

    /// <summary>Inserts or removes write-behind: a new graph (and connection) each time.</summary>
    public async Task<SwitchResult> SwitchAsync(bool writeBehind)
    {
        var r = await Volume.ApplyVolfileAsync(Volfile(Port, writeBehind), "bench.vol");
        if (r.Outcome != SwitchOutcome.Switched) throw new InvalidOperationException($"switch: {r.Outcome} {r.Message}");
        return r;
    }

    /// <summary>Waits (bounded) until at most <paramref name="n"/> graphs are alive.</summary>
    public async Task WaitGraphsAsync(int n, TimeSpan bound)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(bound.TotalSeconds * Stopwatch.Frequency);
        while (Volume.Session.Graphs.Count > n)
        {
            if (Stopwatch.GetTimestamp() > deadline) throw new TimeoutException($"graphs not retiring: {Volume.GetState().ToJson()}");
            await Task.Delay(1);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Volume.DisposeAsync();
        _brick.Kill();
        await _brick.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        _brick.Dispose();
    }
}
