using Graft.Core;
using Graft.Xlators.Storage.Posix.Native;

namespace Graft.Xlators.Storage.Posix;

/// <summary>
/// storage/posix: exports one local directory (the brick). Every object carries its GFID in
/// the xattr <c>trusted.graft.gfid</c>; the private directory <c>.graft/handles</c> makes every
/// object reachable by GFID (hard links for files, parent/name records for directories).
/// Nothing a client sends can reach outside the brick: all paths are single validated names
/// resolved relative to directory fds without following symlinks. Each fop runs under the
/// caller's filesystem credentials (see <see cref="FsCreds"/>); internal bookkeeping runs as root.
/// See docs/storage-posix.md for the on-disk layout.
/// </summary>
/// <remarks>
/// Every fop completes synchronously (the syscalls block the calling thread, as the brick's
/// io threads would): that keeps the credential switch in one synchronous scope on one thread.
/// </remarks>
public sealed partial class PosixTranslator : Translator
{
    public static readonly XlatorSpec Spec = new("storage/posix", () => new PosixTranslator(),
        [
            new OptionSpec("directory", OptionKind.Path, null, "the brick directory exported by this translator") { Required = true },
            new OptionSpec("dir-fd-cache-size", OptionKind.Int, "1024",
                "how many directory fds (keyed by GFID) stay open to resolve directories without walking from the root; at most an eighth of the process's RLIMIT_NOFILE, and fewer while open files need the room") { Min = 16, Max = 65536 },
            new OptionSpec("writeback-chunk", OptionKind.Size, "4MB",
                "once an fd has written this many bytes, the kernel starts writing them to disk (not waited for), so the disk works during big writes and a later fsync finds little left; 0: leave it to the kernel's flusher") { Min = 0, Max = 1L << 40, Runtime = true },
            new OptionSpec("drop-behind", OptionKind.Bool, "on",
                "with writeback-chunk: once a chunk of a sequential writer is on disk (waited for off the write's path, when the next chunk is started), its pages are dropped from the page cache, so the writer reuses the pages it just freed instead of filling new ones; a read of what was just written then goes to the disk") { Runtime = true },
        ],
        "exports a local directory: the bottom of a brick's graph")
    {
        MinChildren = 0,
        MaxChildren = 0,
    };

    internal const string GraftDirName = ".graft";
    internal const string GfidXattr = "trusted.graft.gfid";
    internal const string InternalXattrPrefix = "trusted.graft.";
    /// <summary>The part of <see cref="InternalXattrPrefix"/> a mount's trusted identity may use (cluster translators' state).</summary>
    public const string ClusterXattrPrefix = "trusted.graft.dht.";
    /// <summary>
    /// cluster/replicate's pending-operation counters, one xattr per child (prefix + the child's
    /// name), kept with xattrop; features/index records the objects where any is non-zero.
    /// </summary>
    public const string PendingXattrPrefix = "trusted.graft.pending.";

    private int _rootFd = -1;
    private int _graftFd = -1;
    private int _handlesFd = -1;
    private DirFdCache? _dirs;
    private uint _processUmask;

    // GFIDs of non-directories with at least one open fd: their handle link must outlive their
    // last name. Shared by every instance on this brick directory in the process.
    private SharedBrickState? _shared;
    private Dictionary<Gfid, int> _openCounts = new();
    private object _openLock = new();
    private object[] _handleLocks = SharedBrickState.NewLocks();

    // The brick's name, claim and directory-rename locks (SharedBrickState says what each is for):
    // shared by every instance on this directory, since a switch runs two graphs side by side.
    private object[] _nameLocks = SharedBrickState.NewLocks();
    private object _claimLock = new();
    private object _dirRenameLock = new();

    /// <summary>The brick directory, as configured.</summary>
    public string Directory { get; private set; } = "";

    /// <summary>Directory fds open in the GFID cache (state dump / tests).</summary>
    public int CachedDirFds => _dirs?.Count ?? 0;

