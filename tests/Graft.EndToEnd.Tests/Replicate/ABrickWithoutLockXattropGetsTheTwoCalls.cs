using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Graft.Client;
using Graft.EndToEnd.Tests.Distribute;
using Graft.EndToEnd.Tests.Network;
using Graft.Xlators.Cluster.Replicate;
using Graft.Xlators.Tests.Protocol;

namespace Graft.EndToEnd.Tests.Replicate;

/// <summary>
/// Replicate over three `graft brick` processes, one of which the client treats as an older brick
/// (its protocol/client has <c>lock-xattrop off</c> and <c>lock-create-release off</c>, so the brick is
/// granted neither inodelk-xattrop nor create-/release-inodelk-xattrop at the handshake): the bricks that
/// grant them serve each transaction's lock with its pre-op, and its post-op with its unlock (and a
/// window's with the release of the fd that closes it), as one request each; the other serves the separate
/// inodelk, xattrop and release calls, as many locks as unlocks; and the copies end equal and clean.
/// With every brick granting them, a created and written file costs each brick four requests (besides its
/// directory's entry lock): lookup, create with the file's lock and pre-op, write, release with the post-op
/// and unlock; and another client's write to the file waits for the window the create opened.
/// </summary>
public partial class ABrickWithoutLockXattropGetsTheTwoCalls
{
    [Fact]
    public async Task Each_brick_gets_what_it_speaks_and_the_copies_end_equal_and_clean()
    {
        await using var set = await ThreeBricks.StartAsync();
        var temp = set.Temp;
        var v = await set.OpenClientAsync(older: 1);
        await v.WriteAllBytesAsync("/f", "hello"u8.ToArray());
        await v.ChmodAsync("/f", 0x180);
        await using (var s = await v.OpenAsync("/f", FileMode.Open))
        {
            s.Seek(5, SeekOrigin.Begin);
            await s.WriteAsync(" world"u8.ToArray());
        }

        // A brick counts a request once its reply is queued, so the client may see the reply first: wait for the counts to settle.
        Dictionary<string, long>[] counts = [];
        // b0 and b2: the first create asked for its file's lock (the older b1 could not give it, so what they gave was
        // given back: one inodelk-xattrop each), then three transactions of one lock+pre-op each, whose post-op and
        // unlock went with the release of the fd for the two windows and alone for the chmod. b1: the same three
        // transactions as inodelk, xattrop, xattrop, unlock each.
        await ClientGraphsUntil(async () =>
        {
            counts = [.. await set.ServedAsync()];
            return counts[1].GetValueOrDefault("inodelk") == 6 && counts[1].GetValueOrDefault("xattrop") == 6 && counts[1].GetValueOrDefault("release") == 2
                   && new[] { 0, 2 }.All(i => counts[i].GetValueOrDefault("inodelkxattrop") == 5 && counts[i].GetValueOrDefault("releaseinodelkxattrop") == 2);
        }, () => Show(counts));
        foreach (var i in new[] { 0, 2 })
        {
            Assert.Equal(0, counts[i].GetValueOrDefault("inodelk"));
            Assert.Equal(0, counts[i].GetValueOrDefault("xattrop"));
            Assert.Equal(0, counts[i].GetValueOrDefault("release"));
            Assert.Equal(1, counts[i].GetValueOrDefault("createinodelkxattrop"));
        }
        foreach (var op in new[] { "inodelkxattrop", "createinodelkxattrop", "releaseinodelkxattrop" }) Assert.Equal(0, counts[1].GetValueOrDefault(op));
        Assert.Equal(1, counts[1].GetValueOrDefault("create"));

        for (int i = 0; i < 3; i++)
        {
            var path = Path.Combine(temp, "b" + i, "f");
            Assert.Equal("hello world", await File.ReadAllTextAsync(path));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            for (int j = 0; j < 3; j++)
                if (Xattr.Get(path, Pending.NameFor("b" + j)) is { } counters)
                    for (int k = 0; k < Pending.Kinds; k++) Assert.Equal(0, Pending.Read(counters, k));
        }
    }

