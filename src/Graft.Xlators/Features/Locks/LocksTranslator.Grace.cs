using System.Text;
using Graft.Core;
using Graft.Xlators.Storage.Posix.Native;
using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Features.Locks;

// Lock grace after the brick starts, and the marker file that tells a start whether anyone can
// have locks to reclaim.
//
// A brick that restarts has lost every lock; the clients that held them still believe they do.
// For lock-grace after the start, a request that could take a lock waits (GETLK too: its answer
// would describe a state that is still being rebuilt), while reclaims of what clients held are
// granted at once. So a reconnecting client gets its locks back before anyone else can take them.
// Unlocks pass: an unlock never gives anyone what a reclaim could need. Other fops are not held:
// advisory locks never gated I/O, a client that ignores them could write anyway, and holding
// opens and reads for the grace would stall every client of a restarted brick for nothing.
public sealed partial class LocksTranslator
{
    /// <summary>
    /// How long no lock state must have been left before the marker is removed: a lock/unlock loop
    /// must not create and delete (and fsync) a file per call.
    /// </summary>
    internal static readonly TimeSpan MarkerDebounce = TimeSpan.FromSeconds(1);

    private readonly TaskCompletionSource _graceOver = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _graceSync = new();
    private long _graceMs = 10_000;     // option lock-grace; guarded by _graceSync once the grace started
    private long _graceStartMs = -1;    // Environment.TickCount64 at the start; -1 before it
    private Timer? _graceTimer;
    private volatile bool _finished;    // torn down: requests held by the grace fail with ENOTCONN
    private long _reclaimsGranted, _reclaimsRefused, _heldByGrace, _markerWrites;
    private ILogger _log = Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

    private string? _markerPath;
    /// <summary>
    /// Guards creating and removing the marker file. Taken before the map lock, never inside a file's
    /// lock; the file I/O under it is rare (one create per "no locks → some lock" transition).
    /// </summary>
    private readonly object _markerSync = new();
    /// <summary>The marker file exists (or is being created). Cleared under the map lock: see <see cref="RemoveMarkerIfIdle"/>.</summary>
    private volatile bool _markerPresent;
    private Timer? _markerTimer;
    private int _markerFailureLogged;

    /// <summary>The brick is in its lock grace: only reclaims and unlocks are answered now.</summary>
    public bool InGrace => !_graceOver.Task.IsCompleted;

    private long GraceLeftMs { get { lock (_graceSync) return _graceStartMs + _graceMs - Environment.TickCount64; } }

    /// <summary>Completes when the grace is over (at once when there was none).</summary>
    public Task GraceOver => _graceOver.Task;

    public override async ValueTask InitAsync(CancellationToken ct)
    {
        if (Graph is { } g) _log = g.Loggers.CreateLogger("Graft.Features.Locks");
        await base.InitAsync(ct).ConfigureAwait(false);
        _markerPath = Options.GetStringOrNull("grace-marker") is { Length: > 0 } m ? Path.GetFullPath(m) : null;
        StartGrace();
    }

    /// <summary>
    /// The grace starts with the translator. Without a marker option it always applies; with one,
    /// only when the marker file is there, that is when some lock was held when the brick last
    /// stopped (or crashed): a fresh brick, or one that stopped with nothing locked, has nothing
    /// to wait for.
    /// </summary>
    private void StartGrace()
    {
        bool marked = _markerPath is not null && File.Exists(_markerPath);
        _markerPresent = marked;
        if (_markerPath is not null) _markerTimer = new Timer(static o => ((LocksTranslator)o!).RemoveMarkerIfIdle(), this, Timeout.Infinite, Timeout.Infinite);
        bool applies = _markerPath is null || marked;
        lock (_graceSync)
        {
            _graceStartMs = Environment.TickCount64;
            if (!applies || _graceMs == 0) { EndGrace(); return; }
            _log.LogInformation("{Name}: lock grace for {Ms} ms: only reclaims and unlocks are answered until then", Name, _graceMs);
            Reschedule();
        }
    }

    /// <summary>Under <see cref="_graceSync"/>: ends the grace when its time is up, or arms the timer for the rest.</summary>
    private void Reschedule()
    {
        if (_graceStartMs < 0 || !InGrace) return;
        long left = _graceStartMs + _graceMs - Environment.TickCount64;
        if (left <= 0) { EndGrace(); return; }
        _graceTimer ??= new Timer(static o => { var t = (LocksTranslator)o!; lock (t._graceSync) t.Reschedule(); }, this, Timeout.Infinite, Timeout.Infinite);
        _graceTimer.Change(left, Timeout.Infinite);
    }

    /// <summary>Under <see cref="_graceSync"/>. Requests held by the grace go on from here (asynchronously).</summary>
    private void EndGrace()
    {
        if (!_graceOver.TrySetResult()) return;
        if (_graceTimer is { } t) { t.Dispose(); _graceTimer = null; }
        if (_graceStartMs >= 0 && Interlocked.Read(ref _reclaimsGranted) + Interlocked.Read(ref _heldByGrace) + Interlocked.Read(ref _reclaimsRefused) > 0)
            _log.LogInformation("{Name}: lock grace over: {Granted} reclaim(s) granted, {Refused} refused, {Held} request(s) held",
                Name, Interlocked.Read(ref _reclaimsGranted), Interlocked.Read(ref _reclaimsRefused), Interlocked.Read(ref _heldByGrace));
        // A marker found at start that nobody reclaimed under goes once the debounce has passed.
        ArmMarkerCheck();
    }

