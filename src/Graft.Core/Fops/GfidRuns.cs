using System.Security.Cryptography;

namespace Graft.Core;

/// <summary>
/// GFIDs for objects a client makes, in runs that share their first two bytes. A brick keeps each object's handle in
/// <c>.graft/handles/xx/yy/</c>, named by those two bytes, and makes that directory before the first handle goes into
/// it: with every GFID random, nearly every create on a brick with fewer than ~65,000 objects made a directory (one
/// more inode and directory block for the filesystem to allocate, 0.97 <c>mkdirat</c> per create traced in session
/// 11), as GlusterFS's <c>.glusterfs/xx/yy</c> does. A run of <see cref="RunLength"/> consecutive new objects shares
/// one such directory: one <c>mkdirat</c> per run. The remaining 112 bits stay random (version-4 bits set), so
/// GFIDs stay unique; runs start at a random prefix, so handles still spread over the directories.
/// </summary>
public sealed class GfidRuns
{
    /// <summary>New objects per run of one prefix.</summary>
    public const int RunLength = 256;

    // High bits: the run's prefix; low 16 bits: GFIDs left in the run. One CAS per GFID; racing callers each take one.
    private long _state;

    public Gfid Next()
    {
        while (true)
        {
            long s = Volatile.Read(ref _state);
            int left = (int)(s & 0xFFFF);
            long next = left > 0 ? s - 1 : ((long)RandomPrefix() << 16) | (RunLength - 1);
            if (Interlocked.CompareExchange(ref _state, next, s) == s) return Gfid.NewGfid((ushort)(next >> 16));
        }
    }

    private static ushort RandomPrefix()
    {
        Span<byte> b = stackalloc byte[2];
        RandomNumberGenerator.Fill(b);
        return (ushort)((b[0] << 8) | b[1]);
    }
}
