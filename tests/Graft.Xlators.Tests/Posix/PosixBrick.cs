using System.Diagnostics;
using Graft.Core;
using Graft.Xlators.Storage.Posix;
using FileMode = Graft.Core.PosixMode;

namespace Graft.Xlators.Tests.Posix;

/// <summary>A storage/posix graph on a real directory under a private temp dir, with helpers that assert success.</summary>
internal sealed class PosixBrick : IAsyncDisposable
{
    public const uint UserId = 4242;
    public static FopContext Root => FopContext.Root();
    public static FopContext User => FopContext.ForCaller(UserId, UserId);

    private readonly bool _ownsTemp;

    private PosixBrick(string temp, string dir, Graph graph, bool ownsTemp)
    {
        Temp = temp; Dir = dir; Graph = graph; _ownsTemp = ownsTemp;
    }

    /// <summary>The private temp directory (removed on dispose).</summary>
    public string Temp { get; }
    /// <summary>The brick directory.</summary>
    public string Dir { get; }
    public Graph Graph { get; private set; }
    public PosixTranslator Xl => (PosixTranslator)Graph.Top;

    public static string NewTempDir()
    {
        var t = Path.Combine(Path.GetTempPath(), "graft-posix-tests", Guid.NewGuid().ToString("n"));
        System.IO.Directory.CreateDirectory(t);
        return t;
    }

    /// <param name="ownsTemp">Remove <paramref name="temp"/> on dispose even though the caller made it (default: only a temp dir made here).</param>
    public static async Task<PosixBrick> StartAsync(Action<string>? prepare = null, string? temp = null, string? dir = null, int dirCache = 1024,
        bool? ownsTemp = null, string? writebackChunk = null, string? dropBehind = null)
    {
        bool owns = ownsTemp ?? temp is null;
        temp ??= NewTempDir();
        dir ??= Path.Combine(temp, "brick");
        System.IO.Directory.CreateDirectory(dir);
        prepare?.Invoke(dir);
        var graph = await NewGraphAsync(dir, dirCache, writebackChunk, dropBehind);
        return new PosixBrick(temp, dir, graph, owns);
    }

