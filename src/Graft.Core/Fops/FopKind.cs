namespace Graft.Core;

/// <summary>Every fop by name, for options that name fops (debug/faults) and for counters.</summary>
public enum FopKind
{
    Lookup, Stat, Fstat, Setattr, Fsetattr, Access, Readlink, Mknod, Mkdir, Unlink, Rmdir, Symlink, Rename, Link,
    Create, Open, Readv, Writev, Flush, Fsync, CopyFileRange, Fallocate, Lseek, Lk, Opendir, Readdir, Readdirp,
    Fsyncdir, Statfs, Setxattr, Getxattr, Listxattr, Removexattr, Fsetxattr, Fgetxattr, Flistxattr, Fremovexattr,
    RebindLocks,
}
