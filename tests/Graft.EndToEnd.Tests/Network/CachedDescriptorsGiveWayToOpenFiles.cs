using Graft.Core;
using Graft.Xlators.Tests.Protocol;
using Xunit.Abstractions;

namespace Graft.EndToEnd.Tests.Network;

/// <summary>
/// A brick's directory fd cache never costs a client an open file: with RLIMIT_NOFILE at 256, a
/// brick whose cache is full still lets a client open as many files as the limit leaves once the
/// cache is gone — idle cached fds are closed as open files near the limit, and an open that hits
/// EMFILE sheds the rest and tries again. Past that, the client gets a plain EMFILE, and the brick
/// carries on.
/// </summary>
public class CachedDescriptorsGiveWayToOpenFiles(ITestOutputHelper output)
{
    private const int Limit = 256, Dirs = 60;

    /// <summary>The brick's descriptors, and how many of them are cached directory fds (of the d* directories).</summary>
    private static (int Total, int CachedDirs) Descriptors(int pid, string brickDir)
    {
        int total = 0, dirs = 0;
        foreach (var fd in Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd"))
        {
            string? target;
            try { target = new FileInfo(fd).LinkTarget; }
            catch (IOException) { continue; }
            total++;
            if (target is not null && Path.GetDirectoryName(target) == brickDir && Path.GetFileName(target).StartsWith('d')) dirs++;
        }
        return (total, dirs);
    }

    [Fact]
    public async Task A_client_opens_as_many_files_as_the_limit_leaves_without_the_cache_then_gets_emfile()
    {
        var temp = BrickProcess.NewTempDir();
        var brickDir = Path.Combine(temp, "b");
        for (int i = 0; i < Dirs; i++)
        {
            Directory.CreateDirectory(Path.Combine(brickDir, $"d{i}"));
            File.WriteAllText(Path.Combine(brickDir, $"d{i}", "x"), "");
        }
        await using var brick = await BrickProcess.StartWithFileLimitAsync(Limit, "--dir", brickDir, "--port", "0");
        var m = await WireMount.ConnectAsync(brick.Port, "b", Guid.NewGuid());
        var top = m.Graph.Top;
        var fds = new List<Fd>();
        try
        {
            // A name looked up in each directory: the brick opens the directory and keeps its fd.
            for (int i = 0; i < Dirs; i++)
            {
                var d = await top.LookupAsync(m.Ctx(), Loc.Child(Gfid.Root, $"d{i}"));
                Assert.True(d.Ok, $"d{i}: {d.Error}");
                Assert.True((await top.LookupAsync(m.Ctx(), Loc.Child(d.Value.Gfid, "x"))).Ok);
            }
            var before = Descriptors(brick.Pid, brickDir);
            output.WriteLine($"limit {Limit}: the brick holds {before.Total} fds, {before.CachedDirs} of them cached directories");
            Assert.True(before.CachedDirs >= 16, $"only {before.CachedDirs} directories cached");

            Errno last = Errno.OK;
            for (int i = 0; i < Limit && last == Errno.OK; i++)
            {
                var gfid = Gfid.NewGfid();
                var fd = FopScenario.NewFd(m.Graph.Inodes, new Iatt { Gfid = gfid, Mode = PosixMode.S_IFREG }, OpenFlags.O_RDWR);
                var r = await top.CreateAsync(m.Ctx(), Loc.Child(Gfid.Root, $"f{i}"), OpenFlags.O_RDWR | OpenFlags.O_CREAT, 0x1a4, 0, gfid, fd);
                last = r.Error;
                if (r.Ok) fds.Add(fd);
            }
            var after = Descriptors(brick.Pid, brickDir);
            output.WriteLine($"{fds.Count} files opened, then {last}; the brick holds {after.Total} fds, {after.CachedDirs} cached directories");
            Assert.Equal(Errno.EMFILE, last);
            Assert.Equal(0, after.CachedDirs);
            // What the limit leaves once the cache is gone, less the few fds one create needs for itself.
            int room = Limit - (before.Total - before.CachedDirs);
            Assert.True(fds.Count >= room - 4, $"{fds.Count} files opened; the limit left room for {room}");

            // The brick carries on: let go of the files, and it serves again.
            foreach (var fd in fds) await m.ReleaseAsync(fd);
            fds.Clear();
            await NetClient.Until(() => Descriptors(brick.Pid, brickDir).Total < before.Total, "the released files closed");
            Assert.True((await top.LookupAsync(m.Ctx(), Loc.Child(Gfid.Root, "d0"))).Ok);
        }
        finally
        {
            foreach (var fd in fds) await m.ReleaseAsync(fd);
            await m.StopAsync();
            await brick.StopAsync();
            try { Directory.Delete(temp, recursive: true); } catch (IOException) { }
        }
    }
}
