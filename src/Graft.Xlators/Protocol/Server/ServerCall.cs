using System.Buffers;
using Graft.Core;
using Graft.Xlators.Protocol.Transport;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Server;

/// <summary>
/// One request being served, pooled: the request body (a writev's data is served straight from it), the
/// caller's context, the reply body, and the buffer a readv reads into. A body is copied out of the receive
/// buffer, except a big one that arrived whole in a <see cref="ReceiveBuffer"/> (the brick's connections keep
/// big frames so): that buffer is held instead, until the call goes back to the pool — a 1 MiB write is then
/// received once and written from where it arrived. Nothing here is allocated per request in the steady state.
/// </summary>
internal sealed class ServerCall : IThreadPoolWorkItem, IReadRangeSink, IWriteSource
{
    private static readonly Stack<ServerCall> Pool = new();   // guarded by itself
    private const int Keep = 256, KeepBuffer = (1 << 20) + (64 << 10) + 1024;

    private byte[] _body = ArrayPool<byte>.Shared.Rent(4096);
    private int _bodyLength;
    /// <summary>The receive buffer a kept body lies in (a reference this call holds), or null when the body was copied.</summary>
    private ReceiveBuffer? _held;
    private ReadOnlyMemory<byte> _heldBody;
    private byte[]? _read;

    /// <summary>Untrusted until <see cref="SetCaller"/> says otherwise: a pooled context never carries trust over.</summary>
    public readonly FopContext Ctx = new() { Untrusted = true };
    public readonly BodyWriter Reply = new();
    public FopRequest Request;
    public ulong Id;
    public ServerConnection? Connection;
    /// <summary>A blocking lock's own cancellation: fired by the client's Cancel frame, or by the connection ending.</summary>
    public CancellationTokenSource? Interrupt;
    /// <summary>A blocking lock request: it holds one of its session's lock waits instead of a request slot.</summary>
    public bool HoldsLockWait;
    /// <summary>A buffered write, which may queue behind another write of its fd (ServerConnection's write lane).</summary>
    public bool Laneable;
    /// <summary>This write holds its connection's write lane: when it is done, the writes queued behind it are served.</summary>
    public bool LaneHead;
    /// <summary>
    /// Served on the receive loop with frames behind it (ServerConnection.Admit sets it only there, right before serving
    /// it): its reply may be held back to leave with the next one (ServeAsync), since the loop sends what is held once
    /// it has served what it received.
    /// </summary>
    public bool ServedAhead;

    /// <summary>The brick's pipes a read offered as a file range (read-splice) is spliced through; null when none was offered.</summary>
    public SplicePipes? SpliceVia;
    /// <summary>The pipe holding this read's data (taken as a file range): its frame's bulk comes from there, not from the read buffer.</summary>
    public SplicePipe? Spliced;

    /// <summary>What this call costs while it waits in a connection's backlog: its body buffer (or the pipe holding its data) and the rest of it (about 1 KiB).</summary>
    public int Footprint => (_held is null ? _body.Length : _heldBody.Length) + _writeLength + 1024;

    /// <summary>The body lies in the receive buffer it arrived in (not copied).</summary>
    public bool BodyKept => _held is not null;

    void IThreadPoolWorkItem.Execute() => _ = Connection!.ServeAsync(this);

    public ReadOnlyMemory<byte> BodyMemory => _held is null ? _body.AsMemory(0, _bodyLength) : _heldBody;

    public static ServerCall Rent()
    {
        lock (Pool) if (Pool.TryPop(out var c)) return c;
        return new ServerCall();
    }

    public static void Return(ServerCall c)
    {
        c.Request = default;
        c.Connection = null;
        c.Interrupt?.Dispose();
        c.Interrupt = null;
        c.HoldsLockWait = false;
        c.Laneable = c.LaneHead = c.ServedAhead = false;
        c.DropSpliced();
        c.SpliceVia = null;
        c.DropWritePipe();
        c.SplicedIntoFile = false;
        c._writeLength = 0;
        if (c._filled is { } filled) { c._filled = null; ArrayPool<byte>.Shared.Return(filled); }
        c.Reply.Reset();
        c.Ctx.Clear();
        c.ReleaseBody();
        if (c._body.Length > KeepBuffer) { ArrayPool<byte>.Shared.Return(c._body); c._body = ArrayPool<byte>.Shared.Rent(4096); }
        lock (Pool) if (Pool.Count < Keep) Pool.Push(c);
    }

