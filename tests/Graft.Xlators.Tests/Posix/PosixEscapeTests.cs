using Graft.Core;
using FileMode = Graft.Core.PosixMode;

namespace Graft.Xlators.Tests.Posix;

/// <summary>No client request reaches outside the brick: not by name, not by symlink, not by a race.</summary>
public sealed class PosixEscapeTests
{
    private static FopContext Root => PosixBrick.Root;

    private static async Task<(PosixBrick Brick, string Outside)> BrickWithOutsideAsync(int dirCache = 1024)
    {
        var temp = PosixBrick.NewTempDir();
        var outside = Path.Combine(temp, "outside");
        System.IO.Directory.CreateDirectory(outside);
        File.WriteAllText(Path.Combine(outside, "secret"), "secret");
        var b = await PosixBrick.StartAsync(temp: temp, dirCache: dirCache, ownsTemp: true);
        return (b, outside);
    }

    private static void AssertOutsideUntouched(string outside)
    {
        Assert.Equal(["secret"], System.IO.Directory.GetFileSystemEntries(outside).Select(p => Path.GetFileName(p)!).ToArray());
        Assert.Equal("secret", File.ReadAllText(Path.Combine(outside, "secret")));
        Assert.False(XattrProbe.Has(Path.Combine(outside, "secret"), "trusted.graft.gfid"));
        Assert.False(XattrProbe.Has(outside, "trusted.graft.gfid"));
    }

