using Graft.Core;
using Graft.Fuse.Bridge;
using Graft.Fuse.Raw;
using Graft.Mount;
using Graft.Xlators.Storage.Posix;

namespace Graft.Fuse.Tests;

/// <summary>A storage/posix brick on a private directory, a mount session on it, and the bridge mounted through
/// /dev/fuse. Dispose unmounts, ends the session and removes the directories.</summary>
sealed class BridgeMount : IAsyncDisposable
{
    public string Root { get; }
    public string Brick => Path.Combine(Root, "brick");
    public string Dir => Path.Combine(Root, "mnt");
    public MountSession Session { get; }
    public FuseSession Fuse { get; }

    BridgeMount(string root, MountSession session, FuseSession fuse)
    {
        Root = root;
        Session = session;
        Fuse = fuse;
    }

    /// <param name="locks">Put features/locks above storage/posix, as on a brick, so lock requests are arbitrated
    /// between lock owners rather than by the brick's own OS locks.</param>
    /// <param name="options">The session's options (e.g. a registry, so that volfiles can switch it to new graphs).</param>
    public static async Task<BridgeMount> StartAsync(FuseBridgeOptions? bridgeOptions = null, bool defaultPermissions = true, bool locks = false,
        MountOptions? options = null)
    {
        string root = Path.Combine(TestMount.PrivateTemp(), "bridge-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path.Combine(root, "brick"));
        Directory.CreateDirectory(Path.Combine(root, "mnt"));
        var posix = (PosixTranslator.Spec, "posix", (IReadOnlyDictionary<string, string>?)new Dictionary<string, string> { ["directory"] = Path.Combine(root, "brick") });
        var graph = locks
            ? Graph.Linear(1, posix, (Graft.Xlators.Features.Locks.LocksTranslator.Spec, "locks", new Dictionary<string, string> { ["lock-grace"] = "0" }))
            : Graph.Linear(1, posix);
        Assert.True(await graph.StartAndWaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None), "brick graph did not come up");
        var session = new MountSession(graph, options);
        var fuse = await FuseSession.MountAsync(Path.Combine(root, "mnt"), new FuseBridge(session, bridgeOptions),
            new FuseMountOptions { AllowOther = true, DefaultPermissions = defaultPermissions });
        if (!fuse.Ok)
        {
            await session.DisposeAsync();
            Directory.Delete(root, true);
            throw new InvalidOperationException($"mount failed: {fuse.Error}");
        }
        return new BridgeMount(root, session, fuse.Value);
    }

    public string P(string name) => Path.Combine(Dir, name);

    public async Task<T> Io<T>(Func<T> body, double seconds = 30)
    {
        var task = Task.Run(body);
        try { return await task.WaitAsync(TimeSpan.FromSeconds(seconds)); }
        catch (TimeoutException)
        {
            Fuse.Abort();
            throw;
        }
    }

    public Task Io(Action body, double seconds = 30) => Io(() => { body(); return 0; }, seconds);

    public async ValueTask DisposeAsync()
    {
        Fuse.Dispose();
        if (FuseMount.FindDevice(Dir) is not null) FuseMount.Unmount(Dir);
        await Session.DisposeAsync();
        try { Directory.Delete(Root, true); } catch (IOException) { }
    }
}
