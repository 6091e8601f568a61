using System.Security.Cryptography;
using System.Text;
using Graft.Core;

namespace Graft.Xlators.Protocol.Wire;

/// <summary>
/// The connect-time exchange: Hello → Challenge → Auth → Welcome. The shared secret never
/// travels: each side proves it holds it with an HMAC over both sides' fresh nonces and the
/// client's identity, so a recorded exchange cannot be replayed.
/// </summary>
public static class Handshake
{
    public const uint Version = 1;
    public const int NonceSize = 32, ProofSize = 32;

    /// <param name="Identity">The mount's identity, fixed for the life of the client process.</param>
    /// <param name="Generation">The client graph's generation.</param>
    /// <param name="Instance">This protocol/client instance: with the two above, names the server-side session a reconnect resumes.</param>
    public sealed record Hello(uint Version, Guid Identity, long Generation, Guid Instance, string Brick, byte[] ClientNonce);
    public sealed record Challenge(byte[] ServerNonce, bool SecretRequired);
    public sealed record Welcome(Errno Error, bool Resumed, byte[] ServerProof);

    public static void Write(BodyWriter w, Hello h)
    {
        w.U32(h.Version);
        Span<byte> g = stackalloc byte[16];
        h.Identity.TryWriteBytes(g);
        w.Raw(g); w.I64(h.Generation);
        h.Instance.TryWriteBytes(g);
        w.Raw(g); w.String(h.Brick); w.Raw(h.ClientNonce);
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
        return r.Ok && brick.Length > 0 ? new Hello(v, id, gen, inst, brick, nonce) : null;
    }

    public static void Write(BodyWriter w, Challenge c) { w.Raw(c.ServerNonce); w.Bool(c.SecretRequired); }

    public static Challenge? ReadChallenge(ReadOnlyMemory<byte> body)
    {
        var r = new BodyReader(body);
        var nonce = r.Raw(NonceSize).ToArray();
        var req = r.Bool();
        return r.Ok ? new Challenge(nonce, req) : null;
    }

    /// <summary>Auth body: u8 proof length (0 or 32) then the proof.</summary>
    public static void WriteAuth(BodyWriter w, ReadOnlySpan<byte> proof) { w.U8((byte)proof.Length); w.Raw(proof); }

    public static byte[]? ReadAuth(ReadOnlyMemory<byte> body)
    {
        var r = new BodyReader(body);
        int n = r.U8();
        if (n is not (0 or ProofSize)) return null;
        var p = r.Raw(n).ToArray();
        return r.Ok ? p : null;
    }

    public static void Write(BodyWriter w, Welcome m)
    {
        w.I32((int)m.Error); w.Bool(m.Resumed); w.U8((byte)m.ServerProof.Length); w.Raw(m.ServerProof);
    }

    public static Welcome? ReadWelcome(ReadOnlyMemory<byte> body)
    {
        var r = new BodyReader(body);
        var e = (Errno)r.I32(); var resumed = r.Bool(); int n = r.U8();
        if (n is not (0 or ProofSize)) return null;
        var proof = r.Raw(n).ToArray();
        return r.Ok ? new Welcome(e, resumed, proof) : null;
    }

    public static byte[] NewNonce() => RandomNumberGenerator.GetBytes(NonceSize);

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

    public static bool ProofMatches(byte[] expected, ReadOnlySpan<byte> given) =>
        given.Length == expected.Length && CryptographicOperations.FixedTimeEquals(expected, given);

    /// <summary>Reads a secret file: its text with surrounding whitespace trimmed, as UTF-8 bytes.</summary>
    public static byte[] LoadSecret(string path)
    {
        var s = File.ReadAllText(path).Trim();
        if (s.Length == 0) throw new ArgumentException($"secret file '{path}' is empty");
        return Encoding.UTF8.GetBytes(s);
    }
}
