using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using Graft.Core;
using Graft.Fuse.Raw;
using Microsoft.Extensions.Logging;

namespace Graft.Fuse.Tests;

/// <summary>
/// One bad request costs one request, never the reader thread: a body too short for its opcode, a handler that
/// throws, an exception anywhere while a request is decoded or handled — the request is answered (EINVAL when its
/// lengths do not add up, EIO for an exception; nothing for opcodes that take no reply), the failure is logged
/// once with the opcode, and the next request on the same reader is answered as usual.
/// </summary>
public class MalformedRequestsLeaveTheReaderReading
{
    sealed class ListLogger : ILogger
    {
        public readonly ConcurrentQueue<(LogLevel Level, string Text)> Lines = new();
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel level) => true;
        public void Log<TState>(LogLevel level, EventId id, TState state, Exception? e, Func<TState, Exception?, string> format) =>
            Lines.Enqueue((level, format(state, e)));
        public int ErrorsAbout(ulong unique) => Lines.Count(l => l.Level >= LogLevel.Error && l.Text.Contains($"request {unique} ", StringComparison.Ordinal));
    }

    /// <summary>The reader is alive: a good GETATTR sent now is the next thing answered.</summary>
    static void AssertStillAnswering(FakeKernel k)
    {
        ulong u = k.Send(FuseOpcode.GetAttr, new FuseGetattrIn());
        var reply = k.Receive() ?? throw new Xunit.Sdk.XunitException("no reply to a good GETATTR: the reader is gone");
        Assert.Equal((u, 0), (reply.Header.Unique, reply.Header.Error));
    }

    [Fact]
    public void A_BATCH_FORGET_too_short_for_its_header_is_dropped_without_a_reply()
    {
        var fs = new MemoryFs();
        using var k = new FakeKernel(fs);
        k.Init();
        k.Send(FuseOpcode.BatchForget, new byte[4]);
        AssertStillAnswering(k); // and that GETATTR's reply is the first one: nothing answered the forget
        Assert.Equal(0, fs.Forgets);
    }

    [Fact]
    public void A_BATCH_FORGET_that_claims_more_entries_than_it_carries_forgets_only_those_it_carries()
    {
        var fs = new MemoryFs();
        using var k = new FakeKernel(fs);
        k.Init();
        var batch = new byte[8 + 16];
        BitConverter.TryWriteBytes(batch, 1000u);
        BitConverter.TryWriteBytes(batch.AsSpan(8), 1ul);
        BitConverter.TryWriteBytes(batch.AsSpan(16), 1ul);
        k.Send(FuseOpcode.BatchForget, batch);
        AssertStillAnswering(k);
        Assert.Equal(1, fs.Forgets);
    }

    public static TheoryData<FuseOpcode, int> ShortBodies() => new()
    {
        // Each body is shorter than the fixed struct that comes before the opcode's name or data.
        { FuseOpcode.SetXattr, 4 }, { FuseOpcode.GetXattr, 4 }, { FuseOpcode.Mknod, 8 }, { FuseOpcode.Mkdir, 4 },
        { FuseOpcode.Link, 4 }, { FuseOpcode.Create, 8 }, { FuseOpcode.Rename, 4 }, { FuseOpcode.Rename2, 12 },
    };

    [Theory, MemberData(nameof(ShortBodies))]
    public void A_body_shorter_than_its_opcode_needs_is_refused_with_EINVAL(FuseOpcode op, int length)
    {
        var log = new ListLogger();
        using var k = new FakeKernel(new MemoryFs(), logger: log);
        k.Init();
        ulong u = k.Send(op, new byte[length]);
        var reply = k.Receive() ?? throw new Xunit.Sdk.XunitException($"{op} with {length} bytes got no reply");
        Assert.Equal((u, -(int)Errno.EINVAL, 16u), (reply.Header.Unique, reply.Header.Error, reply.Header.Len));
        AssertStillAnswering(k);
    }

    [Fact]
    public void A_WRITE_whose_size_runs_past_its_body_is_refused_with_EINVAL()
    {
        using var k = new FakeKernel(new MemoryFs());
        k.Init();
        var w = new byte[40 + 10];
        MemoryMarshal.Write(w, new FuseWriteIn { Fh = 1, Size = 100 });
        ulong u = k.Send(FuseOpcode.Write, w);
        var reply = k.Receive()!.Value;
        Assert.Equal((u, -(int)Errno.EINVAL), (reply.Header.Unique, reply.Header.Error));
        AssertStillAnswering(k);
    }

    sealed class ThrowingFs(MemoryFs inner) : IFuseFileSystem
    {
        public ValueTask GetAttr(FuseRequest r, FuseGetattrIn args) =>
            r.NodeId == 7 ? throw new InvalidOperationException("boom before any await") : ((IFuseFileSystem)inner).GetAttr(r, args);

        public async ValueTask Lookup(FuseRequest r, ReadOnlyMemory<byte> name)
        {
            await Task.Yield();
            throw new InvalidOperationException("boom after an await");
        }
    }

    [Fact]
    public void A_handler_that_throws_is_answered_EIO_and_logged_once_with_its_opcode()
    {
        var log = new ListLogger();
        using var k = new FakeKernel(new ThrowingFs(new MemoryFs()), logger: log);
        k.Init();
        ulong sync = k.Send(FuseOpcode.GetAttr, new FuseGetattrIn(), nodeId: 7);
        var h = k.ReceiveOk();
        Assert.Equal((sync, -(int)Errno.EIO), (h.Unique, h.Error));
        ulong async = k.Send(FuseOpcode.Lookup, "name\0"u8);
        h = k.ReceiveOk();
        Assert.Equal((async, -(int)Errno.EIO), (h.Unique, h.Error));
        AssertStillAnswering(k);
        Assert.Equal(1, log.ErrorsAbout(sync));
        Assert.Equal(1, log.ErrorsAbout(async));
        Assert.Contains(log.Lines, l => l.Text.Contains($"request {sync} (GetAttr)", StringComparison.Ordinal));
        Assert.Contains(log.Lines, l => l.Text.Contains($"request {async} (Lookup)", StringComparison.Ordinal));
    }

    sealed class FailingInitFs(MemoryFs inner) : IFuseFileSystem
    {
        public void Initialized(FuseConnectionInfo connection) => throw new InvalidOperationException("cannot start");
        public ValueTask GetAttr(FuseRequest r, FuseGetattrIn args) => ((IFuseFileSystem)inner).GetAttr(r, args);
    }

    [Fact]
    public void An_exception_outside_any_handler_is_answered_EIO_and_the_reader_goes_on()
    {
        // INIT is answered by the session itself, before any handler: the filesystem's Initialized throws there.
        var log = new ListLogger();
        using var k = new FakeKernel(new FailingInitFs(new MemoryFs()), logger: log);
        ulong u = k.Send(FuseOpcode.Init, new FuseInitIn { Major = 7, Minor = 45, MaxReadahead = 128 * 1024 });
        var reply = k.Receive() ?? throw new Xunit.Sdk.XunitException("INIT got no reply: the reader died with it");
        Assert.Equal((u, -(int)Errno.EIO, 16u), (reply.Header.Unique, reply.Header.Error, reply.Header.Len));
        Assert.Equal(1, log.ErrorsAbout(u));
        Assert.Contains(log.Lines, l => l.Text.Contains($"request {u} (Init)", StringComparison.Ordinal));
        AssertStillAnswering(k);
    }
}
