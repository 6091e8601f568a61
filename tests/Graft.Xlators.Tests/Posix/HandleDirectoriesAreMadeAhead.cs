using Graft.Core;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// The handle store's 256 first-level directories (.graft/handles/00..ff) are made when a brick starts, so a create
/// on a fresh brick makes only its second-level directory; one removed since is made again by the next create that
/// needs it.
/// </summary>
public sealed class HandleDirectoriesAreMadeAhead
{
    private static FopContext Root => PosixBrick.Root;

    [PosixFact]
    public async Task A_fresh_brick_has_every_first_level_handle_directory_and_nothing_below_them()
    {
        await using var b = await PosixBrick.StartAsync();
        var handles = Path.Combine(b.Dir, ".graft", "handles");
        var tops = Directory.GetDirectories(handles).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        var expected = Enumerable.Range(0, 256).Select(i => i.ToString("x2", System.Globalization.CultureInfo.InvariantCulture)).ToArray();
        Assert.Equal(expected, tops);
        Assert.All(tops, t => Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(handles, t!))));
    }

    [PosixFact]
    public async Task A_restart_keeps_the_handles_that_are_there()
    {
        await using var b = await PosixBrick.StartAsync();
        var (made, fd) = await b.CreateOk(Gfid.Root, "f");
        await b.Release(fd);
        await b.RestartAsync();
        Assert.True(File.Exists(b.HandlePath(made.Gfid)), "the file's handle survived a restart");
        Assert.Equal(256, Directory.GetDirectories(Path.Combine(b.Dir, ".graft", "handles")).Length);
        Assert.Equal(made.Gfid, (await b.LookupOk(Gfid.Root, "f")).Gfid);
    }

    [PosixFact]
    public async Task A_create_and_a_mkdir_whose_first_level_directory_was_removed_make_it_again()
    {
        await using var b = await PosixBrick.StartAsync();
        var file = Gfid.NewGfid();
        var dir = Gfid.NewGfid();
        foreach (var g in new[] { file, dir })
            Directory.Delete(Path.GetDirectoryName(Path.GetDirectoryName(b.HandlePath(g)))!, recursive: true);

        var (_, fd) = await b.CreateOk(Gfid.Root, "f", gfid: file);
        await b.Release(fd);
        Assert.True(File.Exists(b.HandlePath(file)), "the file's handle was made, with both its directories");
        var m = await b.Xl.MkdirAsync(Root, Loc.Child(Gfid.Root, "d"), 0x1ED, 0, dir);
        Assert.True(m.Ok, $"mkdir: {m.Error}");
        Assert.True(new FileInfo(b.HandlePath(dir)).LinkTarget is not null, "the directory's record was made, with both its directories");

        // Both are reachable by GFID alone (through their handles).
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(file))).Ok);
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(dir))).Ok);
    }

    [PosixFact]
    public async Task A_create_into_a_second_level_directory_removed_after_it_was_used_makes_it_again()
    {
        await using var b = await PosixBrick.StartAsync();
        var first = Gfid.NewGfid();
        var (_, fd) = await b.CreateOk(Gfid.Root, "first", gfid: first);
        await b.Release(fd);
        Assert.Equal(Errno.OK, await b.Xl.UnlinkAsync(Root, Loc.Child(Gfid.Root, "first")));
        var bucket = Path.GetDirectoryName(b.HandlePath(first))!;
        Assert.True(Directory.Exists(bucket));
        await b.HandleDroppedAsync(first);
        Directory.Delete(bucket); // empty again: the brick knows it, but it is gone

        // A second file whose GFID falls in the same xx/yy.
        Span<byte> raw = stackalloc byte[16];
        Gfid.NewGfid().WriteBytes(raw);
        Span<byte> firstRaw = stackalloc byte[16];
        first.WriteBytes(firstRaw);
        raw[0] = firstRaw[0]; raw[1] = firstRaw[1];
        var second = Gfid.FromBytes(raw);
        Assert.Equal(bucket, Path.GetDirectoryName(b.HandlePath(second)));
        (_, fd) = await b.CreateOk(Gfid.Root, "second", gfid: second);
        await b.Release(fd);
        Assert.True(File.Exists(b.HandlePath(second)), "the handle was linked after its directory was made again");
        Assert.True((await b.Xl.LookupAsync(Root, Loc.Nameless(second))).Ok);
    }
}
