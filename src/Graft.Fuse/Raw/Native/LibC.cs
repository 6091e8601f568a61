using System.Runtime.InteropServices;

namespace Graft.Fuse.Raw.Native;

/// <summary>The few libc calls the FUSE raw layer needs. Raw syscalls rather than FileStream/RandomAccess:
/// /dev/fuse needs errno values (ENOENT on a reply is normal), writev (one reply = one write), and
/// blocking reads on dedicated threads.</summary>
internal static unsafe partial class LibC
{
    public const int O_RDWR = 0x2;
    public const int O_CLOEXEC = 0x80000;
    public const ulong MS_RDONLY = 1;
    public const ulong MS_NOSUID = 2;
    public const ulong MS_NODEV = 4;
    public const int MNT_DETACH = 2;
    public const int AF_UNIX = 1;
    public const int SOCK_STREAM = 1;
    public const int SOL_SOCKET = 1;
    public const int SCM_RIGHTS = 1;
    /// <summary>_IOR(229, 0, uint32_t): attach a fresh /dev/fuse fd to an existing connection.</summary>
    public const uint FUSE_DEV_IOC_CLONE = 0x8004E500;

    [StructLayout(LayoutKind.Sequential)]
    public struct IoVec
    {
        public void* Base;
        public nuint Length;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct MsgHdr
    {
        public void* Name;
        public uint NameLen;
        public IoVec* Iov;
        public nuint IovLen;
        public void* Control;
        public nuint ControlLen;
        public int Flags;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct CmsgHdr
    {
        public nuint Len;
        public int Level;
        public int Type;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, void* buf, nuint count);

    [LibraryImport("libc", EntryPoint = "writev", SetLastError = true)]
    public static partial nint Writev(int fd, IoVec* iov, int iovcnt);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, nuint request, void* arg);

    [LibraryImport("libc", EntryPoint = "mount", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Mount(string source, string target, string fstype, ulong flags, string data);

    [LibraryImport("libc", EntryPoint = "umount2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Umount2(string target, int flags);

    [LibraryImport("libc", EntryPoint = "socketpair", SetLastError = true)]
    public static partial int SocketPair(int domain, int type, int protocol, int* sv);

    [LibraryImport("libc", EntryPoint = "recvmsg", SetLastError = true)]
    public static partial nint RecvMsg(int fd, MsgHdr* msg, int flags);

    [LibraryImport("libc", EntryPoint = "fcntl", SetLastError = true)]
    public static partial int Fcntl(int fd, int cmd, int arg);

    [LibraryImport("libc", EntryPoint = "geteuid")]
    public static partial uint GetEuid();

    public const int F_SETFD = 2;
    public const int FD_CLOEXEC = 1;

    public static int LastErrno => Marshal.GetLastPInvokeError();
}