    private int _osFds;
    private long _writebackChunk;
    private long _writebacksStarted;
    private int _dropBehind;
    private long _droppedRanges, _droppedBytes, _dropWaitTicks, _droppedUnwaited;

    /// <summary>Ranges whose writeback writeback-chunk started (state dump / tests).</summary>
    public long WritebacksStarted => Interlocked.Read(ref _writebacksStarted);

    /// <summary>Ranges drop-behind waited for and dropped from the page cache, and their bytes (state dump / tests).</summary>
    public long DroppedRanges => Interlocked.Read(ref _droppedRanges);
    public long DroppedBytes => Interlocked.Read(ref _droppedBytes);
    /// <summary>Of <see cref="DroppedRanges"/>, those dropped without waiting for the disk (the bound on waits was reached).</summary>
    public long DroppedUnwaited => Interlocked.Read(ref _droppedUnwaited);
    /// <summary>Time drop-behind spent waiting for ranges to reach the disk and dropping them, on the pool (never on a write's path).</summary>
    public TimeSpan DropTime => System.Diagnostics.Stopwatch.GetElapsedTime(0, Interlocked.Read(ref _dropWaitTicks));

    public override IReadOnlyDictionary<string, long> Counters => new Dictionary<string, long>
    {
        ["writebacksStarted"] = WritebacksStarted,
        ["dropBehindRanges"] = DroppedRanges,
        ["dropBehindBytes"] = DroppedBytes,
        ["dropBehindUnwaited"] = DroppedUnwaited,
        ["dropBehindMicroseconds"] = (long)DropTime.TotalMicroseconds,
    };

    protected override void ApplyOptions(OptionValues o)
    {
        Volatile.Write(ref _writebackChunk, o.GetLong("writeback-chunk"));
        Volatile.Write(ref _dropBehind, o.GetBool("drop-behind") ? 1 : 0);
    }

    /// <summary>OS fds held for open Fds (files and directories); release closes them (state dump / tests).</summary>
    public int OpenFdCount => Volatile.Read(ref _osFds);

    /// <summary>Non-directory objects currently open through this brick.</summary>
    public int OpenObjects { get { lock (_openLock) return _openCounts.Count; } }

    public override unsafe ValueTask InitAsync(CancellationToken ct)
    {
        FsCreds.Init();
        ApplyOptions(Options);
        Directory = Options.GetStringOrNull("directory")
            ?? throw new InvalidOperationException("storage/posix: option 'directory' is required");
        _processUmask = ReadProcessUmask();
        _rootFd = OpenBrickRoot(Directory);
        try
        {
            InitRootGfid();
            _graftFd = OpenOrMakePrivateDir(_rootFd, GraftDirName);
            _handlesFd = OpenOrMakePrivateDir(_graftFd, "handles");
            _dirs = new DirFdCache(Math.Min(Options.GetInt("dir-fd-cache-size"), FdBudget.CacheShare), _rootFd);
            if (FStat(_rootFd, out var rootSt) != Errno.OK) throw new IOException($"storage/posix: cannot stat {Directory}");
            _shared = SharedBrickState.Acquire(rootSt.Dev, rootSt.Ino, out var first);
            _openCounts = _shared.OpenCounts;
            _openLock = _shared.Sync;
            _handleLocks = _shared.HandleLocks;
            _writerCounts = _shared.WriterCounts;
            _marks = _shared.Marks;
            _nameLocks = _shared.NameLocks;
            _claimLock = _shared.ClaimLock;
            _dirRenameLock = _shared.DirRenameLock;
            // Orphans can only be told apart at the first start in this process: later instances
            // (a client graph switch) share the open counts of the instances beside them.
            if (first)
            {
                fixed (byte* dot = ".\0"u8)
                    _shared.OwnHandlesFd(Libc.openat(_handlesFd, dot, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0));
                MakeHandleTopDirs();
                RemoveOrphanHandles();
            }
        }
        catch
        {
            CloseAll();
            throw;
        }
        return ValueTask.CompletedTask;
    }

