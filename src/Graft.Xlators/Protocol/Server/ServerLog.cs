using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Protocol.Server;

/// <summary>The brick's protocol log lines, each with the peer (and session key) they concern.</summary>
internal static partial class ServerLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "client {Peer} ({Key}) connected to {Brick}, session {SessionState} with {Fds} fd(s)")]
    public static partial void Connected(this ILogger log, string peer, string key, string brick, string sessionState, int fds);

    [LoggerMessage(Level = LogLevel.Information, Message = "connection from {Peer} ended: {Error}")]
    public static partial void Ended(this ILogger log, string peer, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "connection from {Peer} failed")]
    public static partial void Failed(this ILogger log, Exception e, string peer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "closing connection from {Peer}: {Why}")]
    public static partial void Closing(this ILogger log, string peer, string why);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Op} from {Peer} failed")]
    public static partial void FopFailed(this ILogger log, Exception e, Wire.FopOp op, string peer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "accept failed: {Error}")]
    public static partial void AcceptFailed(this ILogger log, System.Net.Sockets.SocketError error);

    [LoggerMessage(Level = LogLevel.Information, Message = "client {Peer} ({Key}) disconnected uncleanly; keeping {Fds} fd(s) for {Grace}")]
    public static partial void KeepingForGrace(this ILogger log, string peer, string key, int fds, TimeSpan grace);

    [LoggerMessage(Level = LogLevel.Information, Message = "client {Peer} ({Key}): {Why}, released {Count} fd(s)")]
    public static partial void Released(this ILogger log, string peer, string key, string why, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "mount {Mount:N} is gone (its last session, from {Peer}, ended): its locks are released")]
    public static partial void MountGone(this ILogger log, string peer, Guid mount);

    [LoggerMessage(Level = LogLevel.Error, Message = "releasing the locks of mount {Mount:N} failed")]
    public static partial void MountReleaseFailed(this ILogger log, Exception e, Guid mount);

    [LoggerMessage(Level = LogLevel.Warning, Message = "client {Peer} ({Key}) reached a limit: {What} past {Option} {Max} refused with {Errno} ({Total} refused so far; this line at most once per 10 s)")]
    public static partial void LimitReached(this ILogger log, string peer, string key, string what, string option, long max, string errno, long total);

    [LoggerMessage(Level = LogLevel.Error, Message = "release of {Fd} failed")]
    public static partial void ReleaseFailed(this ILogger log, Exception e, Graft.Core.Fd fd);
}
