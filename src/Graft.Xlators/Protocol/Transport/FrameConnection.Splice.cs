using System.Buffers;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Transport;

// Frames whose bulk is a range of a file, put in a pipe (SplicePipe) before the frame is written: on a plaintext
// connection the header leaves with one send and the bulk is spliced from the pipe to the socket, under SendLock so
// no other frame comes between. docs/performance.md "Reads spliced to the socket".
public sealed partial class FrameConnection
{
    /// <summary>Frames may carry their bulk from a <see cref="SplicePipe"/> straight to the socket (plaintext, Linux).</summary>
    public bool CanSplice => _fd >= 0 && _tls is null && SplicePipe.Supported;

    /// <summary>
    /// Tests only: asked before each spliced frame's bulk goes out; true makes the splice fail after the header and a
    /// first part of the bulk have left (the connection is then dropped, as for a real failure there).
    /// </summary>
    internal Func<bool>? FailSplice;

    /// <summary>
    /// Writes a frame whose bulk is what <paramref name="pipe"/> holds: <paramref name="body"/>'s bulk is
    /// <paramref name="spare"/>'s first <see cref="SplicePipe.Held"/> bytes, whose contents do not matter yet (they are
    /// the length the header promises). The bytes go from the pipe to the socket when nothing is queued and the socket
    /// takes them now; otherwise they are copied out of the pipe into <paramref name="spare"/> and leave the usual way
    /// (queued behind what waits, or what the socket did not take). Once the header is out, a failure closes the
    /// connection: the peer must never read another frame's bytes as this one's. The pipe is empty afterwards unless
    /// it broke.
    /// </summary>
    internal Spliced WriteFrameSpliced(FrameType type, FrameFlags flags, FopOp op, ulong id, BodyWriter body, SplicePipe pipe, Memory<byte> spare)
    {
        lock (SendLock)
        {
            if (_sendClosed) return Spliced.Closed;
            int bulk = pipe.Held;
            if (_queued || _fd < 0 || FrameHeader.Size + body.Length > DirectMax)
                return !pipe.DrainInto(spare.Span[..bulk]) ? Broke("pipe read failed")
                     : WriteFrameLocked(type, flags, op, id, body) ? Spliced.Copied : Spliced.Closed;
            // Frames held back (HoldFrameLocked) go in front of the header, in the same send.
            int held = HeldToDirectLocked();
            var head = _direct.AsSpan(0, held + FrameHeader.Size + body.Length);
            new FrameHeader(type, flags, op, id, body.TotalLength).Write(head[held..]);
            body.Written.CopyTo(head[(held + FrameHeader.Size)..]);
            nint sent = SocketGather.Send(_fd, head, default, out int errno, more: bulk > 0);
            if (sent < 0) return Broke("send failed: " + System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno));
            if (sent < head.Length)
            {
                // The socket is full: header rest and bulk are queued, the bulk copied out of the pipe.
                if (!pipe.DrainInto(spare.Span[..bulk])) return Broke("pipe read failed");
                if (!Reserve(head.Length - (int)sent + bulk)) return Spliced.Closed;
                _out.Writer.Write(head[(int)sent..]);
                _out.Writer.Write(spare.Span[..bulk]);
                return Publish() ? Spliced.Copied : Spliced.Closed;
            }
            bool fail = FailSplice?.Invoke() == true;
            while (pipe.Held > 0)
            {
                nint n = pipe.SendTo(_fd, fail ? Math.Min(pipe.Held, 4096) : pipe.Held, more: false, out errno);
                if (fail) { pipe.Abandon(); return Broke("splice failed: injected"); }
                if (n > 0) continue;
                if (n < 0) return Broke("splice failed: " + System.Runtime.InteropServices.Marshal.GetPInvokeErrorMessage(errno));
                // The socket is full: what the pipe still holds leaves through the queue (copied now), after the part
                // already spliced, and frames behind this one queue behind it.
                int done = bulk - pipe.Held;
                var rest = spare.Span.Slice(done, pipe.Held);
                if (!pipe.DrainInto(rest)) return Broke("pipe read failed");
                return Queue(rest) ? Spliced.Partly : Spliced.Closed;
            }
            return Spliced.Whole;
        }
    }

    /// <summary>A spliced frame failed after its header may have left: the connection goes (nothing else can keep the stream whole).</summary>
    private Spliced Broke(string why)
    {
        CloseSoon(why);
        return Spliced.Closed;
    }

    /// <summary>How a spliced frame left.</summary>
    internal enum Spliced
    {
        /// <summary>All of its bulk went from the pipe to the socket.</summary>
        Whole,
        /// <summary>The socket filled part way: the rest was copied out of the pipe and queued.</summary>
        Partly,
        /// <summary>Frames were queued before it (or the socket took none of it): its bulk was copied out of the pipe and it went the usual way.</summary>
        Copied,
        /// <summary>The connection is closed (or was closed because of this frame).</summary>
        Closed,
    }
}
