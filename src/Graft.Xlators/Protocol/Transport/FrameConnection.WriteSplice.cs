using System.Buffers.Binary;
using System.IO.Pipelines;
using System.Net.Sockets;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Transport;

// write-splice (the brick's receive thread): a big write's payload goes from the socket into a pipe by reference, not
// into the receive buffer; the frame reaches the owner without it, marked, and the owner takes the pipe that holds it
// (TakeSplicedWrite) for storage/posix to splice into the file. docs/performance.md "Writes spliced from the socket".
public sealed partial class FrameConnection
{
    /// <summary>
    /// A frame flag no peer may send: the receive thread sets it on a writev request whose data it put in a pipe and
    /// cut from the frame (the frame's length then covers its fields only). A frame that arrives with it set closes
    /// the connection, so the owner never takes a frame the peer made for one the thread made.
    /// </summary>
    internal const FrameFlags SplicedWrite = (FrameFlags)0x80;

    /// <summary>write-splice's settings, or null when this connection does not splice writes.</summary>
    private readonly WriteSplicing? _writeSplice;

    /// <summary>The pipes of the writes the receive thread cut (in frame order) that the owner has not taken yet. Guarded by itself.</summary>
    private readonly Queue<(SplicePipe Pipe, int Length)> _splicedWrites = new();
    private bool _splicedClosed;   // guarded by _splicedWrites: the connection is closed, pipes put here are closed at once

    /// <summary>Largest fields (caller, xdata, fd, offset) of a write whose data is spliced: the owner copies them, never keeps them in a receive buffer.</summary>
    private const int MaxFields = 16 << 10;

    /// <summary>Cut frames the owner has not taken yet beyond which the receive thread splices no more (it receives as usual).</summary>
    private const int MaxQueued = 8;

    /// <summary>After a spliced write the next receive asks for this much only: most often the next write's header, fields and first data.</summary>
    private const int SpliceHead = 4 << 10;

    /// <summary>
    /// The pipe holding the data of the frame marked <see cref="SplicedWrite"/> that the owner just read (frames and
    /// pipes are in the same order); false when there is none (then the frame is not one the receive thread cut).
    /// The owner returns the pipe to <see cref="WriteSplicing.Pipes"/> when done with it.
    /// </summary>
    internal bool TakeSplicedWrite(out SplicePipe pipe, out int length)
    {
        lock (_splicedWrites)
        {
            if (_splicedWrites.TryDequeue(out var e)) { (pipe, length) = e; return true; }
        }
        (pipe, length) = (null!, 0);
        return false;
    }

    /// <summary>Closes the pipes of writes the owner will never take (the connection is closed).</summary>
    private void DropSplicedWrites()
    {
        if (_writeSplice is not { } ws) return;
        lock (_splicedWrites)
        {
            _splicedClosed = true;
            while (_splicedWrites.TryDequeue(out var e)) { e.Pipe.Abandon(); ws.Return(e.Pipe); }
        }
    }

    private enum Splice { No, Whole, Moved, PeerClosed }

