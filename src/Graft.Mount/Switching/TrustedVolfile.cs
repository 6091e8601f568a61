using System.Runtime.InteropServices;
using System.Text;

namespace Graft.Mount.Switching;

/// <summary>
/// Reads a volfile the mount daemon follows, but only one nobody else could have written. A volfile decides
/// which bricks the mount talks to and with which secret, and the daemon applies every new content of it as
/// root; so the file must be a regular file owned by root or by the daemon's own user and not writable by
/// group or others, and so must every directory on the way to it (following symlinks, each directory they lead
/// through too): a directory others may write lets them replace the file by a rename. A directory with the
/// sticky bit (like /tmp) is the exception: there only an entry's owner may rename or remove it, so it is
/// enough that the entry on the path is owned by root or the daemon's user. Anything else is refused, with the
/// reason, as a broken volfile would be.
/// </summary>
/// <remarks>
/// The daemon's own user counts because it could write any such file anyway, and a non-root daemon (mounting
/// through fusermount3) can own nothing else; root counts because root can change everything. The file is
/// checked on the descriptor it is read from, so what is read is what was checked.
/// </remarks>
public static partial class TrustedVolfile
{
    private const uint S_IFMT = 0xF000, S_IFDIR = 0x4000, S_IFREG = 0x8000, S_IFLNK = 0xA000;
    private const uint S_IWGRP = 0x10, S_IWOTH = 0x2, S_ISVTX = 0x200;
    private const int MaxSymlinks = 40;

