using Graft.Core;

namespace Graft.Mount;

/// <summary>
/// The write-back errors an open file brings from the graphs it left (held by <see cref="MountFile"/>).
/// An fd reads its file's error sequence (<see cref="ErrorSeq"/>) from where it was opened; a
/// migration opens a fresh fd on the new graph, whose file there has a sequence of its own. What the
/// old fd had not yet reported to fsync, and what its close would have reported, is taken at the
/// move and reported here next, as if the file had never changed graphs.
/// </summary>
/// <remarks>Lock-free: each field is one errno, set by a migration and read by fsync and close.</remarks>
internal struct CarriedWriteBackErrors
{
    private int _fsync;   // not yet reported by an fsync
    private int _close;   // reported by every close (it happened while the file was open)

    /// <summary>At a migration, before the new fd is published: takes over what <paramref name="old"/> would report.</summary>
    public void Carry(Fd old)
    {
        if (old.TakeWriteBackError() is var f and not Errno.OK) Volatile.Write(ref _fsync, (int)f);
        if (old.WriteBackErrorSinceOpen is var c and not Errno.OK) Volatile.Write(ref _close, (int)c);
    }

    /// <summary>fsync on <paramref name="fd"/> (the file's current fd): the error to report once, or OK.</summary>
    public Errno TakeForFsync(Fd fd)
    {
        var carried = (Errno)Interlocked.Exchange(ref _fsync, 0);
        var own = fd.TakeWriteBackError();
        return carried != Errno.OK ? carried : own;
    }

    /// <summary>What the next <see cref="TakeForFsync"/> would report, consuming nothing.</summary>
    public readonly Errno PeekForFsync(Fd fd)
    {
        var carried = (Errno)Volatile.Read(in _fsync);
        return carried != Errno.OK ? carried : fd.PendingWriteBackError;
    }

    /// <summary>close (FLUSH) through <paramref name="fd"/>: any write-back error since the file was opened, or OK.</summary>
    public readonly Errno ForClose(Fd fd)
    {
        var carried = (Errno)Volatile.Read(in _close);
        return carried != Errno.OK ? carried : fd.WriteBackErrorSinceOpen;
    }
}
