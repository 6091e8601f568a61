using Graft.Core;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Server;

// Mounts, as opposed to sessions. A mount has one session per graph generation (each graph's
// protocol/client connects on its own), and its locks belong to the mount, not to a session: an
// old graph retiring must not drop them. They go when the last session of the mount has ended.
// A rebind moves a mount's locks between two of its sessions.
public sealed partial class ProtocolServer
{
    /// <summary>A mount whose last session ended: its locks are being dropped. Guarded by <see cref="_sessions"/>.</summary>
    internal sealed record MountRelease(Guid Mount, TaskCompletionSource Done);

    /// <summary>Mounts whose locks are being dropped now; new sessions and calls of them wait. Guarded by <see cref="_sessions"/>.</summary>
    private readonly Dictionary<Guid, Task> _releasing = new();

    /// <summary>Mounts released (their last session ended), for tests and state dumps.</summary>
    public long MountsReleased => Interlocked.Read(ref _mountsReleased);
    private long _mountsReleased;

    /// <summary>
    /// Under <see cref="_sessions"/>: takes <paramref name="s"/> out of the table and, if no other
    /// session of its mount is left, returns that mount, now marked as being released.
    /// </summary>
    private List<MountRelease>? EndLocked(ClientSession s)
    {
        _sessions.Remove(s.Key);
        var m = s.MountId;
        if (_releasing.ContainsKey(m)) return null;
        foreach (var o in _sessions.Values) if (o.MountId == m) return null;
        var r = new MountRelease(m, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        _releasing.Add(m, r.Done.Task);
        return [r];
    }

    /// <summary>Tells the brick graph the mount is gone (its locks go), then lets its new sessions and calls in.</summary>
    private void FinishMountRelease(MountRelease r, ClientSession last)
    {
        try
        {
            Child.ClientGone(r.Mount);
            Interlocked.Increment(ref _mountsReleased);
            _log.MountGone(last.Peer, r.Mount);
        }
        catch (Exception e) { _log.MountReleaseFailed(e, r.Mount); }
        finally
        {
            lock (_sessions) _releasing.Remove(r.Mount);
            r.Done.TrySetResult();
        }
    }

    /// <summary>
    /// rebind-locks: <c>q.Fd</c> is this session's (the new graph's) fd, <c>q.Fd2</c> an fd of the
    /// session of client instance <c>q.Instance</c>, which must be another graph of the same mount.
    /// An unknown session — or another mount's — or an unknown fd is EBADF: nothing is moved.
    /// </summary>
    private async ValueTask<FopReply> ServeRebindLocks(ClientSession s, ServerCall call, FopContext ctx, Fd to)
    {
        var q = call.Request;
        ClientSession? other = null;
        lock (_sessions)
        {
            foreach (var o in _sessions.Values)
                if (o.Instance == q.Instance && o.MountId == s.MountId) { other = o; break; }
        }
        if (other?.Get(q.Fd2) is not { } from) return new FopReply(Errno.EBADF);
        try
        {
            var r = await Child.RebindLocksAsync(ctx, from, to).ConfigureAwait(false);
            return r.Ok ? new FopReply { Value = r.Value } : new FopReply(r.Error);
        }
        finally
        {
            await ReleaseFdAsync(from).ConfigureAwait(false);
        }
    }
}
