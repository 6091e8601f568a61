using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Graft.Core;
using Graft.Fuse.Raw;

namespace Graft.Fuse.Tests;

/// <summary>
/// Plays the kernel's side of the protocol over a SOCK_SEQPACKET socket pair (message boundaries like
/// /dev/fuse: one read = one request, one write = one reply), so tests can send exact byte sequences —
/// INIT from older minors, requests with extensions, INTERRUPTs that overtake their request — and read the
/// exact replies.
/// </summary>
sealed unsafe partial class FakeKernel : IDisposable
{
    readonly int _fd;
    ulong _unique = 2;
    public FuseSession Session { get; }

    public FakeKernel(IFuseFileSystem fs, FuseMountOptions? options = null, Microsoft.Extensions.Logging.ILogger? logger = null)
    {
        int* sv = stackalloc int[2];
        if (socketpair(1 /* AF_UNIX */, 5 /* SOCK_SEQPACKET */, 0, sv) != 0) throw new IOException("socketpair failed");
        _fd = sv[0];
        Session = FuseSession.Serve(sv[1], fs, options ?? new FuseMountOptions(), logger);
    }

    public ulong NextUnique() => _unique += 2;

    /// <summary>Sends one request: header (with len filled in) + args + extensions.</summary>
    public ulong Send(FuseOpcode op, ReadOnlySpan<byte> args, ulong nodeId = 1, ulong? unique = null, ReadOnlySpan<byte> ext = default, uint pid = 0)
    {
        ulong u = unique ?? NextUnique();
        var h = new FuseInHeader
        {
            Len = (uint)(40 + args.Length + ext.Length), Opcode = (uint)op, Unique = u, NodeId = nodeId,
            Uid = 0, Gid = 0, Pid = pid, TotalExtLen = (ushort)(ext.Length / 8),
        };
        var msg = new byte[h.Len];
        MemoryMarshal.Write(msg, in h);
        args.CopyTo(msg.AsSpan(40));
        ext.CopyTo(msg.AsSpan(40 + args.Length));
        fixed (byte* p = msg)
            if (write(_fd, p, (nuint)msg.Length) != msg.Length) throw new IOException("send failed");
        return u;
    }

    public ulong Send<T>(FuseOpcode op, T args, ulong nodeId = 1, ulong? unique = null) where T : unmanaged =>
        Send(op, MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in args)), nodeId, unique);

    /// <summary>
    /// Waits until a reply can be read, within <paramref name="timeoutMs"/>. poll() is restarted
    /// when a signal interrupts it (the runtime signals threads, e.g. to suspend them for a GC):
    /// an EINTR is not "no reply".
    /// </summary>
    private bool WaitReadable(int timeoutMs)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        while (true)
        {
            var pfd = new PollFd { Fd = _fd, Events = 1 };
            var left = (int)Math.Max(0, deadline - Environment.TickCount64);
            int r = poll(&pfd, 1, left);
            if (r > 0) return true;
            if (r == 0 || Marshal.GetLastPInvokeError() != 4 /* EINTR */ || left == 0) return false;
        }
    }

    /// <summary>Receives one reply within a bound; null if none arrived.</summary>
    public (FuseOutHeader Header, byte[] Body)? Receive(int timeoutMs = 5000)
    {
        if (!WaitReadable(timeoutMs)) return null;
        var buf = new byte[2 * 1024 * 1024];
        nint n;
        fixed (byte* p = buf) n = read(_fd, p, (nuint)buf.Length);
        if (n < 16) return null;
        var h = MemoryMarshal.Read<FuseOutHeader>(buf);
        Assert.Equal((uint)n, h.Len);
        return (h, buf[16..(int)n]);
    }

    /// <summary>The same without allocating: the reply is read into <paramref name="buffer"/>.</summary>
    public int ReceiveInto(Span<byte> buffer)
    {
        if (!WaitReadable(5000)) return -1;
        fixed (byte* p = buffer) return (int)read(_fd, p, (nuint)buffer.Length);
    }

    public void SendRaw(ReadOnlySpan<byte> msg)
    {
        fixed (byte* p = msg)
            if (write(_fd, p, (nuint)msg.Length) != msg.Length) throw new IOException("send failed");
    }

    public FuseOutHeader ReceiveOk()
    {
        var r = Receive() ?? throw new TimeoutException("no reply");
        return r.Header;
    }

    /// <summary>LOOKUP of <paramref name="name"/> in the root, then OPEN with <paramref name="flags"/>; both must succeed.</summary>
    public (ulong Node, ulong Fh) LookupAndOpen(string name, uint flags = 2 /* O_RDWR */)
    {
        Send(FuseOpcode.Lookup, System.Text.Encoding.UTF8.GetBytes(name + "\0"));
        var (h, body) = Receive() ?? throw new TimeoutException("no LOOKUP reply");
        Assert.Equal(0, h.Error);
        ulong node = MemoryMarshal.Read<FuseEntryOut>(body).NodeId;
        Send(FuseOpcode.Open, new FuseOpenIn { Flags = flags }, nodeId: node);
        (h, body) = Receive() ?? throw new TimeoutException("no OPEN reply");
        Assert.Equal(0, h.Error);
        return (node, BitConverter.ToUInt64(body));
    }

    public FuseInitOut Init(uint minor = 45, FuseInitFlags offered = (FuseInitFlags)ulong.MaxValue)
    {
        var init = new FuseInitIn { Major = 7, Minor = minor, MaxReadahead = 128 * 1024, Flags = (uint)offered, Flags2 = (uint)((ulong)offered >> 32) };
        Send(FuseOpcode.Init, init);
        var (h, body) = Receive() ?? throw new TimeoutException("no INIT reply");
        Assert.Equal(0, h.Error);
        var o = default(FuseInitOut);
        body.AsSpan().CopyTo(MemoryMarshal.AsBytes(new Span<FuseInitOut>(ref o)));
        return o;
    }

    public void Dispose()
    {
        close(_fd); // end-of-file ends the session's reader
        Session.Dispose();
    }

    [StructLayout(LayoutKind.Sequential)]
    struct PollFd { public int Fd; public short Events; public short REvents; }

    [LibraryImport("libc", SetLastError = true)] private static partial int socketpair(int d, int t, int p, int* sv);
    [LibraryImport("libc", SetLastError = true)] private static partial nint write(int fd, byte* b, nuint n);
    [LibraryImport("libc", SetLastError = true)] private static partial nint read(int fd, byte* b, nuint n);
    [LibraryImport("libc", SetLastError = true)] private static partial int close(int fd);
    [LibraryImport("libc", SetLastError = true)] private static partial int poll(PollFd* fds, nuint n, int timeout);
}