    private static async Task<Graph> NewGraphAsync(string dir, int dirCache, string? writebackChunk = null, string? dropBehind = null)
    {
        var options = new Dictionary<string, string>
        {
            ["directory"] = dir,
            ["dir-fd-cache-size"] = dirCache.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        if (writebackChunk is not null) options["writeback-chunk"] = writebackChunk;
        if (dropBehind is not null) options["drop-behind"] = dropBehind;
        var graph = Graph.Linear(1, (PosixTranslator.Spec, "posix", options));
        await graph.InitAsync(CancellationToken.None);
        return graph;
    }

    /// <summary>Stops this graph and starts a fresh one on the same directory (empty caches, start-up cleanup).</summary>
    public async Task RestartAsync()
    {
        await Graph.DestroyAsync();
        Graph = await NewGraphAsync(Dir, 1024);
    }

    public string HandlePath(Gfid g)
    {
        var s = g.ToString();
        return Path.Combine(Dir, ".graft", "handles", s[..2], s[2..4], s);
    }

    /// <summary>Waits (bounded) until <paramref name="g"/>'s handle is gone: an unlink drops a file's last handle behind its reply.</summary>
    public Task HandleDroppedAsync(Gfid g) =>
        Protocol.ClientGraphs.Until(() => !File.Exists(HandlePath(g)), $"the handle of {g} to be dropped behind its unlink");

    public async Task<Iatt> LookupOk(Gfid parent, string name, FopContext? ctx = null)
    {
        var r = await Xl.LookupAsync(ctx ?? Root, Loc.Child(parent, name));
        Assert.True(r.Ok, $"lookup {name}: {r.Error}");
        return r.Value;
    }

    public async Task<Iatt> MkdirOk(Gfid parent, string name, uint mode = 0x1ED /* 0755 */, FopContext? ctx = null)
    {
        var r = await Xl.MkdirAsync(ctx ?? Root, Loc.Child(parent, name), mode, 0, Gfid.NewGfid());
        Assert.True(r.Ok, $"mkdir {name}: {r.Error}");
        return r.Value;
    }

    /// <summary>A directory everyone may write in (mode 0777), for non-root callers' tests.</summary>
    public async Task<Iatt> PublicDirOk(string name = "pub") => await MkdirOk(Gfid.Root, name, 0x1FF);

    public Fd NewFd(Gfid g, uint type, int flags)
    {
        var inode = Graph.Inodes.Link(Gfid.Zero, null, new Iatt { Gfid = g, Mode = type });
        return new Fd(inode, flags);
    }

    public async Task<(Iatt Iatt, Fd Fd)> CreateOk(Gfid parent, string name, uint mode = 0x1A4 /* 0644 */, FopContext? ctx = null,
        int flags = OpenFlags.O_RDWR, Gfid? gfid = null)
    {
        var g = gfid ?? Gfid.NewGfid();
        var fd = NewFd(g, FileMode.S_IFREG, flags);
        var r = await Xl.CreateAsync(ctx ?? Root, Loc.Child(parent, name), flags | OpenFlags.O_CREAT, mode, 0, g, fd);
        Assert.True(r.Ok, $"create {name}: {r.Error}");
        return (r.Value, fd);
    }

    public async Task<Fd> OpenOk(Loc loc, int flags, FopContext? ctx = null, uint type = FileMode.S_IFREG)
    {
        var fd = NewFd(loc.Gfid.IsZero ? Gfid.NewGfid() : loc.Gfid, type, flags);
        var e = await Xl.OpenAsync(ctx ?? Root, loc, flags, fd);
        Assert.Equal(Errno.OK, e);
        return fd;
    }

    public async Task WriteOk(Fd fd, string text, long offset = 0)
    {
        var data = System.Text.Encoding.UTF8.GetBytes(text);
        var r = await Xl.WritevAsync(Root, fd, data, offset);
        Assert.True(r.Ok, $"write: {r.Error}");
        Assert.Equal(data.Length, r.Value);
    }

    public async Task<string> ReadAll(Fd fd, int max = 1 << 16)
    {
        var buf = new byte[max];
        var r = await Xl.ReadvAsync(Root, fd, buf, 0);
        Assert.True(r.Ok, $"read: {r.Error}");
        return System.Text.Encoding.UTF8.GetString(buf, 0, r.Value);
    }

    public async Task Release(Fd fd)
    {
        if (fd.Unref())
        {
            if (fd.IsDirectory) await Xl.ReleasedirAsync(fd);
            else await Xl.ReleaseAsync(fd);
        }
    }

    public async Task<List<DirEntry>> ReaddirAll(Gfid dir, bool plus, FopContext? ctx = null, int batch = 1000)
    {
        var fd = NewFd(dir, FileMode.S_IFDIR, 0);
        Assert.Equal(Errno.OK, await Xl.OpendirAsync(ctx ?? Root, Loc.Nameless(dir), fd));
        var all = new List<DirEntry>();
        long off = 0;
        for (int i = 0; i < 100_000; i++)
        {
            var r = plus ? await Xl.ReaddirpAsync(ctx ?? Root, fd, off, batch) : await Xl.ReaddirAsync(ctx ?? Root, fd, off, batch);
            Assert.True(r.Ok, $"readdir: {r.Error}");
            if (r.Value.Count == 0) break;
            all.AddRange(r.Value);
            off = r.Value[^1].NextOffset;
        }
        await Release(fd);
        return all;
    }

    public async ValueTask DisposeAsync()
    {
        await Graph.DestroyAsync();
        if (_ownsTemp) RemoveTree(Temp);
    }

    /// <summary>rm -rf copes with trees deeper than PATH_MAX, which Directory.Delete does not.</summary>
    public static void RemoveTree(string path)
    {
        using var p = Process.Start(new ProcessStartInfo("rm", ["-rf", path]) { UseShellExecute = false })!;
        Assert.True(p.WaitForExit(60_000), "rm -rf did not finish");
    }
}