    /// <summary>The volfile's text, or <paramref name="refusal"/> saying why it may not be followed. Read errors
    /// (no such file, permission denied) are thrown as IOException/UnauthorizedAccessException, as by File.ReadAllText.</summary>
    public static bool TryRead(string path, out string text, out string? refusal)
    {
        text = "";
        uint me = geteuid();
        refusal = Walk(Path.GetFullPath(path), me, out var real);
        if (refusal is not null) return false;
        using var handle = File.OpenHandle(real, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        int e = Stat((int)handle.DangerousGetHandle(), "", AtEmptyPath, out var st);
        if (e != 0) throw new IOException($"{real}: fstat failed: errno {e}");
        refusal = FileProblem(st, me);
        if (refusal is not null) return false;
        using var stream = new FileStream(handle, FileAccess.Read, bufferSize: 0);
        using var reader = new StreamReader(stream, Encoding.UTF8);
        text = reader.ReadToEnd();
        return true;
    }

    /// <summary>0755: a mode for directories that hold volfiles (only the owner may change what is in them).</summary>
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
        | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    /// <summary>Writes a volfile a mount daemon may follow: a new file is created 0644 whatever the umask (the umask can
    /// only take bits away); an existing one keeps its mode and owner.</summary>
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public static void Write(string path, string text)
    {
        using var f = new FileStream(path, new FileStreamOptions
        {
            Mode = FileMode.Create, Access = FileAccess.Write,
            UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
        });
        f.Write(Encoding.UTF8.GetBytes(text));
    }

    /// <summary>Resolves <paramref name="path"/> one component at a time from "/", checking every directory it
    /// passes through (and the directory of every symlink it follows). Null when all are trusted.</summary>
    private static string? Walk(string path, uint me, out string real)
    {
        real = path;
        var pending = new Stack<string>(path.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        var at = "/";
        if (DirectoryProblem(at, me) is { } top) return top;
        int links = 0;
        while (pending.Count > 0)
        {
            var name = pending.Pop();
            if (name == ".") continue;
            if (name == "..") { at = Path.GetDirectoryName(at) ?? "/"; continue; }
            var next = at == "/" ? "/" + name : at + "/" + name;
            var st = StatOrThrow(next, AtSymlinkNoFollow);
            if (IsStickyShared(at) && st.Uid != 0 && st.Uid != me)
                return $"{next} is owned by uid {st.Uid}, neither root nor this daemon's user, in {at}, which others may write to: its owner could replace it";
            if ((st.Mode & S_IFMT) == S_IFLNK)
            {
                if (++links > MaxSymlinks) throw new IOException($"{path}: too many levels of symbolic links");
                var target = File.ResolveLinkTarget(next, returnFinalTarget: false)?.FullName ?? throw new IOException($"{next}: cannot read the link");
                if (target.StartsWith('/')) at = "/";
                foreach (var part in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse()) pending.Push(part);
                continue;
            }
            if (pending.Count == 0) { real = next; return null; } // the file itself: checked on its descriptor
            if ((st.Mode & S_IFMT) != S_IFDIR) throw new IOException($"{next}: not a directory");
            if (DirectoryProblem(next, me) is { } why) return why;
            at = next;
        }
        throw new IOException($"{path}: names a directory, not a volfile");
    }

    private static StatxNative StatOrThrow(string path, int flags)
    {
        int e = Stat(AtFdCwd, path, flags, out var st);
        return e switch
        {
            0 => st,
            2 => throw new FileNotFoundException($"Could not find file '{path}'.", path),
            13 => throw new UnauthorizedAccessException($"Access to the path '{path}' is denied."),
            _ => throw new IOException($"{path}: stat failed: errno {e}"),
        };
    }

    /// <summary>A directory others may write to and that has the sticky bit: entries in it must be owned by root or us.</summary>
    private static bool IsStickyShared(string dir)
    {
        var st = StatOrThrow(dir, 0);
        return (st.Mode & (S_IWGRP | S_IWOTH)) != 0 && (st.Mode & S_ISVTX) != 0;
    }

    private static string? DirectoryProblem(string dir, uint me)
    {
        var st = StatOrThrow(dir, AtSymlinkNoFollow);
        if (st.Uid != 0 && st.Uid != me)
            return $"the directory {dir} is owned by uid {st.Uid}, neither root nor this daemon's user: its owner could replace the volfile";
        if ((st.Mode & (S_IWGRP | S_IWOTH)) != 0 && (st.Mode & S_ISVTX) == 0)
            return $"the directory {dir} is writable by {Who(st.Mode)} (mode {Octal(st.Mode)}): anyone who may write it could replace the volfile by a rename";
        return null;
    }

    private static string? FileProblem(in StatxNative st, uint me)
    {
        if ((st.Mode & S_IFMT) != S_IFREG) return "the volfile is not a regular file";
        if (st.Uid != 0 && st.Uid != me)
            return $"the volfile is owned by uid {st.Uid}, neither root nor this daemon's user: only they may say what this mount serves";
        if ((st.Mode & (S_IWGRP | S_IWOTH)) != 0)
            return $"the volfile is writable by {Who(st.Mode)} (mode {Octal(st.Mode)}): only its owner may say what this mount serves (chmod go-w)";
        return null;
    }

    private static string Octal(uint mode) => Convert.ToString(mode & 0xFFF, 8).PadLeft(4, '0');

    private static string Who(uint mode) =>
        (mode & S_IWGRP) != 0 && (mode & S_IWOTH) != 0 ? "group and others" : (mode & S_IWGRP) != 0 ? "its group" : "others";

    // statx: the same layout on every architecture, unlike struct stat.
    private const int AtFdCwd = -100, AtSymlinkNoFollow = 0x100, AtEmptyPath = 0x1000;
    private const uint StatxBasic = 0x7FF;

    [StructLayout(LayoutKind.Explicit, Size = 256)]
    private struct StatxNative
    {
        [FieldOffset(20)] public uint Uid;
        [FieldOffset(24)] public uint Gid;
        [FieldOffset(28)] public ushort ModeBits;
        public readonly uint Mode => ModeBits;
    }

    private static int Stat(int dirfd, string path, int flags, out StatxNative st) =>
        statx(dirfd, path, flags, StatxBasic, out st) == 0 ? 0 : Marshal.GetLastPInvokeError();

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, out StatxNative buf);

    [LibraryImport("libc")]
    private static partial uint geteuid();
}
