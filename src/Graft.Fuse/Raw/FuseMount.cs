using System.Diagnostics;
using System.Globalization;
using System.Text;
using Graft.Core;
using Graft.Fuse.Raw.Native;

namespace Graft.Fuse.Raw;

/// <summary>Mounting and unmounting a FUSE filesystem: mount(2) as root, the fusermount3 handshake otherwise.</summary>
public static unsafe class FuseMount
{
    /// <summary>Opens /dev/fuse and mounts it on <paramref name="mountPoint"/>; returns the device fd.</summary>
    public static Result<int> Mount(string mountPoint, FuseMountOptions options)
    {
        if (!options.UseFusermount && LibC.GetEuid() == 0)
            return MountAsRoot(mountPoint, options);
        return MountWithFusermount(mountPoint, options);
    }

    static Result<int> MountAsRoot(string mountPoint, FuseMountOptions o)
    {
        // CLOEXEC: a child process holding the fd would keep the connection alive after we die.
        int fd = LibC.Open("/dev/fuse", LibC.O_RDWR | LibC.O_CLOEXEC);
        if (fd < 0) return (Errno)LibC.LastErrno;
        var data = new StringBuilder().Append(CultureInfo.InvariantCulture, $"fd={fd},rootmode=40000,user_id=0,group_id=0");
        if (o.AllowOther) data.Append(",allow_other");
        if (o.DefaultPermissions) data.Append(",default_permissions");
        if (o.MaxRead > 0) data.Append(CultureInfo.InvariantCulture, $",max_read={o.MaxRead}");
        ulong flags = LibC.MS_NOSUID | LibC.MS_NODEV | (o.ReadOnly ? LibC.MS_RDONLY : 0);
        if (LibC.Mount(o.FsName, mountPoint, "fuse." + o.Subtype, flags, data.ToString()) != 0)
        {
            var err = (Errno)LibC.LastErrno;
            LibC.Close(fd);
            return err;
        }
        return fd;
    }

    static Result<int> MountWithFusermount(string mountPoint, FuseMountOptions o)
    {
        int* sv = stackalloc int[2];
        if (LibC.SocketPair(LibC.AF_UNIX, LibC.SOCK_STREAM, 0, sv) != 0) return (Errno)LibC.LastErrno;
        // Our end must not leak into fusermount3; its end must (no CLOEXEC), then we close it.
        LibC.Fcntl(sv[0], LibC.F_SETFD, LibC.FD_CLOEXEC);
        try
        {
            var opts = new List<string> { "fsname=" + o.FsName, "subtype=" + o.Subtype, "nosuid", "nodev" };
            if (o.AllowOther) opts.Add("allow_other");
            if (o.DefaultPermissions) opts.Add("default_permissions");
            if (o.ReadOnly) opts.Add("ro");
            if (o.MaxRead > 0) opts.Add("max_read=" + o.MaxRead.ToString(CultureInfo.InvariantCulture));
            var psi = new ProcessStartInfo("fusermount3") { UseShellExecute = false };
            psi.ArgumentList.Add("-o");
            psi.ArgumentList.Add(string.Join(',', opts));
            psi.ArgumentList.Add("--");
            psi.ArgumentList.Add(mountPoint);
            psi.Environment["_FUSE_COMMFD"] = sv[1].ToString(CultureInfo.InvariantCulture);
            using var p = Process.Start(psi);
            if (p is null) return Errno.ENOENT;
            LibC.Close(sv[1]);
            sv[1] = -1;
            int fd = ReceiveFd(sv[0]);
            if (!p.WaitForExit(TimeSpan.FromSeconds(30))) { p.Kill(); return Errno.ETIMEDOUT; }
            if (fd < 0) return p.ExitCode != 0 ? Errno.EPERM : (Errno)(-fd);
            LibC.Fcntl(fd, LibC.F_SETFD, LibC.FD_CLOEXEC);
            return fd;
        }
        finally
        {
            LibC.Close(sv[0]);
            if (sv[1] >= 0) LibC.Close(sv[1]);
        }
    }

    /// <summary>Receives one fd passed with SCM_RIGHTS; returns it, or -errno.</summary>
    static int ReceiveFd(int sock)
    {
        byte data;
        var iov = new LibC.IoVec { Base = &data, Length = 1 };
        // CMSG_SPACE(sizeof(int)) = 16-byte header + 4 bytes data, aligned to 8 = 24.
        byte* control = stackalloc byte[64];
        new Span<byte>(control, 64).Clear();
        var msg = new LibC.MsgHdr { Iov = &iov, IovLen = 1, Control = control, ControlLen = 24 };
        nint n;
        do n = LibC.RecvMsg(sock, &msg, 0);
        while (n < 0 && LibC.LastErrno == (int)Errno.EINTR);
        if (n < 0) return -LibC.LastErrno;
        if (n == 0) return -(int)Errno.ECONNRESET; // fusermount3 failed and said why on stderr
        var cmsg = (LibC.CmsgHdr*)control;
        if (msg.ControlLen < (nuint)sizeof(LibC.CmsgHdr) || cmsg->Level != LibC.SOL_SOCKET || cmsg->Type != LibC.SCM_RIGHTS)
            return -(int)Errno.EPROTO;
        return *(int*)(control + sizeof(LibC.CmsgHdr));
    }

