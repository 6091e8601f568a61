using Microsoft.Extensions.Logging;

namespace Graft.Xlators.Protocol.Client;

/// <summary>protocol/client's log lines, each naming the translator and the brick it talks to.</summary>
internal static partial class ClientLog
{
    [LoggerMessage(Level = LogLevel.Information, Message = "{Xlator} -> {Host}:{Port}/{Brick}: {Message}")]
    public static partial void Event(this ILogger log, string xlator, string host, int port, string brick, string message);
}
