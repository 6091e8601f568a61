using System.Net;
using System.Net.Sockets;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// A loopback TCP relay between a client and a brick, so a test can cut connections the way a
/// network does (both ends see a reset, neither said goodbye) and refuse new ones for a while.
/// </summary>
internal sealed class TcpProxy : IAsyncDisposable
{
    private readonly Socket _listener = new(SocketType.Stream, ProtocolType.Tcp);
    private readonly int _upstream;
    private readonly List<(Socket, Socket)> _pairs = [];   // guarded by itself
    private readonly CancellationTokenSource _stop = new();
    private volatile bool _refusing;

    public TcpProxy(int upstreamPort)
    {
        _upstream = upstreamPort;
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(16);
        _ = AcceptLoopAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndPoint!).Port;

    /// <summary>While true, new connections are accepted and closed at once.</summary>
    public bool Refusing { get => _refusing; set => _refusing = value; }

    /// <summary>Resets every relayed connection (SO_LINGER 0: an RST, not a FIN).</summary>
    public void CutAll()
    {
        List<(Socket, Socket)> pairs;
        lock (_pairs) { pairs = [.. _pairs]; _pairs.Clear(); }
        foreach (var (a, b) in pairs)
        {
            foreach (var s in new[] { a, b })
            {
                try { s.LingerState = new LingerOption(true, 0); } catch (SocketException) { } catch (ObjectDisposedException) { }
                s.Dispose();
            }
        }
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket c;
            try { c = await _listener.AcceptAsync(_stop.Token); }
            catch (Exception) { return; }
            if (_refusing) { c.Dispose(); continue; }
            var u = new Socket(SocketType.Stream, ProtocolType.Tcp);
            try { await u.ConnectAsync(IPAddress.Loopback, _upstream); }
            catch (SocketException) { c.Dispose(); u.Dispose(); continue; }
            lock (_pairs) _pairs.Add((c, u));
            _ = PumpAsync(c, u);
            _ = PumpAsync(u, c);
        }
    }

    private static async Task PumpAsync(Socket from, Socket to)
    {
        var buf = new byte[64 << 10];
        try
        {
            int n;
            while ((n = await from.ReceiveAsync(buf, SocketFlags.None)) > 0)
                await to.SendAsync(buf.AsMemory(0, n), SocketFlags.None);
            to.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
    }

    public ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        CutAll();
        return ValueTask.CompletedTask;
    }
}