    /// <summary>Lets go of a kept body's receive buffer (nothing may read <see cref="BodyMemory"/> after this).</summary>
    private void ReleaseBody()
    {
        var held = _held;
        (_held, _heldBody) = (null, default);
        held?.Release();
    }

    /// <summary>
    /// The request's body: kept where it lies when it is big and whole in one receive buffer, copied otherwise
    /// (small bodies, and a big one the receive split, which happens when a receive ended inside its length field).
    /// </summary>
    public void TakeBody(in ReadOnlySequence<byte> body)
    {
        // First holds all of it also when the body ends exactly where its buffer's bytes end (the sequence's end then
        // points at the start of the next buffer, and IsSingleSegment says false).
        if (body.Length >= KeepMinBody && body.First is var first && first.Length == body.Length && ReceiveBuffer.TryHold(first) is { } held)
        {
            ReleaseBody();
            (_held, _heldBody, _bodyLength) = (held, first, 0);
            return;
        }
        ReleaseBody();
        int n = (int)body.Length;
        if (_body.Length < n)
        {
            ArrayPool<byte>.Shared.Return(_body);
            _body = ArrayPool<byte>.Shared.Rent(n);
        }
        body.CopyTo(_body);
        _bodyLength = n;
    }

    /// <summary>Bodies from this size on are kept in their receive buffer when they lie whole in one (FrameConnection keeps such frames whole).</summary>
    public const int KeepMinBody = FrameConnection.KeepMin - FrameHeader.Size;

    /// <summary>A buffer of at least <paramref name="size"/> bytes for a readv, kept with the call for reuse.</summary>
    public Memory<byte> ReadBuffer(int size)
    {
        if (_read is null || _read.Length < size)
        {
            if (_read is not null) ArrayPool<byte>.Shared.Return(_read);
            _read = ArrayPool<byte>.Shared.Rent(Math.Max(size, 4096));
        }
        return _read.AsMemory(0, size);
    }

    /// <summary>The whole read buffer (a spliced reply's bulk is copied here when it cannot be spliced after all).</summary>
    public Memory<byte> ReadSpare => _read;

    /// <summary>
    /// read-splice: the file range storage/posix offers for this call's read goes into one of the brick's pipes (see
    /// <see cref="SplicePipe.Fill"/>), while posix still holds the fd. NotTaken, and posix reads into the buffer, when no
    /// pipe is to be had or the file cannot be spliced.
    /// </summary>
    long IReadRangeSink.TakeRange(int descriptor, long offset, int length)
    {
        if (Spliced is not null || SpliceVia is not { } pipes || pipes.Rent() is not { } pipe) return IReadRangeSink.NotTaken;
        long n = pipe.Fill(descriptor, offset, length);
        if (n < 0) { pipes.Return(pipe); return IReadRangeSink.NotTaken; }
        Spliced = pipe;
        return n;
    }

    /// <summary>Gives the pipe back (an empty one is reused, one with bytes left is closed).</summary>
    public void DropSpliced()
    {
        if (Spliced is not { } p) return;
        Spliced = null;
        if (SpliceVia is { } pipes) pipes.Return(p);
        else p.Dispose();
    }

    // ---- write-splice: a write whose data the receive thread put in a pipe ----

    /// <summary>The pipe holding this write's data (write-splice), until it is written or drained; null otherwise.</summary>
    private SplicePipe? _writePipe;
    private int _writeLength;
    private WriteSplicing? _writePipes;
    /// <summary>Where <see cref="TryFill"/> put the data (rented), given back with the call.</summary>
    private byte[]? _filled;

    /// <summary>
    /// What a spliced write's data reads as while it is in its pipe: zeros, never written (the translators under the
    /// server that may see it pass writes on unchanged, ProtocolServer.WritesPassUnchanged).
    /// </summary>
    private static readonly byte[] NotHere = new byte[FrameHeader.MaxIo];

    /// <summary>This write's data is in a pipe: its request's data reads as zeros until <see cref="TryFill"/>.</summary>
    public bool WriteSpliced => _writePipe is not null;
    /// <summary>The length of the data the receive thread put in a pipe (write-splice).</summary>
    public int SplicedLength => _writeLength;
    /// <summary>The pipe's bytes went into the file (<see cref="TryWriteTo"/> took the offer).</summary>
    public bool SplicedIntoFile;

