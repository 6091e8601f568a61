namespace Graft.Core;

/// <summary>
/// The write-back errors of one file, as a sequence that every open of it reads at its own pace
/// (the idea of Linux's errseq_t). A write that was acknowledged and then failed to land — a
/// background write of write-behind, data a restarted brick lost, a cache torn down by force — is
/// recorded once, on the file (<see cref="Inode.WriteBackErrors"/>), whichever fd wrote it. Each fd
/// samples the sequence when it is opened and compares later (<see cref="Fd"/>): so every fd open
/// at the time sees the error, an fd opened afterwards does not, and one caller seeing it does not
/// hide it from the others.
/// </summary>
/// <remarks>
/// The value is <c>(errors recorded &lt;&lt; 16) | last errno</c>: a cursor (a sampled value) that
/// differs from the current value means "an error happened since", and the current value says
/// which. 48 bits of count do not wrap in the life of a process. Lock-free; one 64-bit word.
/// </remarks>
public struct ErrorSeq
{
    private const int ErrnoBits = 16;
    private const long ErrnoMask = (1L << ErrnoBits) - 1;

    private long _value;

    /// <summary>
    /// What an application is told: running out of space (ENOSPC, EDQUOT) is something it can act
    /// on and is kept; any other cause (a transport error, a teardown, a disk error) is EIO — the
    /// bytes may be lost. The cause itself is logged where it happened.
    /// </summary>
    public static Errno Normalize(Errno e) => e is Errno.ENOSPC or Errno.EDQUOT ? e : Errno.EIO;

    /// <summary>Records a write-back failure (<see cref="Normalize"/>d); every cursor sampled before now sees it.</summary>
    public void Record(Errno e)
    {
        long code = (long)Normalize(e) & ErrnoMask;
        long cur = Volatile.Read(ref _value);
        while (true)
        {
            long next = (((cur >> ErrnoBits) + 1) << ErrnoBits) | code;
            long seen = Interlocked.CompareExchange(ref _value, next, cur);
            if (seen == cur) return;
            cur = seen;
        }
    }

    /// <summary>A cursor for a new reader: it will see only errors recorded after this call.</summary>
    public long Sample() => Volatile.Read(ref _value);

    /// <summary>How many errors were ever recorded.</summary>
    public long Count => Volatile.Read(ref _value) >> ErrnoBits;

    /// <summary>The latest error recorded since <paramref name="since"/> was sampled, or OK; consumes nothing.</summary>
    public Errno Check(long since)
    {
        long cur = Volatile.Read(ref _value);
        return cur == since ? Errno.OK : (Errno)(cur & ErrnoMask);
    }

    /// <summary>
    /// As <see cref="Check"/>, and moves <paramref name="since"/> to now: the error is reported to
    /// this reader once. Of two concurrent callers with one cursor, exactly one gets it.
    /// </summary>
    public Errno CheckAndAdvance(ref long since)
    {
        while (true)
        {
            long seen = Volatile.Read(ref since);
            long cur = Volatile.Read(ref _value);
            if (cur == seen) return Errno.OK;
            if (Interlocked.CompareExchange(ref since, cur, seen) == seen) return (Errno)(cur & ErrnoMask);
        }
    }
}