    /// <summary>Unmounts; a busy mount is detached lazily (the kernel finishes it when the last user leaves).</summary>
    public static Errno Unmount(string mountPoint, bool useFusermount = false)
    {
        if (useFusermount || LibC.GetEuid() != 0)
        {
            return Fusermount(mountPoint, lazy: false) == Errno.OK ? Errno.OK : Fusermount(mountPoint, lazy: true);
        }
        if (LibC.Umount2(mountPoint, 0) == 0) return Errno.OK;
        var err = (Errno)LibC.LastErrno;
        if (err != Errno.EBUSY) return err;
        return LibC.Umount2(mountPoint, LibC.MNT_DETACH) == 0 ? Errno.OK : (Errno)LibC.LastErrno;
    }

    static Errno Fusermount(string mountPoint, bool lazy)
    {
        var psi = new ProcessStartInfo("fusermount3") { UseShellExecute = false, RedirectStandardError = true };
        psi.ArgumentList.Add(lazy ? "-uz" : "-u");
        psi.ArgumentList.Add("--");
        psi.ArgumentList.Add(mountPoint);
        using var p = Process.Start(psi);
        if (p is null) return Errno.ENOENT;
        _ = p.StandardError.ReadToEndAsync(); // drain, so a chatty failure cannot block it
        if (!p.WaitForExit(TimeSpan.FromSeconds(30))) { p.Kill(); return Errno.ETIMEDOUT; }
        return p.ExitCode == 0 ? Errno.OK : Errno.EBUSY;
    }

    /// <summary>The kernel device number (major 0, minor N) of the FUSE mount at <paramref name="mountPoint"/>,
    /// read from /proc/self/mountinfo so that no request is sent to the (possibly not yet initialised) mount.</summary>
    public static (uint Major, uint Minor)? FindDevice(string mountPoint)
    {
        string full = Path.GetFullPath(mountPoint).TrimEnd('/');
        if (full.Length == 0) full = "/";
        (uint, uint)? found = null;
        foreach (var line in File.ReadLines("/proc/self/mountinfo"))
        {
            // id parent major:minor root mountpoint options ... - fstype source superopts
            var f = line.Split(' ');
            if (f.Length < 5 || Unescape(f[4]) != full) continue;
            var mm = f[2].Split(':');
            found = (uint.Parse(mm[0], CultureInfo.InvariantCulture), uint.Parse(mm[1], CultureInfo.InvariantCulture));
        }
        return found; // the last match is the top of any stack of mounts there
    }

    static string Unescape(string s) => s.Contains('\\', StringComparison.Ordinal)
        ? s.Replace("\\040", " ", StringComparison.Ordinal).Replace("\\011", "\t", StringComparison.Ordinal)
           .Replace("\\012", "\n", StringComparison.Ordinal).Replace("\\134", "\\", StringComparison.Ordinal)
        : s;

    /// <summary>Raises the mount's read-ahead. INIT can only lower it, so this is done after INIT.</summary>
    public static Errno SetReadAhead(string mountPoint, int readAheadKb)
    {
        var dev = FindDevice(mountPoint);
        if (dev is null) return Errno.ENOENT;
        try
        {
            File.WriteAllText($"/sys/class/bdi/{dev.Value.Major}:{dev.Value.Minor}/read_ahead_kb",
                readAheadKb.ToString(CultureInfo.InvariantCulture));
            return Errno.OK;
        }
        catch (UnauthorizedAccessException) { return Errno.EACCES; }
        catch (IOException) { return Errno.EIO; }
    }

    /// <summary>Aborts the connection through fusectl, as the kernel does when the daemon's device fds close:
    /// every waiter fails, later calls get ENOTCONN, and blocked device reads return.</summary>
    public static Errno AbortConnection(uint deviceMinor)
    {
        const string ctl = "/sys/fs/fuse/connections";
        if (!Directory.Exists(Path.Combine(ctl, deviceMinor.ToString(CultureInfo.InvariantCulture)))
            && LibC.Mount("fusectl", ctl, "fusectl", 0, "") != 0 && LibC.LastErrno != (int)Errno.EBUSY)
            return (Errno)LibC.LastErrno;
        try
        {
            File.WriteAllText(Path.Combine(ctl, deviceMinor.ToString(CultureInfo.InvariantCulture), "abort"), "1");
            return Errno.OK;
        }
        catch (IOException) { return Errno.ENOENT; }
        catch (UnauthorizedAccessException) { return Errno.EACCES; }
    }
}