    public override ValueTask FiniAsync()
    {
        CloseAll();
        return ValueTask.CompletedTask;
    }

    private void CloseAll()
    {
        _shared?.Release();
        _shared = null;
        _dirs?.Dispose();
        _dirs = null;
        Close(ref _handlesFd);
        Close(ref _graftFd);
        Close(ref _rootFd);
    }

    private static void Close(ref int fd)
    {
        if (fd >= 0) Libc.close(fd);
        fd = -1;
    }

    /// <summary>A brick is a leaf: once its parent is up, it can serve.</summary>
    public override void Notify(GraphEvent ev, Translator? from)
    {
        if (ev == GraphEvent.ParentUp) NotifyParents(GraphEvent.ChildUp);
        else base.Notify(ev, from);
    }

    /// <summary>
    /// The process umask applies to every create on top of the caller's; we read it once so
    /// creates can restore the bits it took away (see FixCreatedMode).
    /// </summary>
    private static uint ReadProcessUmask()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
                if (line.StartsWith("Umask:", StringComparison.Ordinal))
                    return Convert.ToUInt32(line[6..].Trim(), 8);
        }
        catch (IOException) { }
        return 0x12 /* 022 */;
    }

    /// <summary>
    /// Opens the brick directory one component at a time, so the brick's own path may be longer
    /// than PATH_MAX. The administrator's path may contain symlinks; client paths never may.
    /// </summary>
    private static unsafe int OpenBrickRoot(string dir)
    {
        if (!dir.StartsWith('/')) dir = Path.GetFullPath(dir);
        int fd;
        fixed (byte* root = "/\0"u8) fd = Libc.openat(Libc.AT_FDCWD, root, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        if (fd < 0) throw new InvalidOperationException($"storage/posix: cannot open '/': errno {Libc.Errno()}");
        Span<byte> z = stackalloc byte[NameBufLen];
        foreach (var part in dir.Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (EncodeName(part, z) != Errno.OK) { Libc.close(fd); throw new InvalidOperationException($"storage/posix: bad brick path component '{part}'"); }
            int next;
            fixed (byte* p = z) next = Libc.openat(fd, p, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
            var err = Libc.Errno();
            Libc.close(fd);
            if (next < 0) throw new InvalidOperationException($"storage/posix: cannot open brick directory '{dir}': {((Errno)err).Name()}");
            fd = next;
        }
        return fd;
    }

    private unsafe int OpenOrMakePrivateDir(int parent, string name)
    {
        Span<byte> z = stackalloc byte[NameBufLen];
        EncodeName(name, z);
        fixed (byte* p = z)
        {
            if (Libc.mkdirat(parent, p, 0x1C0 /* 0700 */) != 0 && Libc.Errno() != (int)Errno.EEXIST)
                throw new InvalidOperationException($"storage/posix: cannot create {name}: {((Errno)Libc.Errno()).Name()}");
            int fd = Libc.openat(parent, p, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
            if (fd < 0) throw new InvalidOperationException($"storage/posix: cannot open {name}: {((Errno)Libc.Errno()).Name()}");
            return fd;
        }
    }

    private void InitRootGfid()
    {
        var e = ReadGfid(_rootFd, out var g);
        if (e == Errno.ENODATA)
        {
            e = WriteGfid(_rootFd, Gfid.Root);
            if (e != Errno.OK) throw new InvalidOperationException($"storage/posix: cannot set the root GFID: {e.Name()}");
        }
        else if (e != Errno.OK) throw new InvalidOperationException($"storage/posix: cannot read the root GFID: {e.Name()}");
        else if (!g.IsRoot) throw new InvalidOperationException($"storage/posix: brick root has GFID {g}, not the root GFID");
    }
}
