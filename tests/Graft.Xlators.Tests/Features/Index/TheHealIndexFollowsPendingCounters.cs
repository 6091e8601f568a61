using Graft.Core;
using Graft.Xlators.Tests.Posix;

namespace Graft.Xlators.Tests.Features.Index;

/// <summary>
/// features/index records an object when an xattrop leaves any of its pending counters non-zero,
/// forgets it when they are all zero again, keeps the record across a restart, and lists it to a
/// trusted caller page by page.
/// </summary>
public class TheHealIndexFollowsPendingCounters
{
    [PosixFact]
    public async Task A_non_zero_counter_records_the_object_and_zero_forgets_it()
    {
        await using var b = await IndexBrick.StartAsync();
        var f = await b.CreateAsync("f");
        Assert.Empty(await b.PageAsync());
        await b.XattropOk(f, IndexBrick.PendingA, 1, 0);
        Assert.Equal([f], await b.PageAsync());
        Assert.True(File.Exists(Path.Combine(b.PendingDir, f.ToString())));
        await b.XattropOk(f, IndexBrick.PendingA, 1, 0);
        await b.XattropOk(f, IndexBrick.PendingA, -2, 0);
        Assert.Empty(await b.PageAsync());
        Assert.False(File.Exists(Path.Combine(b.PendingDir, f.ToString())));
    }

    [PosixFact]
    public async Task The_object_stays_recorded_while_any_of_its_counters_is_non_zero()
    {
        await using var b = await IndexBrick.StartAsync();
        var f = await b.CreateAsync("f");
        await b.XattropOk(f, IndexBrick.PendingA, 0, 1);
        await b.XattropOk(f, IndexBrick.PendingB, 1, 0);
        await b.XattropOk(f, IndexBrick.PendingA, 0, -1);
        Assert.Equal([f], await b.PageAsync());
        await b.XattropOk(f, IndexBrick.PendingB, -1, 0);
        Assert.Empty(await b.PageAsync());
    }

    [PosixFact]
    public async Task Other_xattrs_do_not_touch_the_index()
    {
        await using var b = await IndexBrick.StartAsync();
        var f = await b.CreateAsync("f");
        await b.XattropOk(f, "user.counter", 5);
        await b.XattropOk(f, "trusted.afr.pending.brick-a", 5);
        Assert.Empty(await b.PageAsync());
        Assert.Empty(Directory.GetFiles(b.PendingDir));
    }

    [PosixFact]
    public async Task The_index_survives_a_restart_of_the_brick()
    {
        await using var b = await IndexBrick.StartAsync();
        var f = await b.CreateAsync("f");
        await b.XattropOk(f, IndexBrick.PendingA, 3);
        await b.RestartAsync();
        Assert.Equal([f], await b.PageAsync());
        await b.XattropOk(f, IndexBrick.PendingA, -3);
        Assert.Empty(await b.PageAsync());
    }

    [PosixFact]
    public async Task An_object_removed_since_is_dropped_from_the_index_when_listed()
    {
        await using var b = await IndexBrick.StartAsync();
        var f = await b.CreateAsync("f");
        var g = await b.CreateAsync("g");
        await b.XattropOk(f, IndexBrick.PendingA, 1);
        await b.XattropOk(g, IndexBrick.PendingA, 1);
        Assert.Equal(Errno.OK, await b.Index.UnlinkAsync(IndexBrick.Root, Loc.Child(Gfid.Root, "f")));
        Assert.Equal([g], await b.PageAsync());
        Assert.False(File.Exists(Path.Combine(b.PendingDir, f.ToString())));
        Assert.Equal(1, b.Index.Counters!["indexStaleDropped"]);
    }

    [PosixFact]
    public async Task A_long_index_is_listed_in_pages_in_ascending_order()
    {
        await using var b = await IndexBrick.StartAsync(new() { ["list-max"] = "2" });
        var all = new List<Gfid>();
        for (int i = 0; i < 5; i++)
        {
            var f = await b.CreateAsync("f" + i);
            await b.XattropOk(f, IndexBrick.PendingA, 1);
            all.Add(f);
        }
        all.Sort();
        var seen = new List<Gfid>();
        Gfid? after = null;
        while (true)
        {
            var page = await b.PageAsync(after);
            Assert.True(page.Count <= 2);
            if (page.Count == 0) break;
            seen.AddRange(page);
            after = page[^1];
        }
        Assert.Equal(all, seen);
    }
}

/// <summary>Only an authenticated root caller reads the index; pending counters are root's cluster state on the brick.</summary>
public class TheHealIndexIsForTrustedCallersOnly
{
    [PosixFact]
    public async Task Untrusted_or_non_root_callers_see_no_index_and_cannot_touch_pending_counters()
    {
        await using var b = await IndexBrick.StartAsync();
        var f = await b.CreateAsync("f");
        await b.XattropOk(f, IndexBrick.PendingA, 1);
        var squashed = new FopContext { Uid = 0, Gid = 0, Untrusted = true };
        foreach (var ctx in new[] { squashed, PosixBrick.User })
        {
            Assert.Equal(Errno.ENODATA, (await b.Index.GetxattrAsync(ctx, Loc.Nameless(Gfid.Root), Graft.Xlators.Features.Index.IndexTranslator.ListKey)).Error);
            Assert.NotEqual(Errno.OK, (await b.Index.XattropAsync(ctx, Loc.Nameless(f), IndexBrick.PendingA, IndexBrick.Counters(-1))).Error);
        }
        Assert.Equal([f], await b.PageAsync());
    }
}
