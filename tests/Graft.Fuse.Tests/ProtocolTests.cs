using System.Runtime.InteropServices;
using System.Text;
using Graft.Core;
using Graft.Fuse.Raw;

namespace Graft.Fuse.Tests;

/// <summary>INIT asks for what we justify and no more, in the layout of the minor the kernel speaks.</summary>
public class InitNegotiation
{
    [Fact]
    public void Modern_kernel_gets_the_full_reply_with_max_write_and_max_pages()
    {
        using var k = new FakeKernel(new MemoryFs());
        var o = k.Init(minor: 45);
        Assert.Equal((7u, 45u), (o.Major, o.Minor));
        Assert.Equal(1024u * 1024, o.MaxWrite);
        Assert.Equal(256, o.MaxPages);
        var flags = (FuseInitFlags)(o.Flags | ((ulong)o.Flags2 << 32));
        Assert.True(flags.HasFlag(FuseInitFlags.AsyncRead | FuseInitFlags.BigWrites | FuseInitFlags.DoReaddirplus
            | FuseInitFlags.ReaddirplusAuto | FuseInitFlags.ParallelDirops | FuseInitFlags.AtomicOTrunc
            | FuseInitFlags.ExportSupport | FuseInitFlags.MaxPages | FuseInitFlags.InitExt | FuseInitFlags.CreateSuppGroup));
        Assert.False(flags.HasFlag(FuseInitFlags.PosixLocks));
        Assert.False(flags.HasFlag(FuseInitFlags.FlockLocks));
        Assert.False(flags.HasFlag(FuseInitFlags.WritebackCache));
        Assert.False(flags.HasFlag(FuseInitFlags.HandleKillprivV2));
    }

    sealed class ClearsSetIdBitsFs : IFuseFileSystem
    {
        public bool HandlesKillPriv => true;
    }

    [Fact]
    public void HANDLE_KILLPRIV_V2_is_asked_for_only_by_a_filesystem_that_clears_set_id_bits_itself()
    {
        // Without it the kernel clears them with a SETATTR of the mode as the writer, which a brick checking
        // permissions refuses to anyone but the owner; with it, the filesystem must do it (storage/posix does).
        using var k = new FakeKernel(new ClearsSetIdBitsFs());
        var o = k.Init(minor: 45);
        Assert.True(((FuseInitFlags)o.Flags).HasFlag(FuseInitFlags.HandleKillprivV2));
    }

    [Fact]
    public void Only_offered_flags_are_accepted()
    {
        using var k = new FakeKernel(new MemoryFs());
        var o = k.Init(minor: 45, offered: FuseInitFlags.AsyncRead | FuseInitFlags.PosixLocks);
        Assert.Equal((uint)FuseInitFlags.AsyncRead, o.Flags);
        Assert.Equal(0u, o.Flags2);
        Assert.Equal(0, o.MaxPages); // MAX_PAGES not offered: the field means nothing
    }

    [Fact]
    public void Minor_22_gets_the_24_byte_init_out()
    {
        using var k = new FakeKernel(new MemoryFs());
        var init = new FuseInitIn { Major = 7, Minor = 22, MaxReadahead = 65536, Flags = (uint)FuseInitFlags.BigWrites };
        k.Send(FuseOpcode.Init, MemoryMarshal.AsBytes(new ReadOnlySpan<FuseInitIn>(in init))[..16]);
        var (h, body) = k.Receive()!.Value;
        Assert.Equal(0, h.Error);
        Assert.Equal(24, body.Length);
        Assert.Equal(22u, BitConverter.ToUInt32(body, 4));
    }

    [Fact]
    public void A_kernel_older_than_7_12_is_refused_with_EPROTO()
    {
        using var k = new FakeKernel(new MemoryFs());
        var init = new FuseInitIn { Major = 7, Minor = 8 };
        k.Send(FuseOpcode.Init, MemoryMarshal.AsBytes(new ReadOnlySpan<FuseInitIn>(in init))[..16]);
        Assert.Equal(-(int)Errno.EPROTO, k.ReceiveOk().Error);
    }
}

