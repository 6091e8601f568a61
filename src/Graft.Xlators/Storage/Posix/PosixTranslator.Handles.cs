using System.Buffers.Binary;
using System.Text;
using Graft.Core;
using FileMode = Graft.Core.PosixMode;
using Graft.Xlators.Storage.Posix.Native;

namespace Graft.Xlators.Storage.Posix;

// The handle store .graft/handles/xx/yy/<gfid>: a hard link for each non-directory (so it is
// reachable by GFID, even unlinked while open), a symlink recording (parent GFID, name) for
// each directory. Records are only ever read with readlinkat, never followed.
public sealed partial class PosixTranslator
{
    /// <summary>"xx/yy/" + 36-character GFID + room for a temp suffix + NUL.</summary>
    private const int HandlePathLen = 64;
    /// <summary>"../../xx/yy/" + GFID + "/" + name + NUL.</summary>
    private const int RecordLen = 12 + 36 + 1 + NameMax + 1;

    private static void WriteGfidAscii(Gfid g, Span<byte> dst)
    {
        Span<byte> b = stackalloc byte[16];
        g.WriteBytes(b);
        int o = 0;
        for (int i = 0; i < 16; i++)
        {
            if (i is 4 or 6 or 8 or 10) dst[o++] = (byte)'-';
            dst[o++] = Hex(b[i] >> 4);
            dst[o++] = Hex(b[i] & 15);
        }
        static byte Hex(int v) => (byte)(v < 10 ? '0' + v : 'a' + v - 10);
    }

    /// <summary>Writes "xx/yy/&lt;gfid&gt;" NUL-terminated; returns its length without the NUL.</summary>
    private static int HandlePath(Gfid g, Span<byte> z)
    {
        WriteGfidAscii(g, z[6..]);
        z[0] = z[6]; z[1] = z[7]; z[2] = (byte)'/';
        z[3] = z[8]; z[4] = z[9]; z[5] = (byte)'/';
        z[42] = 0;
        return 42;
    }

    /// <summary>
    /// Second-level handle directories ("xx/yy", 65,536 bits) this instance has made or found: a file's handle
    /// is linked into a known one directly, and into an unknown one after its mkdirat (made, or EEXIST) — not
    /// after a linkat that fails ENOENT, as every create on a fresh brick did. One removed since (by hand) still
    /// fails the linkat ENOENT and is made again.
    /// </summary>
    private readonly ulong[] _knownBuckets = new ulong[65536 / 64];

    private static int Bucket(ReadOnlySpan<byte> handlePath) =>
        (HexValue(handlePath[0]) << 12) | (HexValue(handlePath[1]) << 8) | (HexValue(handlePath[3]) << 4) | HexValue(handlePath[4]);

    private static int HexValue(byte c) => c <= '9' ? c - '0' : c - 'a' + 10;

    private bool BucketKnown(int b) => (Volatile.Read(ref _knownBuckets[b >> 6]) & (1UL << (b & 63))) != 0;

    private void KnowBucket(int b) => Interlocked.Or(ref _knownBuckets[b >> 6], 1UL << (b & 63));

    /// <summary>
    /// Makes the directory "xx/yy" a handle lives in; true when it exists now. The 256 first-level directories
    /// are made at start-up (<see cref="MakeHandleTopDirs"/>), so on a fresh brick a create costs one mkdirat here,
    /// not an EEXIST mkdirat of "xx" first; one that went missing since (removed by hand) is made again.
    /// </summary>
    private unsafe bool MakeHandleDirs(Gfid g)
    {
        Span<byte> z = stackalloc byte[HandlePathLen];
        HandlePath(g, z);
        bool made;
        fixed (byte* p = z)
        {
            p[5] = 0;
            made = Libc.mkdirat(_handlesFd, p, 0x1C0 /* 0700 */) == 0 || LastErr() == Errno.EEXIST;
            if (!made && LastErr() == Errno.ENOENT)
            {
                p[2] = 0;
                Libc.mkdirat(_handlesFd, p, 0x1C0 /* 0700 */);
                p[2] = (byte)'/';
                made = Libc.mkdirat(_handlesFd, p, 0x1C0 /* 0700 */) == 0 || LastErr() == Errno.EEXIST;
            }
        }
        if (made) KnowBucket(Bucket(z));
        return made;
    }

