using Graft.Core;

namespace Graft.Xlators.Storage.Posix.Native;

/// <summary>
/// Per-thread filesystem credentials. The brick runs as root; around a caller's syscalls it
/// takes on the caller's fsuid, fsgid and supplementary groups with the raw syscalls, which
/// act on the calling thread only (glibc's setgroups() would change every thread of the
/// process). Switching fsuid away from 0 also drops the filesystem capabilities
/// (DAC_OVERRIDE, FOWNER, CHOWN, MKNOD, ...), so the kernel judges the call as it would the
/// caller's own; switching back to 0 restores them.
/// </summary>
/// <remarks>
/// Use only in a synchronous scope — no await between <see cref="Enter"/> and Dispose — so
/// the credentials never leak to other work that the thread pool runs on this thread.
/// </remarks>
internal static unsafe class FsCreds
{
    private static uint[] s_rootGroups = [];

    /// <summary>False when the brick does not run as root: then every call runs as the brick's own user.</summary>
    public static bool CanSwitch { get; private set; }

    public static void Init()
    {
        CanSwitch = Libc.geteuid() == 0;
        int n = Libc.getgroups(0, null);
        if (n > 0)
        {
            var g = new uint[n];
            fixed (uint* p = g) n = Libc.getgroups(n, p);
            s_rootGroups = n > 0 ? g[..n] : [];
        }
    }

    /// <summary>The overflow ("nobody") id, for ids the kernel would not take.</summary>
    public const uint Nobody = 65534;
    private const int NgroupsMax = 65536;

    /// <summary>Takes on the caller's identity until the scope is disposed (no-op for root callers).</summary>
    public static Scope Enter(FopContext ctx)
    {
        if (ctx.IsRoot || !CanSwitch) return default;
        var groups = ctx.Groups;
        fixed (uint* p = groups)
        {
            if (Libc.credsyscall2(Libc.SYS_setgroups, Math.Min(groups.Length, NgroupsMax), (long)p) != 0)
                throw new InvalidOperationException($"setgroups failed: errno {System.Runtime.InteropServices.Marshal.GetLastSystemError()}");
        }
        // setfsuid/setfsgid never report failure: they silently keep the old id (root!) for -1 or an
        // id unmapped in our user namespace. Each is called twice; the second returns what is in
        // force, and anything but the caller's id falls back to nobody, or fails closed.
        Set(Libc.SYS_setfsgid, ctx.Gid);
        Set(Libc.SYS_setfsuid, ctx.Uid);
        return new Scope(true);
    }

    private static void Set(long nr, uint id)
    {
        if (id == uint.MaxValue) id = Nobody;
        Libc.credsyscall1(nr, id);
        if ((uint)Libc.credsyscall1(nr, id) == id) return;
        Libc.credsyscall1(nr, Nobody);
        if ((uint)Libc.credsyscall1(nr, Nobody) == Nobody) return;
        Restore();
        throw new InvalidOperationException($"cannot take on id {id} (syscall {nr})");
    }

    private static void Restore()
    {
        Libc.credsyscall1(Libc.SYS_setfsuid, 0);
        Libc.credsyscall1(Libc.SYS_setfsgid, 0);
        var g = s_rootGroups;
        fixed (uint* p = g) Libc.credsyscall2(Libc.SYS_setgroups, g.Length, (long)p);
    }

    public ref struct Scope
    {
        private bool _active;
        internal Scope(bool active) => _active = active;

        public void Dispose()
        {
            if (!_active) return;
            _active = false;
            Restore();
        }
    }
}
