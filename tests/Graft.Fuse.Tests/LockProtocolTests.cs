using System.Runtime.InteropServices;
using Graft.Core;
using Graft.Fuse.Bridge;
using Graft.Fuse.Raw;

namespace Graft.Fuse.Tests;

/// <summary>A filesystem that records lock requests and answers them as told.</summary>
sealed class LockProbeFs : IFuseFileSystem
{
    public FuseInitFlags LockCapabilities { get; init; } = FuseInitFlags.PosixLocks | FuseInitFlags.FlockLocks;
    public readonly List<(FuseOpcode Op, FuseLkIn Args, bool Wait, uint Pid)> Seen = [];
    public FuseFileLock Answer;

    public ValueTask GetLk(FuseRequest r, FuseLkIn args)
    {
        lock (Seen) Seen.Add((r.Opcode, args, false, r.Pid));
        r.ReplyLock(Answer);
        return default;
    }

    public ValueTask SetLk(FuseRequest r, FuseLkIn args, bool wait)
    {
        lock (Seen) Seen.Add((r.Opcode, args, wait, r.Pid));
        r.ReplyOk();
        return default;
    }
}

/// <summary>POSIX_LOCKS and FLOCK_LOCKS are asked for exactly when the filesystem serves them.</summary>
public class LockNegotiation
{
    static FuseInitFlags Agreed(FuseInitOut o) => (FuseInitFlags)(o.Flags | ((ulong)o.Flags2 << 32));

    [Fact]
    public void A_filesystem_that_serves_locks_gets_POSIX_LOCKS_and_FLOCK_LOCKS()
    {
        using var k = new FakeKernel(new LockProbeFs());
        var flags = Agreed(k.Init());
        Assert.True(flags.HasFlag(FuseInitFlags.PosixLocks));
        Assert.True(flags.HasFlag(FuseInitFlags.FlockLocks));
    }

    [Fact]
    public void The_bridge_serves_both_kinds()
        => Assert.Equal(FuseInitFlags.PosixLocks | FuseInitFlags.FlockLocks, ((IFuseFileSystem)new FuseBridge(null!)).LockCapabilities);

    [Fact]
    public void Flock_only_is_asked_for_alone_and_a_filesystem_without_locks_gets_neither()
    {
        using (var k = new FakeKernel(new LockProbeFs { LockCapabilities = FuseInitFlags.FlockLocks }))
        {
            var flags = Agreed(k.Init());
            Assert.False(flags.HasFlag(FuseInitFlags.PosixLocks));
            Assert.True(flags.HasFlag(FuseInitFlags.FlockLocks));
        }
        using (var k = new FakeKernel(new MemoryFs()))
        {
            var flags = Agreed(k.Init());
            Assert.False(flags.HasFlag(FuseInitFlags.PosixLocks) || flags.HasFlag(FuseInitFlags.FlockLocks));
        }
    }
}

/// <summary>GETLK, SETLK and SETLKW are parsed from fuse_lk_in and GETLK answers a 24-byte fuse_lk_out.</summary>
public class LockRequestParsing
{
    static byte[] LkIn(ulong fh, ulong owner, ulong start, ulong end, uint type, uint pid, uint flags)
    {
        var a = new FuseLkIn { Fh = fh, Owner = owner, Lk = new FuseFileLock { Start = start, End = end, Type = type, Pid = pid }, LkFlags = flags };
        return MemoryMarshal.AsBytes(new ReadOnlySpan<FuseLkIn>(in a)).ToArray();
    }

    [Fact]
    public void SETLK_and_SETLKW_reach_the_filesystem_with_every_field_and_the_wait_flag()
    {
        var fs = new LockProbeFs();
        using var k = new FakeKernel(fs);
        k.Init();
        ulong u1 = k.Send(FuseOpcode.SetLk, LkIn(7, 0xDEADBEEF_00C0FFEE, 10, 19, FuseConst.FWrlck, 4242, 0), nodeId: 5, pid: 4242);
        var h = k.ReceiveOk();
        Assert.Equal((u1, 0, 16u), (h.Unique, h.Error, h.Len));
        ulong u2 = k.Send(FuseOpcode.SetLkW, LkIn(8, 99, 0, FuseConst.OffsetMax, FuseConst.FRdlck, 17, FuseConst.LkFlock), nodeId: 5);
        Assert.Equal(u2, k.ReceiveOk().Unique);
        lock (fs.Seen)
        {
            Assert.Equal(2, fs.Seen.Count);
            var (op, a, wait, pid) = fs.Seen[0];
            Assert.Equal((FuseOpcode.SetLk, false, 4242u), (op, wait, pid));
            Assert.Equal((7ul, 0xDEADBEEF_00C0FFEEul, 10ul, 19ul, FuseConst.FWrlck, 4242u, 0u),
                (a.Fh, a.Owner, a.Lk.Start, a.Lk.End, a.Lk.Type, a.Lk.Pid, a.LkFlags));
            (op, a, wait, _) = fs.Seen[1];
            Assert.Equal((FuseOpcode.SetLkW, true), (op, wait));
            Assert.Equal((8ul, 99ul, FuseConst.OffsetMax, FuseConst.FRdlck, FuseConst.LkFlock), (a.Fh, a.Owner, a.Lk.End, a.Lk.Type, a.LkFlags));
        }
    }

