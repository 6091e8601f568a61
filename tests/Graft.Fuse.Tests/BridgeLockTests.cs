using System.Diagnostics;
using System.Runtime.InteropServices;
using Graft.Core;
using Graft.Fuse.Bridge;
using Graft.Fuse.Raw;
using Graft.Mount;
using Graft.Xlators.Features.Locks;
using Graft.Xlators.Storage.Posix;

namespace Graft.Fuse.Tests;

/// <summary>The bridge over features/locks + storage/posix, driven by a fake kernel: exact lock requests in, exact
/// replies and notifications out.</summary>
sealed class LockBridge : IAsyncDisposable
{
    readonly string _root;
    readonly MountSession _session;
    public FakeKernel K { get; }

    LockBridge(string root, MountSession session)
    {
        _root = root;
        _session = session;
        K = new FakeKernel(new FuseBridge(session));
        K.Init();
    }

    public static async Task<LockBridge> StartAsync()
    {
        string root = Path.Combine(TestMount.PrivateTemp(), "lk-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(root);
        var graph = Graph.Linear(1,
            (PosixTranslator.Spec, "posix", new Dictionary<string, string> { ["directory"] = root }),
            (LocksTranslator.Spec, "locks", new Dictionary<string, string> { ["lock-grace"] = "0" })); // a fresh brick: nothing to reclaim
        Assert.True(await graph.StartAndWaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None));
        return new LockBridge(root, new MountSession(graph));
    }

    /// <summary>Creates (first time) or opens NAME read-write: its nodeid and a new fh.</summary>
    public (ulong Node, ulong Fh) Open(string name)
    {
        var args = new byte[16 + name.Length + 1];
        var c = new FuseCreateIn { Flags = 2 | 0x40 /* O_RDWR|O_CREAT */, Mode = 0x81A4 };
        MemoryMarshal.Write(args, in c);
        System.Text.Encoding.UTF8.GetBytes(name).CopyTo(args, 16);
        K.Send(FuseOpcode.Create, args);
        var (h, body) = K.Receive() ?? throw new TimeoutException("no CREATE reply");
        Assert.Equal(0, h.Error);
        return (MemoryMarshal.Read<FuseEntryOut>(body).NodeId, MemoryMarshal.Read<FuseOpenOut>(body.AsSpan(128)).Fh);
    }

    public ulong Send(FuseOpcode op, (ulong Node, ulong Fh) f, ulong owner, ulong start, ulong end, uint type, uint pid = 1000, bool flock = false)
    {
        var a = new FuseLkIn
        {
            Fh = f.Fh, Owner = owner, LkFlags = flock ? FuseConst.LkFlock : 0,
            Lk = new FuseFileLock { Start = start, End = end, Type = type, Pid = op == FuseOpcode.GetLk ? 0 : pid },
        };
        return K.Send(op, MemoryMarshal.AsBytes(new ReadOnlySpan<FuseLkIn>(in a)), nodeId: f.Node, pid: pid);
    }

    /// <summary>The next message, which must answer <paramref name="unique"/>; returns its errno.</summary>
    public Errno Answer(ulong unique)
    {
        var (h, _) = K.Receive() ?? throw new TimeoutException($"no reply to {unique}");
        Assert.Equal(unique, h.Unique);
        return (Errno)(-h.Error);
    }

    /// <summary>The next message must be INVAL_INODE for <paramref name="node"/> (whole file), then the answer to
    /// <paramref name="unique"/>: granted.</summary>
    public void Granted(ulong unique, ulong node)
    {
        var (h, body) = K.Receive() ?? throw new TimeoutException("no notification");
        Assert.Equal((0ul, FuseConst.NotifyInvalInode), (h.Unique, h.Error));
        var o = MemoryMarshal.Read<FuseNotifyInvalInodeOut>(body);
        Assert.Equal((node, 0L, 0L), (o.Ino, o.Off, o.Len));
        Assert.Equal(Errno.OK, Answer(unique));
    }

    public void Flush((ulong Node, ulong Fh) f, ulong owner) =>
        Assert.Equal(Errno.OK, Answer(K.Send(FuseOpcode.Flush, new FuseFlushIn { Fh = f.Fh, LockOwner = owner }, nodeId: f.Node)));

