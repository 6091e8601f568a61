namespace Graft.Core;

/// <summary>
/// Events that travel a graph (GlusterFS's notify). CHILD_* travel up from the bricks;
/// PARENT_* travel down from the top; PARENT_DOWN_HANDLED travels back up once every
/// translator below has finished its own work.
/// </summary>
public enum GraphEvent { ChildUp, ChildDown, ParentUp, ParentDown, ParentDownHandled }
