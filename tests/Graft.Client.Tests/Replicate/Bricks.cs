using System.Text;

namespace Graft.Tests.Replicate;

/// <summary>
/// What a brick directory holds, as one comparable text: names, types, data, mode, owner, link count, GFID and user xattrs.
/// Not times: each brick stamps its own mtime on a change made on every copy (they differ by the
/// milliseconds between the copies); <see cref="MtimeSpread"/> measures those.
/// Shared by the library and end-to-end replicate tests (linked into both).
/// </summary>
internal static class Bricks
{
    public static string Describe(string brick)
    {
        // A heal running in the background may rename or remove an entry between the listing and its lstat
        // (its temporary files): such a walk saw no consistent state, so it is taken again (bounded).
        for (int attempt = 1; ; attempt++)
        {
            try { return DescribeOnce(brick); }
            catch (Exception e) when (attempt < 20 && e is FileNotFoundException or DirectoryNotFoundException or VanishedException) { }
        }
    }

    private sealed class VanishedException : Exception;

    private static string DescribeOnce(string brick)
    {
        var sb = new StringBuilder();
        foreach (var p in Directory.EnumerateFileSystemEntries(brick, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var rel = Path.GetRelativePath(brick, p);
            if (rel == ".graft" || rel.StartsWith(".graft/", StringComparison.Ordinal)) continue;
            var info = new FileInfo(p);
            sb.Append(rel).Append(' ');
            var st = Syscall.TryLstat(p) ?? throw new VanishedException();
            sb.Append(Convert.ToString(st.Mode, 8)).Append(" u").Append(st.Uid).Append(" g").Append(st.Gid).Append(" n").Append(st.Nlink);
            sb.Append(" gfid=").Append(Convert.ToHexString(Syscall.Getxattr(p, "trusted.graft.gfid") ?? []));
            var x = Syscall.Getxattr(p, "user.x");
            if (x is not null) sb.Append(" user.x=").Append(Encoding.UTF8.GetString(x));
            if (info.LinkTarget is { } t) sb.Append(" -> ").Append(t);
            else if ((st.Mode & 0xF000) == 0x8000) sb.Append(" data=").Append(Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(p)))[..16]);
            sb.Append('\n');
        }
        return sb.ToString();
    }

    /// <summary>The largest difference, in seconds, between the mtimes of the same file on two bricks.</summary>
    public static double MtimeSpread(string a, string b)
    {
        double worst = 0;
        foreach (var p in Directory.EnumerateFiles(a, "*", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(a, p);
            if (rel.StartsWith(".graft/", StringComparison.Ordinal) || !File.Exists(Path.Combine(b, rel))) continue;
            worst = Math.Max(worst, Math.Abs(Syscall.Lstat(p).Mtime - Syscall.Lstat(Path.Combine(b, rel)).Mtime) / 1e9);
        }
        return worst;
    }
}

internal static unsafe partial class Syscall
{
    public readonly record struct St(uint Mode, uint Uid, uint Gid, ulong Nlink, long Mtime, ulong Ino);

    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true, StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial int lstat(string path, byte* buf);

    [System.Runtime.InteropServices.LibraryImport("libc", SetLastError = true, StringMarshalling = System.Runtime.InteropServices.StringMarshalling.Utf8)]
    private static partial nint lgetxattr(string path, string name, byte* value, nuint size);

    public static byte[]? Getxattr(string path, string name)
    {
        var buf = new byte[4096];
        nint n;
        fixed (byte* b = buf) n = lgetxattr(path, name, b, (nuint)buf.Length);
        return n < 0 ? null : buf[..(int)n];
    }

    /// <summary>lstat(2) on x86-64 (struct stat: ino at 8, nlink at 16, mode 24, uid 28, gid 32, mtime 88).</summary>
    public static St Lstat(string path) => TryLstat(path) ?? throw new Xunit.Sdk.XunitException($"lstat {path}: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");

    /// <summary>lstat(2), or null when it fails (the entry is gone).</summary>
    public static St? TryLstat(string path)
    {
        var b = stackalloc byte[144];
        if (lstat(path, b) != 0) return null;
        return new St(*(uint*)(b + 24), *(uint*)(b + 28), *(uint*)(b + 32), *(ulong*)(b + 16), *(long*)(b + 88) * 1_000_000_000 + *(long*)(b + 96), *(ulong*)(b + 8));
    }
}
