using Graft.Core;
using FileMode = Graft.Core.PosixMode;

namespace Graft.Xlators.Tests.Posix;

/// <summary>GFIDs on disk: assignment to data found without one, the handle store, nameless lookup.</summary>
public sealed class PosixGfidTests
{
    private static FopContext Root => PosixBrick.Root;

    [PosixFact]
    public async Task Preexisting_file_and_directory_get_a_gfid_at_lookup()
    {
        await using var b = await PosixBrick.StartAsync(dir =>
        {
            File.WriteAllText(Path.Combine(dir, "old.txt"), "old data");
            System.IO.Directory.CreateDirectory(Path.Combine(dir, "olddir", "inner"));
        });
        var f = await b.LookupOk(Gfid.Root, "old.txt");
        Assert.False(f.Gfid.IsZero);
        Assert.Equal(1u, f.Nlink);
        Assert.Equal(Iatt.InoOf(f.Gfid), f.Ino);
        Assert.Equal(f.Gfid, (await b.LookupOk(Gfid.Root, "old.txt")).Gfid); // stable
        var d = await b.LookupOk(Gfid.Root, "olddir");
        Assert.False(d.Gfid.IsZero);
        var inner = await b.LookupOk(d.Gfid, "inner");

        await b.RestartAsync(); // empty caches: nameless lookups go through the handle store
        var byId = await b.Xl.LookupAsync(Root, Loc.Nameless(f.Gfid));
        Assert.True(byId.Ok);
        Assert.Equal(8, byId.Value.Size);
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(inner.Gfid))).Ok);
    }

    [PosixFact]
    public async Task Lookup_gives_a_gfidless_object_the_requested_gfid()
    {
        await using var b = await PosixBrick.StartAsync(dir => File.WriteAllText(Path.Combine(dir, "x"), ""));
        var want = Gfid.NewGfid();
        var xd = new Xdata();
        xd.Set(Storage.Posix.PosixTranslator.GfidReqKey, want.ToBytes());
        var r = await b.Xl.LookupAsync(Root, Loc.Child(Gfid.Root, "x"), xd);
        Assert.Equal(want, r.Value.Gfid);
    }

    [PosixFact]
    public async Task Readdirp_gives_gfidless_entries_a_gfid_and_fills_iatt()
    {
        await using var b = await PosixBrick.StartAsync(dir =>
        {
            File.WriteAllText(Path.Combine(dir, "a"), "aa");
            System.IO.Directory.CreateDirectory(Path.Combine(dir, "sub"));
        });
        var entries = await b.ReaddirAll(Gfid.Root, plus: true);
        var names = entries.Select(e => e.Name).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal([".", "..", "a", "sub"], names);
        foreach (var e in entries)
        {
            Assert.False(e.Gfid.IsZero, e.Name);
            Assert.NotNull(e.Iatt);
            Assert.Equal(e.Gfid, e.Iatt!.Value.Gfid);
            Assert.Equal(Iatt.InoOf(e.Gfid), e.Ino);
        }
        Assert.Equal(2, entries.Single(e => e.Name == "a").Iatt!.Value.Size);
        Assert.True(entries.Single(e => e.Name == "..").Gfid.IsRoot); // the root's ".." is itself
        Assert.Equal(entries.Single(e => e.Name == "a").Gfid, (await b.LookupOk(Gfid.Root, "a")).Gfid);
    }

    [PosixFact]
    public async Task File_unlinked_while_open_stays_reachable_by_gfid_until_release()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f");
        await b.WriteOk(fd, "still here");
        Assert.Equal(Errno.OK, await b.Xl.UnlinkAsync(Root, Loc.Child(Gfid.Root, "f")));

        var byId = await b.Xl.LookupAsync(Root, Loc.Nameless(f.Gfid));
        Assert.True(byId.Ok, byId.Error.Name());
        Assert.Equal(0u, byId.Value.Nlink);
        Assert.Equal(10, byId.Value.Size);
        Assert.Equal(0u, (await b.Xl.FstatAsync(Root, fd)).Value.Nlink);
        var fd2 = await b.OpenOk(Loc.Nameless(f.Gfid), OpenFlags.O_RDONLY);
        Assert.Equal("still here", await b.ReadAll(fd2));
        Assert.True(File.Exists(b.HandlePath(f.Gfid)));

        await b.Release(fd);
        Assert.True(File.Exists(b.HandlePath(f.Gfid)), "another fd is still open");
        await b.Release(fd2);
        Assert.False(File.Exists(b.HandlePath(f.Gfid)), "the handle goes with the last release");
        Assert.Equal(Errno.ESTALE, (await b.Xl.LookupAsync(Root, Loc.Nameless(f.Gfid))).Error);
    }

    [PosixFact]
    public async Task Orphaned_handles_are_removed_at_start_up()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "f");
        var (kept, fd2) = await b.CreateOk(Gfid.Root, "kept");
        await b.Release(fd2);
        var d = await b.MkdirOk(Gfid.Root, "d");
        await b.Xl.UnlinkAsync(Root, Loc.Child(Gfid.Root, "f")); // open: the handle stays
        Assert.True(File.Exists(b.HandlePath(f.Gfid)));
        await b.RestartAsync(); // a crash/restart: no fd survives
        Assert.False(File.Exists(b.HandlePath(f.Gfid)));
        Assert.True(File.Exists(b.HandlePath(kept.Gfid)));
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(d.Gfid))).Ok, "directory records stay");
    }

    [PosixFact]
    public async Task Directory_found_by_gfid_after_renames_when_nothing_is_cached()
    {
        await using var b = await PosixBrick.StartAsync();
        var a = await b.MkdirOk(Gfid.Root, "a");
        var c = await b.MkdirOk(a.Gfid, "c");
        var d = await b.MkdirOk(c.Gfid, "d");
        var (f, fd) = await b.CreateOk(d.Gfid, "f");
        await b.Release(fd);
        Assert.True((await b.Xl.RenameAsync(Root, Loc.Child(a.Gfid, "c"), Loc.Child(Gfid.Root, "c2"), RenameFlags.None)).Ok);
        await b.RestartAsync();
        var r = await b.Xl.LookupAsync(Root, Loc.Nameless(d.Gfid));
        Assert.True(r.Ok, r.Error.Name());
        Assert.Equal(f.Gfid, (await b.LookupOk(d.Gfid, "f")).Gfid);
        Assert.True(File.Exists(Path.Combine(b.Dir, "c2", "d", "f")));
    }

    [PosixFact]
    public async Task Nameless_lookup_of_an_unknown_gfid_is_ESTALE()
    {
        await using var b = await PosixBrick.StartAsync();
        Assert.Equal(Errno.ESTALE, (await b.Xl.LookupAsync(Root, Loc.Nameless(Gfid.NewGfid()))).Error);
    }

    [PosixFact]
    public async Task Hard_linked_symlink_objects_are_not_mistaken_for_directory_records()
    {
        await using var b = await PosixBrick.StartAsync();
        var s = await b.Xl.SymlinkAsync(Root, "../../aa/bb/00000000-0000-0000-0000-000000000001/x", Loc.Child(Gfid.Root, "s"), 0, Gfid.NewGfid());
        Assert.True(s.Ok);
        var r = await b.Xl.LookupAsync(Root, Loc.Nameless(s.Value.Gfid));
        Assert.True(r.Ok, r.Error.Name());
        Assert.True(r.Value.IsSymlink);
        await b.RestartAsync();
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(s.Value.Gfid))).Ok, "the symlink's handle survives start-up cleanup");
    }

    [PosixFact]
    public async Task Opening_a_directory_by_gfid_keeps_its_record()
    {
        await using var b = await PosixBrick.StartAsync();
        var d = await b.MkdirOk(Gfid.Root, "d");
        var fd = await b.OpenOk(Loc.Nameless(d.Gfid), OpenFlags.O_RDONLY, type: FileMode.S_IFDIR);
        await b.Release(fd);
        await b.RestartAsync();
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(d.Gfid))).Ok);
    }

    [PosixFact]
    public async Task Concurrent_renames_of_one_directory_leave_a_record_that_finds_it()
    {
        await using var b = await PosixBrick.StartAsync();
        var d = await b.MkdirOk(Gfid.Root, "d0");
        var tasks = Enumerable.Range(0, 4).Select(t => Task.Run(async () =>
        {
            for (int i = 0; i < 50; i++)
            {
                // Each worker tries to move whatever name the directory has now; losers see ENOENT.
                for (int n = 0; n < 8; n++)
                    await b.Xl.RenameAsync(Root, Loc.Child(Gfid.Root, "d" + n), Loc.Child(Gfid.Root, "d" + ((n + t + 1) % 8)), RenameFlags.NoReplace);
            }
        })).ToArray();
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(60));
        await b.RestartAsync();
        var r = await b.Xl.LookupAsync(Root, Loc.Nameless(d.Gfid));
        Assert.True(r.Ok, r.Error.Name());
    }

    [PosixFact]
    public async Task A_copy_carrying_another_objects_gfid_gets_its_own()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "orig");
        await b.WriteOk(fd, "original");
        await b.Release(fd);
        var d = await b.MkdirOk(Gfid.Root, "origdir");
        // What "cp -a" as root does: a new object with the same trusted.graft.gfid.
        File.WriteAllText(Path.Combine(b.Dir, "copy"), "copy");
        XattrProbe.Set(Path.Combine(b.Dir, "copy"), "trusted.graft.gfid", f.Gfid.ToBytes());
        System.IO.Directory.CreateDirectory(Path.Combine(b.Dir, "copydir"));
        XattrProbe.Set(Path.Combine(b.Dir, "copydir"), "trusted.graft.gfid", d.Gfid.ToBytes());
        await b.RestartAsync(); // nothing cached: the copy is judged by the handle store alone

        var copy = await b.LookupOk(Gfid.Root, "copy");
        Assert.NotEqual(f.Gfid, copy.Gfid);
        var copyDir = await b.LookupOk(Gfid.Root, "copydir");
        Assert.NotEqual(d.Gfid, copyDir.Gfid);

        var fd2 = await b.OpenOk(Loc.Nameless(f.Gfid), OpenFlags.O_RDONLY);
        Assert.Equal("original", await b.ReadAll(fd2));
        await b.Release(fd2);
        var fd3 = await b.OpenOk(Loc.Nameless(copy.Gfid), OpenFlags.O_RDONLY);
        Assert.Equal("copy", await b.ReadAll(fd3));
        await b.Release(fd3);
        await b.RestartAsync();
        Assert.Equal(Errno.OK, (await b.Xl.MkdirAsync(Root, Loc.Child(d.Gfid, "in-orig"), 0x1ED, 0, Gfid.NewGfid())).Error);
        Assert.True(System.IO.Directory.Exists(Path.Combine(b.Dir, "origdir", "in-orig")));
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(copyDir.Gfid))).Ok);
    }

    [PosixFact]
    public async Task Making_an_object_with_a_gfid_another_object_holds_is_EEXIST()
    {
        await using var b = await PosixBrick.StartAsync();
        var (f, fd) = await b.CreateOk(Gfid.Root, "a");
        await b.Release(fd);
        var fd2 = b.NewFd(f.Gfid, FileMode.S_IFREG, OpenFlags.O_RDWR);
        var r = await b.Xl.CreateAsync(Root, Loc.Child(Gfid.Root, "b"), OpenFlags.O_CREAT | OpenFlags.O_RDWR, 0x1A4, 0, f.Gfid, fd2);
        Assert.Equal(Errno.EEXIST, r.Error);
        Assert.False(File.Exists(Path.Combine(b.Dir, "b")), "the half-made entry is undone");
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(f.Gfid))).Ok);

        var d = await b.MkdirOk(Gfid.Root, "d");
        Assert.Equal(Errno.EEXIST, (await b.Xl.MkdirAsync(Root, Loc.Child(Gfid.Root, "d2"), 0x1ED, 0, d.Gfid)).Error);
        Assert.Equal(Errno.EEXIST, (await b.Xl.MkdirAsync(Root, Loc.Child(Gfid.Root, "d3"), 0x1ED, 0, f.Gfid)).Error);
        Assert.Equal(Errno.EEXIST, (await b.Xl.SymlinkAsync(Root, "t", Loc.Child(Gfid.Root, "s"), 0, d.Gfid)).Error);
        Assert.False(Path.Exists(Path.Combine(b.Dir, "d2")) || Path.Exists(Path.Combine(b.Dir, "d3")) || Path.Exists(Path.Combine(b.Dir, "s")));
        await b.RestartAsync();
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(d.Gfid))).Ok);
        Assert.Equal(d.Gfid, (await b.LookupOk(Gfid.Root, "d")).Gfid);
    }
}
