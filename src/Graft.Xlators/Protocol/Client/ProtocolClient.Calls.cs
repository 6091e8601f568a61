using System.Runtime.CompilerServices;
using Graft.Core;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Client;

public sealed partial class ProtocolClient
{
    /// <summary>Sends <paramref name="q"/> on the current connection as <paramref name="ctx"/>'s caller.</summary>
    private ValueTask<FopReply> CallAsync(FopContext ctx, FopRequest q)
    {
        var conn = _conn;
        if (conn is null || _stopping != 0) return new(new FopReply(TransportErrors.ToErrno(TransportFailure.NotConnected)));
        q.Caller = WireCaller.From(ctx);
        return CallOnAsync(conn, q, bounded: true, ctx.ContinueInline);
    }

    /// <summary>
    /// Sends <paramref name="q"/> on <paramref name="conn"/>. <paramref name="bounded"/>: fails with
    /// ENOTCONN after frame-timeout without a reply. <paramref name="interrupt"/> (a blocking lock's
    /// cancellation): when it fires, the brick is asked to interrupt the request, which then
    /// answers (EINTR, or the grant that won the race): the caller always learns the one outcome.
    /// <paramref name="inline"/>: the caller's <see cref="FopContext.ContinueInline"/>.
    /// </summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<FopReply> CallOnAsync(ClientConnection conn, FopRequest q, bool bounded, bool inline = false, CancellationToken interrupt = default)
    {
        var call = _calls.Rent();
        try
        {
            call.Op = q.Op;
            call.ContinueInline = inline;
            var flags = FopCodec.WriteRequest(call.Body, q);
            if (conn.Send(call, flags, bounded) is { } failed) return new FopReply(TransportErrors.ToErrno(failed));
            TransportResult t;
            if (!interrupt.CanBeCanceled) t = await call.AsValueTask().ConfigureAwait(false);
            else
            {
                // Registered after Send: the Cancel frame can only follow the request on the wire.
                using (interrupt.UnsafeRegister(static o => { var (c, id) = ((ClientConnection, ulong))o!; c.SendCancel(id); }, (conn, call.Id)))
                    t = await call.AsValueTask().ConfigureAwait(false);
            }
            if (t.Failure is { } f) return new FopReply(TransportErrors.ToErrno(f));
            if (!FopCodec.TryReadReply(q.Op, call.ReplyFlags, call.ReplyBody, out var reply))
            {
                conn.Fail(TransportFailure.ProtocolError, $"malformed {q.Op} reply");
                return new FopReply(TransportErrors.ToErrno(TransportFailure.ProtocolError));
            }
            return reply;
        }
        finally { _calls.Return(call); }
    }

    /// <summary>Readv: the reply's data is copied by the receive loop straight into <paramref name="buffer"/>.</summary>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Result<int>> ReadChunkAsync(ClientConnection conn, FopContext ctx, ulong fd, Memory<byte> buffer, long offset)
    {
        var call = _calls.Rent();
        try
        {
            call.Op = FopOp.Readv;
            call.ContinueInline = ctx.ContinueInline;
            call.ReadTarget = buffer;
            var q = new FopRequest(FopOp.Readv) { Caller = WireCaller.From(ctx), Fd = fd, Offset = offset, Size = (uint)buffer.Length };
            var flags = FopCodec.WriteRequest(call.Body, q);
            if (conn.Send(call, flags, bounded: true) is { } failed) return TransportErrors.ToErrno(failed);
            var t = await call.AsValueTask().ConfigureAwait(false);
            if (t.Failure is { } f) return TransportErrors.ToErrno(f);
            if (call.ReplyLength > 0)
            {
                // The brick attached xdata, so the receive loop kept the whole body: decode it here.
                if (!FopCodec.TryReadReply(FopOp.Readv, call.ReplyFlags, call.ReplyBody, out var reply) || reply.Data.Length > buffer.Length)
                {
                    conn.Fail(TransportFailure.ProtocolError, "malformed readv reply");
                    return TransportErrors.ToErrno(TransportFailure.ProtocolError);
                }
                if (reply.Error != Errno.OK) return reply.Error;
                reply.Data.CopyTo(buffer);
                return reply.Data.Length;
            }
            return call.ReadError != Errno.OK ? call.ReadError : call.ReadCount;
        }
        finally { _calls.Return(call); }
    }

    /// <summary>
    /// The remote fd for <paramref name="fd"/> on <paramref name="conn"/>: EBADF when the fd is not ours,
    /// or was open on an older connection and could not be reopened.
    /// </summary>
    private Errno RemoteOf(Fd fd, ClientConnection conn, out ulong id)
    {
        id = 0;
        if (fd.GetCtx(this) is not ClientFdCtx ctx) return Errno.EBADF;
        var r = ctx.Remote;
        if (r is null || r.Epoch != conn.Epoch) return TransportErrors.ToErrno(TransportFailure.FdLost);
        id = r.Id;
        return Errno.OK;
    }

    /// <summary>Resolves the current connection and <paramref name="fd"/>'s remote id on it.</summary>
    private Errno Resolve(Fd fd, out ClientConnection? conn, out ulong id)
    {
        id = 0;
        conn = _conn;
        if (conn is null || _stopping != 0) return TransportErrors.ToErrno(TransportFailure.NotConnected);
        return RemoteOf(fd, conn, out id);
    }
}
