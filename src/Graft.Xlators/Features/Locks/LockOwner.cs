using Graft.Core;

namespace Graft.Xlators.Features.Locks;

/// <summary>
/// Who a lock belongs to: the mount (client process) it came from and the lock owner that mount
/// gave it (the kernel's lock_owner). Not an fd and not a graph generation (DESIGN invariant 9):
/// one process's fds on different graphs share an owner, so they never conflict with each other,
/// while the same kernel owner value from two mounts names two different owners.
/// </summary>
public readonly record struct LockOwner(Guid Mount, ulong Owner)
{
    public override string ToString() => $"{Mount:N}/{Owner:x}";
}
