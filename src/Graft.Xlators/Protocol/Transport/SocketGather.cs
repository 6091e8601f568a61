using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace Graft.Xlators.Protocol.Transport;

/// <summary>
/// One non-blocking sendmsg(2) of two buffers (a frame's header and body, then its bulk payload), so a
/// 1 MiB write or read reply leaves from the caller's own memory in one syscall: no copy into a send
/// queue and no hand-off to a send loop. <see cref="Socket.Send(IList{ArraySegment{byte}})"/> would
/// need arrays and allocates per call.
/// </summary>
internal static unsafe partial class SocketGather
{
    [StructLayout(LayoutKind.Sequential)]
    private struct IoVec { public byte* Base; public nuint Length; }

    /// <summary>struct msghdr on 64-bit Linux.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct MsgHdr
    {
        public void* Name; public uint NameLen; public IoVec* Iov; public nuint IovLen;
        public void* Control; public nuint ControlLen; public int Flags;
    }

    private const int MSG_DONTWAIT = 0x40, MSG_NOSIGNAL = 0x4000, MSG_MORE = 0x8000;
    private const int EAGAIN = 11, EINTR = 4;

    [LibraryImport("libc", SetLastError = true)]
    private static partial nint sendmsg(int fd, MsgHdr* msg, int flags);

    /// <summary>Whether this platform has the sendmsg this class declares (64-bit Linux).</summary>
    public static bool Supported { get; } = OperatingSystem.IsLinux() && Environment.Is64BitProcess;

    /// <summary>
    /// Sends <paramref name="a"/> then <paramref name="b"/> on <paramref name="fd"/> without blocking: the
    /// number of bytes the socket took (0 when it would block), or −1 with <paramref name="errno"/> set
    /// when the connection failed.
    /// </summary>
    /// <param name="more">More bytes of the same frame follow at once (MSG_MORE): the kernel holds these back to send them with those.</param>
    public static nint Send(int fd, ReadOnlySpan<byte> a, ReadOnlySpan<byte> b, out int errno, bool more = false)
    {
        errno = 0;
        fixed (byte* pa = a)
        fixed (byte* pb = b)
        {
            var iov = stackalloc IoVec[2];
            iov[0] = new IoVec { Base = pa, Length = (nuint)a.Length };
            iov[1] = new IoVec { Base = pb, Length = (nuint)b.Length };
            var msg = new MsgHdr { Iov = iov, IovLen = b.IsEmpty ? 1u : 2u };
            while (true)
            {
                nint n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL | (more ? MSG_MORE : 0));
                if (n >= 0) return n;
                errno = Marshal.GetLastPInvokeError();
                if (errno == EINTR) continue;
                if (errno == EAGAIN) { errno = 0; return 0; }
                return -1;
            }
        }
    }
}
