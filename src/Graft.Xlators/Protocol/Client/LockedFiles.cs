using System.Collections.Concurrent;
using Graft.Core;

namespace Graft.Xlators.Protocol.Client;

/// <summary>
/// The files on which some protocol/client of this process ever sent a lock request (or re-bound locks),
/// whatever its graph. A FLUSH's only effect on a brick is dropping the flushing owner's POSIX locks on
/// the file (features/locks; storage/posix checks the fd and does nothing), and a mount's locks are its
/// own (DESIGN invariant 9): on a file this process never locked there is nothing to drop, so the FLUSH
/// (a round trip on every close) is answered here. Process-wide on purpose: after a switch, a lock taken
/// through an older graph's client and not yet re-bound is still released by a FLUSH through the new one.
/// </summary>
/// <remarks>
/// Files are only ever added (a lock released later may have been re-taken by a request still in
/// flight); past <see cref="MaxTracked"/> files the set stops growing and every FLUSH is sent again,
/// which is always correct.
/// </remarks>
internal static class LockedFiles
{
    /// <summary>How many locked files are remembered before every FLUSH goes to the brick again.</summary>
    public const int MaxTracked = 1 << 16;

    private static readonly ConcurrentDictionary<Gfid, byte> Files = new();
    private static volatile bool _saturated;

    /// <summary>Before a lock request for <paramref name="gfid"/> is sent, so a FLUSH that follows it sees it.</summary>
    public static void Note(Gfid gfid)
    {
        if (_saturated || Files.ContainsKey(gfid)) return;
        if (Files.Count >= MaxTracked) { _saturated = true; return; }
        Files.TryAdd(gfid, 0);
    }

    /// <summary>Whether a brick may hold a lock of this process on <paramref name="gfid"/> (so a FLUSH must reach it).</summary>
    public static bool MayHold(Gfid gfid) => _saturated || Files.ContainsKey(gfid);
}