    [Fact]
    public async Task With_every_brick_granting_them_a_written_file_costs_each_brick_four_requests_besides_its_directorys_lock_and_another_client_waits_for_its_window()
    {
        await using var set = await ThreeBricks.StartAsync();
        var temp = set.Temp;
        var v = await set.OpenClientAsync(older: -1, "post-op-delay 10s");
        var other = await set.OpenClientAsync(older: -1, "post-op-delay 10s");
        var before = await set.ServedAsync();
        await using (var g = await v.OpenAsync("/g", FileMode.CreateNew))
            await g.WriteAsync("four"u8.ToArray());
        Dictionary<string, long>[] counts = [];
        await ClientGraphsUntil(async () =>
        {
            counts = [.. await set.ServedAsync()];
            return Enumerable.Range(0, 3).All(i => counts[i].GetValueOrDefault("releaseinodelkxattrop") > before[i].GetValueOrDefault("releaseinodelkxattrop"));
        }, () => Show(counts));
        for (int i = 0; i < 3; i++)
        {
            // The directory's entry lock (entrylk, lock and unlock with entry-lock-delay 0) is the namespace change's; the file's own requests:
            var delta = counts[i].Where(kv => kv.Key != "entrylk" && kv.Value != before[i].GetValueOrDefault(kv.Key))
                                 .ToDictionary(kv => kv.Key, kv => kv.Value - before[i].GetValueOrDefault(kv.Key));
            Assert.True(delta.Count == 4 && delta.Values.All(n => n == 1) && new[] { "lookup", "createinodelkxattrop", "writev", "releaseinodelkxattrop" }.All(delta.ContainsKey),
                        $"b{i} served for one created file: " + string.Join(", ", delta.Select(kv => $"{kv.Key} {kv.Value}")));
        }
        before = counts;

        Task write;
        await using (var s = await v.OpenAsync("/f", FileMode.CreateNew))
        {
            await s.WriteAsync("mine"u8.ToArray());
            // The file was born locked on every brick: another client's write to it waits for this window.
            await using var t = await other.OpenAsync("/f", FileMode.Open);
            write = t.WriteAsync("theirs"u8.ToArray()).AsTask();
            // Its first try at the lock (with its pre-op) is refused by every brick (a brick counts a request when it
            // answers): it then waits for the lock on b0, which this window holds until the close below.
            Dictionary<string, long>[] now = [];
            await ClientGraphsUntil(async () =>
            {
                now = await set.ServedAsync();
                return Enumerable.Range(0, 3).All(i => now[i].GetValueOrDefault("inodelkxattrop") > before[i].GetValueOrDefault("inodelkxattrop"));
            }, () => "the other client's lock requests were not refused");
            Assert.False(write.IsCompleted, "the other client's write ended inside this client's window: "
                                            + (write.Exception?.InnerException?.Message ?? "written") + "\nbefore:\n" + Show(before) + "\nnow:\n" + Show(now));
        }
        await write.WaitAsync(TimeSpan.FromSeconds(30));

        await ClientGraphsUntil(async () =>
        {
            counts = [.. await set.ServedAsync()];
            return Enumerable.Range(0, 3).All(i => counts[i].GetValueOrDefault("releaseinodelkxattrop") > before[i].GetValueOrDefault("releaseinodelkxattrop"));
        }, () => Show(counts));
        for (int i = 0; i < 3; i++)
        {
            long Of(string op) => counts[i].GetValueOrDefault(op) - before[i].GetValueOrDefault(op);
            // This client's part: its create carried the lock and pre-op, its release the post-op and unlock.
            Assert.Equal(1, Of("createinodelkxattrop"));
            Assert.Equal(0, Of("create"));
            var path = Path.Combine(temp, "b" + i, "f");
            Assert.Equal("theirs", await File.ReadAllTextAsync(path));
        }
        // The other client's window closes when its stream does (above); the copies are then clean.
        await ClientGraphsUntil(() => Task.FromResult(Enumerable.Range(0, 3).All(i => Clean(Path.Combine(temp, "b" + i, "f")))), () => "counts left on /f");
    }

    /// <summary>
    /// Another client's lookup of a file in this client's open window finds every copy counting itself and starts
    /// a heal. That heal must not wait for the window's lock while it holds its own client's mutex on the file: that
    /// client's own changes to the file would wait as long (up to the window's post-op-delay, 60 s here). It gives
    /// up and leaves the file for later; that client's write then asks every brick for the lock at once (refused
    /// while the window holds it) and lands when the window closes.
    /// </summary>
    [Fact]
    public async Task A_lookups_heal_does_not_wait_for_another_clients_window_and_holds_nothing_up()
    {
        await using var set = await ThreeBricks.StartAsync();
        var temp = set.Temp;
        var v = await set.OpenClientAsync(older: -1, "post-op-delay 60s");
        var other = await set.OpenClientAsync(older: -1, "post-op-delay 60s");
        var afr = other.Session.ActiveGraph.Translators.OfType<ReplicateTranslator>().Single();
        Task write;
        await using (var s = await v.OpenAsync("/f", FileMode.CreateNew))
        {
            await s.WriteAsync("mine"u8.ToArray());
            await using var t = await other.OpenAsync("/f", FileMode.Open); // every copy counts itself: its lookup starts a heal
            await ClientGraphsUntil(() => Task.FromResult(afr.HealsDeferred > 0), () => "the lookup's heal did not give up on the window's lock");
            var before = await set.ServedAsync();
            write = t.WriteAsync("theirs"u8.ToArray()).AsTask();
            Dictionary<string, long>[] now = [];
            await ClientGraphsUntil(async () =>
            {
                now = await set.ServedAsync();
                return Enumerable.Range(0, 3).All(i => now[i].GetValueOrDefault("inodelkxattrop") > before[i].GetValueOrDefault("inodelkxattrop"));
            }, () => "the other client's write did not ask for the lock while the window was open");
            Assert.False(write.IsCompleted, "the other client's write ended inside this client's window");
            Assert.Equal(0, afr.HealsDone);
        }
        await write.WaitAsync(TimeSpan.FromSeconds(30));
        await set.CloseAsync(other); // its window closed: the copies are clean
        await ClientGraphsUntil(() => Task.FromResult(Enumerable.Range(0, 3).All(i => Clean(Path.Combine(temp, "b" + i, "f")))), () => "counts left on /f");
        for (int i = 0; i < 3; i++) Assert.Equal("theirs", await File.ReadAllTextAsync(Path.Combine(temp, "b" + i, "f")));
    }