    public void Release((ulong Node, ulong Fh) f, uint releaseFlags = 0, ulong owner = 0) =>
        Assert.Equal(Errno.OK, Answer(K.Send(FuseOpcode.Release, new FuseReleaseIn { Fh = f.Fh, Flags = 2, ReleaseFlags = releaseFlags, LockOwner = owner }, nodeId: f.Node)));

    public async ValueTask DisposeAsync()
    {
        K.Dispose();
        await _session.DisposeAsync();
        try { Directory.Delete(_root, true); } catch (IOException) { }
    }
}

/// <summary>A lock grant drops the kernel's cached pages and attributes of the file before it is answered; an
/// unlock or a refusal drops nothing.</summary>
public class LockGrantInvalidation
{
    [Fact]
    public async Task A_granted_lock_invalidates_the_whole_inode_before_the_reply()
    {
        await using var b = await LockBridge.StartAsync();
        var f = b.Open("f");
        b.Granted(b.Send(FuseOpcode.SetLk, f, owner: 1, 0, 9, FuseConst.FWrlck), f.Node);
        b.Granted(b.Send(FuseOpcode.SetLk, f, owner: 1, 0, 9, FuseConst.FRdlck), f.Node); // a downgrade is a grant too
        b.Granted(b.Send(FuseOpcode.SetLkW, f, owner: 2, 0, FuseConst.OffsetMax, FuseConst.FWrlck, flock: true), f.Node);
    }

    [Fact]
    public async Task An_unlock_and_a_refused_lock_invalidate_nothing()
    {
        await using var b = await LockBridge.StartAsync();
        var f = b.Open("f");
        b.Granted(b.Send(FuseOpcode.SetLk, f, owner: 1, 0, 9, FuseConst.FWrlck), f.Node);
        Assert.Equal(Errno.EAGAIN, b.Answer(b.Send(FuseOpcode.SetLk, f, owner: 2, 5, 5, FuseConst.FRdlck)));
        Assert.Equal(Errno.OK, b.Answer(b.Send(FuseOpcode.SetLk, f, owner: 1, 0, 9, FuseConst.FUnlck)));
        Assert.Null(b.K.Receive(200));
    }
}

/// <summary>GETLK, SETLK and SETLKW through the bridge: ranges, owners, flock and waiting as the kernel sends them.</summary>
public class LockRequestsThroughTheBridge
{
    [Fact]
    public async Task GETLK_reports_the_holders_range_type_and_pid_with_an_inclusive_end()
    {
        await using var b = await LockBridge.StartAsync();
        var f = b.Open("f");
        b.Granted(b.Send(FuseOpcode.SetLk, f, owner: 1, 100, 149, FuseConst.FWrlck, pid: 4242), f.Node);
        b.Granted(b.Send(FuseOpcode.SetLk, f, owner: 1, 200, FuseConst.OffsetMax, FuseConst.FRdlck, pid: 4242), f.Node);
        var u = b.Send(FuseOpcode.GetLk, f, owner: 2, 0, FuseConst.OffsetMax, FuseConst.FRdlck);
        var (h, body) = b.K.Receive()!.Value;
        Assert.Equal((u, 0), (h.Unique, h.Error));
        var lk = MemoryMarshal.Read<FuseLkOut>(body).Lk;
        Assert.Equal((100ul, 149ul, FuseConst.FWrlck, 4242u), (lk.Start, lk.End, lk.Type, lk.Pid));
        u = b.Send(FuseOpcode.GetLk, f, owner: 2, 150, FuseConst.OffsetMax, FuseConst.FWrlck);
        (h, body) = b.K.Receive()!.Value;
        lk = MemoryMarshal.Read<FuseLkOut>(body).Lk;
        Assert.Equal((200ul, FuseConst.OffsetMax, FuseConst.FRdlck, 4242u), (lk.Start, lk.End, lk.Type, lk.Pid));
        // The holder itself conflicts with nothing it holds.
        u = b.Send(FuseOpcode.GetLk, f, owner: 1, 0, FuseConst.OffsetMax, FuseConst.FWrlck);
        (h, body) = b.K.Receive()!.Value;
        Assert.Equal(FuseConst.FUnlck, MemoryMarshal.Read<FuseLkOut>(body).Lk.Type);
    }

