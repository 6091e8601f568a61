using System.Runtime.InteropServices;
using System.Text;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// Syscalls on paths given as raw bytes, so tests can make and see names that are not UTF-8 exactly as a C
/// program would (.NET's own file APIs would turn such names into U+FFFD). Each call returns 0 or the errno.
/// </summary>
public static unsafe partial class RawFs
{
    /// <summary>A directory path (text) and one or more name components (bytes) joined with '/'.</summary>
    public static byte[] P(string dir, params byte[][] names)
    {
        var b = new List<byte>(Encoding.UTF8.GetBytes(dir));
        foreach (var n in names) { b.Add((byte)'/'); b.AddRange(n); }
        return [.. b];
    }

    static byte[] Z(byte[] path) => [.. path, 0];

    static int Err(int r) => r < 0 ? Marshal.GetLastPInvokeError() : 0;

    public static int Create(byte[] path, byte[] content, int mode = 0x1A4)
    {
        fixed (byte* p = Z(path))
        {
            int fd = open(p, 0x1 | 0x40 | 0x80 | 0x80000 /* O_WRONLY|O_CREAT|O_EXCL|O_CLOEXEC */, mode);
            if (fd < 0) return Marshal.GetLastPInvokeError();
            fixed (byte* c = content)
            {
                int e = write(fd, c, (nuint)content.Length) == content.Length ? 0 : Marshal.GetLastPInvokeError();
                close(fd);
                return e;
            }
        }
    }

    /// <summary>The whole content of a file, or the errno of opening it.</summary>
    public static (int Errno, byte[] Data) Read(byte[] path)
    {
        fixed (byte* p = Z(path))
        {
            int fd = open(p, 0x80000 /* O_RDONLY|O_CLOEXEC */, 0);
            if (fd < 0) return (Marshal.GetLastPInvokeError(), []);
            var buf = new byte[1 << 16];
            nint n;
            fixed (byte* b = buf) n = read(fd, b, (nuint)buf.Length);
            close(fd);
            return n < 0 ? (Marshal.GetLastPInvokeError(), []) : (0, buf[..(int)n]);
        }
    }

    /// <summary>The names in a directory (not "." and ".."), as bytes, sorted bytewise.</summary>
    public static List<byte[]> List(byte[] dir)
    {
        var names = new List<byte[]>();
        nint d;
        fixed (byte* p = Z(dir)) d = opendir(p);
        if (d == 0) throw new IOException($"opendir {Convert.ToHexString(dir)}: errno {Marshal.GetLastPInvokeError()}");
        try
        {
            while (true)
            {
                byte* e = readdir(d);
                if (e == null) break;
                var name = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(e + 19); // d_name in glibc's x86-64 struct dirent
                if (name.SequenceEqual("."u8) || name.SequenceEqual(".."u8)) continue;
                names.Add(name.ToArray());
            }
        }
        finally { closedir(d); }
        names.Sort((a, b) => a.AsSpan().SequenceCompareTo(b));
        return names;
    }

    public static int Rename(byte[] from, byte[] to) { fixed (byte* a = Z(from)) fixed (byte* b = Z(to)) return Err(rename(a, b)); }
    public static int Link(byte[] existing, byte[] path) { fixed (byte* a = Z(existing)) fixed (byte* b = Z(path)) return Err(link(a, b)); }
    public static int Symlink(byte[] target, byte[] path) { fixed (byte* a = Z(target)) fixed (byte* b = Z(path)) return Err(symlink(a, b)); }
    public static int Unlink(byte[] path) { fixed (byte* a = Z(path)) return Err(unlink(a)); }
    public static int Mkdir(byte[] path, int mode = 0x1ED) { fixed (byte* a = Z(path)) return Err(mkdir(a, mode)); }
    public static int Rmdir(byte[] path) { fixed (byte* a = Z(path)) return Err(rmdir(a)); }

    public static (int Errno, byte[] Target) ReadLink(byte[] path)
    {
        var buf = new byte[4096];
        nint n;
        fixed (byte* a = Z(path)) fixed (byte* b = buf) n = readlink(a, b, (nuint)buf.Length);
        return n < 0 ? (Marshal.GetLastPInvokeError(), []) : (0, buf[..(int)n]);
    }

    [LibraryImport("libc", SetLastError = true)] private static partial int open(byte* path, int flags, int mode);
    [LibraryImport("libc", SetLastError = true)] private static partial int close(int fd);
    [LibraryImport("libc", SetLastError = true)] private static partial nint read(int fd, byte* buf, nuint count);
    [LibraryImport("libc", SetLastError = true)] private static partial nint write(int fd, byte* buf, nuint count);
    [LibraryImport("libc", SetLastError = true)] private static partial nint opendir(byte* path);
    [LibraryImport("libc", SetLastError = true)] private static partial byte* readdir(nint dir);
    [LibraryImport("libc", SetLastError = true)] private static partial int closedir(nint dir);
    [LibraryImport("libc", SetLastError = true)] private static partial int rename(byte* from, byte* to);
    [LibraryImport("libc", SetLastError = true)] private static partial int link(byte* from, byte* to);
    [LibraryImport("libc", SetLastError = true)] private static partial int symlink(byte* target, byte* path);
    [LibraryImport("libc", SetLastError = true)] private static partial int unlink(byte* path);
    [LibraryImport("libc", SetLastError = true)] private static partial int mkdir(byte* path, int mode);
    [LibraryImport("libc", SetLastError = true)] private static partial int rmdir(byte* path);
    [LibraryImport("libc", SetLastError = true)] private static partial nint readlink(byte* path, byte* buf, nuint size);
}
