using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Graft.Management.Protocol;

/// <summary>
/// The daemon's control protocol framing: each message is a u32 big-endian length and that many
/// bytes of one UTF-8 JSON object. Requests are <c>{"op":..., ...}</c>; replies
/// <c>{"ok":true,"result":...}</c> or <c>{"ok":false,"error":"..."}</c>; a subscription's pushes
/// are <c>{"push":...}</c>. A frame over <see cref="MaxFrame"/> or that is not a JSON object ends
/// the connection (not the daemon).
/// </summary>
public static class Frames
{
    public const int MaxFrame = 4 << 20;

    public static async Task WriteAsync(Stream s, JsonObject message, CancellationToken ct)
    {
        var body = JsonSerializer.SerializeToUtf8Bytes(message);
        if (body.Length > MaxFrame) throw new InvalidDataException($"frame of {body.Length} bytes is over {MaxFrame}");
        var frame = new byte[4 + body.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, (uint)body.Length);
        body.CopyTo(frame, 4);
        await s.WriteAsync(frame, ct).ConfigureAwait(false);
        await s.FlushAsync(ct).ConfigureAwait(false);
    }

    /// <summary>The next message, or null at a clean end of stream. Throws <see cref="InvalidDataException"/> on a malformed frame.</summary>
    public static async Task<JsonObject?> ReadAsync(Stream s, CancellationToken ct)
    {
        var head = new byte[4];
        if (!await FillAsync(s, head, ct).ConfigureAwait(false)) return null;
        var n = BinaryPrimitives.ReadUInt32BigEndian(head);
        if (n == 0 || n > MaxFrame) throw new InvalidDataException($"frame length {n} is out of range (1..{MaxFrame})");
        var body = new byte[n];
        if (!await FillAsync(s, body, ct).ConfigureAwait(false)) throw new InvalidDataException("connection closed inside a frame");
        try
        {
            return JsonNode.Parse(body) as JsonObject ?? throw new InvalidDataException("a frame is not a JSON object");
        }
        catch (JsonException e) { throw new InvalidDataException("a frame is not valid JSON: " + e.Message, e); }
    }

    private static async Task<bool> FillAsync(Stream s, byte[] buf, CancellationToken ct)
    {
        int got = 0;
        while (got < buf.Length)
        {
            var r = await s.ReadAsync(buf.AsMemory(got), ct).ConfigureAwait(false);
            if (r == 0)
            {
                if (got == 0) return false;
                throw new InvalidDataException("connection closed inside a frame");
            }
            got += r;
        }
        return true;
    }
}