    private static bool Clean(string path)
    {
        for (int j = 0; j < 3; j++)
            if (Xattr.Get(path, Pending.NameFor("b" + j)) is { } counters)
                for (int k = 0; k < Pending.Kinds; k++) if (Pending.Read(counters, k) != 0) return false;
        return true;
    }

    private static string Show(Dictionary<string, long>[] counts) =>
        string.Join("\n", counts.Select((c, i) => $"b{i}: " + string.Join(", ", c.Select(kv => $"{kv.Key} {kv.Value}"))));

    private static async Task ClientGraphsUntil(Func<Task<bool>> cond, Func<string> what)
    {
        var until = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!await cond())
        {
            Assert.True(DateTime.UtcNow < until, "the bricks' request counts did not settle:\n" + what());
            await Task.Delay(50);
        }
    }

    [GeneratedRegex("""^graft_brick_fop_duration_seconds_count\{.*fop="([a-z_]+)".*\} ([0-9.e+]+)$""", RegexOptions.Multiline)]
    private static partial Regex FopCount();

    /// <summary>Requests served by fop, from a brick's metrics page.</summary>
    private static Dictionary<string, long> Served(string page)
    {
        var d = new Dictionary<string, long>();
        foreach (Match m in FopCount().Matches(page)) d[m.Groups[1].Value] = (long)double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture);
        return d;
    }

    private static string Volfile(List<BrickProcess> bricks, int older, string afrOptions = "")
    {
        var sb = new StringBuilder();
        for (int i = 0; i < bricks.Count; i++)
        {
            sb.Append(CultureInfo.InvariantCulture, $"volume b{i}\n    type protocol/client\n    option remote-host 127.0.0.1\n    option remote-port {bricks[i].Port}\n")
              .Append(CultureInfo.InvariantCulture, $"    option remote-subvolume b{i}\n    option secret-file {TestSecret.File}\n");
            if (i == older) sb.Append("    option lock-xattrop off\n    option lock-create-release off\n");
            sb.Append("end-volume\n\n");
        }
        sb.Append("volume afr\n    type cluster/replicate\n");
        foreach (var o in afrOptions.Split(';', StringSplitOptions.RemoveEmptyEntries)) sb.Append("    option ").Append(o.Trim()).Append('\n');
        return sb.Append("    subvolumes b0 b1 b2\nend-volume\n").ToString();
    }

    /// <summary>
    /// Three brick processes with their metrics endpoints in a temp directory, and the library clients opened on
    /// them (replicate over the three); disposing it ends the clients, then the bricks, and removes the directory.
    /// </summary>
    private sealed class ThreeBricks : IAsyncDisposable
    {
        private readonly List<BrickProcess> _bricks = [];
        private readonly List<Volume> _clients = [];
        private readonly List<string> _urls = [];
        private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
        public string Temp { get; } = BrickProcess.NewTempDir();

        public static async Task<ThreeBricks> StartAsync()
        {
            var set = new ThreeBricks();
            try
            {
                await BrickProcess.ServeNewDirsAsync(set.Temp, 3, set._bricks, "--metrics", "127.0.0.1:0");
                foreach (var b in set._bricks) set._urls.Add((await b.WaitForLogAsync("metrics on ")).Split("metrics on ")[1].Trim());
                return set;
            }
            catch
            {
                await set.DisposeAsync();
                throw;
            }
        }

        /// <summary>A client whose protocol/client of brick <paramref name="older"/> (-1: none) treats it as an older brick.</summary>
        public async Task<Volume> OpenClientAsync(int older, string afrOptions = "")
        {
            var v = await Volume.OpenVolfileTextAsync(Volfile(_bricks, older, afrOptions), "afr.vol", new VolumeOptions { ChildUpTimeout = TimeSpan.FromSeconds(15) });
            _clients.Add(v);
            return v;
        }

        public async Task CloseAsync(Volume client)
        {
            _clients.Remove(client);
            await client.DisposeAsync();
        }

        /// <summary>The requests each brick has served so far, by fop.</summary>
        public Task<Dictionary<string, long>[]> ServedAsync() => Task.WhenAll(_urls.Select(async u => Served(await _http.GetStringAsync(u))));

        public async ValueTask DisposeAsync()
        {
            for (int i = _clients.Count - 1; i >= 0; i--) await _clients[i].DisposeAsync();
            foreach (var b in _bricks) await b.DisposeAsync();
            _http.Dispose();
            try { Directory.Delete(Temp, recursive: true); } catch (IOException) { }
        }
    }
}