    [Fact]
    public void GETLK_answers_the_lock_in_a_fuse_lk_out()
    {
        var fs = new LockProbeFs { Answer = new FuseFileLock { Start = 100, End = 149, Type = FuseConst.FWrlck, Pid = 777 } };
        using var k = new FakeKernel(fs);
        k.Init();
        ulong u = k.Send(FuseOpcode.GetLk, LkIn(3, 1, 0, FuseConst.OffsetMax, FuseConst.FRdlck, 0, 0), nodeId: 5);
        var (h, body) = k.Receive()!.Value;
        Assert.Equal((u, 0, 16u + 24), (h.Unique, h.Error, h.Len));
        var o = MemoryMarshal.Read<FuseLkOut>(body);
        Assert.Equal((100ul, 149ul, FuseConst.FWrlck, 777u), (o.Lk.Start, o.Lk.End, o.Lk.Type, o.Lk.Pid));
    }
}

/// <summary>The kernel's inclusive ranges (End = OFFSET_MAX: to end of file) convert to Start/Length (0: to end of
/// file) and back without losing the "to end of file" meaning or overflowing.</summary>
public class LockRangeConversion
{
    static FuseLkIn In(ulong start, ulong end, uint type = 1, uint flags = 0) =>
        new() { Owner = 5, Lk = new FuseFileLock { Start = start, End = end, Type = type, Pid = 9 }, LkFlags = flags };

    [Fact]
    public void Inclusive_end_becomes_a_length()
    {
        var lk = FuseBridge.ToFileLock(In(10, 19))!.Value;
        Assert.Equal((LockType.Write, 10L, 10L, 9, 5ul, false), (lk.Type, lk.Start, lk.Length, lk.Pid, lk.Owner, lk.Flock));
        Assert.Equal(1L, FuseBridge.ToFileLock(In(0, 0))!.Value.Length);
    }

    [Fact]
    public void OFFSET_MAX_is_to_end_of_file_and_back()
    {
        var lk = FuseBridge.ToFileLock(In(200, FuseConst.OffsetMax, type: 0))!.Value;
        Assert.Equal((LockType.Read, 200L, 0L), (lk.Type, lk.Start, lk.Length));
        var back = FuseBridge.ToFuseLock(lk);
        Assert.Equal((200ul, FuseConst.OffsetMax, FuseConst.FRdlck), (back.Start, back.End, back.Type));
        // A range that ends one byte short of OFFSET_MAX is a real length, not "to end of file".
        Assert.Equal(long.MaxValue, FuseBridge.ToFileLock(In(0, FuseConst.OffsetMax - 1))!.Value.Length);
    }

    [Fact]
    public void FUSE_LK_FLOCK_marks_a_flock()
        => Assert.True(FuseBridge.ToFileLock(In(0, FuseConst.OffsetMax, flags: FuseConst.LkFlock))!.Value.Flock);

    [Fact]
    public void Ranges_the_kernel_never_sends_are_refused()
    {
        Assert.Null(FuseBridge.ToFileLock(In(20, 10)));
        Assert.Null(FuseBridge.ToFileLock(In(FuseConst.OffsetMax + 1, FuseConst.OffsetMax + 1)));
        Assert.Null(FuseBridge.ToFileLock(In(0, 10, type: 3)));
    }

    [Fact]
    public void Answers_never_end_past_OFFSET_MAX_or_before_their_start()
    {
        var big = FuseBridge.ToFuseLock(new FileLock { Type = LockType.Write, Start = long.MaxValue - 5, Length = 100, Pid = 3 });
        Assert.Equal((ulong)(long.MaxValue - 5), big.Start);
        Assert.Equal(FuseConst.OffsetMax, big.End);
        var negative = FuseBridge.ToFuseLock(new FileLock { Type = LockType.Read, Start = 100, Length = -10 });
        Assert.Equal((90ul, 99ul), (negative.Start, negative.End));
        var free = FuseBridge.ToFuseLock(new FileLock { Type = LockType.Unlock, Start = 5, Length = 5 });
        Assert.Equal(FuseConst.FUnlck, free.Type);
        Assert.Equal(49ul, FuseBridge.ToFuseLock(new FileLock { Type = LockType.Write, Start = 0, Length = 50 }).End);
    }
}

/// <summary>FUSE_NOTIFY_INVAL_INODE goes out as an unsolicited message (unique 0, code 2 in the error field) from
/// the thread pool, and is a harmless no-op once the connection is closed.</summary>
public class InvalInodeNotification
{
    [Fact]
    public async Task It_is_unique_0_error_2_with_nodeid_offset_and_length()
    {
        using var k = new FakeKernel(new MemoryFs());
        k.Init();
        Assert.Equal(Errno.OK, await k.Session.NotifyInvalInodeAsync(42, 4096, 8192).Within());
        var (h, body) = k.Receive()!.Value;
        Assert.Equal((0ul, FuseConst.NotifyInvalInode, 16u + 24), (h.Unique, h.Error, h.Len));
        var o = MemoryMarshal.Read<FuseNotifyInvalInodeOut>(body);
        Assert.Equal((42ul, 4096L, 8192L), (o.Ino, o.Off, o.Len));
    }

    [Fact]
    public async Task After_the_connection_is_closed_it_writes_nothing_and_says_ENODEV()
    {
        var k = new FakeKernel(new MemoryFs());
        k.Init();
        k.Dispose(); // the kernel side goes away, the session stops and closes its fds (whose numbers may be reused)
        Assert.Equal(Errno.ENODEV, await k.Session.NotifyInvalInodeAsync(1).Within());
    }
}
