using Graft.Xlators.Storage.Posix.Native;
using Graft.Core;

namespace Graft.Xlators.Storage.Posix;

/// <summary>
/// What every storage/posix instance of one brick directory in this process must agree on:
/// which GFIDs are open (a handle must outlive an unlinked file's last name while any instance
/// has it open), whether the start-up orphan scan already ran, and the locks that order changes
/// to names, GFIDs and directory records. A client graph switch puts
/// two instances on one directory side by side (the old graph still holds fds while the new one
/// starts), so this cannot be per instance: the new instance's scan would delete the handle of a
/// file the old one has open-but-unlinked, and the old instance's last release would drop a
/// handle the new one uses.
/// </summary>
internal sealed class SharedBrickState
{
    private static readonly Dictionary<(ulong Dev, ulong Ino), SharedBrickState> s_all = new();

    private readonly (ulong, ulong) _key;
    private int _users;

    public readonly object Sync = new();
    public readonly Dictionary<Gfid, int> OpenCounts = new();
    /// <summary>Fds open for writing (or opened with O_TRUNC) per GFID: a file with any cannot be marked for a move.</summary>
    public readonly Dictionary<Gfid, int> WriterCounts = new();
    /// <summary>Files a rebalance is moving: the fd whose mark it is (the mark goes with that fd).</summary>
    public readonly Dictionary<Gfid, MoveMark> Marks = new();

    /// <summary>
    /// Serialise "create an object and give it a GFID" against "found without a GFID, assign one"
    /// for the same (parent, name), striped by name: a lookup racing a create — through another
    /// graph's instance, too — cannot stamp a random GFID first (the creator's stamp would then fail
    /// and undo the file under the lookup).
    /// </summary>
    public readonly object[] NameLocks = NewLocks();

    /// <summary>
    /// Serialise, per GFID (striped), dropping a file's handle once it has no name and no open fd against an
    /// open by GFID counting itself (PosixTranslator.Handles.cs, "the unlinked-but-open rule"). Taken inside a
    /// name lock, around <see cref="Sync"/>.
    /// </summary>
    public readonly object[] HandleLocks = NewLocks();

    /// <summary>
    /// Serialises claiming a client-chosen GFID for an object found without one (checking that no
    /// live object holds it, then stamping it), so two objects cannot both find it free. Taken
    /// inside a name lock.
    /// </summary>
    public readonly object ClaimLock = new();

    /// <summary>Serialises directory renames against healing a directory's (parent, name) record.</summary>
    public readonly object DirRenameLock = new();

    public static object[] NewLocks() => Enumerable.Range(0, 64).Select(_ => new object()).ToArray();

    /// <summary>
    /// Locks for read-modify-write of an object's xattrs (xattrop, fxattrop), striped by GFID (one object, one
    /// GFID, whatever name or fd reaches it): every instance on this brick takes the same one for the same
    /// object, so concurrent adds never lose one. By GFID rather than inode so that an add through an open fd
    /// needs no fstat first. The critical section is two xattr syscalls.
    /// </summary>
    private readonly object[] _xattrLocks = NewLocks();

    public object XattrLock(Gfid g) => _xattrLocks[(int)((g.Lo ^ g.Hi) % (ulong)_xattrLocks.Length)];

    /// <summary>
    /// Files whose last name an unlink removed, whose handle a closing thread drops after the reply
    /// (<see cref="CloseBehind"/>): until it has, a nameless lookup or open of one answers ESTALE, as it would once the
    /// handle is gone. Guarded by <see cref="Sync"/>.
    /// </summary>
    public readonly HashSet<Gfid> DropsBehind = new();

    /// <summary>The handles directory, for work done behind a reply: open while an instance uses this state or such work waits (guarded by s_all).</summary>
    private int _handlesFd = -1;
    private int _behind;

    /// <summary>The handles directory fd for work behind a reply; -1 if none was given.</summary>
    public int HandlesFd => Volatile.Read(ref _handlesFd);

    /// <summary>The first instance gives the state a descriptor of its own for the handles directory (it owns it from then on).</summary>
    public void OwnHandlesFd(int fd)
    {
        lock (s_all)
        {
            if (_handlesFd < 0) { _handlesFd = fd; return; }
        }
        if (fd >= 0) Libc.close(fd);
    }

    /// <summary>Counts one piece of work behind a reply that will use <see cref="HandlesFd"/>; false: there is no such fd.</summary>
    public bool BeginBehind()
    {
        lock (s_all)
        {
            if (_handlesFd < 0) return false;
            _behind++;
            return true;
        }
    }

    public void EndBehind()
    {
        lock (s_all)
        {
            if (--_behind == 0 && _users == 0) CloseHandlesFd();
        }
    }

    private void CloseHandlesFd()
    {
        if (_handlesFd >= 0) Libc.close(_handlesFd);
        _handlesFd = -1;
    }

    private SharedBrickState((ulong, ulong) key) { _key = key; }

    /// <summary>
    /// The state of the brick whose root is (dev, ino); <paramref name="first"/> is true for the
    /// first user in this process, which runs the start-up work.
    /// </summary>
    public static SharedBrickState Acquire(ulong dev, ulong ino, out bool first)
    {
        lock (s_all)
        {
            if (!s_all.TryGetValue((dev, ino), out var s)) s_all[(dev, ino)] = s = new SharedBrickState((dev, ino));
            first = s._users++ == 0;
            return s;
        }
    }

    public void Release()
    {
        lock (s_all)
        {
            if (--_users == 0)
            {
                s_all.Remove(_key);
                if (_behind == 0) CloseHandlesFd();
            }
        }
    }
}

/// <summary>
/// A rebalance's mark on a file it is moving (docs/distribute.md, "Moving files"): held by the fd the
/// rebalance opened the source with, so it ends when that fd is released — by the rebalance, or by the
/// brick when the rebalance's session ends. While it is on, no fd of the file can be opened for writing.
/// </summary>
internal sealed class MoveMark(PosixFd holder)
{
    public readonly PosixFd Holder = holder;
    /// <summary>When (Environment.TickCount64) a writer was first refused because of this mark; 0: none yet.</summary>
    public long FirstRefusedAt;
}
