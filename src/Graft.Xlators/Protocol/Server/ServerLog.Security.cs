using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Protocol.Server;

// The brick's security log lines: every refusal carries how many of its kind there have been, so a
// scan or a flood shows in the log without one line per attempt having to be counted by hand.
internal static partial class ServerLog
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "refusing {Peer}: {Why} ({Count} so far)")]
    public static partial void RefusingCounted(this ILogger log, string peer, string why, long count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "out of file descriptors ({Why}); pausing accepts for {DelayMs} ms ({Count} pauses so far)")]
    public static partial void AcceptBackingOff(this ILogger log, string why, long delayMs, long count);

    [LoggerMessage(Level = LogLevel.Information, Message = "client {Peer} ({Key}) is {Principal}, {Trust}")]
    public static partial void Trust(this ILogger log, string peer, string key, string principal, string trust);

    [LoggerMessage(Level = LogLevel.Warning, Message = "listening on {Address} with neither a secret nor TLS (allow-insecure): anyone who reaches the port may act as any non-root user here")]
    public static partial void InsecureListen(this ILogger log, string address);
}
