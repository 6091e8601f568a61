using Graft.Core;

namespace Graft.Mount.Tests;

/// <summary>Directory handles hand out the session's own cookies, not the backend's offsets.</summary>
public class SessionDirectoryTests
{
    private static async Task<TestSession> WithFilesAsync(int n)
    {
        var t = await TestSession.StartAsync();
        for (int i = 0; i < n; i++) await t.CreateFileAsync($"f{i:D2}");
        return t;
    }

    [Fact]
    public async Task Cookies_count_entries_and_resume_where_they_say()
    {
        await using var t = await WithFilesAsync(10);
        var dir = TestSession.Ok(await t.Session.OpendirAsync(t.Ctx, t.Session.Root));
        var first = TestSession.Ok(await t.Session.ReaddirAsync(t.Ctx, dir, 0, 3));
        Assert.Equal([1L, 2, 3], first.Select(e => e.Entry.NextOffset));
        Assert.Equal(["f00", "f01", "f02"], first.Select(e => e.Entry.Name));
        var next = TestSession.Ok(await t.Session.ReaddirAsync(t.Ctx, dir, 3, 4));
        Assert.Equal(["f03", "f04", "f05", "f06"], next.Select(e => e.Entry.Name));
        Assert.Equal([4L, 5, 6, 7], next.Select(e => e.Entry.NextOffset));

        // Going back to a cookie handed out earlier (a partially consumed reply) works too.
        var back = TestSession.Ok(await t.Session.ReaddirAsync(t.Ctx, dir, 2, 2));
        Assert.Equal(["f02", "f03"], back.Select(e => e.Entry.Name));

        var rest = TestSession.Ok(await t.Session.ReaddirAsync(t.Ctx, dir, 7, 100));
        Assert.Equal(3, rest.Count);
        Assert.Empty(TestSession.Ok(await t.Session.ReaddirAsync(t.Ctx, dir, 10, 100)));
        await t.Session.ReleasedirAsync(dir);
        Assert.Equal(1, t.Brick.Releasedirs);
    }

    [Fact]
    public async Task A_cookie_the_session_never_gave_is_invalid()
    {
        await using var t = await WithFilesAsync(3);
        var dir = TestSession.Ok(await t.Session.OpendirAsync(t.Ctx, t.Session.Root));
        Assert.Equal(Errno.EINVAL, (await t.Session.ReaddirAsync(t.Ctx, dir, 1001, 10)).Error);
        Assert.Equal(Errno.EINVAL, (await t.Session.ReaddirAsync(t.Ctx, dir, -1, 10)).Error);
        await t.Session.ReleasedirAsync(dir);
    }

    [Fact]
    public async Task Readdirp_with_linking_gives_each_entry_a_node_and_a_lookup()
    {
        await using var t = await WithFilesAsync(3);
        foreach (var name in new[] { "f00", "f01", "f02" })
        {
            var n = TestSession.Ok(await t.Session.LookupAsync(t.Ctx, t.Session.Root, name)).Node;
            t.Session.Forget(n, n.LookupCount); // start from no lookups at all
        }
        var dir = TestSession.Ok(await t.Session.OpendirAsync(t.Ctx, t.Session.Root));
        var plain = TestSession.Ok(await t.Session.ReaddirpAsync(t.Ctx, dir, 0, 10, linkNodes: false));
        Assert.All(plain, e => { Assert.Null(e.Node); Assert.NotNull(e.Entry.Iatt); });
        var linked = TestSession.Ok(await t.Session.ReaddirpAsync(t.Ctx, dir, 0, 10, linkNodes: true));
        Assert.All(linked, e =>
        {
            Assert.NotNull(e.Node);
            Assert.Equal(1UL, e.Node!.LookupCount);
            Assert.Equal(e.Entry.Gfid, e.Node.Gfid);
            Assert.Same(e.Node.Inode, t.Graph.Inodes.FindChild(Gfid.Root, e.Entry.Name));
        });
        foreach (var e in linked) t.Session.Forget(e.Node!, 1);
        Assert.All(linked, e => Assert.Null(t.Session.GetNode(e.Node!.HandleId)));
        await t.Session.ReleasedirAsync(dir);
    }

    [Fact]
    public async Task Opendir_on_a_file_is_refused_and_readdir_on_a_file_handle_too()
    {
        await using var t = await WithFilesAsync(1);
        var f = TestSession.Ok(await t.Session.LookupAsync(t.Ctx, t.Session.Root, "f00"));
        Assert.Equal(Errno.ENOTDIR, (await t.Session.OpendirAsync(t.Ctx, f.Node)).Error);
        var file = TestSession.Ok(await t.Session.OpenAsync(t.Ctx, f.Node, OpenFlags.O_RDONLY));
        Assert.Equal(Errno.ENOTDIR, (await t.Session.ReaddirAsync(t.Ctx, file, 0, 10)).Error);
        await t.Session.ReleaseAsync(file);
    }
}