    /// <summary>
    /// Start-up: the 256 first-level handle directories "00".."ff" (as GlusterFS makes its .glusterfs/xx): 256
    /// mkdirat, all EEXIST on a brick that has them. The second level stays on demand (65,536 directories).
    /// </summary>
    private unsafe void MakeHandleTopDirs()
    {
        byte* p = stackalloc byte[3];
        p[2] = 0;
        for (int i = 0; i < 256; i++)
        {
            p[0] = Hex(i >> 4); p[1] = Hex(i & 15);
            if (Libc.mkdirat(_handlesFd, p, 0x1C0 /* 0700 */) != 0 && LastErr() != Errno.EEXIST)
                throw new InvalidOperationException($"storage/posix: cannot create handle directory {(char)p[0]}{(char)p[1]}: {LastErr().Name()}");
        }
        static byte Hex(int v) => (byte)(v < 10 ? '0' + v : 'a' + v - 10);
    }

    /// <summary>
    /// Makes the handle hard link of a non-directory (idempotent; replaces a stale one). EEXIST:
    /// the GFID belongs to another live object (it still has names, or is open, or is a directory).
    /// </summary>
    private unsafe Errno LinkFileHandle(int objFd, Gfid g)
    {
        Span<byte> z = stackalloc byte[HandlePathLen];
        HandlePath(g, z);
        if (!BucketKnown(Bucket(z))) MakeHandleDirs(g);
        fixed (byte* hp = z) fixed (byte* empty = "\0"u8)
        {
            for (int attempt = 0; attempt < 3; attempt++)
            {
                if (Libc.linkat(objFd, empty, _handlesFd, hp, Libc.AT_EMPTY_PATH) == 0) return Errno.OK;
                var e = LastErr();
                if (e == Errno.ENOENT) { MakeHandleDirs(g); continue; }
                if (e != Errno.EEXIST) return e;
                Stat a, b;
                if (Libc.fstat(objFd, &a) != 0) return LastErr();
                if (Libc.fstatat(_handlesFd, hp, &b, Libc.AT_SYMLINK_NOFOLLOW) != 0) continue;
                if (a.Dev == b.Dev && a.Ino == b.Ino) return Errno.OK;
                if (b.Nlink > 1 || FileMode.IsLnk(b.Mode) || IsOpen(g)) return Errno.EEXIST;
                Libc.unlinkat(_handlesFd, hp, 0); // a stale handle of an object that no longer exists
            }
            return Errno.EIO;
        }
    }

    /// <summary>Records where directory <paramref name="g"/> lives: (parent GFID, name). Atomic replace.</summary>
    private unsafe Errno WriteDirRecord(Gfid g, Gfid parent, string name)
    {
        Span<byte> target = stackalloc byte[RecordLen];
        "../../"u8.CopyTo(target);
        HandlePath(parent, target[6..]);
        target[48] = (byte)'/';
        int n = NameBytes.GetBytes(name, target[49..]);
        target[49 + n] = 0;

        Span<byte> hp = stackalloc byte[HandlePathLen];
        Span<byte> tmp = stackalloc byte[HandlePathLen];
        int len = HandlePath(g, hp);
        hp[..len].CopyTo(tmp);
        ".t"u8.CopyTo(tmp[len..]);
        Environment.CurrentManagedThreadId.TryFormat(tmp[(len + 2)..], out int tn, default, System.Globalization.CultureInfo.InvariantCulture);
        tmp[len + 2 + tn] = 0;
        fixed (byte* pt = target) fixed (byte* ph = hp) fixed (byte* ptmp = tmp)
        {
            Libc.unlinkat(_handlesFd, ptmp, 0);
            if (Libc.symlinkat(pt, _handlesFd, ptmp) != 0)
            {
                if (LastErr() != Errno.ENOENT) return LastErr();
                MakeHandleDirs(g);
                if (Libc.symlinkat(pt, _handlesFd, ptmp) != 0) return LastErr();
            }
            if (Libc.renameat2(_handlesFd, ptmp, _handlesFd, ph, 0) != 0)
            {
                var e = LastErr();
                Libc.unlinkat(_handlesFd, ptmp, 0);
                return e;
            }
        }
        return Errno.OK;
    }

