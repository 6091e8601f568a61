using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace Graft.Management.Protocol;

/// <summary>
/// The control connection's opening, the same challenge idea as the bricks' (docs/wire-protocol.md):
/// <list type="number">
/// <item>daemon → <c>{"hello":"graft-mgmt","version":1,"nonce":N1}</c></item>
/// <item>client → <c>{"nonce":N2,"proof":P|null}</c>, P = HMAC-SHA256(secret, "graft-mgmt-client-v1" · N1 · N2)</item>
/// <item>daemon → <c>{"welcome":true,"authenticated":bool,"proof":Q|null}</c>, Q the same under "graft-mgmt-server-v1"
/// — or <c>{"ok":false,"error":...}</c> and close when a proof was given and is wrong.</item>
/// </list>
/// The secret never travels; both nonces are fresh, so a recorded exchange is worth nothing. A client
/// without the secret (a mount fetching its volfile) gets an unauthenticated session: it may only fetch
/// volfiles of volumes whose auth.allow admits its address.
/// </summary>
public static class Handshake
{
    public const int Version = 1;
    public const int NonceSize = 32;

    public static byte[] NewNonce() => RandomNumberGenerator.GetBytes(NonceSize);

    public static byte[] Proof(byte[] secret, string role, byte[] serverNonce, byte[] clientNonce)
    {
        var label = Encoding.UTF8.GetBytes(role);
        var data = new byte[label.Length + serverNonce.Length + clientNonce.Length];
        label.CopyTo(data, 0);
        serverNonce.CopyTo(data, label.Length);
        clientNonce.CopyTo(data, label.Length + serverNonce.Length);
        return HMACSHA256.HashData(secret, data);
    }

    public const string ClientRole = "graft-mgmt-client-v1", ServerRole = "graft-mgmt-server-v1";

    public static byte[]? Bytes(JsonObject o, string key) =>
        o[key] is JsonValue v && v.TryGetValue<string>(out var s) && s.Length > 0 ? Decode(s) : null;

    private static byte[]? Decode(string s)
    {
        try { return Convert.FromBase64String(s); }
        catch (FormatException) { return null; }
    }

    public static bool Matches(byte[] expected, byte[]? given) =>
        given is not null && CryptographicOperations.FixedTimeEquals(expected, given);

    /// <summary>The cluster secret as the bricks read it (the file's trimmed UTF-8 text).</summary>
    public static byte[] LoadSecret(string path) => Graft.Xlators.Protocol.Wire.Handshake.LoadSecret(path);
}