/// <summary>Replies: one per request (none for FORGET), ENOSYS only for what we do not implement.</summary>
public class RequestDispatch
{
    [Fact]
    public void Unknown_opcodes_and_STATX_get_a_16_byte_ENOSYS()
    {
        using var k = new FakeKernel(new MemoryFs());
        k.Init();
        foreach (var op in new[] { (FuseOpcode)1000, FuseOpcode.Statx, FuseOpcode.Ioctl, FuseOpcode.SetLk })
        {
            ulong u = k.Send(op, new byte[64]);
            var (h, body) = k.Receive()!.Value;
            Assert.Equal((u, -(int)Errno.ENOSYS, 16u), (h.Unique, h.Error, h.Len));
            Assert.Empty(body);
        }
    }

    [Fact]
    public void FORGET_and_BATCH_FORGET_reach_the_filesystem_without_a_reply()
    {
        var fs = new MemoryFs();
        using var k = new FakeKernel(fs);
        k.Init();
        k.Send(FuseOpcode.Forget, 1ul, nodeId: 1);
        var batch = new byte[8 + 2 * 16];
        BitConverter.TryWriteBytes(batch, 2u);
        BitConverter.TryWriteBytes(batch.AsSpan(8), 1ul);
        BitConverter.TryWriteBytes(batch.AsSpan(24), 1ul);
        k.Send(FuseOpcode.BatchForget, batch);
        ulong u = k.Send(FuseOpcode.GetAttr, new FuseGetattrIn());
        var (h, body) = k.Receive()!.Value;
        Assert.Equal(u, h.Unique); // the first reply is GETATTR's: nothing answered the forgets
        Assert.Equal(104, body.Length);
        Assert.Equal(3, fs.Forgets);
    }

    [Fact]
    public void Names_are_read_after_the_CREATE_args_and_before_the_supplementary_group_extension()
    {
        var fs = new MemoryFs();
        using var k = new FakeKernel(fs);
        k.Init();
        var args = new byte[16 + 8];
        BitConverter.TryWriteBytes(args, 0x41u);            // flags O_CREAT|O_WRONLY
        BitConverter.TryWriteBytes(args.AsSpan(4), 0x81A4u); // mode 0644
        "newfile\0"u8.CopyTo(args.AsSpan(16));
        var ext = new byte[16];                              // fuse_ext_header{16, 32} + nr_groups 1 + gid 4242
        BitConverter.TryWriteBytes(ext, 16u);
        BitConverter.TryWriteBytes(ext.AsSpan(4), FuseConst.ExtGroups);
        BitConverter.TryWriteBytes(ext.AsSpan(8), 1u);
        BitConverter.TryWriteBytes(ext.AsSpan(12), 4242u);
        var probe = new SuppGroupProbe(fs);
        using var k2 = new FakeKernel(probe);
        k2.Init();
        k2.Send(FuseOpcode.Create, args, ext: ext);
        var (h, body) = k2.Receive()!.Value;
        Assert.Equal(0, h.Error);
        Assert.Equal(128 + 16, body.Length);
        Assert.Equal("newfile", probe.Name);
        Assert.Equal(4242u, probe.Group);
    }

    sealed class SuppGroupProbe(MemoryFs inner) : IFuseFileSystem
    {
        public string? Name;
        public uint? Group;
        public ValueTask Create(FuseRequest r, FuseCreateIn args, ReadOnlyMemory<byte> name)
        {
            Name = Encoding.UTF8.GetString(name.Span);
            Group = r.TryGetCreateSuppGroup(out var g) ? g : null;
            return ((IFuseFileSystem)inner).Create(r, args, name);
        }
    }

    [Fact]
    public void A_handler_that_forgets_to_reply_yields_EIO_not_a_hang()
    {
        using var k = new FakeKernel(new SilentFs());
        k.Init();
        ulong u = k.Send(FuseOpcode.GetAttr, new FuseGetattrIn());
        var h = k.ReceiveOk();
        Assert.Equal((u, -(int)Errno.EIO), (h.Unique, h.Error));
    }