    /// <summary>Reads a directory's record. ENOENT: no such GFID here; ENOTDIR: the GFID is not a directory.</summary>
    private unsafe Errno ReadDirRecord(Gfid g, out Gfid parent, out byte[] nameZ)
    {
        parent = default;
        nameZ = [];
        Span<byte> hp = stackalloc byte[HandlePathLen];
        HandlePath(g, hp);
        Span<byte> buf = stackalloc byte[RecordLen + 1];
        nint n;
        fixed (byte* ph = hp) fixed (byte* pb = buf) n = Libc.readlinkat(_handlesFd, ph, pb, (nuint)buf.Length);
        if (n < 0) return LastErr() == Errno.EINVAL ? Errno.ENOTDIR : LastErr();
        var t = buf[..(int)n];
        if (n < 50 || n >= RecordLen || !t.StartsWith("../../"u8) || t[48] != (byte)'/') return Errno.ENOTDIR;
        Span<char> chars = stackalloc char[36];
        for (int i = 0; i < 36; i++) chars[i] = (char)t[12 + i];
        if (!Gfid.TryParse(chars, out parent)) return Errno.ENOTDIR;
        var name = t[49..];
        if (name.Length == 0 || name.IndexOf((byte)'/') >= 0) return Errno.ENOTDIR;
        nameZ = new byte[name.Length + 1];
        name.CopyTo(nameZ);
        return Errno.OK;
    }

    private unsafe void RemoveHandle(Gfid g)
    {
        Span<byte> hp = stackalloc byte[HandlePathLen];
        HandlePath(g, hp);
        fixed (byte* ph = hp) Libc.unlinkat(_handlesFd, ph, 0);
    }