    [Fact]
    public async Task An_interrupted_SETLKW_answers_EINTR_and_never_gets_the_lock()
    {
        await using var b = await LockBridge.StartAsync();
        var f = b.Open("f");
        b.Granted(b.Send(FuseOpcode.SetLk, f, owner: 1, 0, 9, FuseConst.FWrlck), f.Node);
        var waiting = b.Send(FuseOpcode.SetLkW, f, owner: 2, 0, 9, FuseConst.FWrlck);
        Assert.Null(b.K.Receive(200)); // it waits
        b.K.Send(FuseOpcode.Interrupt, new FuseInterruptIn { Unique = waiting }, unique: waiting | FuseConst.IntReqBit);
        Assert.Equal(Errno.EINTR, b.Answer(waiting));
        Assert.Equal(Errno.OK, b.Answer(b.Send(FuseOpcode.SetLk, f, owner: 1, 0, 9, FuseConst.FUnlck)));
        // Nothing was left queued for owner 2: the range is free for a third owner at once.
        b.Granted(b.Send(FuseOpcode.SetLk, f, owner: 3, 0, 9, FuseConst.FWrlck), f.Node);
    }

    [Fact]
    public async Task A_waiting_SETLKW_is_granted_when_the_holder_unlocks()
    {
        await using var b = await LockBridge.StartAsync();
        var f = b.Open("f");
        b.Granted(b.Send(FuseOpcode.SetLk, f, owner: 1, 0, 9, FuseConst.FWrlck), f.Node);
        var waiting = b.Send(FuseOpcode.SetLkW, f, owner: 2, 5, 14, FuseConst.FWrlck);
        Assert.Null(b.K.Receive(200));
        var unlock = b.Send(FuseOpcode.SetLk, f, owner: 1, 0, 9, FuseConst.FUnlck);
        // Two answers in either order: the unlock's, and the grant (notification first, then its answer).
        var seen = new List<(ulong Unique, int Error)>();
        for (int i = 0; i < 3; i++)
        {
            var (h, _) = b.K.Receive() ?? throw new TimeoutException("missing message");
            seen.Add((h.Unique, h.Error));
        }
        Assert.Contains((unlock, 0), seen);
        Assert.Contains((waiting, 0), seen);
        Assert.True(seen.FindIndex(m => m.Unique == 0) < seen.FindIndex(m => m.Unique == waiting), "invalidated before the grant was answered");
    }

    [Fact]
    public async Task FUSE_LK_FLOCK_requests_are_flocks_apart_from_fcntl_locks()
    {
        await using var b = await LockBridge.StartAsync();
        var f = b.Open("f");
        var g = b.Open("f");
        b.Granted(b.Send(FuseOpcode.SetLk, f, owner: 10, 0, FuseConst.OffsetMax, FuseConst.FWrlck, flock: true), f.Node);
        b.Granted(b.Send(FuseOpcode.SetLk, g, owner: 2, 0, FuseConst.OffsetMax, FuseConst.FWrlck), g.Node);
        Assert.Equal(Errno.EAGAIN, b.Answer(b.Send(FuseOpcode.SetLk, g, owner: 11, 0, FuseConst.OffsetMax, FuseConst.FRdlck, flock: true)));
    }
}

/// <summary>RELEASE of an open file unlocks the locks owned by that open file (OFD locks: the kernel never FLUSHes
/// with their owner) and nothing of an owner that closed the file (a process: its FLUSH already did).</summary>
public class OpenFileLocksAtRelease
{
    [Fact]
    public async Task Releasing_an_open_file_unlocks_its_OFD_locks()
    {
        await using var b = await LockBridge.StartAsync();
        var f = b.Open("f");
        var g = b.Open("f");
        const ulong ofd = 0xF11E;
        b.Granted(b.Send(FuseOpcode.SetLk, f, ofd, 0, 99, FuseConst.FWrlck), f.Node);
        b.Flush(f, owner: 0xBEEF); // a process that had the open file too closes its fd: not the OFD owner
        Assert.Equal(Errno.EAGAIN, b.Answer(b.Send(FuseOpcode.SetLk, g, owner: 2, 50, 50, FuseConst.FWrlck)));
        b.Release(f);
        b.Granted(b.Send(FuseOpcode.SetLk, g, owner: 2, 50, 50, FuseConst.FWrlck), g.Node);
    }

