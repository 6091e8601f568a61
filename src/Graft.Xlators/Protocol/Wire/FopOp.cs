namespace Graft.Xlators.Protocol.Wire;

/// <summary>Fop opcodes on the wire, one per fop of Translator.Fops.cs. Values are on the wire: never renumber.</summary>
public enum FopOp : ushort
{
    None = 0,
    Lookup = 1, Stat = 2, Fstat = 3, Setattr = 4, Fsetattr = 5, Access = 6, Readlink = 7,
    Mknod = 8, Mkdir = 9, Unlink = 10, Rmdir = 11, Symlink = 12, Rename = 13, Link = 14,
    Create = 15, Open = 16, Readv = 17, Writev = 18, Flush = 19, Fsync = 20, CopyFileRange = 21,
    Fallocate = 22, Lseek = 23, Lk = 24,
    Opendir = 25, Readdir = 26, Readdirp = 27, Fsyncdir = 28, Statfs = 29,
    Setxattr = 30, Getxattr = 31, Listxattr = 32, Removexattr = 33,
    Fsetxattr = 34, Fgetxattr = 35, Flistxattr = 36, Fremovexattr = 37,
    Release = 38, Releasedir = 39,
    RebindLocks = 40,
}

public static class FopOps
{
    public const FopOp First = FopOp.Lookup, Last = FopOp.RebindLocks;
    public static bool IsKnown(FopOp op) => op >= First && op <= Last;
}
