using System.Buffers;
using System.IO.Pipelines;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Transport;

/// <summary>Reading one whole frame, for the few sequential steps of the handshake.</summary>
public static class HandshakeIo
{
    /// <summary>One handshake frame, or why there is none.</summary>
    /// <param name="Oversized">The frame announced a body over the cap (it was not read).</param>
    public readonly record struct Read(FrameHeader Header, byte[]? Body, string? Error, bool Oversized = false)
    {
        public bool Ok => Body is not null;
    }

    /// <summary>
    /// The next frame with a copy of its body; at end of stream, on a bad header, or when the frame's
    /// body is larger than <paramref name="maxBody"/> (checked on the header, before the body is
    /// buffered), no frame and the reason.
    /// </summary>
    public static async ValueTask<Read> ReadFrameAsync(PipeReader input, int maxBody, CancellationToken ct)
    {
        while (true)
        {
            var res = await input.ReadAsync(ct).ConfigureAwait(false);
            var buf = res.Buffer;
            if (PeekOversized(buf, maxBody) is { } big)
            {
                input.AdvanceTo(buf.Start, buf.End);
                return new Read(default, null, $"handshake frame with a {big}-byte body (at most {maxBody} allowed)", Oversized: true);
            }
            if (FrameHeader.TryRead(ref buf, out var h, out var body, out var err))
            {
                var copy = body.ToArray();
                input.AdvanceTo(buf.Start);
                return new Read(h, copy, null);
            }
            input.AdvanceTo(buf.Start, buf.End);
            if (err != FrameError.None) return new Read(default, null, $"bad frame header ({err})");
            if (res.IsCompleted || res.IsCanceled) return new Read(default, null, "connection closed");
        }
    }

    /// <summary>The body length a complete header announces, when it exceeds <paramref name="maxBody"/>.</summary>
    private static long? PeekOversized(in ReadOnlySequence<byte> buf, int maxBody)
    {
        if (buf.Length < 4) return null;
        Span<byte> len = stackalloc byte[4];
        buf.Slice(0, 4).CopyTo(len);
        long body = (long)System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(len) - 12;
        return body > maxBody ? body : null;
    }
}
