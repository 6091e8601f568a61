using System.Collections.Concurrent;
using Graft.Core;
using Graft.Fuse.Raw;
using Graft.Mount;

namespace Graft.Fuse.Bridge;

// Locks: GETLK, SETLK and SETLKW (fcntl, OFD and — with FUSE_LK_FLOCK — flock) onto the session's lk. The owner
// is the kernel's lock owner (fuse_lk_in.owner): the process's file table for fcntl locks, the open file for
// flock and OFD locks; the brick pairs it with this mount's identity. What the kernel does not tell us and the
// bridge makes up for:
//  - a lock grant must let the holder see what other clients wrote under the lock before: the kernel's cached
//    pages and attributes of the file are dropped before the grant is answered;
//  - OFD locks are released when their open file is closed for the last time, but the kernel neither FLUSHes
//    with their owner nor marks them at RELEASE (only flocks are): the bridge remembers who took fcntl locks
//    through each open file and unlocks, at RELEASE, those that never closed it (see Release below).
public sealed partial class FuseBridge
{
    // fh → fcntl lock owners that took locks through that open file and have not closed it (FLUSH) since.
    // Filled only by lock requests, so a mount whose applications never lock pays one lock-free lookup per
    // FLUSH and RELEASE (TryGetValue takes no lock; IsEmpty would take all of them when empty).
    readonly ConcurrentDictionary<ulong, OpenFileLockOwners> _lockOwners = new();

    public FuseInitFlags LockCapabilities => FuseInitFlags.PosixLocks | FuseInitFlags.FlockLocks;

    public async ValueTask GetLk(FuseRequest r, FuseLkIn a)
    {
        if (!TryFile(r, a.Fh, out var file)) return;
        if (ToFileLock(a) is not { } lk) { r.ReplyError(Errno.EINVAL); return; }
        var ctx = Ctx(r, groups: false);
        ctx.LockOwner = a.Owner;
        var res = await _session.LkAsync(ctx, file, LockCmd.GetLk, lk).ConfigureAwait(false);
        if (res.Ok) r.ReplyLock(ToFuseLock(res.Value));
        else r.ReplyError(res.Error);
    }

    public async ValueTask SetLk(FuseRequest r, FuseLkIn a, bool wait)
    {
        if (!TryFile(r, a.Fh, out var file)) return;
        if (ToFileLock(a) is not { } lk) { r.ReplyError(Errno.EINVAL); return; }
        var ctx = Ctx(r, groups: false);
        ctx.LockOwner = a.Owner;
        // Remembered before the request goes down, so a FLUSH racing with it (another thread closing the fd) can
        // only remove it after — never leave behind an owner that has closed the file.
        if (!lk.Flock && lk.Type != LockType.Unlock) _lockOwners.GetOrAdd(a.Fh, static _ => new()).Add(a.Owner);
        var res = await _session.LkAsync(ctx, file, wait ? LockCmd.SetLkW : LockCmd.SetLk, lk).ConfigureAwait(false);
        if (!res.Ok) { r.ReplyError(res.Error); return; }
        if (lk.Type == LockType.Unlock)
        {
            if (!lk.Flock && lk.Start == 0 && lk.Length == 0 && _lockOwners.TryGetValue(a.Fh, out var owners)) owners.Remove(a.Owner);
        }
        else
        {
            // Granted: what another client wrote before it unlocked must be what this holder reads. Its writes are
            // on the brick (they were acknowledged before its unlock), but this kernel may still hold the file's
            // old pages and size (attr_timeout, and pages read before this lock). Dropped before the reply, so
            // the caller's first read after fcntl/flock returns goes to the volume.
            await r.Session.NotifyInvalInodeAsync(r.NodeId).ConfigureAwait(false);
        }
        r.ReplyOk();
    }

    /// <summary>FLUSH (close(2) of an fd) drops the closing owner's fcntl locks on the brick, so it no longer
    /// counts as an owner that still holds locks through this open file.</summary>
    void ForgetLockOwner(ulong fh, ulong owner)
    {
        if (_lockOwners.TryGetValue(fh, out var owners)) owners.Remove(owner);
    }

