using System.Buffers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using Graft.Core;
using Graft.Xlators.Protocol.Transport;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Client;

// The transport under the frames: the socket itself, or TLS over it when tls-cert/tls-key/tls-ca
// are given. A TLS handshake that fails is explained, not just reported: the brick's plaintext
// refusal (it does not use TLS) is found among the bytes that broke it, and a brick certificate we
// do not trust is named with the reason.
public sealed partial class ProtocolClient
{
    /// <summary>The frame connection over <paramref name="socket"/>, or null when the TLS handshake failed (recorded as a refusal).</summary>
    private async Task<FrameConnection?> OpenTransportAsync(Socket socket, CancellationToken ct)
    {
        FrameConnection.Tune(socket);
        if (_tls is null) return new FrameConnection(socket, null, _receiveThread);
        // Enough for a plaintext refusal frame (header, errno, and a reason of at most MaxReason bytes).
        var recorder = new RecordingStream(new NetworkStream(socket, ownsSocket: false), FrameHeader.Size + Handshake.MaxBody);
        var ssl = new SslStream(recorder, leaveInnerStreamOpen: false);
        var verdict = new TlsConfig.PeerVerdict();
        try
        {
            await ssl.AuthenticateAsClientAsync(_tls.ClientOptions(_serverName, verdict), ct).ConfigureAwait(false);
            return new FrameConnection(socket, ssl);
        }
        catch (Exception e) when (e is AuthenticationException or IOException)
        {
            ssl.Dispose();
            var (err, why) = ExplainTlsFailure(recorder.Received, verdict, e);
            Refused(err, why);
            return null;
        }
        catch
        {
            ssl.Dispose();
            throw;
        }
    }

    private (Errno, string) ExplainTlsFailure(ReadOnlyMemory<byte> received, TlsConfig.PeerVerdict verdict, Exception e)
    {
        var seq = new ReadOnlySequence<byte>(received);
        if (FrameHeader.TryRead(ref seq, out var h, out var body, out _) && h.Type == FrameType.Welcome
            && Handshake.ReadWelcome(body.ToArray()) is { Error: not Errno.OK } refusal)
            return (refusal.Error, refusal.Reason);
        if (verdict.Problem is { } problem) return (Errno.EACCES, $"the brick's {problem} (tls-ca, tls-server-name '{_serverName}')");
        // A TLS record starts with its content type: 20-23. Anything else is not TLS at all.
        if (received.Length > 0 && received.Span[0] is < 20 or > 23)
            return (Errno.EPROTO, "the brick did not answer in TLS (does it run without --tls-cert?)");
        var inner = e.InnerException is { } i ? $" ({i.Message})" : "";
        return (Errno.EPROTO, $"TLS handshake with the brick failed: {e.Message}{inner}");
    }
}