    [PosixTheory]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("")]
    [InlineData("x\0y")]
    [InlineData("/etc")]
    public async Task Names_that_are_not_one_component_are_refused(string name)
    {
        await using var b = await PosixBrick.StartAsync();
        var d = await b.MkdirOk(Gfid.Root, "d");
        Assert.Equal(Errno.EINVAL, (await b.Xl.LookupAsync(Root, Loc.Child(d.Gfid, name))).Error);
        Assert.Equal(Errno.EINVAL, (await b.Xl.MkdirAsync(Root, Loc.Child(d.Gfid, name), 0x1ED, 0, Gfid.NewGfid())).Error);
        var fd = b.NewFd(Gfid.NewGfid(), FileMode.S_IFREG, OpenFlags.O_RDWR);
        Assert.Equal(Errno.EINVAL, (await b.Xl.CreateAsync(Root, Loc.Child(d.Gfid, name), OpenFlags.O_CREAT | OpenFlags.O_RDWR, 0x1A4, 0, fd.Inode.Gfid, fd)).Error);
        Assert.Equal(Errno.EINVAL, (await b.Xl.SymlinkAsync(Root, "t", Loc.Child(d.Gfid, name), 0, Gfid.NewGfid())).Error);
        Assert.Equal(Errno.EINVAL, await b.Xl.UnlinkAsync(Root, Loc.Child(d.Gfid, name)));
        Assert.Equal(Errno.EINVAL, await b.Xl.RmdirAsync(Root, Loc.Child(d.Gfid, name)));
        Assert.Equal(Errno.EINVAL, (await b.Xl.RenameAsync(Root, Loc.Child(Gfid.Root, "d"), Loc.Child(d.Gfid, name), RenameFlags.None)).Error);
        Assert.Equal(Errno.EINVAL, (await b.Xl.LinkAsync(Root, Loc.Nameless(d.Gfid), Loc.Child(Gfid.Root, name))).Error);
        Assert.Equal([".", "..", "d"], System.IO.Directory.GetFileSystemEntries(b.Dir).Select(p => Path.GetFileName(p)!).Append(".").Append("..").Where(n => n != ".graft").Order(StringComparer.Ordinal).ToArray());
    }

    [PosixTheory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task Symlinks_pointing_outside_are_never_followed_as_parents(bool absolute)
    {
        var (b, outside) = await BrickWithOutsideAsync();
        await using var _ = b;
        var target = absolute ? outside : "../outside";
        var s = await b.Xl.SymlinkAsync(Root, target, Loc.Child(Gfid.Root, "evil"), 0, Gfid.NewGfid());
        Assert.True(s.Ok);
        var g = s.Value.Gfid;
        Assert.Equal(Errno.ENOTDIR, (await b.Xl.LookupAsync(Root, Loc.Child(g, "secret"))).Error);
        Assert.Equal(Errno.ENOTDIR, (await b.Xl.MkdirAsync(Root, Loc.Child(g, "x"), 0x1ED, 0, Gfid.NewGfid())).Error);
        var fd = b.NewFd(Gfid.NewGfid(), FileMode.S_IFREG, OpenFlags.O_RDWR);
        Assert.Equal(Errno.ENOTDIR, (await b.Xl.CreateAsync(Root, Loc.Child(g, "x"), OpenFlags.O_CREAT | OpenFlags.O_RDWR, 0x1A4, 0, fd.Inode.Gfid, fd)).Error);
        Assert.Equal(Errno.ENOTDIR, await b.Xl.UnlinkAsync(Root, Loc.Child(g, "secret")));
        Assert.Equal(Errno.ENOTDIR, (await b.Xl.RenameAsync(Root, Loc.Child(g, "secret"), Loc.Child(Gfid.Root, "stolen"), RenameFlags.None)).Error);
        Assert.Equal(Errno.ENOTDIR, await b.Xl.OpendirAsync(Root, Loc.Nameless(g), b.NewFd(g, FileMode.S_IFDIR, 0)));
        AssertOutsideUntouched(outside);
    }

    [PosixFact]
    public async Task Symlinks_to_files_outside_are_acted_on_as_symlinks_never_as_their_targets()
    {
        var (b, outside) = await BrickWithOutsideAsync();
        await using var _ = b;
        var secret = Path.Combine(outside, "secret");
        var s = await b.Xl.SymlinkAsync(Root, secret, Loc.Child(Gfid.Root, "evil"), 0, Gfid.NewGfid());
        var g = s.Value.Gfid;
        var ofd = b.NewFd(g, FileMode.S_IFREG, OpenFlags.O_RDWR);
        Assert.Equal(Errno.ELOOP, await b.Xl.OpenAsync(Root, Loc.Child(Gfid.Root, "evil"), OpenFlags.O_RDWR, ofd));
        Assert.Equal(Errno.ELOOP, await b.Xl.OpenAsync(Root, Loc.Nameless(g), OpenFlags.O_RDWR | OpenFlags.O_TRUNC, ofd));
        var cfd = b.NewFd(Gfid.NewGfid(), FileMode.S_IFREG, OpenFlags.O_RDWR);
        var c = await b.Xl.CreateAsync(Root, Loc.Child(Gfid.Root, "evil"), OpenFlags.O_CREAT | OpenFlags.O_RDWR | OpenFlags.O_TRUNC, 0x1A4, 0, cfd.Inode.Gfid, cfd);
        Assert.False(c.Ok);
        var st = await b.Xl.StatAsync(Root, Loc.Child(Gfid.Root, "evil"));
        Assert.True(st.Value.IsSymlink, "stat does not follow");
        Assert.NotEqual(Errno.OK, (await b.Xl.SetattrAsync(Root, Loc.Nameless(g), new SetAttr { Valid = SetAttrValid.Size, Size = 0 })).Error);
        Assert.NotEqual(Errno.OK, (await b.Xl.SetattrAsync(Root, Loc.Nameless(g), new SetAttr { Valid = SetAttrValid.Mode, Mode = 0x1FF })).Error);
        Assert.NotEqual(Errno.OK, await b.Xl.SetxattrAsync(Root, Loc.Nameless(g), "user.x", "1"u8.ToArray(), 0));
        Assert.True((await b.Xl.SetattrAsync(Root, Loc.Nameless(g), new SetAttr { Valid = SetAttrValid.Mtime, Mtime = new Timespec(1000, 0) })).Ok);
        Assert.True((await b.Xl.LinkAsync(Root, Loc.Nameless(g), Loc.Child(Gfid.Root, "evil2"))).Ok);
        Assert.True((await b.LookupOk(Gfid.Root, "evil2")).IsSymlink, "link makes another name of the symlink itself");
        AssertOutsideUntouched(outside);
        Assert.NotEqual(1000, File.GetLastWriteTimeUtc(secret).Subtract(DateTime.UnixEpoch).TotalSeconds);
        Assert.Equal(0x1A4, (int)File.GetUnixFileMode(secret) & 0x1FF);
    }

    [PosixFact]
    public async Task A_symlink_swapped_in_for_a_directory_during_a_loop_of_calls_never_leads_outside()
    {
        // A small directory cache and churn force the by-GFID walk (the racy path) again and again.
        var (b, outside) = await BrickWithOutsideAsync(dirCache: 16);
        await using var _ = b;
        var d = await b.MkdirOk(Gfid.Root, "d");
        var sub = await b.MkdirOk(d.Gfid, "sub");
        (await b.CreateOk(d.Gfid, "inside")).Fd.Unref();
        var churn = new List<Gfid>();
        for (int i = 0; i < 20; i++) churn.Add((await b.MkdirOk(Gfid.Root, "c" + i)).Gfid);

        string dPath = Path.Combine(b.Dir, "d"), parked = Path.Combine(b.Dir, "d.real");
        using var stop = new CancellationTokenSource();
        int swaps = 0;
        // A dedicated thread: the pool may be busy with other tests' synchronous fops.
        var swapper = Task.Factory.StartNew(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                System.IO.Directory.Move(dPath, parked);
                File.CreateSymbolicLink(dPath, outside);
                File.Delete(dPath);
                System.IO.Directory.Move(parked, dPath);
                Interlocked.Increment(ref swaps);
                Thread.SpinWait(5000); // leave the real directory in place for a moment too (shapes the race; no waiting on it)
            }
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.True(SpinWait.SpinUntil(() => Volatile.Read(ref swaps) > 0 || swapper.IsCompleted, TimeSpan.FromSeconds(30)), "the swapper started");
        int ok = 0, named = 0, iterations = 0;
        try
        {
            int start = Volatile.Read(ref swaps);
            // At least 400 iterations, and until the swapper has made 50 more swaps meanwhile (bounded).
            for (int i = 0; (i < 400 || Volatile.Read(ref swaps) - start < 50) && i < 100_000 && !swapper.IsCompleted; i++)
            {
                var byName = await b.Xl.LookupAsync(Root, Loc.Child(Gfid.Root, "d"));
                iterations++;
                if (byName.Ok)
                {
                    named++;
                    Assert.NotEqual(Errno.OK, (await b.Xl.LookupAsync(Root, Loc.Child(byName.Value.Gfid, "secret"))).Error);
                    if ((await b.Xl.LookupAsync(Root, Loc.Child(byName.Value.Gfid, "inside"))).Ok) ok++;
                    await b.Xl.MkdirAsync(Root, Loc.Child(byName.Value.Gfid, "p" + i), 0x1ED, 0, Gfid.NewGfid());
                }
                foreach (var c in churn) await b.Xl.LookupAsync(Root, Loc.Nameless(c));
                var viaSub = await b.Xl.MkdirAsync(Root, Loc.Child(sub.Gfid, "q" + i), 0x1ED, 0, Gfid.NewGfid());
                Assert.True(viaSub.Ok || viaSub.Error == Errno.ESTALE, viaSub.Error.Name());
                Assert.NotEqual(Errno.OK, (await b.Xl.LookupAsync(Root, Loc.Child(d.Gfid, "secret"))).Error);
            }
        }
        finally
        {
            stop.Cancel();
            await swapper.WaitAsync(TimeSpan.FromSeconds(30));
        }
        Assert.True(swaps >= 50 && iterations >= 400, $"{iterations} iterations, {named} named d, {ok} saw inside, {swaps} swaps");
        // Once the swapping stops, the directory is served normally again, by name and by GFID.
        Assert.Equal(d.Gfid, (await b.LookupOk(Gfid.Root, "d")).Gfid);
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Child(d.Gfid, "inside"))).Ok);
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(sub.Gfid))).Ok);
        AssertOutsideUntouched(outside);
        Assert.DoesNotContain(System.IO.Directory.GetFileSystemEntries(outside), p => Path.GetFileName(p).StartsWith('q') || Path.GetFileName(p).StartsWith('p'));
    }

    [PosixFact]
    public async Task The_private_directory_is_invisible_and_untouchable()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f");
        await b.Release(fd);
        var graft = Loc.Child(Gfid.Root, ".graft");
        Assert.Equal(Errno.ENOENT, (await b.Xl.LookupAsync(Root, graft)).Error);
        Assert.DoesNotContain(await b.ReaddirAll(Gfid.Root, plus: false), e => e.Name == ".graft");
        Assert.DoesNotContain(await b.ReaddirAll(Gfid.Root, plus: true), e => e.Name == ".graft");
        Assert.Equal(Errno.EPERM, (await b.Xl.MkdirAsync(Root, graft, 0x1ED, 0, Gfid.NewGfid())).Error);
        var cfd = b.NewFd(Gfid.NewGfid(), FileMode.S_IFREG, OpenFlags.O_RDWR);
        Assert.Equal(Errno.EPERM, (await b.Xl.CreateAsync(Root, graft, OpenFlags.O_CREAT | OpenFlags.O_RDWR, 0x1A4, 0, cfd.Inode.Gfid, cfd)).Error);
        Assert.Equal(Errno.EPERM, (await b.Xl.SymlinkAsync(Root, "x", graft, 0, Gfid.NewGfid())).Error);
        Assert.Equal(Errno.EPERM, (await b.Xl.MknodAsync(Root, graft, FileMode.S_IFIFO | 0x1A4, 0, 0, Gfid.NewGfid())).Error);
        Assert.Equal(Errno.EPERM, (await b.Xl.LinkAsync(Root, Loc.Nameless(f.Gfid), graft)).Error);
        Assert.Equal(Errno.EPERM, (await b.Xl.RenameAsync(Root, Loc.Child(Gfid.Root, "f"), graft, RenameFlags.None)).Error);
        Assert.Equal(Errno.EPERM, (await b.Xl.RenameAsync(Root, graft, Loc.Child(Gfid.Root, "g"), RenameFlags.None)).Error);
        Assert.Equal(Errno.EPERM, (await b.Xl.RenameAsync(Root, Loc.Child(Gfid.Root, "f"), graft, RenameFlags.Exchange)).Error);
        Assert.Equal(Errno.EPERM, await b.Xl.UnlinkAsync(Root, graft));
        Assert.Equal(Errno.EPERM, await b.Xl.RmdirAsync(Root, graft));
        Assert.Equal(Errno.ENOENT, await b.Xl.SetxattrAsync(Root, graft, "user.x", "1"u8.ToArray(), 0));
        Assert.Equal(Errno.ENOENT, (await b.Xl.SetattrAsync(Root, graft, new SetAttr { Valid = SetAttrValid.Mode, Mode = 0x1FF })).Error);
        Assert.True(System.IO.Directory.Exists(Path.Combine(b.Dir, ".graft", "handles")));
        // Below the root, ".graft" is an ordinary name.
        var d = await b.MkdirOk(Gfid.Root, "d");
        Assert.True((await b.Xl.MkdirAsync(Root, Loc.Child(d.Gfid, ".graft"), 0x1ED, 0, Gfid.NewGfid())).Ok);
    }

    [PosixFact]
    public async Task Internal_xattrs_are_invisible_and_immutable()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f");
        Assert.True(XattrProbe.Has(Path.Combine(b.Dir, "f"), "trusted.graft.gfid"), "the brick did write it");
        var loc = Loc.Nameless(f.Gfid);
        Assert.DoesNotContain((await b.Xl.ListxattrAsync(Root, loc)).Value, n => n.StartsWith("trusted.graft.", StringComparison.Ordinal));
        Assert.DoesNotContain((await b.Xl.FlistxattrAsync(Root, fd)).Value, n => n.StartsWith("trusted.graft.", StringComparison.Ordinal));
        Assert.Equal(Errno.ENODATA, (await b.Xl.GetxattrAsync(Root, loc, "trusted.graft.gfid")).Error);
        Assert.Equal(Errno.ENODATA, (await b.Xl.FgetxattrAsync(Root, fd, "trusted.graft.gfid")).Error);
        Assert.Equal(Errno.EPERM, await b.Xl.SetxattrAsync(Root, loc, "trusted.graft.gfid", new byte[16], 0));
        Assert.Equal(Errno.EPERM, await b.Xl.FsetxattrAsync(Root, fd, "trusted.graft.other", new byte[1], 0));
        Assert.Equal(Errno.EPERM, await b.Xl.RemovexattrAsync(Root, loc, "trusted.graft.gfid"));
        Assert.Equal(Errno.EPERM, await b.Xl.FremovexattrAsync(Root, fd, "trusted.graft.gfid"));
        Assert.Equal(f.Gfid, (await b.Xl.LookupAsync(Root, loc)).Value.Gfid);
        await b.Release(fd);
    }
}
