using System.Collections.Concurrent;
using Graft.Core;
using Graft.Xlators.Cluster.Replicate;

namespace Graft.Xlators.Tests.Replicate;

/// <summary>
/// A copy for replicate that answers at once on the caller's thread, except a call it was told to hold, and records
/// on which managed thread each write, lock and fsync reached it: a continuation that ran inline reaches it on the
/// thread that let the held call go.
/// </summary>
internal sealed class ThreadLeaf : Translator
{
    public static readonly XlatorSpec Spec = new("test/thread-leaf", () => new ThreadLeaf(), [], "test leaf") { MinChildren = 0, MaxChildren = 0 };

    /// <summary>"writev@OFFSET", "lock", "unlock", "setattr": the thread of the latest such call.</summary>
    public readonly ConcurrentDictionary<string, int> Seen = new();
    private readonly ConcurrentDictionary<string, (TaskCompletionSource Gate, Errno Then)> _holds = new();
    /// <summary>Every xattrop (a pre-op, post-op or blame made alone): the counter's name and its data delta.</summary>
    public readonly ConcurrentQueue<(string Name, long Data)> Xattrops = new();

    /// <summary>
    /// The next call named <paramref name="what"/> waits until the returned source is completed (by the test), then
    /// answers <paramref name="then"/> (a write: its error, as a copy cut off meanwhile answers ENOTCONN).
    /// </summary>
    public TaskCompletionSource Hold(string what, Errno then = Errno.OK) => (_holds[what] = (new TaskCompletionSource(), then)).Gate;

    public Task Arrived(string what) => Proc(() => Seen.ContainsKey(what));

    private static async Task Proc(Func<bool> cond)
    {
        var end = DateTime.UtcNow.AddSeconds(10);
        while (!cond())
        {
            if (DateTime.UtcNow > end) throw new TimeoutException("a call did not reach the leaf in 10 s");
            await Task.Delay(5);
        }
    }

    private async ValueTask<Errno> Pass(string what)
    {
        Seen[what] = Environment.CurrentManagedThreadId;
        if (!_holds.TryRemove(what, out var h)) return Errno.OK;
        await h.Gate.Task.WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        Seen[what] = Environment.CurrentManagedThreadId; // where it goes on: the thread that let it go
        return h.Then;
    }

    public override ValueTask<Errno> OpenAsync(FopContext ctx, Loc loc, int flags, Fd fd) => new(Errno.OK);

    public override async ValueTask<Result<int>> WritevAsync(FopContext ctx, Fd fd, ReadOnlyMemory<byte> data, long offset)
    {
        var e = await Pass("writev@" + offset).ConfigureAwait(false);
        return e == Errno.OK ? data.Length : e;
    }

    public override async ValueTask<Result<byte[]>> InodeLkXattropAsync(FopContext ctx, Loc loc, string domain, DomainLockCmd cmd, LockType type, long start, long length,
                                                                        string? name, ReadOnlyMemory<byte> deltas)
    {
        await Pass(cmd == DomainLockCmd.Unlock ? "unlock" : "lock").ConfigureAwait(false);
        return new byte[Pending.Width];
    }

    public override async ValueTask<Result<Iatt>> FsetattrAsync(FopContext ctx, Fd fd, SetAttr attr)
    {
        await Pass("setattr").ConfigureAwait(false);
        return new Iatt { Gfid = fd.Inode.Gfid, Mode = PosixMode.S_IFREG | 0x1A4 };
    }

    public override ValueTask<Result<byte[]>> XattropAsync(FopContext ctx, Loc loc, string name, ReadOnlyMemory<byte> deltas)
    {
        Xattrops.Enqueue((name, Pending.Read(deltas.ToArray(), Pending.Data)));
        return new(new byte[Pending.Width]);
    }

    public override ValueTask<Errno> InodeLkAsync(FopContext ctx, Loc loc, string domain, DomainLockCmd cmd, LockType type, long start, long length) => new(Errno.OK);
    public override ValueTask<Errno> FsyncAsync(FopContext ctx, Fd fd, bool dataOnly) => new(Errno.OK);
    public override ValueTask ReleaseAsync(Fd fd) => ValueTask.CompletedTask;
}

