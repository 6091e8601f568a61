using System.Text;
using Graft.Core;

namespace Graft.Xlators.Tests.Posix;

/// <summary>
/// Everything is fd-relative, so client paths may be as long as POSIX allows wherever the brick
/// itself lives: the brick's own path never counts against PATH_MAX.
/// </summary>
public sealed class PosixLongPathTests
{
    private static FopContext Root => PosixBrick.Root;

    [PosixFact]
    public async Task A_4000_byte_client_path_works_under_a_long_brick_path()
    {
        var temp = PosixBrick.NewTempDir();
        try
        {
            // The brick sits ~3000 bytes deep; the client path below adds ~4000 more.
            var brick = temp;
            while (brick.Length < 3000) brick = Path.Combine(brick, new string('b', 200));
            System.IO.Directory.CreateDirectory(brick);
            var (deepest, file, names) = await BuildDeepTreeAsync(temp, brick);
            Assert.True(Encoding.UTF8.GetByteCount(brick) + 1 + names.Sum(n => n.Length + 1) > 4096 + 2900);

            // A fresh graph resolves the deepest directory by GFID, walking ~20 recorded steps from the root.
            await using var b2 = await PosixBrick.StartAsync(temp: temp, dir: brick);
            var byId = await b2.Xl.LookupAsync(Root, Loc.Nameless(deepest));
            Assert.True(byId.Ok, byId.Error.Name());
            var f = await b2.LookupOk(deepest, "f");
            Assert.Equal(file, f.Gfid);
            var fd = await b2.OpenOk(Loc.Nameless(file), OpenFlags.O_RDONLY);
            Assert.Equal("deep", await b2.ReadAll(fd));
            await b2.Release(fd);
        }
        finally { PosixBrick.RemoveTree(temp); }
    }

    private static async Task<(Gfid Deepest, Gfid File, List<string> Names)> BuildDeepTreeAsync(string temp, string brick)
    {
        await using var b = await PosixBrick.StartAsync(temp: temp, dir: brick);
        var parent = Gfid.Root;
        var names = new List<string>();
        int clientPath = 0;
        for (int i = 0; clientPath + 201 <= 3990; i++)
        {
            var name = i.ToString("D3", System.Globalization.CultureInfo.InvariantCulture) + new string('p', 197);
            parent = (await b.MkdirOk(parent, name)).Gfid;
            names.Add(name);
            clientPath += name.Length + 1;
        }
        var last = new string('q', 3995 - clientPath - 3); // top up to ~4000 bytes
        parent = (await b.MkdirOk(parent, last)).Gfid;
        names.Add(last);
        clientPath += last.Length + 1;
        var (f, fd) = await b.CreateOk(parent, "f");
        await b.WriteOk(fd, "deep");
        await b.Release(fd);
        clientPath += 2;
        Assert.InRange(clientPath, 3990, 4095);
        return (parent, f.Gfid, names);
    }

    [PosixFact]
    public async Task Names_are_limited_to_255_bytes()
    {
        await using var b = await PosixBrick.StartAsync();
        var ok = await b.Xl.MkdirAsync(Root, Loc.Child(Gfid.Root, new string('a', 255)), 0x1ED, 0, Gfid.NewGfid());
        Assert.True(ok.Ok);
        Assert.Equal(Errno.ENAMETOOLONG, (await b.Xl.MkdirAsync(Root, Loc.Child(Gfid.Root, new string('a', 256)), 0x1ED, 0, Gfid.NewGfid())).Error);
    }
}
