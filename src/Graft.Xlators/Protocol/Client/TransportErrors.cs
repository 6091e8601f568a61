using Graft.Core;

namespace Graft.Xlators.Protocol.Client;

/// <summary>Ways a call can fail without the brick answering it.</summary>
public enum TransportFailure
{
    /// <summary>No connection is up (never connected, or reconnecting).</summary>
    NotConnected,
    /// <summary>The connection died (reset, EOF, the brick killed) while the call was pending.</summary>
    ConnectionLost,
    /// <summary>No reply within frame-timeout.</summary>
    FrameTimeout,
    /// <summary>The brick stopped answering pings within ping-timeout; the connection was dropped.</summary>
    PingTimeout,
    /// <summary>The brick sent something that is not a valid frame or reply; the connection was dropped.</summary>
    ProtocolError,
    /// <summary>The translator is shutting down (PARENT_DOWN).</summary>
    ShuttingDown,
    /// <summary>The fd was open on a connection that died and could not be reopened on the new one.</summary>
    FdLost,
}

/// <summary>
/// The one table from transport failures to errno. Everything that means "the brick is not
/// reachable" is ENOTCONN, as in GlusterFS, so the translators above treat it as a child that
/// went down; the call was not applied, or its outcome is unknown and it is never resent.
/// </summary>
public static class TransportErrors
{
    public static Errno ToErrno(TransportFailure f) => f switch
    {
        TransportFailure.NotConnected => Errno.ENOTCONN,
        TransportFailure.ConnectionLost => Errno.ENOTCONN,
        TransportFailure.FrameTimeout => Errno.ENOTCONN,
        TransportFailure.PingTimeout => Errno.ENOTCONN,
        TransportFailure.ProtocolError => Errno.ENOTCONN,
        TransportFailure.ShuttingDown => Errno.ENOTCONN,
        TransportFailure.FdLost => Errno.EBADF,
        _ => Errno.EIO,
    };
}
