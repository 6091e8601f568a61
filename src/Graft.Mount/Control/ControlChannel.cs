using System.Net.Sockets;
using System.Text;

namespace Graft.Mount.Control;

/// <summary>
/// The mount daemon's control channel: a Unix socket beside the mount that answers one-line
/// commands ("state", ...) with one JSON document. It runs on a dedicated thread and never
/// calls into the graph, so it answers even while fops hang.
/// </summary>
public sealed class ControlServer : IDisposable
{
    private readonly Socket _listener;
    private readonly Func<string, string> _handler;
    private readonly Thread _thread;
    private volatile bool _stopping;

    public ControlServer(string socketPath, Func<string, string> handler)
    {
        SocketPath = socketPath;
        _handler = handler;
        Directory.CreateDirectory(Path.GetDirectoryName(socketPath)!);
        if (File.Exists(socketPath)) File.Delete(socketPath); // a stale socket of a dead daemon
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(socketPath));
        _listener.Listen(16);
        _thread = new Thread(Serve) { IsBackground = true, Name = "graft-control" };
        _thread.Start();
    }

    public string SocketPath { get; }

    private void Serve()
    {
        while (!_stopping)
        {
            Socket client;
            try { client = _listener.Accept(); }
            catch (SocketException) { if (_stopping) return; continue; }
            catch (ObjectDisposedException) { return; }
            using (client)
            {
                try
                {
                    client.ReceiveTimeout = 2000;
                    client.SendTimeout = 2000;
                    var command = ReadLine(client);
                    string reply;
                    try { reply = _handler(command); }
                    catch (Exception e) { reply = $"{{\"error\":{System.Text.Json.JsonSerializer.Serialize(e.Message)}}}"; }
                    client.Send(Encoding.UTF8.GetBytes(reply + "\n"));
                }
                catch (SocketException) { /* the client went away; serve the next one */ }
            }
        }
    }

    private static string ReadLine(Socket s)
    {
        var buf = new byte[1024];
        int n = 0;
        while (n < buf.Length)
        {
            int r = s.Receive(buf, n, buf.Length - n, SocketFlags.None);
            if (r == 0) break;
            n += r;
            if (Array.IndexOf(buf, (byte)'\n', 0, n) >= 0) break;
        }
        return Encoding.UTF8.GetString(buf, 0, n).Trim();
    }

    public void Dispose()
    {
        _stopping = true;
        _listener.Dispose();
        _thread.Join(TimeSpan.FromSeconds(2));
        try { File.Delete(SocketPath); } catch (IOException) { }
    }
}

/// <summary>Client side of <see cref="ControlServer"/>, as `graft state` uses it.</summary>
public static class ControlClient
{
    /// <summary>
    /// Sends one command and returns the reply, within <paramref name="timeout"/>. Blocking on
    /// purpose: it needs no thread pool, so it works from any thread of a busy process.
    /// </summary>
    public static string Send(string socketPath, string command, TimeSpan timeout)
    {
        using var s = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        var ms = (int)Math.Clamp(timeout.TotalMilliseconds, 1, int.MaxValue);
        s.SendTimeout = ms;
        s.ReceiveTimeout = ms;
        s.Connect(new UnixDomainSocketEndPoint(socketPath));
        s.Send(Encoding.UTF8.GetBytes(command + "\n"));
        var reply = new MemoryStream();
        var buf = new byte[8192];
        int r;
        while ((r = s.Receive(buf)) > 0) reply.Write(buf, 0, r);
        return Encoding.UTF8.GetString(reply.ToArray()).TrimEnd('\n');
    }

    /// <summary>
    /// Where the daemon serving <paramref name="mountpoint"/> listens: one socket per mount point
    /// under /run/graft (root) or $XDG_RUNTIME_DIR/graft, named by a hash of the absolute path.
    /// </summary>
    public static string SocketPathFor(string mountpoint)
    {
        var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(mountpoint));
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(full)))[..16];
        var runtime = Environment.GetEnvironmentVariable("GRAFT_RUN_DIR")
            ?? (Environment.UserName == "root" || Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR") is null
                ? "/run/graft" : Path.Combine(Environment.GetEnvironmentVariable("XDG_RUNTIME_DIR")!, "graft"));
        return Path.Combine(runtime, $"mount-{hash}.sock");
    }
}