    sealed class SilentFs : IFuseFileSystem
    {
        public ValueTask GetAttr(FuseRequest r, FuseGetattrIn args) => default;
    }
}

/// <summary>With Debug on, every request and reply is logged on one line (go-fuse's debug mode).</summary>
public class DebugTrace
{
    sealed class ListLogger : Microsoft.Extensions.Logging.ILogger
    {
        public readonly System.Collections.Concurrent.ConcurrentQueue<string> Lines = new();
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel level) => true;
        public void Log<TState>(Microsoft.Extensions.Logging.LogLevel level, Microsoft.Extensions.Logging.EventId id, TState state,
            Exception? e, Func<TState, Exception?, string> format) => Lines.Enqueue(format(state, e));
    }

    [Fact]
    public void Each_request_and_its_reply_get_a_line()
    {
        var log = new ListLogger();
        using var k = new FakeKernel(new MemoryFs(), new FuseMountOptions { Debug = true }, log);
        k.Init();
        ulong u = k.Send(FuseOpcode.GetAttr, new FuseGetattrIn());
        k.ReceiveOk();
        Assert.Contains(log.Lines, l => l.StartsWith($"<- {u} GetAttr node 1", StringComparison.Ordinal));
        // The reply line is written just after the reply itself: wait for it, with a bound.
        Assert.True(SpinWait.SpinUntil(() => log.Lines.Any(l => l.StartsWith($"-> {u} GetAttr errno 0 (120 bytes)", StringComparison.Ordinal)),
            TimeSpan.FromSeconds(5)), string.Join("\n", log.Lines));
    }
}

/// <summary>INTERRUPT cancels the named request's token; one that overtakes its request is held, then EAGAIN.</summary>
public class InterruptHandling
{
    sealed class WaitingFs : IFuseFileSystem
    {
        public readonly TaskCompletionSource Started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public async ValueTask GetAttr(FuseRequest r, FuseGetattrIn args)
        {
            Started.TrySetResult();
            try
            {
                await Task.Delay(TimeSpan.FromSeconds(20), r.CancellationToken);
                r.ReplyError(Errno.ETIMEDOUT);
            }
            catch (OperationCanceledException)
            {
                r.ReplyError(Errno.EINTR);
            }
        }
    }

    [Fact]
    public async Task INTERRUPT_of_a_waiting_request_cancels_its_token()
    {
        var fs = new WaitingFs();
        using var k = new FakeKernel(fs);
        k.Init();
        ulong u = k.Send(FuseOpcode.GetAttr, new FuseGetattrIn());
        await fs.Started.Task.WaitAsync(TimeSpan.FromSeconds(5));
        k.Send(FuseOpcode.Interrupt, new FuseInterruptIn { Unique = u }, unique: u | FuseConst.IntReqBit);
        var h = k.ReceiveOk();
        Assert.Equal((u, -(int)Errno.EINTR), (h.Unique, h.Error)); // and no reply to the INTERRUPT itself
        Assert.Null(k.Receive(200));
    }

    [Fact]
    public void An_INTERRUPT_that_overtakes_its_request_still_cancels_it()
    {
        var fs = new WaitingFs();
        using var k = new FakeKernel(fs);
        k.Init();
        ulong u = k.NextUnique();
        k.Send(FuseOpcode.Interrupt, new FuseInterruptIn { Unique = u }, unique: u | FuseConst.IntReqBit);
        k.Send(FuseOpcode.GetAttr, new FuseGetattrIn(), unique: u);
        var h = k.ReceiveOk();
        Assert.Equal((u, -(int)Errno.EINTR), (h.Unique, h.Error));
    }

