using System.Globalization;
using Graft.Core;
using Graft.Xlators.Protocol.Client;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// One client graph of one mount, over the wire: a protocol/client that presents the mount's
/// identity (option mount-identity, so one test process can be several mounts), with file and lock
/// calls that read like a process making them. Two of these with the same identity and different
/// generations are two graph generations of one mount. Shared (linked) with the end-to-end tests.
/// </summary>
internal sealed class WireMount
{
    private WireMount(Graph graph, Guid identity) { Graph = graph; Identity = identity; }

    public Graph Graph { get; }
    public Guid Identity { get; }
    public ProtocolClient Client => (ProtocolClient)Graph.Top;
    /// <summary>Events that reached the top of this graph, in order.</summary>
    public List<GraphEvent> Events { get; } = [];

    public static async Task<WireMount> ConnectAsync(int port, string brick, Guid identity, long generation = 1,
                                                      Dictionary<string, string>? options = null)
    {
        var o = new Dictionary<string, string>
        {
            ["remote-host"] = "127.0.0.1",
            ["remote-port"] = port.ToString(CultureInfo.InvariantCulture),
            ["remote-subvolume"] = brick,
            ["mount-identity"] = identity.ToString(),
            ["reconnect-min-backoff"] = "20ms",
            ["reconnect-max-backoff"] = "200ms",
            // The test bricks (InProcessBrick, BrickProcess) ask for the test secret unless told otherwise.
            ["secret-file"] = TestSecret.File,
        };
        foreach (var (k, v) in options ?? []) o[k] = v;
        var g = Graph.Linear(generation, (ProtocolClient.Spec, "client", o));
        var m = new WireMount(g, identity);
        g.TopEvent += ev => { lock (m.Events) m.Events.Add(ev); };
        Assert.True(await g.StartAndWaitAsync(TimeSpan.FromSeconds(15), CancellationToken.None), "client did not come up");
        return m;
    }

    /// <summary>A call from process <paramref name="pid"/> with kernel lock owner <paramref name="owner"/> of this mount.</summary>
    public FopContext Ctx(ulong owner = 0, int pid = 0, CancellationToken ct = default)
    {
        var c = FopContext.Root();
        c.MountId = Identity;
        c.LockOwner = owner;
        c.Pid = pid;
        c.Cancellation = ct;
        return c;
    }

    public async Task<(Fd Fd, Gfid Gfid)> CreateAsync(string name)
    {
        var gfid = Gfid.NewGfid();
        var fd = FopScenario.NewFd(Graph.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
        var r = await Graph.Top.CreateAsync(Ctx(), Loc.Child(Gfid.Root, name), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, gfid, fd);
        Assert.True(r.Ok, $"create {name}: {r.Error.Name()}");
        return (fd, gfid);
    }

    public async Task<Fd> OpenAsync(Gfid gfid, int flags = OpenFlags.O_RDWR)
    {
        var fd = FopScenario.NewFd(Graph.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, flags);
        var e = await Graph.Top.OpenAsync(Ctx(), Loc.Nameless(gfid), flags, fd);
        Assert.True(e == Errno.OK, $"open {gfid}: {e.Name()}");
        return fd;
    }

    public static FileLock Range(LockType type, long start, long length, ulong owner, int pid) =>
        new() { Type = type, Start = start, Length = length, Owner = owner, Pid = pid };

    public static FileLock Flock(LockType type, ulong owner, int pid) => new() { Type = type, Owner = owner, Pid = pid, Flock = true };

    public Task<Result<FileLock>> Lk(Fd fd, LockCmd cmd, FileLock lk, CancellationToken ct = default) =>
        Graph.Top.LkAsync(Ctx(lk.Owner, lk.Pid, ct), fd, cmd, lk).AsTask();

    public async Task<Errno> SetLk(Fd fd, FileLock lk) => (await Lk(fd, LockCmd.SetLk, lk)).Error;

    public Task<Result<int>> RebindAsync(Fd from, Fd to) => Graph.Top.RebindLocksAsync(Ctx(), from, to).AsTask();

    public Task ReleaseAsync(Fd fd) => FopScenario.Release(Graph.Top, fd);

    public Task<Errno> FlushAsync(Fd fd, ulong owner) => Graph.Top.FlushAsync(Ctx(owner), fd).AsTask();

    /// <summary>PARENT_DOWN (protocol/client waits for its calls, then says goodbye), then destroy.</summary>
    public async Task StopAsync()
    {
        Graph.SendParentDown();
        await Graph.ParentDownHandled.WaitAsync(TimeSpan.FromSeconds(30));
        await Graph.DestroyAsync();
    }
}