    /// <summary>lock-grace changed at run time: a shorter grace may be over already, a longer one lasts longer.</summary>
    private void SetGrace(long ms)
    {
        lock (_graceSync)
        {
            _graceMs = ms;
            Reschedule();
        }
    }

    /// <summary>
    /// A request that could take a lock, during the grace: it waits until the grace is over
    /// (bounded by it; the caller's cancellation ends the wait with EINTR), then is served as usual.
    /// </summary>
    private async ValueTask<Result<FileLock>> AfterGraceAsync(FopContext ctx, Fd fd, LockCmd cmd, FileLock lk)
    {
        Interlocked.Increment(ref _heldByGrace);
        try { await _graceOver.Task.WaitAsync(ctx.Cancellation).ConfigureAwait(false); }
        catch (OperationCanceledException)
        {
            Interlocked.Increment(ref _cancelled);
            return Errno.EINTR;
        }
        if (_finished) return Errno.ENOTCONN;
        return await LkAsync(ctx, fd, cmd, lk).ConfigureAwait(false);
    }

    /// <summary>
    /// A reclaim: a non-blocking set of a lock the caller held before the brick restarted, granted
    /// during the grace when nothing conflicts (two clients cannot both have held conflicting
    /// locks, so a conflict means a confused client: EAGAIN). After the grace it is a plain SETLK,
    /// which can find the range taken in between (EAGAIN).
    /// </summary>
    private async ValueTask<Result<FileLock>> ReclaimAsync(FopContext ctx, Fd fd, LockOwner owner, FileLock lk, LockRange range, int pid)
    {
        if (lk.Type == LockType.Unlock) return Errno.EINVAL; // nothing to take back
        var r = await Set(ctx, fd, owner, lk, range, pid, wait: false).ConfigureAwait(false);
        Interlocked.Increment(ref r.Ok ? ref _reclaimsGranted : ref _reclaimsRefused);
        return r;
    }

    // ---- the marker ----

    /// <summary>
    /// Called before a granted lock is answered: the marker must be on disk before any client can
    /// believe it holds a lock here, or a crash right after would restart the brick without a grace.
    /// </summary>
    private void EnsureMarker()
    {
        if (_markerPath is null || _markerPresent) return;
        lock (_markerSync)
        {
            if (_markerPresent) return;
            try
            {
                WriteMarker(_markerPath);
                _markerPresent = true;
                Interlocked.Increment(ref _markerWrites);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // The lock stands; only a crash before the next successful write would lose the grace.
                if (Interlocked.Exchange(ref _markerFailureLogged, 1) == 0)
                    _log.LogWarning("{Name}: cannot write the lock grace marker {Path}: {Error}", Name, _markerPath, e.Message);
            }
        }
    }

    /// <summary>The lock state map became empty: the marker goes if it stays empty for the debounce.</summary>
    private void OnNoLockState()
    {
        if (_markerPresent) ArmMarkerCheck();
    }

    private void ArmMarkerCheck()
    {
        try { _markerTimer?.Change(MarkerDebounce, Timeout.InfiniteTimeSpan); }
        catch (ObjectDisposedException) { } // torn down meanwhile
    }

    /// <summary>
    /// The debounce passed since the map last became empty. <see cref="_markerPresent"/> is cleared
    /// under the map lock, together with the check that the map is empty: a state created after
    /// that (under the same lock) sees the marker missing when its grant is answered and waits for
    /// <see cref="_markerSync"/>, so it writes the marker again after this removal, never before.
    /// </summary>
    private void RemoveMarkerIfIdle()
    {
        lock (_markerSync)
        {
            if (!_markerPresent || InGrace || _finished) return; // in grace: EndGrace checks again
            lock (_mapSync)
            {
                if (_states.Count > 0) return; // the next time the map empties re-arms the check
                _markerPresent = false;
            }
            try { File.Delete(_markerPath!); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Left behind, it only costs the next start an unneeded grace.
                _log.LogWarning("{Name}: cannot remove the lock grace marker {Path}: {Error}", Name, _markerPath, e.Message);
            }
        }
    }

    private static void WriteMarker(string path)
    {
        var dir = Path.GetDirectoryName(path)!;
        Directory.CreateDirectory(dir);
        using (var fs = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.ReadWrite))
        {
            fs.Write(Encoding.ASCII.GetBytes($"locks held since {DateTime.UtcNow:O}\n"));
            fs.Flush(flushToDisk: true);
        }
        FsyncDirectory(dir); // the file's name must survive a crash too, not only its bytes
    }

    private static unsafe void FsyncDirectory(string dir)
    {
        var z = Encoding.UTF8.GetBytes(dir + "\0");
        int fd;
        fixed (byte* p = z) fd = Libc.openat(Libc.AT_FDCWD, p, Libc.O_RDONLY | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        if (fd < 0) throw new IOException($"open {dir}: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        try
        {
            if (Libc.fsync(fd) != 0) throw new IOException($"fsync {dir}: errno {System.Runtime.InteropServices.Marshal.GetLastPInvokeError()}");
        }
        finally { Libc.close(fd); }
    }

    /// <summary>
    /// Teardown: nothing may wait for a grace that will never be served, and the marker stays as
    /// it is. A brick stopping cleanly has its fds released by protocol/server first, which drops
    /// flocks the clients still believe they hold: the marker must survive that, so the restart
    /// gives them a grace to reclaim in. (A marker with nothing behind it costs one grace.)
    /// </summary>
    private void FinishGrace()
    {
        _finished = true;
        lock (_graceSync) EndGrace();
        lock (_markerSync)
        {
            _markerTimer?.Dispose();
            _markerTimer = null;
        }
    }
}