    [Fact]
    public void An_INTERRUPT_for_an_unknown_request_is_answered_EAGAIN_after_the_hold()
    {
        using var k = new FakeKernel(new MemoryFs(), new FuseMountOptions { InterruptHold = TimeSpan.FromMilliseconds(20) });
        k.Init();
        ulong target = k.NextUnique();
        k.Send(FuseOpcode.Interrupt, new FuseInterruptIn { Unique = target }, unique: target | FuseConst.IntReqBit);
        var h = k.ReceiveOk();
        Assert.Equal((target | FuseConst.IntReqBit, -(int)Errno.EAGAIN, 16u), (h.Unique, h.Error, h.Len));
    }
}

/// <summary>The READ path allocates nothing per request once warm.</summary>
[Collection(nameof(AllocationSensitive))]
public class ReadPathAllocations
{
    [Fact]
    public void Ten_thousand_READs_WRITEs_and_GETATTRs_allocate_almost_nothing()
    {
        var fs = new MemoryFs();
        using var k = new FakeKernel(fs);
        k.Init();
        var create = new byte[16 + 2];
        BitConverter.TryWriteBytes(create.AsSpan(4), 0x81A4u);
        "f\0"u8.CopyTo(create.AsSpan(16));
        k.Send(FuseOpcode.Create, create);
        var (_, body) = k.Receive()!.Value;
        ulong fh = BitConverter.ToUInt64(body, 128);
        var wmsg = new byte[40 + 4096];
        var wr = new FuseWriteIn { Fh = fh, Size = 4096 };
        MemoryMarshal.Write(wmsg, in wr);
        k.Send(FuseOpcode.Write, wmsg, nodeId: fh);
        k.ReceiveOk();

        var wmsgFull = new byte[40 + 40 + 4096];
        var gmsg = new byte[56];
        var read = new FuseReadIn { Fh = fh, Size = 4096 };
        var msg = new byte[80];
        var reply = new byte[8192];
        void RoundTrip(ulong unique)
        {
            var h = new FuseInHeader { Len = 80, Opcode = (uint)FuseOpcode.Read, Unique = unique, NodeId = fh };
            MemoryMarshal.Write(msg, in h);
            MemoryMarshal.Write(msg.AsSpan(40), in read);
            k.SendRaw(msg);
            if (k.ReceiveInto(reply) != 16 + 4096) throw new InvalidOperationException("bad READ reply");
        }
        void WriteTrip(ulong unique)
        {
            var h = new FuseInHeader { Len = (uint)wmsg.Length + 40, Opcode = (uint)FuseOpcode.Write, Unique = unique, NodeId = fh };
            var full = wmsgFull;
            MemoryMarshal.Write(full, in h);
            MemoryMarshal.Write(full.AsSpan(40), in wr);
            k.SendRaw(full);
            if (k.ReceiveInto(reply) != 16 + 8) throw new InvalidOperationException("bad WRITE reply");
        }
        void GetattrTrip(ulong unique)
        {
            var h = new FuseInHeader { Len = 56, Opcode = (uint)FuseOpcode.GetAttr, Unique = unique, NodeId = fh };
            MemoryMarshal.Write(gmsg, in h);
            k.SendRaw(gmsg);
            if (k.ReceiveInto(reply) != 16 + 104) throw new InvalidOperationException("bad GETATTR reply");
        }
        void Trip(ulong u) { RoundTrip(u); WriteTrip(u + 2); GetattrTrip(u + 4); }
        for (int i = 0; i < 1000; i++) Trip(1_000_000 + (ulong)i * 6); // warm up pools and JIT
        // The process's count: the least of up to three windows is the path's own (see BridgeHotPathAllocations).
        var perRequest = new List<long>();
        for (int w = 0; w < 3 && (perRequest.Count == 0 || perRequest.Min() >= 16); w++)
        {
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int i = 0; i < 10_000; i++) Trip(2_000_000 + (ulong)(w * 10_000 + i) * 6);
            perRequest.Add((GC.GetTotalAllocatedBytes(precise: true) - before) / 30_000);
        }
        Assert.True(perRequest.Min() < 16, $"bytes allocated per request in each window: {string.Join(", ", perRequest)}");
    }
}

[CollectionDefinition(nameof(AllocationSensitive), DisableParallelization = true)]
public class AllocationSensitive;
