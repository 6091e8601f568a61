using Graft.Core;

namespace Graft.Xlators.Protocol.Wire;

/// <summary>
/// The body of an Upcall frame (server → client): <c>u8 kind · u8 flags · GFID · string name</c> (docs/wire-protocol.md).
/// A notice the client cannot use — an unknown kind or flag, a body that does not decode — is dropped by the client
/// without closing the connection: notices only ever make a client drop cached state, so a newer brick may add
/// kinds that older clients ignore.
/// </summary>
public static class UpcallCodec
{
    /// <summary>Handshake feature bit: the client wants invalidation notices (Hello), the brick will send them (Welcome).</summary>
    public const uint Feature = 1;

    /// <summary>Flags bit 0: the object's contents changed (cached pages are stale, not only attributes).</summary>
    private const byte DataFlag = 1;

    public static void Write(BodyWriter w, in UpcallNotice n)
    {
        w.U8((byte)n.Kind);
        w.U8(n.Data ? DataFlag : (byte)0);
        w.Gfid(n.Gfid);
        w.String(n.Kind == UpcallKind.Entry ? n.Name : null);
    }

    /// <summary>The notice, or null for one this client does not understand (unknown kind or flags, bad body, an
    /// entry notice without a valid name).</summary>
    public static UpcallNotice? TryRead(ReadOnlyMemory<byte> body)
    {
        var r = new BodyReader(body);
        var kind = (UpcallKind)r.U8();
        var flags = r.U8();
        var gfid = r.Gfid();
        var name = r.String();
        if (!r.Ok || (flags & ~DataFlag) != 0 || gfid.IsZero) return null;
        return kind switch
        {
            UpcallKind.Inode when name is null => UpcallNotice.Inode(gfid, (flags & DataFlag) != 0),
            UpcallKind.Entry when name is { Length: > 0 } && name != "." && name != ".." && !name.Contains('/') && !name.Contains('\0') && flags == 0
                => UpcallNotice.Entry(gfid, name),
            _ => null,
        };
    }
}
