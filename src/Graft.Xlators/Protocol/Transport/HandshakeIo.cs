using System.Buffers;
using System.IO.Pipelines;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Transport;

/// <summary>Reading one whole frame, for the few sequential steps of the handshake.</summary>
public static class HandshakeIo
{
    /// <summary>The next frame with a copy of its body, or null at end of stream or on a bad frame.</summary>
    public static async ValueTask<(FrameHeader Header, byte[] Body)?> ReadFrameAsync(PipeReader input, CancellationToken ct)
    {
        while (true)
        {
            var res = await input.ReadAsync(ct).ConfigureAwait(false);
            var buf = res.Buffer;
            if (FrameHeader.TryRead(ref buf, out var h, out var body, out var err))
            {
                var copy = body.ToArray();
                input.AdvanceTo(buf.Start);
                return (h, copy);
            }
            if (err != FrameError.None || res.IsCompleted || res.IsCanceled)
            {
                input.AdvanceTo(buf.Start, buf.End);
                return null;
            }
            input.AdvanceTo(buf.Start, buf.End);
        }
    }
}
