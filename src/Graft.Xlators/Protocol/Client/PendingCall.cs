using System.Buffers;
using System.Threading.Tasks.Sources;
using Graft.Core;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Client;

/// <summary>
/// One call waiting for its reply. Pooled, so the steady-state data path allocates no
/// TaskCompletionSource per call. Completed exactly once per use, by whoever removes it from
/// the connection's pending table (the receive loop, the frame-timeout sweep, or the
/// connection's death), which is what makes returning it to the pool safe.
/// </summary>
internal sealed class PendingCall : IValueTaskSource<TransportResult>
{
    private ManualResetValueTaskSourceCore<TransportResult> _core = new() { RunContinuationsAsynchronously = true };

    public readonly BodyWriter Body = new();
    public ulong Id;
    public FopOp Op;
    public long DeadlineMs;
    /// <summary>readv: where the reply's data goes, copied straight from the receive buffer.</summary>
    public Memory<byte> ReadTarget;
    public int ReadCount;
    public Errno ReadError;
    /// <summary>Any other reply: its body, in a pooled buffer.</summary>
    public byte[]? Reply;
    public int ReplyLength;
    public FrameFlags ReplyFlags;
    /// <summary>The caller's continuation may run on the receive loop (<see cref="FopContext.ContinueInline"/>).</summary>
    public bool ContinueInline;

    public ValueTask<TransportResult> AsValueTask() => new(this, _core.Version);

    /// <summary>
    /// Completes the call; its caller continues on the thread pool. Used by every path that is not
    /// the receive loop reading a reply (frame-timeout, the connection's death): those may run under
    /// the client's own locks, where a continuation must not re-enter.
    /// </summary>
    public void Complete(TransportResult r)
    {
        _core.RunContinuationsAsynchronously = true;
        _core.SetResult(r);
    }

    /// <summary>
    /// Completes the call with its reply, from the receive loop. A caller that said its code never
    /// blocks continues right here, before the next frame is read: no hand-off to the thread pool.
    /// The loop holds no lock and does not touch the call afterwards (the caller returns it to the pool).
    /// </summary>
    public void CompleteReplied()
    {
        _core.RunContinuationsAsynchronously = !ContinueInline;
        _core.SetResult(TransportResult.Replied);
    }

    public ReadOnlyMemory<byte> ReplyBody => Reply is null ? default : Reply.AsMemory(0, ReplyLength);

    /// <summary>Copies a reply body out of the receive buffer (which is reused once the receive loop moves on).</summary>
    public void TakeReply(in System.Buffers.ReadOnlySequence<byte> body, FrameFlags flags)
    {
        int n = (int)body.Length;
        if (Reply is null || Reply.Length < n)
        {
            if (Reply is not null) ArrayPool<byte>.Shared.Return(Reply);
            Reply = ArrayPool<byte>.Shared.Rent(Math.Max(n, 256));
        }
        body.CopyTo(Reply);
        ReplyLength = n;
        ReplyFlags = flags;
    }

    public void Reset()
    {
        _core.Reset();
        Body.Reset();
        ReadTarget = default;
        ReadCount = 0;
        ReadError = Errno.OK;
        ReplyLength = 0;
        ReplyFlags = FrameFlags.None;
        ContinueInline = false;
        // Large reply buffers (a big readdir) go back to the shared pool rather than staying pinned here.
        if (Reply is { Length: > 64 << 10 }) { ArrayPool<byte>.Shared.Return(Reply); Reply = null; }
    }

    TransportResult IValueTaskSource<TransportResult>.GetResult(short token) => _core.GetResult(token);
    ValueTaskSourceStatus IValueTaskSource<TransportResult>.GetStatus(short token) => _core.GetStatus(token);
    void IValueTaskSource<TransportResult>.OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags)
        => _core.OnCompleted(continuation, state, token, flags);
}

/// <summary>How a call ended on the transport: a reply arrived (<see cref="Ok"/>), or a failure.</summary>
internal readonly record struct TransportResult(TransportFailure? Failure)
{
    public static readonly TransportResult Replied = new((TransportFailure?)null);
    public bool Ok => Failure is null;
}

/// <summary>A small lock-protected pool: calls are reused, never shared.</summary>
internal sealed class PendingCallPool
{
    private readonly Stack<PendingCall> _free = new();
    private const int Keep = 256;

    public PendingCall Rent()
    {
        lock (_free) if (_free.TryPop(out var c)) return c;
        return new PendingCall();
    }

    public void Return(PendingCall c)
    {
        c.Reset();
        lock (_free) if (_free.Count < Keep) _free.Push(c);
    }
}
