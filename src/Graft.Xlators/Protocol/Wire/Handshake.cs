using System.Security.Cryptography;
using System.Text;
using Graft.Core;

namespace Graft.Xlators.Protocol.Wire;

/// <summary>
/// The connect-time exchange: Hello → Challenge → Auth → Welcome. The shared secret never
/// travels: each side proves it holds it with an HMAC over both sides' fresh nonces and the
/// client's identity, so a recorded exchange cannot be replayed. The Welcome of an accepted session
/// carries a random resume token: only a client that presents it again (and is the same principal)
/// may take the session over after a reconnect.
/// </summary>
public static class Handshake
{
    /// <summary>2: Auth carries a resume token, Welcome issues one and says why it refuses.</summary>
    public const uint Version = 2;
    public const int NonceSize = 32, ProofSize = 32, TokenSize = 32;
    /// <summary>
    /// Largest body of a handshake frame. A Hello with a long brick name fits with room to spare;
    /// anything bigger before the session exists is an attack on the brick's memory, not a client.
    /// </summary>
    public const int MaxBody = 496;
    /// <summary>Longest refusal reason a Welcome carries (bytes of UTF-8).</summary>
    public const int MaxReason = 256;
    /// <summary>
    /// Feature bit 1: the client may send inodelk-xattrop (op 44) and the brick serves it. A client whose
    /// brick did not grant it (an older brick) answers that fop ENOSYS itself, never sends it.
    /// </summary>
    public const uint LockXattropFeature = 2;
    /// <summary>
    /// Feature bit 2: the client may send create-inodelk-xattrop (op 45) and release-inodelk-xattrop (op 46)
    /// and the brick serves them. A client whose brick did not grant it answers both ENOSYS itself, never
    /// sends them (replicate then makes the create, or the post-op, unlock and release, as separate calls).
    /// </summary>
    public const uint LockCreateReleaseFeature = 4;
    /// <summary>Every feature bit this build knows; a brick grants only these.</summary>
    public const uint KnownFeatures = UpcallCodec.Feature | LockXattropFeature | LockCreateReleaseFeature;

    /// <param name="Identity">The mount's identity, fixed for the life of the client process.</param>
    /// <param name="Generation">The client graph's generation.</param>
    /// <param name="Instance">This protocol/client instance: with the two above, names the server-side session a reconnect resumes.</param>
    /// <param name="Features">What the client asks for (<see cref="UpcallCodec.Feature"/>); sent only when not 0, so a
    /// client that asks for nothing sends the same bytes as before features existed.</param>
    public sealed record Hello(uint Version, Guid Identity, long Generation, Guid Instance, string Brick, byte[] ClientNonce, uint Features = 0);
    public sealed record Challenge(byte[] ServerNonce, bool SecretRequired);
    /// <param name="Proof">The client's HMAC proof of the secret, or empty.</param>
    /// <param name="ResumeToken">The token of the session this client had (from its Welcome), or empty.</param>
    public sealed record Auth(byte[] Proof, byte[] ResumeToken);
    /// <param name="ResumeToken">Issued with an accepted session (empty on a refusal); never logged.</param>
    /// <param name="Reason">Why a refusal was made, for the client to show (empty when accepted).</param>
    /// <param name="Features">What the brick grants of the Hello's features; sent only when not 0 (never to a client that asked for none).</param>
    public sealed record Welcome(Errno Error, bool Resumed, byte[] ServerProof, byte[] ResumeToken, string Reason, uint Features = 0)
    {
        public static Welcome Refusal(Errno e, string reason) => new(e, false, [], [], reason);
    }

    public static void Write(BodyWriter w, Hello h)
    {
        w.U32(h.Version);
        Span<byte> g = stackalloc byte[16];
        h.Identity.TryWriteBytes(g);
        w.Raw(g); w.I64(h.Generation);
        h.Instance.TryWriteBytes(g);
        w.Raw(g); w.String(h.Brick); w.Raw(h.ClientNonce);
        if (h.Features != 0) w.U32(h.Features);
    }

    public static Hello? ReadHello(ReadOnlyMemory<byte> body)
    {
        var r = new BodyReader(body);
        var v = r.U32();
        var g = r.Raw(16);
        var id = r.Failed ? Guid.Empty : new Guid(g);
        var gen = r.I64();
        var gi = r.Raw(16);
        var inst = r.Failed ? Guid.Empty : new Guid(gi);
        var brick = r.RequiredString();
        var nonce = r.Raw(NonceSize).ToArray();
        uint features = r.Remaining == 4 ? r.U32() : 0;
        return r.Ok && brick.Length > 0 ? new Hello(v, id, gen, inst, brick, nonce, features) : null;
    }