    /// <summary>
    /// A writev whose frame the receive thread cut to its <paramref name="fields"/> (the data's length field last), its
    /// <paramref name="length"/> bytes of data in <paramref name="pipe"/>: the body is the fields with that length field
    /// made 0, so the request decodes as always; <see cref="SplicedRequestDecoded"/> then gives it its length back.
    /// </summary>
    public void TakeSplicedBody(in ReadOnlySequence<byte> fields, SplicePipe pipe, int length, WriteSplicing pipes)
    {
        TakeBody(fields);
        if (_bodyLength >= 4) _body.AsSpan(_bodyLength - 4, 4).Clear();
        (_writePipe, _writeLength, _writePipes) = (pipe, length, pipes);
    }

    /// <summary>After the decode: the request's data is <see cref="SplicedLength"/> bytes that are not here (false when the decode found data after all).</summary>
    public bool SplicedRequestDecoded()
    {
        if (!Request.Data.IsEmpty || (uint)_writeLength > (uint)NotHere.Length) return false;
        Request.Data = NotHere.AsMemory(0, _writeLength);
        return true;
    }

    public bool TryWriteTo(int descriptor, long offset, out Result<int> written)
    {
        written = default;
        if (_writePipe is not { } pipe) return false;
        long n = pipe.ToFile(descriptor, offset, out int errno);
        if (n == 0 && errno == SpliceEinval && pipe.Held == _writeLength) return false;   // this file takes no splice: TryFill
        written = n > 0 ? new Result<int>((int)n) : new Result<int>((Errno)errno);
        SplicedIntoFile = true;
        DropWritePipe();
        return true;
    }

    public bool TryFill(out ReadOnlyMemory<byte> data)
    {
        data = default;
        if (_writePipe is not { } pipe) return false;
        _filled ??= ArrayPool<byte>.Shared.Rent(_writeLength);
        bool ok = pipe.Held == _writeLength && pipe.DrainInto(_filled.AsSpan(0, _writeLength));
        if (ok) data = _filled.AsMemory(0, _writeLength);
        DropWritePipe();
        return ok;
    }

    private const int SpliceEinval = 22;

    /// <summary>Gives the write's pipe back (closed when bytes are left in it: a write that never reached the file).</summary>
    private void DropWritePipe()
    {
        if (_writePipe is not { } p) return;
        _writePipe = null;
        if (p.Held > 0) p.Abandon();
        _writePipes!.Return(p);
        _writePipes = null;
    }

    /// <summary>
    /// Fills <see cref="Ctx"/> with the caller the request named, root-squashed when the session is
    /// untrusted: its ids are only claims, so root's become nobody's (uid, gid and supplementary group
    /// 0 → 65534), and storage/posix keeps privileged xattrs from it. Non-zero ids pass as claimed.
    /// </summary>
    public void SetCaller(Graph? graph, ClientSession s)
    {
        var c = Request.Caller;
        var groups = c.Groups ?? [];
        if (s.Squash)
        {
            // The groups array is this call's own (decoded into it), so squashing in place is safe.
            for (int i = 0; i < groups.Length; i++) if (groups[i] == 0) groups[i] = Nobody;
        }
        Ctx.Uid = s.Squash && c.Uid == 0 ? Nobody : c.Uid;
        Ctx.Gid = s.Squash && c.Gid == 0 ? Nobody : c.Gid;
        Ctx.Groups = groups; Ctx.Pid = c.Pid; Ctx.LockOwner = c.LockOwner;
        Ctx.Untrusted = s.Squash;
        Ctx.Graph = graph;
        // Locks are owned by (mount, lock owner), and the mount is the one the handshake proved: a
        // client cannot act for another mount by naming it in a call (the caller's field is ignored).
        Ctx.MountId = s.MountId;
        Ctx.Session = s.Instance;
        Ctx.Upcalls = s.WantsUpcalls ? s : null;
    }

    /// <summary>The overflow id root is squashed to ("nobody").</summary>
    public const uint Nobody = 65534;
}

internal static class FopContextReset
{
    /// <summary>Drops what a served request left in a pooled context.</summary>
    public static void Clear(this FopContext ctx) { ctx.Cancellation = default; ctx.Graph = null; ctx.Untrusted = true; ctx.Upcalls = null; ctx.ReadSink = null; ctx.WriteSource = null; }
}
