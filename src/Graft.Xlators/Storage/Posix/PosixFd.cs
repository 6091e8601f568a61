using Graft.Core;
using Graft.Xlators.Storage.Posix.Native;

namespace Graft.Xlators.Storage.Posix;

/// <summary>
/// storage/posix's context on an <see cref="Fd"/>: the OS fd opened with the caller's
/// credentials, and the GFID it was opened as. Readdir calls on one fd are serialised on this
/// object, because they share the OS fd's position.
/// </summary>
internal sealed class PosixFd : IThreadPoolWorkItem
{
    public readonly int Os;
    public readonly Gfid Gfid;
    public readonly bool IsDir;
    /// <summary>Opened for writing (or with O_TRUNC): counted in <see cref="SharedBrickState.WriterCounts"/> until released.</summary>
    public readonly bool Writer;
    internal int Closed;

    public PosixFd(int os, Gfid gfid, bool isDir, bool writer = false) { Os = os; Gfid = gfid; IsDir = isDir; Writer = writer; }

    // writeback-chunk: the bytes written through this fd since writeback was last started for them, and the range they
    // span; whether a start is under way (at most one per fd: it runs on the thread pool, this object its work item).
    // Guarded by lock(this): a file's fd is never read as a directory, so readdir's use of the lock and this one never meet.
    private long _unkickedBytes, _unkickedFrom = long.MaxValue, _unkickedTo;
    private bool _kicking;
    private int _kickFd = -1;
    private long _kickFrom, _kickTo, _kickBytes;
    private PosixTranslator? _kickFor;
    // drop-behind: the range whose writeback the previous start began, to be waited for and dropped from the page cache
    // by the next start (empty: none). Touched only by the work item, which runs one at a time per fd.
    private long _dropFrom, _dropTo;

    /// <summary>
    /// Counts a write of <paramref name="n"/> bytes at <paramref name="offset"/>. Once the bytes counted reach
    /// <paramref name="chunk"/> and no start is under way, returns true with the range they span and counts anew: the
    /// caller starts its writeback (<see cref="StartWriteback"/>). While one is under way the bytes and range grow,
    /// and the next write after it ends starts them all.
    /// </summary>
    public bool Written(long offset, long n, long chunk, out long from, out long to)
    {
        lock (this)
        {
            _unkickedBytes += n;
            _unkickedFrom = Math.Min(_unkickedFrom, offset);
            _unkickedTo = Math.Max(_unkickedTo, offset + n);
            from = _unkickedFrom;
            to = _unkickedTo;
            if (_unkickedBytes < chunk || _kicking) return false;
            _kickBytes = _unkickedBytes;
            _unkickedBytes = 0;
            _unkickedFrom = long.MaxValue;
            _unkickedTo = 0;
            _kicking = true;
            return true;
        }
    }

    /// <summary>
    /// After <see cref="Written"/> said so: starts writeback of [from, to) on the thread pool, through
    /// <paramref name="dupFd"/> (a dup of <see cref="Os"/> made while the write was in service, so a release that
    /// closes <see cref="Os"/> meanwhile cannot make the call reach another file), which it closes. Allocates nothing.
    /// </summary>
    public void StartWriteback(PosixTranslator owner, int dupFd, long from, long to)
    {
        _kickFor = owner;
        _kickFd = dupFd;
        _kickFrom = from;
        _kickTo = to;
        ThreadPool.UnsafeQueueUserWorkItem(this, preferLocal: false);
    }

    /// <summary>Whether a writeback start (and drop-behind) is under way on the pool for this fd (tests).</summary>
    internal bool WritebackBusy { get { lock (this) return _kicking; } }

    /// <summary>The range drop-behind will wait for and drop at the next start (tests); empty: none.</summary>
    internal (long From, long To) PendingDrop { get { lock (this) return (_dropFrom, _dropTo); } }

    /// <summary>A start that could not be made (no fd for it): the next chunk tries again.</summary>
    public void WritebackDone() { lock (this) _kicking = false; }

