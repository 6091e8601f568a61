using Graft.Core;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// A brick process without a secret or TLS: every session is unauthenticated, so root's ids (uid,
/// gid and a supplementary group 0) become 65534 and trusted.*/security.* xattrs are out of reach.
/// Non-zero ids pass as claimed — root squash does not stop that, which is why such a brick stays on
/// loopback. --no-root-squash trusts every session again.
/// </summary>
public class UnauthenticatedSessionsAreRootSquashed
{
    private const uint Nobody = 65534;

    private static async Task<(string Temp, string Dir)> BrickDirAsync()
    {
        var temp = BrickProcess.NewTempDir();
        var dir = Path.Combine(temp, "b");
        Directory.CreateDirectory(dir);
        File.SetUnixFileMode(dir, (UnixFileMode)0x1FF);   // 0777: nobody may create here too
        // A file only group root may read (0040, root:root), to see whether a claimed group 0 counts.
        var groupOnly = Path.Combine(dir, "group-root-only");
        await File.WriteAllTextAsync(groupOnly, "secret\n");
        File.SetUnixFileMode(groupOnly, UnixFileMode.GroupRead);
        return (temp, dir);
    }

    private static async Task<Gfid> LookupAsync(Graph g, string name)
    {
        var r = await g.Top.LookupAsync(FopContext.Root(), Loc.Child(Gfid.Root, name));
        Assert.True(r.Ok, $"lookup {name}: {r.Error.Name()}");
        return r.Value.Gfid;
    }

    [Fact]
    public async Task Root_becomes_nobody_and_privileged_xattrs_are_refused_while_other_ids_pass()
    {
        var (temp, dir) = await BrickDirAsync();
        await using var brick = await BrickProcess.ServeDirAsync(BrickAuth.None, dir, 0, "--name", "b");
        var g = await NetClient.ConnectAsync(brick.Port, "b", auth: BrickAuth.None);
        var root = FopContext.Root();

        var made = await g.Top.MkdirAsync(root, Loc.Child(Gfid.Root, "by-root"), 0x1ed, 0, Gfid.NewGfid());
        Assert.True(made.Ok, made.Error.Name());
        Assert.Equal((Nobody, Nobody), (made.Value.Uid, made.Value.Gid));
        var loc = Loc.Nameless(made.Value.Gfid);
        // Nobody may not give it to root (or make device nodes, or anything else root's capabilities allow).
        Assert.Equal(Errno.EPERM, (await g.Top.SetattrAsync(root, loc, new SetAttr { Valid = SetAttrValid.Uid, Uid = 0 })).Error);
        Assert.Equal(Errno.EPERM, (await g.Top.MknodAsync(root, Loc.Child(Gfid.Root, "null"), PosixMode.S_IFCHR | 0x1b6, (1 << 8) | 3, 0, Gfid.NewGfid())).Error);

        // What root squash does not stop: any other id is taken on the session's word.
        var claimed = await g.Top.MkdirAsync(FopContext.ForCaller(1000, 1000), Loc.Child(Gfid.Root, "by-1000"), 0x1ed, 0, Gfid.NewGfid());
        Assert.Equal((1000u, 1000u), (claimed.Value.Uid, claimed.Value.Gid));

        // A supplementary group 0 is squashed too: group root's file stays closed to its claimed member.
        var groupOnly = Loc.Nameless(await LookupAsync(g, "group-root-only"));
        Assert.Equal(Errno.EACCES, await g.Top.AccessAsync(FopContext.ForCaller(1000, 1000, [0]), groupOnly, 4 /* R_OK */));

        foreach (var name in new[] { "trusted.t", "security.s" })
        {
            Assert.Equal(Errno.EPERM, await g.Top.SetxattrAsync(root, loc, name, "1"u8.ToArray(), 0));
            Assert.Equal(Errno.ENODATA, (await g.Top.GetxattrAsync(root, groupOnly, name)).Error);
        }
        Assert.Equal(Errno.OK, await g.Top.SetxattrAsync(root, loc, "user.u", "1"u8.ToArray(), 0));
        Assert.Equal(["user.u"], (await g.Top.ListxattrAsync(root, loc)).Value);

        await brick.WaitForLogAsync("untrusted: root squashed");
        await g.StopAsync();
        Directory.Delete(temp, true);
    }

    [Fact]
    public async Task No_root_squash_trusts_the_ids_every_session_sends()
    {
        var (temp, dir) = await BrickDirAsync();
        await using var brick = await BrickProcess.ServeDirAsync(BrickAuth.None, dir, 0, "--name", "b", "--no-root-squash");
        var g = await NetClient.ConnectAsync(brick.Port, "b", auth: BrickAuth.None);
        var root = FopContext.Root();

        var made = await g.Top.MkdirAsync(root, Loc.Child(Gfid.Root, "by-root"), 0x1ed, 0, Gfid.NewGfid());
        Assert.Equal((0u, 0u), (made.Value.Uid, made.Value.Gid));
        Assert.Equal(Errno.OK, await g.Top.SetxattrAsync(root, Loc.Nameless(made.Value.Gfid), "trusted.t", "1"u8.ToArray(), 0));
        var groupOnly = Loc.Nameless(await LookupAsync(g, "group-root-only"));
        Assert.Equal(Errno.OK, await g.Top.AccessAsync(FopContext.ForCaller(1000, 1000, [0]), groupOnly, 4 /* R_OK */));

        await brick.WaitForLogAsync("untrusted, ids used as sent");
        await g.StopAsync();
        Directory.Delete(temp, true);
    }
}
