using Graft.Core;
using Graft.Xlators.Storage.Posix;
using FileMode = Graft.Core.PosixMode;

namespace Graft.Xlators.Tests.Posix;

/// <summary>storage/posix as a graph member: registration, configuration, events.</summary>
public sealed class PosixGraphTests
{
    [PosixFact]
    public void It_is_registered_as_a_leaf_with_a_required_directory()
    {
        var spec = BuiltinXlators.CreateRegistry().Find("storage/posix");
        Assert.NotNull(spec);
        Assert.Equal(0, spec.MinChildren);
        Assert.Equal(0, spec.MaxChildren);
        var dir = spec.FindOption("directory");
        Assert.True(dir!.Required);
        Assert.Equal(OptionKind.Path, dir.Kind);
        Assert.Equal("1024", spec.FindOption("dir-fd-cache-size")!.Default);
    }

    [PosixFact]
    public async Task A_missing_brick_directory_or_option_is_a_configuration_error()
    {
        var g = Graph.Linear(1, (PosixTranslator.Spec, "posix", new Dictionary<string, string> { ["directory"] = "/nonexistent/graft/brick" }));
        await Assert.ThrowsAsync<InvalidOperationException>(() => g.InitAsync(CancellationToken.None));
        var none = Graph.Linear(1, (PosixTranslator.Spec, "posix", new Dictionary<string, string>()));
        await Assert.ThrowsAsync<InvalidOperationException>(() => none.InitAsync(CancellationToken.None));
    }

    [PosixFact]
    public async Task It_reports_child_up_and_answers_parent_down()
    {
        var temp = PosixBrick.NewTempDir();
        try
        {
            var g = Graph.Linear(1, (PosixTranslator.Spec, "posix", new Dictionary<string, string> { ["directory"] = temp }));
            Assert.True(await g.StartAndWaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None));
            g.SendParentDown();
            await g.ParentDownHandled.WaitAsync(TimeSpan.FromSeconds(10));
            await g.DestroyAsync();
        }
        finally { PosixBrick.RemoveTree(temp); }
    }

    [PosixFact]
    public async Task Special_files_are_made_but_never_opened_on_the_brick()
    {
        await using var b = await PosixBrick.StartAsync();
        var root = PosixBrick.Root;
        var fifo = await b.Xl.MknodAsync(root, Loc.Child(Gfid.Root, "fifo"), FileMode.S_IFIFO | 0x1B6, 0, 0, Gfid.NewGfid());
        var dev = await b.Xl.MknodAsync(root, Loc.Child(Gfid.Root, "null"), FileMode.S_IFCHR | 0x1B6, (1 << 8) | 3, 0, Gfid.NewGfid());
        Assert.True(fifo.Ok && dev.Ok);
        Assert.Equal(FileMode.S_IFCHR, dev.Value.Type);
        Assert.Equal((ulong)((1 << 8) | 3), dev.Value.Rdev);
        var fd = b.NewFd(fifo.Value.Gfid, FileMode.S_IFIFO, OpenFlags.O_RDONLY);
        Assert.Equal(Errno.ENXIO, await b.Xl.OpenAsync(root, Loc.Nameless(fifo.Value.Gfid), OpenFlags.O_RDONLY, fd)); // and does not hang
        Assert.Equal(Errno.ENXIO, await b.Xl.OpenAsync(root, Loc.Child(Gfid.Root, "null"), OpenFlags.O_RDWR, fd));
        var cfd = b.NewFd(Gfid.NewGfid(), FileMode.S_IFREG, OpenFlags.O_RDONLY);
        Assert.Equal(Errno.ENXIO, (await b.Xl.CreateAsync(root, Loc.Child(Gfid.Root, "fifo"), OpenFlags.O_CREAT, 0x1A4, 0, cfd.Inode.Gfid, cfd)).Error);
        // A non-root caller cannot make device nodes at all (the kernel's CAP_MKNOD rule).
        var pub = await b.PublicDirOk();
        Assert.True((await b.Xl.MknodAsync(PosixBrick.User, Loc.Child(pub.Gfid, "p"), FileMode.S_IFIFO | 0x1A4, 0, 0, Gfid.NewGfid())).Ok);
        Assert.Equal(Errno.EPERM, (await b.Xl.MknodAsync(PosixBrick.User, Loc.Child(pub.Gfid, "n"), FileMode.S_IFCHR | 0x1B6, (1 << 8) | 3, 0, Gfid.NewGfid())).Error);
    }
}
