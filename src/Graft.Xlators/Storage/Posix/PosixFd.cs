using Graft.Core;

namespace Graft.Xlators.Storage.Posix;

/// <summary>
/// storage/posix's context on an <see cref="Fd"/>: the OS fd opened with the caller's
/// credentials, and the GFID it was opened as. Readdir calls on one fd are serialised on this
/// object, because they share the OS fd's position.
/// </summary>
internal sealed class PosixFd
{
    public readonly int Os;
    public readonly Gfid Gfid;
    public readonly bool IsDir;
    /// <summary>Opened for writing (or with O_TRUNC): counted in <see cref="SharedBrickState.WriterCounts"/> until released.</summary>
    public readonly bool Writer;
    internal int Closed;

    public PosixFd(int os, Gfid gfid, bool isDir, bool writer = false) { Os = os; Gfid = gfid; IsDir = isDir; Writer = writer; }

    // The bytes written through this fd since writeback was last started for them (writeback-chunk), and the range
    // they span. Guarded by lock(this): a file's fd is never read as a directory, so readdir's use of the lock and
    // this one never meet.
    private long _unkickedBytes, _unkickedFrom = long.MaxValue, _unkickedTo;

    /// <summary>
    /// Counts a write of <paramref name="n"/> bytes at <paramref name="offset"/>; once the bytes counted reach
    /// <paramref name="chunk"/>, returns true with the range they span (and starts counting again): the caller asks
    /// the kernel to start writing it back.
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
            if (_unkickedBytes < chunk) return false;
            _unkickedBytes = 0;
            _unkickedFrom = long.MaxValue;
            _unkickedTo = 0;
            return true;
        }
    }
}