/// <summary>
/// replicate's waits hand their waiters on by the waiter's context: a write that joins a window while it opens, a
/// close (fsync) that waits for the window's writes in flight, and a transaction that waits for the file's mutex go on
/// on the thread where what they waited for ended when their context says ContinueInline (the FUSE bridge's), and on
/// the thread pool when it does not (a library caller's). The held call is let go from a thread of the test's own,
/// which the pool never uses, so "on that thread" means inline.
/// </summary>
public class AWindowsWaitersGoOnWhereTheirContextAllows
{
    private static FopContext Ctx(bool inline) => new() { ContinueInline = inline };

    private static async Task<(Graph G, ReplicateTranslator Afr, ThreadLeaf[] Leaves, Fd Fd)> BuildAsync()
    {
        var registry = new XlatorRegistry().Register(ThreadLeaf.Spec).Register(ReplicateTranslator.Spec);
        var text = string.Concat(Enumerable.Range(0, 3).Select(i => $"volume b{i}\n    type test/thread-leaf\nend-volume\n"))
                   + "volume afr\n    type cluster/replicate\n    option post-op-delay 30s\n    subvolumes b0 b1 b2\nend-volume\n";
        var g = GraphBuilder.Build(text, "afr.vol", registry, 1);
        var afr = (ReplicateTranslator)g.Top;
        await g.InitAsync(CancellationToken.None);
        Assert.True(await g.StartAndWaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None));
        var inode = g.Inodes.Link(Gfid.Root, "f", new Iatt { Gfid = Gfid.NewGfid(), Mode = PosixMode.S_IFREG });
        afr.StateOf(inode).Judged = true; // made here: nothing to read from the copies first
        var fd = new Fd(inode, OpenFlags.O_RDWR);
        Assert.Equal(Errno.OK, await afr.OpenAsync(Ctx(false), Loc.Of(inode), OpenFlags.O_RDWR, fd));
        return (g, afr, [.. afr.Children.Cast<ThreadLeaf>()], fd);
    }

    /// <summary>Lets <paramref name="held"/> go from a new thread (not the pool's); that thread's managed id.</summary>
    private static int LetGoFromOwnThread(TaskCompletionSource held)
    {
        int id = 0;
        var t = new Thread(() => { id = Environment.CurrentManagedThreadId; held.SetResult(); }) { IsBackground = true };
        t.Start();
        Assert.True(t.Join(TimeSpan.FromSeconds(10)));
        return id;
    }

    [Fact]
    public async Task Writes_that_join_an_opening_window_go_on_where_it_opened_only_when_their_context_says_so()
    {
        var (_, afr, leaves, fd) = await BuildAsync();
        var held = leaves[0].Hold("lock"); // the window's lock + pre-op on b0
        var opener = afr.WritevAsync(Ctx(false), fd, new byte[4096], 0).AsTask();
        await leaves[0].Arrived("lock");
        var inline = afr.WritevAsync(Ctx(true), fd, new byte[4096], 4096).AsTask();
        var pool = afr.WritevAsync(Ctx(false), fd, new byte[4096], 8192).AsTask();
        Assert.False(inline.IsCompleted || pool.IsCompleted); // both wait for the opening window

        int t = LetGoFromOwnThread(held);
        await Task.WhenAll(opener, inline, pool).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(1, afr.PreOps); // both joined the window the first one opened
        foreach (var l in leaves)
        {
            Assert.Equal(t, l.Seen["writev@4096"]);     // sent from the thread the opening ended on
            Assert.NotEqual(t, l.Seen["writev@8192"]);  // handed to the pool
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_close_waiting_for_the_windows_last_write_makes_its_post_op_where_that_write_ended_only_when_inline(bool inline)
    {
        var (_, afr, leaves, fd) = await BuildAsync();
        Assert.Equal(4096, (await afr.WritevAsync(Ctx(false), fd, new byte[4096], 0)).Value); // opens the window
        var held = leaves[1].Hold("writev@4096");
        var write = afr.WritevAsync(Ctx(false), fd, new byte[4096], 4096).AsTask();
        await leaves[1].Arrived("writev@4096");
        var fsync = afr.FsyncAsync(Ctx(inline), fd, false).AsTask();
        Assert.False(fsync.IsCompleted); // the window's post-op waits for the write in flight

        int t = LetGoFromOwnThread(held);
        Assert.Equal(Errno.OK, await fsync.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(4096, (await write).Value);
        foreach (var l in leaves)
        {
            if (inline) Assert.Equal(t, l.Seen["unlock"]); // the post-op + unlock went out from the thread the write ended on
            else Assert.NotEqual(t, l.Seen["unlock"]);
        }
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_transaction_waiting_for_the_files_mutex_goes_on_where_it_is_let_go_only_when_inline(bool inline)
    {
        var (_, afr, leaves, fd) = await BuildAsync();
        var held = leaves[2].Hold("setattr");
        var first = afr.FsetattrAsync(Ctx(false), fd, new SetAttr { Valid = SetAttrValid.Mode, Mode = 0x1ED }).AsTask();
        await leaves[2].Arrived("setattr");
        leaves[0].Seen.TryRemove("lock", out _);
        var second = afr.FsetattrAsync(Ctx(inline), fd, new SetAttr { Valid = SetAttrValid.Mode, Mode = 0x1A4 }).AsTask();
        Assert.False(second.IsCompleted); // it waits for this client's mutex on the file
        Assert.False(leaves[0].Seen.ContainsKey("lock"));

        int t = LetGoFromOwnThread(held);
        await Task.WhenAll(first, second).WaitAsync(TimeSpan.FromSeconds(10));
        // The first's unlock and its mutex's release ran on the thread its setattr ended on; the second's lock then
        // went out from there, or from the pool.
        if (inline) Assert.Equal(t, leaves[0].Seen["lock"]);
        else Assert.NotEqual(t, leaves[0].Seen["lock"]);
    }

    [Fact]
    public async Task A_copy_whose_write_fails_in_flight_while_an_inline_close_waits_is_blamed_at_the_post_op()
    {
        var (_, afr, leaves, fd) = await BuildAsync();
        Assert.Equal(4096, (await afr.WritevAsync(Ctx(true), fd, new byte[4096], 0)).Value); // opens the window
        var held = leaves[1].Hold("writev@4096", Errno.ENOTCONN); // b1 is cut off with this write in flight
        var write = afr.WritevAsync(Ctx(true), fd, new byte[4096], 4096).AsTask();
        await leaves[1].Arrived("writev@4096");
        var fsync = afr.FsyncAsync(Ctx(true), fd, false).AsTask();
        Assert.False(fsync.IsCompleted);

        LetGoFromOwnThread(held);
        Assert.Equal(Errno.OK, await fsync.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal(4096, (await write).Value); // two copies of three made it: acknowledged
        // The post-op, made once the failed write was counted: b0 and b2 blame b1 first, then take their own count
        // off; b1 keeps its own count (it blames itself), and nothing clears it.
        foreach (var good in new[] { 0, 2 })
        {
            var x = leaves[good].Xattrops.ToArray();
            Assert.Contains((Pending.NameFor("b1"), 1L), x);
            Assert.Contains((Pending.NameFor("b" + good), -1L), x);
            Assert.True(Array.IndexOf(x, (Pending.NameFor("b1"), 1L)) < Array.IndexOf(x, (Pending.NameFor("b" + good), -1L)), "blame before the clear");
        }
        Assert.DoesNotContain(leaves[1].Xattrops, e => e.Data < 0);
        Assert.NotEqual(0u, Volatile.Read(ref afr.StateOf(fd.Inode).Bad) & 2u); // reads avoid b1 from now on
    }
}
