using Graft.Core;

namespace Graft.Xlators.Protocol.Client;

// Writes the brick acknowledged that no fsync has covered yet. A brick that restarts (or lost this
// client's session) may have lost them with its page cache; the fd is reopened by GFID and goes on,
// so this is the one place that can tell the application: EIO on the file's write-back error
// sequence, reported by its next fsync and its close.
internal sealed partial class ClientFdCtx
{
    private long _written;   // writes (and other data changes) acknowledged on this fd
    private long _synced;    // how many of them an fsync covered (never decreases)

    /// <summary>The file this fd is an open of (where a loss is recorded).</summary>
    public required Inode Inode { get; init; }

    /// <summary>O_SYNC / O_DSYNC: every write was durable when acknowledged.</summary>
    private bool Durable => (Flags & OpenFlags.O_DSYNC) != 0;

    /// <summary>After an acknowledged write (hot path: one atomic add, no allocation).</summary>
    public void NoteWritten()
    {
        if (!Durable) Interlocked.Increment(ref _written);
    }

    /// <summary>Taken before an fsync is sent: the writes acknowledged so far are what it covers.</summary>
    public long WrittenMark => Volatile.Read(ref _written);

    /// <summary>After an fsync covering <paramref name="mark"/> succeeded. True if that moved the synced mark.</summary>
    public bool NoteSynced(long mark)
    {
        long cur = Volatile.Read(ref _synced);
        while (cur < mark)
        {
            long seen = Interlocked.CompareExchange(ref _synced, mark, cur);
            if (seen == cur) return true;
            cur = seen;
        }
        return false;
    }

    /// <summary>
    /// The brick lost this fd's session: if it had writes no fsync covered, record EIO on the file
    /// (once for those writes) and return true.
    /// </summary>
    public bool LoseUnsyncedWrites()
    {
        if (!NoteSynced(WrittenMark)) return false;
        Inode.WriteBackErrors.Record(Errno.EIO);
        return true;
    }
}
