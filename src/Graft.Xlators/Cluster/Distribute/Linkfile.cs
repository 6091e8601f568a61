using Graft.Core;

namespace Graft.Xlators.Cluster.Distribute;

/// <summary>
/// Link pointers: a name whose data lives on another subvolume than the one its hash picks (a
/// rename across subvolumes, a hard link, a file being moved by rebalance) is marked on the hashed
/// subvolume by a zero-byte regular file with mode exactly S_ISVTX (01000, "---------T"), the
/// file's GFID, and the xattr <see cref="Xattr"/> naming the subvolume (by its volume name in the
/// volfile) that holds the data. The mode makes a pointer cheap to suspect from a stat; only the
/// xattr makes it one (an application may make an empty 01000 file of its own).
/// </summary>
public static class Linkfile
{
    public const string Xattr = "trusted.graft.dht.linkto";

    public const uint Mode = PosixMode.S_IFREG | PosixMode.S_ISVTX;

    /// <summary>Could be a link pointer (ask for <see cref="Xattr"/> to be sure).</summary>
    public static bool Suspect(in Iatt iatt) => iatt.IsReg && (iatt.Mode & PosixMode.PermMask) == PosixMode.S_ISVTX;

    /// <summary>The prefix of every xattr distribute keeps for itself; applications never see or set these.</summary>
    public const string InternalPrefix = "trusted.graft.";

    public static bool IsInternal(string name) => name.StartsWith(InternalPrefix, StringComparison.Ordinal);
}
