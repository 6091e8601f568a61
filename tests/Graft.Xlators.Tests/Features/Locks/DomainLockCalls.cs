using Graft.Core;

namespace Graft.Xlators.Tests.Features.Locks;

/// <summary>inodelk and entrylk calls on a <see cref="LocksHarness"/>, reading like the calls replicate makes.</summary>
internal static class DomainLockCalls
{
    public static FopContext Ctx(Proc p, Guid session = default, CancellationToken ct = default) =>
        new() { MountId = p.Mount, LockOwner = p.Owner, Pid = p.Pid, Session = session, Cancellation = ct };

    public static Task<Errno> Inodelk(this LocksHarness h, Proc p, string domain, DomainLockCmd cmd, LockType type, long start = 0, long length = 0,
                                      Guid session = default, CancellationToken ct = default, Gfid? file = null) =>
        h.Locks.InodeLkAsync(Ctx(p, session, ct), Loc.Nameless(file ?? h.File), domain, cmd, type, start, length).AsTask();

    public static Task<Errno> Entrylk(this LocksHarness h, Proc p, string domain, string? name, DomainLockCmd cmd, LockType type,
                                      Guid session = default, CancellationToken ct = default) =>
        h.Locks.EntryLkAsync(Ctx(p, session, ct), Loc.Nameless(h.File), domain, name, cmd, type).AsTask();

    /// <summary>Waits (bounded) until <paramref name="n"/> domain lock requests are queued.</summary>
    public static async Task WaitingAsync(this LocksHarness h, int n)
    {
        var until = DateTime.UtcNow + LocksHarness.Bound;
        while (h.Locks.Counts.DomainWaiting != n)
        {
            Assert.True(DateTime.UtcNow < until, $"{h.Locks.Counts.DomainWaiting} domain lock request(s) waiting, expected {n}");
            await Task.Delay(5);
        }
    }
}
