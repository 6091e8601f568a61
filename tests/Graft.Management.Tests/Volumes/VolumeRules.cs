using Graft.Management.Store.Sqlite;
using Graft.Management.Volumes;

namespace Graft.Management.Tests.Volumes;

/// <summary>The volume operations refuse what they must, with errors that name the problem.</summary>
public sealed class VolumeRules : IAsyncLifetime
{
    private SqliteStore _store = null!;
    private VolumeService _volumes = null!;

    public async Task InitializeAsync()
    {
        _store = await SqliteStore.OpenAsync(Path.Combine(Path.GetTempPath(), "graft-rules-" + Guid.NewGuid().ToString("N"), "s.db"));
        _volumes = new VolumeService(_store, _ => Task.FromResult<IReadOnlyCollection<string>>(["10.0.0.1", "10.0.0.2"]));
    }

    public async Task DisposeAsync() => await _store.DisposeAsync();

    [Fact]
    public async Task A_brick_dir_in_use_by_another_volume_is_refused()
    {
        await _volumes.CreateAsync("a", 1, ["10.0.0.1:/srv/a"]);
        var e = await Assert.ThrowsAsync<ManagementError>(() => _volumes.CreateAsync("b", 1, ["10.0.0.1:/srv/a/sub"]));
        Assert.Contains("in use by volume a", e.Message);
        // Same path on another host is another directory.
        await _volumes.CreateAsync("b", 1, ["10.0.0.2:/srv/a"]);
    }

    [Fact]
    public async Task A_host_not_in_the_pool_is_refused()
    {
        var e = await Assert.ThrowsAsync<ManagementError>(() => _volumes.CreateAsync("c", 1, ["10.9.9.9:/srv/c"]));
        Assert.Contains("host 10.9.9.9 is not a peer", e.Message);
    }

    [Fact]
    public async Task Unknown_keys_bad_values_and_started_deletes_are_refused()
    {
        await _volumes.CreateAsync("d", 1, ["10.0.0.1:/srv/d"]);
        Assert.Contains("unknown key 'performance.nonsense'", (await Assert.ThrowsAsync<ManagementError>(() => _volumes.SetAsync("d", "performance.nonsense", "1"))).Message);
        Assert.Contains("is not a boolean", (await Assert.ThrowsAsync<ManagementError>(() => _volumes.SetAsync("d", "performance.write-behind", "maybe"))).Message);
        await _volumes.StartAsync("d");
        Assert.Contains("stop it first", (await Assert.ThrowsAsync<ManagementError>(() => _volumes.DeleteAsync("d"))).Message);
        Assert.Contains("already exists", (await Assert.ThrowsAsync<ManagementError>(() => _volumes.CreateAsync("d", 1, ["10.0.0.2:/srv/x"]))).Message);
    }

    [Fact]
    public async Task Add_brick_appends_with_new_ids_and_replica_sets_stay_whole()
    {
        await _volumes.CreateAsync("e", 2, ["10.0.0.1:/srv/e1", "10.0.0.2:/srv/e1"]);
        Assert.Contains("sets of replica 2", (await Assert.ThrowsAsync<ManagementError>(() => _volumes.AddBricksAsync("e", ["10.0.0.1:/srv/e2"]))).Message);
        var v = await _volumes.AddBricksAsync("e", ["10.0.0.1:/srv/e2", "10.0.0.2:/srv/e2"]);
        Assert.Equal([0, 1, 2, 3], v.Bricks.Select(b => b.Id));
    }
}