    [Fact]
    public async Task Release_keeps_the_locks_of_an_owner_that_closed_the_file_and_locked_again_elsewhere()
    {
        await using var b = await LockBridge.StartAsync();
        var f = b.Open("f");
        var g = b.Open("f");
        const ulong process = 0x5EED;
        b.Granted(b.Send(FuseOpcode.SetLk, f, process, 0, 9, FuseConst.FWrlck), f.Node);
        b.Flush(f, process); // close(fd of f): the process's locks go
        b.Granted(b.Send(FuseOpcode.SetLk, g, process, 0, 9, FuseConst.FWrlck), g.Node);
        b.Release(f);
        Assert.Equal(Errno.EAGAIN, b.Answer(b.Send(FuseOpcode.SetLk, g, owner: 2, 0, 9, FuseConst.FWrlck)));
    }

    [Fact]
    public async Task Releasing_a_file_with_a_flock_frees_it()
    {
        await using var b = await LockBridge.StartAsync();
        var f = b.Open("f");
        var g = b.Open("f");
        b.Granted(b.Send(FuseOpcode.SetLk, f, owner: 0xF, 0, FuseConst.OffsetMax, FuseConst.FWrlck, flock: true), f.Node);
        Assert.Equal(Errno.EAGAIN, b.Answer(b.Send(FuseOpcode.SetLk, g, owner: 0x6, 0, FuseConst.OffsetMax, FuseConst.FWrlck, flock: true)));
        b.Release(f, FuseConst.ReleaseFlockUnlock, owner: 0xF);
        b.Granted(b.Send(FuseOpcode.SetLk, g, owner: 0x6, 0, FuseConst.OffsetMax, FuseConst.FWrlck, flock: true), g.Node);
    }
}

/// <summary>Through the real kernel (a local graph: features/locks over storage/posix, no network): a process
/// killed while blocked in a lock wait gets its SETLKW interrupted and answered, and leaves the queue.</summary>
public class LockWaitsThroughTheKernel
{
    static Process Flock(string args)
    {
        var psi = new ProcessStartInfo("flock") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args.Split(' ')) psi.ArgumentList.Add(a);
        return Process.Start(psi)!;
    }

    static async Task<int> ExitCode(Process p, double seconds = 30)
    {
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(seconds));
        return p.ExitCode;
    }

    [FuseFact]
    public async Task A_waiter_killed_in_SETLKW_is_answered_and_leaves_the_queue()
    {
        await using var m = await BridgeMount.StartAsync(locks: true);
        var f = m.P("f");
        // FileShare.ReadWrite: .NET takes no flock of its own (which would linger until RELEASE reaches the brick).
        await m.Io(() => new FileStream(f, FileMode.CreateNew, FileAccess.Write, FileShare.ReadWrite).Dispose());
        using var holder = Flock($"-s {f} sleep 60");       // shared flock, held for the test
        var sw = Stopwatch.StartNew();
        while (true) // the holder has it once an exclusive request is refused
        {
            using var p = Flock($"-n -x {f} true");
            if (await ExitCode(p) != 0) break;
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), "the holder never got its lock");
            await Task.Delay(20);
        }
        using var waiter = Flock($"-x {f} true");            // exclusive: waits behind the holder (SETLKW)
        // Queued when a new shared request is refused although only a reader holds the file (fair queue).
        sw.Restart();
        while (true)
        {
            using var p = Flock($"-n -s {f} true");
            if (await ExitCode(p) != 0) break;
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), "the exclusive waiter never showed in the queue");
            await Task.Delay(20);
        }
        waiter.Kill();
        Assert.True(await Task.Run(() => waiter.WaitForExit(30_000)), "the killed waiter's SETLKW was never answered");
        sw.Restart();
        while (true) // the waiter's request is gone: readers share with the holder again
        {
            using var p = Flock($"-n -s {f} true");
            if (await ExitCode(p) == 0) break;
            Assert.True(sw.Elapsed < TimeSpan.FromSeconds(30), "the killed waiter's request stayed in the queue");
            await Task.Delay(20);
        }
        holder.Kill();
        await holder.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
    }
}