    public static void Write(BodyWriter w, Challenge c) { w.Raw(c.ServerNonce); w.Bool(c.SecretRequired); }

    public static Challenge? ReadChallenge(ReadOnlyMemory<byte> body)
    {
        var r = new BodyReader(body);
        var nonce = r.Raw(NonceSize).ToArray();
        var req = r.Bool();
        return r.Ok ? new Challenge(nonce, req) : null;
    }

    /// <summary>Auth body: u8 proof length (0 or 32), the proof, u8 token length (0 or 32), the resume token.</summary>
    public static void Write(BodyWriter w, Auth a)
    {
        w.U8((byte)a.Proof.Length); w.Raw(a.Proof);
        w.U8((byte)a.ResumeToken.Length); w.Raw(a.ResumeToken);
    }

    public static Auth? ReadAuth(ReadOnlyMemory<byte> body)
    {
        var r = new BodyReader(body);
        var proof = Sized(ref r, ProofSize);
        var token = Sized(ref r, TokenSize);
        return r.Ok ? new Auth(proof, token) : null;
    }

    public static void Write(BodyWriter w, Welcome m)
    {
        w.I32((int)m.Error); w.Bool(m.Resumed);
        w.U8((byte)m.ServerProof.Length); w.Raw(m.ServerProof);
        w.U8((byte)m.ResumeToken.Length); w.Raw(m.ResumeToken);
        var reason = m.Reason;
        while (Encoding.UTF8.GetByteCount(reason) > MaxReason) reason = reason[..^1];
        w.String(reason);
        if (m.Features != 0) w.U32(m.Features);
    }

    public static Welcome? ReadWelcome(ReadOnlyMemory<byte> body)
    {
        var r = new BodyReader(body);
        var e = (Errno)r.I32(); var resumed = r.Bool();
        var proof = Sized(ref r, ProofSize);
        var token = Sized(ref r, TokenSize);
        var reason = r.RequiredString();
        uint features = r.Remaining == 4 ? r.U32() : 0;
        return r.Ok && Encoding.UTF8.GetByteCount(reason) <= MaxReason ? new Welcome(e, resumed, proof, token, reason, features) : null;
    }

    /// <summary>u8 length (0 or <paramref name="size"/>) then that many bytes.</summary>
    private static byte[] Sized(ref BodyReader r, int size)
    {
        int n = r.U8();
        if (n is not 0 && n != size) { r.Fail(); return []; }
        return r.Raw(n).ToArray();
    }

    public static byte[] NewNonce() => RandomNumberGenerator.GetBytes(NonceSize);
    public static byte[] NewToken() => RandomNumberGenerator.GetBytes(TokenSize);

    /// <summary>
    /// HMAC-SHA256 over a role label, both nonces and the client's identity. The label differs for
    /// the two directions, so the server's proof cannot be reflected back as the client's.
    /// </summary>
    public static byte[] Proof(byte[] secret, string role, Hello hello, byte[] serverNonce)
    {
        var w = new BodyWriter();
        w.Raw(Encoding.ASCII.GetBytes(role));
        w.Raw(hello.ClientNonce); w.Raw(serverNonce);
        Span<byte> g = stackalloc byte[16];
        hello.Identity.TryWriteBytes(g);
        w.Raw(g); w.I64(hello.Generation);
        hello.Instance.TryWriteBytes(g);
        w.Raw(g); w.String(hello.Brick);
        var mac = HMACSHA256.HashData(secret, w.Written);
        w.Reset();
        return mac;
    }

    public const string ClientRole = "graft-client-v1", ServerRole = "graft-server-v1";

    /// <summary>Constant-time comparison, for proofs and resume tokens (an empty <paramref name="given"/> never matches).</summary>
    public static bool ProofMatches(byte[] expected, ReadOnlySpan<byte> given) =>
        given.Length == expected.Length && given.Length > 0 && CryptographicOperations.FixedTimeEquals(expected, given);

    /// <summary>Reads a secret file: its text with surrounding whitespace trimmed, as UTF-8 bytes.</summary>
    public static byte[] LoadSecret(string path)
    {
        var s = File.ReadAllText(path).Trim();
        if (s.Length == 0) throw new ArgumentException($"secret file '{path}' is empty");
        return Encoding.UTF8.GetBytes(s);
    }
}
