using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Threading.Tasks.Sources;

namespace Graft.Xlators.Protocol.Transport;

/// <summary>
/// Waits for a plaintext socket to become writable (a frame the socket did not take whole, a connect
/// under way) or readable (the brick's look at a new connection's first bytes) without .NET's socket
/// engine. The engine registers a socket at its first async operation and keeps it in its epoll set for
/// good, for reading and writing: from then on every packet wakes its epoll thread, which hands the
/// event to a pool thread, although the connection's receive thread does the receiving
/// (docs/fuse-benchmark.md, sessions 7 and 8). Here a socket is in this class's epoll set only while
/// someone waits on it, and only for the one event waited for (one-shot): packets it receives
/// otherwise wake nobody. One thread serves every wait of the process; what waited continues on the
/// thread pool, never on that thread.
/// </summary>
internal static partial class SocketReadiness
{
    private const int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2;
    private const uint EPOLLIN = 0x1, EPOLLOUT = 0x4, EPOLLONESHOT = 1u << 30;
    private const int EINTR = 4, O_CLOEXEC = 0x80000;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_create1(int flags);
    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int epoll_ctl(int epfd, int op, int fd, byte* ev);
    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int epoll_wait(int epfd, byte* events, int maxevents, int timeout);

    // struct epoll_event is packed on x86-64 (u32 events, u64 data: 12 bytes) and naturally aligned elsewhere (16).
    private static readonly int EventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;
    private static readonly int DataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    private static readonly Lock Gate = new();   // leaf lock over the table below and the epoll set's membership
    private static readonly Dictionary<ulong, Waiter> Waiting = [];
    private static ulong _lastToken;
    private static readonly int Epoll = Open();

    /// <summary>Whether sockets can wait here (64-bit Linux with an epoll set); otherwise callers use the socket engine.</summary>
    public static bool Supported => Epoll >= 0;

    private static int Open()
    {
        if (!OperatingSystem.IsLinux() || !Environment.Is64BitProcess
            || RuntimeInformation.ProcessArchitecture is not (Architecture.X64 or Architecture.Arm64)) return -1;
        int fd = epoll_create1(O_CLOEXEC);
        if (fd < 0) return -1;
        try { new Thread(Run) { IsBackground = true, Name = "graft-sockwait" }.Start(); }
        catch (OutOfMemoryException) { return -1; }   // no thread to be had: the engine waits instead
        return fd;
    }

    /// <summary>The poller: hands each event to its waiter (taken out of the set first) and waits again.</summary>
    private static unsafe void Run()
    {
        const int Max = 64;
        var events = stackalloc byte[Max * 16];
        // Reading Epoll waits for the type's initializer (Open) to have stored it.
        while (true)
        {
            int n = epoll_wait(Epoll, events, Max, -1);
            if (n < 0)
            {
                if (Marshal.GetLastPInvokeError() == EINTR) continue;
                return;   // EBADF/EINVAL: the set is gone; nothing in this process closes it
            }
            for (int i = 0; i < n; i++)
            {
                ulong token = *(ulong*)(events + i * EventSize + DataOffset);
                Waiter? w;
                lock (Gate) if (Waiting.Remove(token, out w)) w.Leave();
                w?.Complete(true);
            }
        }
    }

    /// <summary>
    /// Waits once for <paramref name="socket"/> to be readable or writable: true when it is (or failed:
    /// the next call on it says how), false when <paramref name="ct"/> was cancelled or the socket closed.
    /// </summary>
    public static async ValueTask<bool> WaitAsync(Socket socket, bool write, CancellationToken ct)
    {
        var w = new Waiter();
        using (ct.UnsafeRegister(static o => ((Waiter)o!).Abort(), w))
            return await w.WaitAsync(socket, write).ConfigureAwait(false);
    }

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int getsockopt(int fd, int level, int name, int* value, uint* length);
    private const int SOL_SOCKET = 1, SO_ERROR = 4;