    /// <summary>Opens a handle O_PATH (root's work): the object itself for non-directories, the record for directories.</summary>
    private unsafe int OpenHandle(Gfid g)
    {
        Span<byte> hp = stackalloc byte[HandlePathLen];
        HandlePath(g, hp);
        fixed (byte* ph = hp) return FdBudget.OpenAt(_handlesFd, ph, Libc.O_PATH | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
    }

    // ---- the unlinked-but-open rule ----
    // A file handle is dropped only while nobody has its GFID open, and an open by GFID counts itself before it
    // goes through the handle: both hold the GFID's handle lock (striped, shared by every instance on this brick)
    // across the check and the drop, and the open count itself is guarded by _openLock (a leaf). The drop reads the
    // handle's directories, from disk after the page cache was dropped (0.3–12 ms): under one lock for the whole
    // brick, four jobs' unlinks waited for each other's reads. Lock order: name lock → handle lock → _openLock.

    private object HandleLock(Gfid g) => HandleLockIn(_handleLocks, g);

    /// <summary>The stripe of <paramref name="locks"/> (an instance's, or a brick's shared ones) that guards <paramref name="g"/>'s handle.</summary>
    private static object HandleLockIn(object[] locks, Gfid g) => locks[(g.GetHashCode() & int.MaxValue) % locks.Length];

    /// <summary>The lock <see cref="HandleLock"/> gives <paramref name="g"/> (tests).</summary>
    internal object HandleLockOf(Gfid g) => HandleLock(g);

    private bool IsOpen(Gfid g)
    {
        lock (_openLock) return _openCounts.ContainsKey(g);
    }

    private void AddOpen(Gfid g)
    {
        lock (HandleLock(g))
            lock (_openLock) _openCounts[g] = _openCounts.GetValueOrDefault(g) + 1;
    }

    private void DropOpen(Gfid g) => DropOpen(g, -1);

    /// <summary>
    /// Ends one open of <paramref name="g"/>. <paramref name="objFd"/> (an fd of the object still open, or -1) answers
    /// the common case of a release without the handle's path: with two links or more a name is left besides the
    /// handle, and nothing is dropped. The path is read only when one link (or none) is left: which one is left
    /// (the handle, or a name whose handle is already gone) only the handle's path tells. A cold file's handle
    /// directories are read from disk, on the thread that serves the release (the receive thread).
    /// </summary>
    private unsafe void DropOpen(Gfid g, int objFd)
    {
        lock (HandleLock(g))
        {
            lock (_openLock)
            {
                var n = _openCounts.GetValueOrDefault(g) - 1;
                if (n > 0) { _openCounts[g] = n; return; }
                _openCounts.Remove(g);
            }
            // Under the handle lock an unlink's check waits for this one: a name it removes after this fstat
            // finds the open count gone and drops the handle itself (MaybeDropFileHandle).
            Stat st;
            if (objFd >= 0 && Libc.fstat(objFd, &st) == 0)
            {
                if (st.Nlink >= 2) { Interlocked.Increment(ref _releasesWithoutPath); return; }
                if (st.Nlink == 0) return; // no handle left to drop
            }
            DropFileHandleIfNamelessLocked(g);
        }
    }

    private long _releasesWithoutPath;

    /// <summary>Releases whose handle check was answered by the fd's own link count (tests).</summary>
    internal long ReleasesWithoutPath => Interlocked.Read(ref _releasesWithoutPath);

    /// <summary>After a non-directory lost a name: drop its handle if that was the last name and nobody has it open.</summary>
    private void MaybeDropFileHandle(Gfid g)
    {
        lock (HandleLock(g))
        {
            if (IsOpen(g)) return;
            DropFileHandleIfNamelessLocked(g);
        }
    }

    /// <summary>Called holding the GFID's handle lock, with no open count for it.</summary>
    private void DropFileHandleIfNamelessLocked(Gfid g)
    {
        DropFileHandleIfNameless(_handlesFd, g);
        // Whoever drops it (or finds it gone, or named again) ends a drop left behind an unlink.
        if (_shared is { } s) lock (_openLock) s.DropsBehind.Remove(g);
    }

    // ---- an unlink's handle drop, behind its reply ----
    // The handle of a file whose last name an unlink removed was dropped before the reply: a stat of
    // .graft/handles/xx/yy/<gfid> and its unlinkat, which read those two directories from disk when they are cold
    // (after a cache drop: 0.24-0.43 ms on average, up to 56 ms; session 11), on the unlink's own path. And the
    // unlink's O_PATH fd, closed behind the reply, was then the inode's last reference: the closing thread freed the
    // inode (a synchronous discard on these VMs) through the dentry of the name, in the caller's directory, and an
    // rmdir of that directory spun in shrink_dcache_parent meanwhile. Now, when the fd's own link count says the
    // handle is all that is left and nobody has the file open, the unlink marks the GFID (DropsBehind: a nameless
    // lookup or open answers ESTALE, as once the handle is gone) and replies; a closing thread closes the fd (the
    // name's dentry goes; the handle still holds the inode) and then drops the handle, freeing the inode through
    // the handle's dentry.

    /// <summary>
    /// After an unlink removed a name of the file behind O_PATH fd <paramref name="fd"/> (GFID <paramref name="g"/>):
    /// hands the fd to the closing threads, with the handle's drop when the handle is all that is left. False:
    /// nothing was handed (the caller drops inline and closes the fd).
    /// </summary>
    private unsafe bool HandDropBehind(Gfid g, int fd)
    {
        if (_shared is not { } s) return false;
        Stat st;
        if (Libc.fstat(fd, &st) != 0 || !FileMode.IsReg(st.Mode)) return false;
        if (st.Nlink != 1)
        {
            // Another name is left (the handle stays), or no link at all (no handle to drop): only the close.
            CloseBehind.Close(fd);
            return true;
        }
        lock (HandleLock(g))
        {
            if (IsOpen(g))
            {
                // Its last release drops the handle (DropOpen).
                CloseBehind.Close(fd);
                return true;
            }
            if (!s.BeginBehind()) return false;
            lock (_openLock) s.DropsBehind.Add(g);
        }
        CloseBehind.CloseAndDropHandle(fd, s, g);
        return true;
    }

    /// <summary>Whether <paramref name="g"/>'s handle waits to be dropped behind an unlink (its last name is gone).</summary>
    private bool DropPendingBehind(Gfid g)
    {
        if (_shared is not { } s) return false;
        lock (_openLock) return s.DropsBehind.Contains(g);
    }

    /// <summary>A closing thread, after closing the unlink's fd: drops <paramref name="g"/>'s handle unless it was opened meanwhile.</summary>
    internal static unsafe void DropHandleBehind(SharedBrickState s, Gfid g)
    {
        int pin = -1;
        lock (HandleLockIn(s.HandleLocks, g))
        {
            lock (s.Sync)
            {
                // Opened by GFID meanwhile (that open answers ESTALE): its release drops the handle and the mark.
                if (s.OpenCounts.ContainsKey(g)) return;
            }
            Span<byte> hp = stackalloc byte[HandlePathLen];
            HandlePath(g, hp);
            fixed (byte* ph = hp)
            {
                // The handle's own reference, so that the inode is freed below, outside the lock (a discard can take ms).
                pin = FdBudget.OpenAt(s.HandlesFd, ph, OPathNoFollow, 0);
                Stat st;
                if (pin >= 0 && Libc.fstat(pin, &st) == 0 && st.Nlink == 1 && FileMode.IsReg(st.Mode))
                    Libc.unlinkat(s.HandlesFd, ph, 0);
            }
            lock (s.Sync) s.DropsBehind.Remove(g);
        }
        if (pin >= 0) Libc.close(pin);
    }

    private static unsafe void DropFileHandleIfNameless(int handlesFd, Gfid g)
    {
        Span<byte> hp = stackalloc byte[HandlePathLen];
        HandlePath(g, hp);
        Stat st;
        fixed (byte* ph = hp)
        {
            if (Libc.fstatat(handlesFd, ph, &st, Libc.AT_SYMLINK_NOFOLLOW) != 0 || st.Nlink != 1) return;
            if (FileMode.IsLnk(st.Mode))
            {
                // A directory's record (no GFID xattr) is not a file handle: it stays.
                int fd = FdBudget.OpenAt(handlesFd, ph, OPathNoFollow, 0);
                if (fd < 0) return;
                bool isObject = ReadGfid(fd, out var own) == Errno.OK && own == g;
                Libc.close(fd);
                if (!isObject) return;
            }
            Libc.unlinkat(handlesFd, ph, 0);
        }
    }

    /// <summary>
    /// Start-up: a non-directory handle with st_nlink 1 has no name left and no open fd (a
    /// restart closed them all): remove it. Directory records (symlinks without a GFID) stay.
    /// </summary>
    private unsafe void RemoveOrphanHandles()
    {
        var buf = new byte[32 * 1024];
        foreach (var (xx, _) in ReadAllEntries(_handlesFd, buf))
        {
            if (xx.Length != 3) continue; // "xx\0"
            int xfd;
            fixed (byte* p = xx) xfd = Libc.openat(_handlesFd, p, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
            if (xfd < 0) continue;
            try
            {
                foreach (var (yy, _) in ReadAllEntries(xfd, buf))
                {
                    if (yy.Length != 3) continue;
                    int yfd;
                    fixed (byte* p = yy) yfd = Libc.openat(xfd, p, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
                    if (yfd < 0) continue;
                    try { RemoveOrphansIn(yfd, buf); }
                    finally { Libc.close(yfd); }
                }
            }
            finally { Libc.close(xfd); }
        }
    }

    private static unsafe void RemoveOrphansIn(int dirFd, byte[] buf)
    {
        foreach (var (name, _) in ReadAllEntries(dirFd, buf))
        {
            fixed (byte* p = name)
            {
                if (name.Length != 37) { Libc.unlinkat(dirFd, p, 0); continue; } // a temp left by a crash
                Stat st;
                if (Libc.fstatat(dirFd, p, &st, Libc.AT_SYMLINK_NOFOLLOW) != 0 || st.Nlink != 1) continue;
                if (FileMode.IsLnk(st.Mode))
                {
                    // A directory's record has no GFID xattr; a client symlink's handle has one.
                    int fd = Libc.openat(dirFd, p, Libc.O_PATH | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
                    if (fd < 0) continue;
                    var isObject = ReadGfid(fd, out _) == Errno.OK;
                    Libc.close(fd);
                    if (!isObject) continue;
                }
                Libc.unlinkat(dirFd, p, 0);
            }
        }
    }

    /// <summary>Every entry but "." and "..", as NUL-terminated names (start-up work only).</summary>
    private static List<(byte[] NameZ, byte Type)> ReadAllEntries(int fd, byte[] buf)
    {
        var all = new List<(byte[], byte)>();
        Libc.lseek(fd, 0, 0);
        while (true)
        {
            int n = GetDents(fd, buf);
            if (n <= 0) break;
            for (int pos = 0; pos < n;)
            {
                var e = ParseDirent(buf.AsSpan(pos), out int reclen);
                pos += reclen;
                if (e.Name.SequenceEqual("."u8) || e.Name.SequenceEqual(".."u8)) continue;
                var z = new byte[e.Name.Length + 1];
                e.Name.CopyTo(z);
                all.Add((z, e.Type));
            }
        }
        return all;
    }

    private static unsafe int GetDents(int fd, byte[] buf)
    {
        fixed (byte* p = buf) return Libc.getdents64(fd, p, buf.Length);
    }

    private readonly ref struct RawDirent
    {
        public readonly ulong Ino;
        public readonly long Off;
        public readonly byte Type;
        public readonly ReadOnlySpan<byte> Name;
        public RawDirent(ulong ino, long off, byte type, ReadOnlySpan<byte> name) { Ino = ino; Off = off; Type = type; Name = name; }
    }

    /// <summary>struct linux_dirent64: ino u64, off s64, reclen u16, type u8, name NUL-terminated.</summary>
    private static RawDirent ParseDirent(ReadOnlySpan<byte> b, out int reclen)
    {
        reclen = BinaryPrimitives.ReadUInt16LittleEndian(b[16..]);
        var name = b[19..reclen];
        name = name[..name.IndexOf((byte)0)];
        return new RawDirent(BinaryPrimitives.ReadUInt64LittleEndian(b), BinaryPrimitives.ReadInt64LittleEndian(b[8..]), b[18], name);
    }
}
