using Graft.Core;
using Graft.Fuse.Raw.Native;

namespace Graft.Fuse.Raw;

// Notifications: messages the filesystem sends the kernel unasked (unique 0, the notify code in the error field).
//
// Why they never run on a reader thread: the kernel handles INVAL_INODE inside our write(). It locks each cached
// page of the file to drop it, and a page stays locked while a READ (or a WRITE, which locks the pages it copies)
// of it is in flight — a request the kernel may still be waiting to hand to one of our readers. A reader blocked
// in that write() could be the one that has to read it: with one reader, or all of them writing, the mount
// hangs. Nor may a notification be written from the thread that completes a brick reply (it could be the reply
// that READ is waiting for). So each one is written from the thread pool, and callers await it.
public sealed unsafe partial class FuseSession
{
    int _notifying; // notifications being written; CloseDevice lets them finish before closing the fds

    /// <summary>
    /// Drops the kernel's cached attributes of <paramref name="nodeId"/> and its cached pages from
    /// <paramref name="offset"/> for <paramref name="length"/> bytes (0: to the end; a negative offset drops the
    /// attributes only), so the next read and stat ask the filesystem. Runs on the thread pool (see above) and
    /// completes when the kernel has done it. Never fails in a way that needs handling: ENOENT means the kernel
    /// has no such node cached (nothing to drop), ENODEV that the connection is gone (after unmount).
    /// </summary>
    /// <param name="starting">Called on the thread pool just before the write (a caller that coalesces notifications
    /// stops counting this one as queued there: a change after that point needs a notification of its own).</param>
    public Task<Errno> NotifyInvalInodeAsync(ulong nodeId, long offset = 0, long length = 0, Action? starting = null)
    {
        var item = new InvalInodeItem(this, nodeId, offset, length, starting);
        ThreadPool.UnsafeQueueUserWorkItem(item, preferLocal: false);
        return item.Done.Task;
    }

    sealed class InvalInodeItem(FuseSession session, ulong nodeId, long offset, long length, Action? starting) : IThreadPoolWorkItem
    {
        public readonly TaskCompletionSource<Errno> Done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Execute()
        {
            starting?.Invoke();
            var body = new FuseNotifyInvalInodeOut { Ino = nodeId, Off = offset, Len = length };
            Done.TrySetResult(session.Notify(FuseConst.NotifyInvalInode, nodeId, &body, sizeof(FuseNotifyInvalInodeOut)));
        }
    }

    /// <summary>
    /// Drops the kernel's cached lookup of <paramref name="name"/> (its bytes) in the directory
    /// <paramref name="parent"/> — whether it found the name or cached its absence — and the directory's cached
    /// attributes, so the next access to the name looks it up again. Runs on the thread pool like
    /// <see cref="NotifyInvalInodeAsync"/>; ENOENT means nothing was cached.
    /// </summary>
    public Task<Errno> NotifyInvalEntryAsync(ulong parent, byte[] name)
    {
        var item = new InvalEntryItem(this, parent, name);
        ThreadPool.UnsafeQueueUserWorkItem(item, preferLocal: false);
        return item.Done.Task;
    }

    sealed class InvalEntryItem(FuseSession session, ulong parent, byte[] name) : IThreadPoolWorkItem
    {
        public readonly TaskCompletionSource<Errno> Done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Execute()
        {
            // The struct, the name and its NUL, as one body.
            var body = new byte[sizeof(FuseNotifyInvalEntryOut) + name.Length + 1];
            fixed (byte* p = body)
            {
                *(FuseNotifyInvalEntryOut*)p = new FuseNotifyInvalEntryOut { Parent = parent, NameLen = (uint)name.Length };
                name.CopyTo(body.AsSpan(sizeof(FuseNotifyInvalEntryOut)));
                Done.TrySetResult(session.Notify(FuseConst.NotifyInvalEntry, parent, p, body.Length));
            }
        }
    }

    /// <summary>
    /// Makes the kernel look every name it has cached (found or absent) up again at its next use (FUSE_NOTIFY_INC_EPOCH,
    /// protocol 7.44, Linux 6.16): for when what the filesystem told it may have gone stale without a notice naming it.
    /// ENOSYS when the kernel does not speak it. Runs on the thread pool like <see cref="NotifyInvalInodeAsync"/>.
    /// </summary>
    public Task<Errno> NotifyIncEpochAsync()
    {
        if (Connection is not { Minor: >= FuseConst.IncEpochMinor }) return Task.FromResult(Errno.ENOSYS);
        var item = new IncEpochItem(this);
        ThreadPool.UnsafeQueueUserWorkItem(item, preferLocal: false);
        return item.Done.Task;
    }

    sealed class IncEpochItem(FuseSession session) : IThreadPoolWorkItem
    {
        public readonly TaskCompletionSource<Errno> Done = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Execute() => Done.TrySetResult(session.Notify(FuseConst.NotifyIncEpoch, 0, null, 0));
    }

    /// <summary>Writes one notification (blocking: never call it on a reader thread).</summary>
    Errno Notify(int code, ulong nodeId, void* body, int length)
    {
        // Counted before the check, and CloseDevice marks the device closed before it looks at the count (both
        // with full fences): either we see it closed, or it waits for this write. A closed fd number may already
        // name another file, so after that we must not write at all.
        Interlocked.Increment(ref _notifying);
        try
        {
            if (Volatile.Read(ref _closed) != 0) return Errno.ENODEV;
            var h = new FuseOutHeader { Len = (uint)(sizeof(FuseOutHeader) + length), Error = code, Unique = 0 };
            var iov = stackalloc LibC.IoVec[2];
            iov[0] = new LibC.IoVec { Base = &h, Length = (nuint)sizeof(FuseOutHeader) };
            iov[1] = new LibC.IoVec { Base = body, Length = (nuint)length };
            nint n = LibC.Writev(_masterFd, iov, 2);
            var err = n >= 0 ? Errno.OK : (Errno)LibC.LastErrno;
            if (_options.Debug) LogNotify(code, nodeId, err);
            // ENOENT: the kernel no longer has the node (forgotten): nothing was cached. ENODEV/ECONNABORTED:
            // unmounted or aborted: nothing is cached any more either.
            if (err is not (Errno.OK or Errno.ENOENT or Errno.ENODEV or Errno.ECONNABORTED)) LogNotifyFailed(code, nodeId, err);
            return err;
        }
        finally
        {
            Interlocked.Decrement(ref _notifying);
        }
    }

    /// <summary>Lets notifications being written finish (bounded) once the device is marked closed.</summary>
    void WaitForNotifications(DateTime deadline)
    {
        while (Volatile.Read(ref _notifying) > 0 && DateTime.UtcNow < deadline) Thread.Sleep(1);
    }
}