    /// <summary>
    /// A TCP socket connected to <paramref name="host"/> (each of its addresses in turn, a new socket for each)
    /// by a non-blocking connect whose completion is waited for here, so the socket never joins the engine's set
    /// (ConnectAsync would put it there). Throws the last address's SocketException, or
    /// OperationCanceledException when <paramref name="ct"/> (the caller's connect timeout) ends it. The
    /// socket is left non-blocking.
    /// </summary>
    public static async Task<Socket> ConnectAsync(string host, int port, CancellationToken ct)
    {
        var addresses = System.Net.IPAddress.TryParse(host, out var ip) ? [ip]
            : await System.Net.Dns.GetHostAddressesAsync(host, ct).ConfigureAwait(false);
        SocketException last = new((int)SocketError.HostNotFound);
        foreach (var address in addresses)
        {
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
            try
            {
                try
                {
                    socket.Connect(new System.Net.IPEndPoint(address, port));
                    return socket;
                }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress) { }
                if (!await WaitAsync(socket, write: true, ct).ConfigureAwait(false))
                {
                    ct.ThrowIfCancellationRequested();
                    throw new ObjectDisposedException(nameof(Socket));
                }
                int error = PendingError(socket);
                if (error == 0) return socket;
                last = new SocketException((int)ToSocketError(error));
            }
            catch (SocketException e) { last = e; }
            catch
            {
                socket.Dispose();
                throw;
            }
            socket.Dispose();
        }
        throw last;
    }

    /// <summary>The socket's pending error (SO_ERROR): the errno a non-blocking connect ended with, 0 when it connected.</summary>
    private static unsafe int PendingError(Socket socket)
    {
        int value = 0;
        uint length = sizeof(int);
        return getsockopt((int)socket.SafeHandle.DangerousGetHandle(), SOL_SOCKET, SO_ERROR, &value, &length) == 0
            ? value : Marshal.GetLastPInvokeError();
    }

    /// <summary>Linux errnos a connect ends with, as the SocketError the callers map to their errno.</summary>
    private static SocketError ToSocketError(int errno) => errno switch
    {
        111 => SocketError.ConnectionRefused,
        113 => SocketError.HostUnreachable,
        101 => SocketError.NetworkUnreachable,
        110 => SocketError.TimedOut,
        104 => SocketError.ConnectionReset,
        99 => SocketError.AddressNotAvailable,
        _ => SocketError.SocketError,
    };

    /// <summary>
    /// One socket's waits, one at a time, reusable without allocating (the send loop's partial sends). Once
    /// aborted (the connection closing) it ends the wait under way and refuses the next ones.
    /// </summary>
    internal sealed class Waiter : IValueTaskSource<bool>
    {
        private ManualResetValueTaskSourceCore<bool> _core = new() { RunContinuationsAsynchronously = true };
        // Guarded by Gate: the wait under way (token 0: none), its socket's handle (referenced so its
        // descriptor cannot be closed and reused while in the set) and descriptor.
        private ulong _token;
        private SafeHandle? _handle;
        private int _fd;
        private bool _aborted;

        public unsafe ValueTask<bool> WaitAsync(Socket socket, bool write)
        {
            _core.Reset();
            var handle = socket.SafeHandle;
            bool added = false, ok = true;
            lock (Gate)
            {
                if (_aborted) ok = false;
                else
                {
                    try { handle.DangerousAddRef(ref added); }
                    catch (ObjectDisposedException) { ok = false; }
                }
                if (ok)
                {
                    int fd = (int)handle.DangerousGetHandle();
                    ulong token = ++_lastToken;
                    var ev = stackalloc byte[16];
                    *(uint*)ev = (write ? EPOLLOUT : EPOLLIN) | EPOLLONESHOT;
                    *(ulong*)(ev + DataOffset) = token;
                    if (epoll_ctl(Epoll, EPOLL_CTL_ADD, fd, ev) == 0)
                    {
                        (_token, _handle, _fd) = (token, handle, fd);
                        Waiting.Add(token, this);
                        return new ValueTask<bool>(this, _core.Version);
                    }
                    // Not a socket epoll takes (cannot happen for a TCP socket): say "ready", and the caller's
                    // next send or receive reports what is wrong with it.
                    handle.DangerousRelease();
                }
                else if (added) handle.DangerousRelease();
            }
            return new ValueTask<bool>(ok);
        }

        /// <summary>Ends the wait under way with false and refuses later ones. Call before the socket is disposed.</summary>
        public void Abort()
        {
            bool was;
            lock (Gate)
            {
                _aborted = true;
                was = _token != 0 && Waiting.Remove(_token);
                if (was) Leave();
            }
            if (was) Complete(false);
        }

        /// <summary>Under Gate, once taken out of the table: out of the epoll set, the handle let go.</summary>
        internal unsafe void Leave()
        {
            var ev = stackalloc byte[16];
            epoll_ctl(Epoll, EPOLL_CTL_DEL, _fd, ev);
            _handle!.DangerousRelease();
            (_token, _handle, _fd) = (0, null, 0);
        }

        internal void Complete(bool ready) => _core.SetResult(ready);

        bool IValueTaskSource<bool>.GetResult(short token) => _core.GetResult(token);
        ValueTaskSourceStatus IValueTaskSource<bool>.GetStatus(short token) => _core.GetStatus(token);
        void IValueTaskSource<bool>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
            _core.OnCompleted(continuation, state, token, flags);
    }
}