    /// <summary>
    /// Called by the receive thread after a receive of <paramref name="n"/> bytes into <paramref name="into"/>: when a
    /// writev request with at least <see cref="WriteSplicing.Min"/> bytes of data began in it, has all its fields in it
    /// and its data still to come, the data received so far is copied into a pipe and the rest spliced from the socket
    /// behind it; the frame is cut to its fields, marked, and its pipe queued for the owner (Whole). If the pipe fills
    /// first (the peer sent the data in many small pieces, each taking a slot), the frame goes the usual way: its start
    /// and the pipe's bytes are moved into a buffer that holds it whole (Moved). Either way this method advanced the
    /// writer. No: nothing was done (the caller handles the receive as always). PeerClosed: the socket ended.
    /// </summary>
    private Splice TrySpliceWrite(WriteSplicing ws, PipeWriter w, Memory<byte> into, int n, ref FrameBoundary frames)
    {
        int have = frames.Have, left = frames.Left;
        long min = ws.Min;
        if (min <= 0 || left == 0 || have > n || have < FrameHeader.Size) return Splice.No;
        int start = n - have;
        var frame = into.Span.Slice(start, have);
        if (frame[4] != (byte)FrameType.Request || BinaryPrimitives.ReadUInt16LittleEndian(frame[6..]) != (ushort)FopOp.Writev) return Splice.No;
        var flags = (FrameFlags)frame[5];
        int body = frames.Total - FrameHeader.Size;
        // Only the data may be missing, and it must be all that is (else the frame is not well formed: the owner says so).
        if (!FopCodec.TryReadWritevHead(frame[FrameHeader.Size..], flags, out int dataAt, out int dataLength)
            || dataLength < min || dataAt + dataLength != body || FrameHeader.Size + dataAt > have
            || dataAt > MaxFields) return Splice.No;
        // Bounded: a few cut frames waiting for the owner per connection (the receive pipe's back-pressure counts their
        // fields only), and the brick's pipes in use (WriteSplicing.MaxOut).
        lock (_splicedWrites) if (_splicedWrites.Count >= MaxQueued) return Splice.No;
        if (ws.Rent() is not { } pipe) return Splice.No;
        int inMem = have - FrameHeader.Size - dataAt;
        if (!pipe.FitWrite(dataLength) || !pipe.Put(frame.Slice(FrameHeader.Size + dataAt, inMem)))
        {
            ws.Return(pipe);
            return Splice.No;
        }
        int got = 0;
        try
        {
            bool polled = false;
            while (got < left)
            {
                nint k = pipe.FromSocket(_fd, left - got, out int errno);
                if (k == 0) { pipe.Abandon(); ws.Return(pipe); return Splice.PeerClosed; }
                if (k == -2) throw new SocketException(errno);
                if (k > 0) got += (int)k;
                else if (polled) break;   // the socket is readable, yet nothing moved: the pipe is full
                if (got == left) break;
                // Less than the rest, or nothing: the socket had no more at that moment, so wait for readiness before the
                // next splice (not a splice that fails with EAGAIN besides). Close shuts the socket down before it
                // disposes it, which ends this wait (as in ReceiveBlocking).
                _socket.Poll(-1, SelectMode.SelectRead);
                polled = true;
            }
        }
        catch
        {
            pipe.Abandon();
            ws.Return(pipe);
            throw;
        }
        if (got < left)
        {
            // The frame goes the usual way: its start and what the pipe holds, moved into a buffer that holds it whole
            // (as the receive thread moves a big frame's start).
            var whole = MoveFrameStart(w, into, start, have, frames.Total);
            bool drained = pipe.DrainInto(whole.Span.Slice(have - inMem, inMem + got));
            ws.Return(pipe);
            if (!drained) throw new IOException("a write's bytes were lost in a pipe");
            frames.Skip(got);
            w.Advance(have + got);
            ws.CountMoved();
            return Splice.Moved;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(frame, (uint)(FrameHeader.Size - 4 + dataAt));
        frame[5] = (byte)(flags | SplicedWrite);
        frames.Skip(left);
        lock (_splicedWrites)
        {
            if (_splicedClosed) { pipe.Abandon(); ws.Return(pipe); return Splice.PeerClosed; }
            _splicedWrites.Enqueue((pipe, dataLength));
        }
        // The data bytes that came with the fields stay behind in this buffer: the frame ends where its fields do.
        w.Advance(start + FrameHeader.Size + dataAt);
        return Splice.Whole;
    }
}

/// <summary>
/// write-splice's settings, shared by a brick's connections: the smallest write whose data is spliced from the socket
/// (0: none; may change while the brick runs) and the pipes it goes through.
/// </summary>
internal sealed class WriteSplicing(SplicePipes pipes)
{
    private long _min, _moved;
    private int _out;
    private SplicePipes Pipes { get; } = pipes;

    /// <summary>
    /// Pipes write-splice may hold at once in the whole brick (each up to 1 MiB of the socket's pages and two
    /// descriptors): beyond it writes are received as usual, so neither memory nor descriptors grow with the number of
    /// writes in flight.
    /// </summary>
    public const int MaxOut = 64;

    /// <summary>A pipe for one write's data, or null (MaxOut reached, or no descriptors to spare).</summary>
    public SplicePipe? Rent()
    {
        if (Interlocked.Increment(ref _out) > MaxOut || Pipes.Rent() is not { } p) { Interlocked.Decrement(ref _out); return null; }
        return p;
    }

    /// <summary>Gives a pipe of <see cref="Rent"/> back (closed when it holds bytes or broke).</summary>
    public void Return(SplicePipe p)
    {
        Interlocked.Decrement(ref _out);
        Pipes.Return(p);
    }

    /// <summary>Pipes out now (state dumps, tests).</summary>
    public int Out => Volatile.Read(ref _out);
    public long Min { get => Volatile.Read(ref _min); set => Volatile.Write(ref _min, value); }
    /// <summary>Writes whose pipe filled before all their data was in it: they went the usual way.</summary>
    public long Moved => Interlocked.Read(ref _moved);
    public void CountMoved() => Interlocked.Increment(ref _moved);
}