    /// <summary>
    /// Before an open file is released: unlocks the fcntl locks of owners that locked through it and never
    /// closed it. A process (or thread group) that took a lock through this open file had an fd for it, and
    /// every close of an fd FLUSHes with the closer's owner before the last one brings RELEASE — so the owners
    /// left are those that are not processes: the open file itself, i.e. OFD locks, which POSIX releases now.
    /// (flocks need nothing here: the brick drops those held through an fd when the fd is released.)
    /// </summary>
    async ValueTask UnlockOpenFileLocksAsync(FuseRequest r, ulong fh, MountFile file)
    {
        if (!_lockOwners.TryGetValue(fh, out _) || !_lockOwners.TryRemove(fh, out var owners)) return;
        foreach (var owner in owners.Drain())
        {
            var ctx = Ctx(r, groups: false);
            ctx.LockOwner = owner;
            var all = new FileLock { Type = LockType.Unlock, Start = 0, Length = 0, Owner = owner };
            await _session.LkAsync(ctx, file, LockCmd.SetLk, all).ConfigureAwait(false);
        }
    }

    /// <summary>The kernel's lock (inclusive range, End = OFFSET_MAX for "to end of file") as a
    /// <see cref="FileLock"/> (Start and Length, Length 0 for "to end of file"); null if it is not one the kernel
    /// would send (end before start, an offset past OFFSET_MAX, an unknown type).</summary>
    public static FileLock? ToFileLock(in FuseLkIn a)
    {
        var k = a.Lk;
        if (k.Type > FuseConst.FUnlck || k.Start > FuseConst.OffsetMax || k.End > FuseConst.OffsetMax || k.End < k.Start) return null;
        return new FileLock
        {
            Type = (LockType)k.Type,
            Start = (long)k.Start,
            // End = OFFSET_MAX is "to end of file" however far it grows, not a lock that stops at 2^63-1.
            Length = k.End == FuseConst.OffsetMax ? 0 : (long)(k.End - k.Start) + 1,
            Pid = (int)k.Pid,
            Owner = a.Owner,
            Flock = (a.LkFlags & FuseConst.LkFlock) != 0,
        };
    }

    /// <summary>A <see cref="FileLock"/> as GETLK answers it: inclusive range, OFFSET_MAX for "to end of file".
    /// The kernel refuses (EIO) an answer whose range ends past OFFSET_MAX or before its start, so ranges that
    /// would are clamped to end of file.</summary>
    public static FuseFileLock ToFuseLock(in FileLock lk)
    {
        if (lk.Type == LockType.Unlock) return new FuseFileLock { Type = FuseConst.FUnlck };
        long start = lk.Start, length = lk.Length;
        if (length < 0) { start += length; length = -length; } // POSIX: a negative length names the bytes before Start
        start = Math.Max(0, start);
        ulong end = length == 0 || start > long.MaxValue - length + 1 ? FuseConst.OffsetMax : (ulong)(start + length - 1);
        return new FuseFileLock
        {
            Start = (ulong)start,
            End = end,
            Type = lk.Type == LockType.Read ? FuseConst.FRdlck : FuseConst.FWrlck,
            Pid = (uint)Math.Max(0, lk.Pid),
        };
    }

    /// <summary>Lock owners seen on one open file. Tiny and rarely contended: a plain lock is enough.</summary>
    sealed class OpenFileLockOwners
    {
        readonly Lock _sync = new();
        readonly HashSet<ulong> _owners = [];

        public void Add(ulong owner) { lock (_sync) _owners.Add(owner); }
        public void Remove(ulong owner) { lock (_sync) _owners.Remove(owner); }

        public ulong[] Drain()
        {
            lock (_sync)
            {
                var all = _owners.ToArray();
                _owners.Clear();
                return all;
            }
        }
    }
}
