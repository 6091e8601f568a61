using System.Diagnostics;
using Graft.Core;

namespace Graft.Fuse.Raw;

// INTERRUPT: cancel the token of the request it names. The handler decides whether it can still stop — only a
// wait that has changed nothing yet should. Requests read by another reader thread may not be registered yet
// when their INTERRUPT arrives; such an INTERRUPT is held briefly, then answered EAGAIN so the kernel sends it
// again.
public sealed partial class FuseSession
{
    // Lock order: _inflightLock is a leaf; nothing else is taken and no handler code runs under it.
    readonly Lock _inflightLock = new();
    readonly Dictionary<ulong, FuseRequest> _inflight = new(256);
    readonly List<EarlyInterrupt> _early = [];
    readonly Timer _interruptTimer;

    readonly record struct EarlyInterrupt(ulong Target, ulong InterruptUnique, int Fd, long Deadline);

    /// <summary>Requests currently owned by handlers (for tests and state dumps).</summary>
    public int InFlight { get { lock (_inflightLock) return _inflight.Count; } }

    void Register(FuseRequest r)
    {
        CancellationTokenSource? cancel = null;
        lock (_inflightLock)
        {
            _inflight[r.Unique] = r;
            // A plain loop, not FindIndex with a lambda: a closure over r would allocate on every request.
            for (int i = 0; i < _early.Count; i++)
            {
                if (_early[i].Target != r.Unique) continue;
                _early.RemoveAt(i);
                r.Interrupted = true;
                cancel = r.CancellationSource;
                break;
            }
        }
        if (cancel is not null) CancelLater(cancel);
    }

    void Unregister(FuseRequest r)
    {
        lock (_inflightLock)
        {
            // Only if the table still maps this unique to this object: FORGET-like requests never registered.
            if (_inflight.TryGetValue(r.Unique, out var cur) && ReferenceEquals(cur, r)) _inflight.Remove(r.Unique);
            r.ResetToken();
        }
    }

    void OnInterrupt(ulong target, ulong interruptUnique, int fd)
    {
        CancellationTokenSource? cancel = null;
        bool arm = false;
        lock (_inflightLock)
        {
            if (_inflight.TryGetValue(target, out var r))
            {
                if (!r.Interrupted)
                {
                    r.Interrupted = true;
                    cancel = r.CancellationSource;
                }
            }
            else
            {
                long hold = (long)(_options.InterruptHold.TotalSeconds * Stopwatch.Frequency);
                _early.Add(new EarlyInterrupt(target, interruptUnique, fd, Stopwatch.GetTimestamp() + hold));
                arm = _early.Count == 1;
            }
        }
        if (cancel is not null)
        {
            LogInterrupt(target);
            CancelLater(cancel);
        }
        if (arm) _interruptTimer.Change(_options.InterruptHold, Timeout.InfiniteTimeSpan);
    }

    /// <summary>Cancels on the thread pool: token callbacks run handler code, which must not run on a reader
    /// thread (it would stop reading) nor under our lock.</summary>
    static void CancelLater(CancellationTokenSource cts) =>
        ThreadPool.UnsafeQueueUserWorkItem(static c =>
        {
            try { c.Cancel(); }
            catch (ObjectDisposedException) { }
        }, cts, preferLocal: false);

    void ExpireEarlyInterrupts()
    {
        List<EarlyInterrupt>? expired = null;
        bool rearm;
        long now = Stopwatch.GetTimestamp();
        lock (_inflightLock)
        {
            for (int i = _early.Count - 1; i >= 0; i--)
            {
                if (_early[i].Deadline > now) continue;
                (expired ??= []).Add(_early[i]);
                _early.RemoveAt(i);
            }
            rearm = _early.Count > 0;
        }
        if (expired is not null)
        {
            foreach (var e in expired)
            {
                // The request is unknown: either already answered (the kernel ignores this, ENOENT) or read but
                // not yet registered (the kernel queues the INTERRUPT again).
                WriteError(e.Fd, e.InterruptUnique, Errno.EAGAIN);
            }
        }
        if (rearm)
        {
            try { _interruptTimer.Change(_options.InterruptHold, Timeout.InfiniteTimeSpan); }
            catch (ObjectDisposedException) { }
        }
    }
}