    void IThreadPoolWorkItem.Execute()
    {
        // Off the write's path: with the disk's queue full, sync_file_range waits for room in it, and no write waits
        // behind that. Chunks written meanwhile are started here before the start counts as over, so none is left behind.
        int fd = _kickFd;
        var owner = _kickFor;
        long from = _kickFrom, to = _kickTo, bytes = _kickBytes;
        while (true)
        {
            if (Libc.sync_file_range(fd, from, to - from, Libc.SYNC_FILE_RANGE_WRITE) == 0) owner?.CountWritebackStarted();
            if (owner is { DropBehind: true }) DropBehind(owner, fd, from, to, bytes);
            else _dropTo = _dropFrom = 0;
            long chunk = owner?.WritebackChunk ?? 0;
            lock (this)
            {
                if (chunk <= 0 || _unkickedBytes < chunk)
                {
                    _kicking = false;
                    _kickFd = -1;
                    _kickFor = null;
                    break;
                }
                from = _unkickedFrom;
                to = _unkickedTo;
                bytes = _unkickedBytes;
                _unkickedBytes = 0;
                _unkickedFrom = long.MaxValue;
                _unkickedTo = 0;
            }
        }
        Libc.close(fd);
    }

    /// <summary>
    /// drop-behind, right after the writeback of [from, to) was started: waits until the range started before it is on
    /// disk (its writeback began a chunk ago, so the wait is mostly short; the disk meanwhile has this chunk queued) and
    /// drops its pages from the page cache, then remembers [from, to) for the next start. A range is dropped only when
    /// its writes were dense (spanning at most twice the bytes written in it): a sequential writer's; scattered writes
    /// across a big file would otherwise drop the cached pages of everything between them. DONTNEED drops only clean,
    /// unmapped pages: a page written again meanwhile is dirty and stays, so nothing written is lost, only cache.
    /// </summary>
    private void DropBehind(PosixTranslator owner, int fd, long from, long to, long bytes)
    {
        if (_dropTo > _dropFrom)
        {
            long t0 = System.Diagnostics.Stopwatch.GetTimestamp(), n = _dropTo - _dropFrom;
            // A wait holds a pool thread for as long as the disk takes: a few at once per brick at most, so that many
            // files written at once cannot take the threads the brick serves fops on. Past the bound the range is
            // dropped without the wait: what is already on disk leaves, pages still under writeback stay cached.
            if (owner.TryEnterDropWait())
            {
                int own = PosixTranslator.OpenForWait(fd);
                bool waited = false;
                try
                {
                    if (own >= 0 && owner.DropHold is { } hold)
                    {
                        owner.DropHeld?.Set();
                        hold.Wait(TimeSpan.FromSeconds(30));
                    }
                    // WAIT_BEFORE|WRITE|WAIT_AFTER: any page of the range still dirty (written again since) is started
                    // too, and waited for, so the drop finds the range clean. Through a file of its own (OpenForWait):
                    // a write error it meets stays the brick fd's to report. A failure (EIO) leaves the pages: no drop.
                    waited = own >= 0 && Libc.sync_file_range(own, _dropFrom, n,
                        Libc.SYNC_FILE_RANGE_WAIT_BEFORE | Libc.SYNC_FILE_RANGE_WRITE | Libc.SYNC_FILE_RANGE_WAIT_AFTER) == 0;
                }
                finally
                {
                    owner.ExitDropWait();
                    if (own >= 0) Libc.close(own);
                }
                if (waited && Libc.posix_fadvise(fd, _dropFrom, n, Libc.POSIX_FADV_DONTNEED) == 0)
                    owner.CountDropped(n, System.Diagnostics.Stopwatch.GetTimestamp() - t0, waited: true);
            }
            // DONTNEED waits for nothing and reports no write error: it starts what is dirty and drops what is clean.
            else if (Libc.posix_fadvise(fd, _dropFrom, n, Libc.POSIX_FADV_DONTNEED) == 0)
                owner.CountDropped(n, System.Diagnostics.Stopwatch.GetTimestamp() - t0, waited: false);
        }
        bool dense = to - from <= 2 * bytes;
        _dropFrom = dense ? from : 0;
        _dropTo = dense ? to : 0;
    }
}
