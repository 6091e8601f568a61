namespace Graft.Core;

/// <summary>
/// Events that travel a graph (GlusterFS's notify). CHILD_* travel up from the bricks;
/// PARENT_* travel down from the top; PARENT_DOWN_HANDLED travels back up once every
/// translator below has finished its own work.
/// CHILD_RESET travels up like CHILD_UP when a child reconnected to a backend that lost this
/// client's state (a restarted brick): its fds were reopened, but the locks held through them
/// must be reclaimed by whoever remembers them (the mount session).
/// </summary>
public enum GraphEvent { ChildUp, ChildDown, ParentUp, ParentDown, ParentDownHandled, ChildReset }
