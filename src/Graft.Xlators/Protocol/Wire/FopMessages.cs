using Graft.Core;

namespace Graft.Xlators.Protocol.Wire;

/// <summary>
/// The arguments of one fop as they travel. Each op uses the fields FopCodec lists for it; the rest
/// stay default. Fds are the server's remote fd ids, never objects.
/// </summary>
public struct FopRequest
{
    public FopOp Op;
    public WireCaller Caller;
    public Xdata? Xdata;
    public WireLoc Loc, Loc2;
    public ulong Fd, Fd2;
    /// <summary>rebind-locks: the protocol/client instance (of the same mount) whose session holds <see cref="Fd2"/>.</summary>
    public Guid Instance;
    /// <summary>open flags, access mask, rename flags, xattr flags, fallocate mode, lseek whence, lk cmd, copy_file_range flags, inodelk/entrylk cmd.</summary>
    public int Flags;
    /// <summary>inodelk, entrylk: the lock type.</summary>
    public int Flags2;
    public uint Mode, Umask;
    public ulong Rdev;
    public Gfid NewGfid;
    public long Offset, Offset2, Length;
    /// <summary>readv size, readdir max entries.</summary>
    public uint Size;
    /// <summary>xattr name, symlink target, lock domain.</summary>
    public string? Name;
    /// <summary>entrylk: the entry's name; null for the whole directory.</summary>
    public string? Name2;
    /// <summary>writev data, xattr value.</summary>
    public ReadOnlyMemory<byte> Data;
    public SetAttr Attr;
    public FileLock Lock;
    public bool DataOnly;

    public FopRequest(FopOp op) : this() { Op = op; }
}

/// <summary>The answer to one fop: an errno and, when it is OK, the values FopCodec lists for the op.</summary>
public struct FopReply
{
    public Errno Error;
    public Xdata? Xdata;
    public Iatt Iatt;
    /// <summary>The remote fd id an open, create or opendir made.</summary>
    public ulong Fd;
    /// <summary>Bytes written, lseek offset, bytes copied, locks re-bound.</summary>
    public long Value;
    public string? Text;
    public byte[]? Bytes;
    public string[]? Names;
    public FileLock Lock;
    public StatVfs Vfs;
    public IReadOnlyList<DirEntry>? Entries;
    /// <summary>readv data: sent as bulk after the body.</summary>
    public ReadOnlyMemory<byte> Data;

    public FopReply(Errno error) : this() { Error = error; }
}
