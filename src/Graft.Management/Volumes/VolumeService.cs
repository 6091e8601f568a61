using Graft.Management.Store;

namespace Graft.Management.Volumes;

/// <summary>A request the daemon refuses: its message names what is wrong and goes back to the CLI as is.</summary>
public sealed class ManagementError(string message) : Exception(message);

/// <summary>
/// The volume operations (create, start, stop, delete, set, reset, add-brick, remove-brick) on the
/// store. Each reads what it needs, decides, and commits against the revisions it read; a conflict with
/// another daemon's commit means reading again and deciding again (never a lost update).
/// </summary>
public sealed class VolumeService(IClusterStore store, Func<CancellationToken, Task<IReadOnlyCollection<string>>> poolHosts)
{
    /// <summary>How many times a commit that lost a race is tried again before giving up.</summary>
    public int MaxConflicts { get; init; } = 50;

    public IClusterStore Store => store;

    public async Task<IReadOnlyList<Volume>> ListAsync(CancellationToken ct = default) =>
        [.. (await store.ListAsync("volumes/", ct).ConfigureAwait(false)).Select(e => Volume.FromJson(e.Value))];

    public async Task<Volume?> FindAsync(string name, CancellationToken ct = default) =>
        await store.GetAsync(Volume.Key(name), ct).ConfigureAwait(false) is { } e ? Volume.FromJson(e.Value) : null;

    public async Task<Volume> GetAsync(string name, CancellationToken ct = default) =>
        await FindAsync(name, ct).ConfigureAwait(false) ?? throw new ManagementError($"volume {name} does not exist");

    public async Task<Volume> CreateAsync(string name, int replica, IReadOnlyList<string> bricks, CancellationToken ct = default)
    {
        if (!Volume.ValidName(name)) throw new ManagementError($"'{name}' is not a valid volume name (letters, digits, '-', '_', '.'; at most 64)");
        if (replica < 1) throw new ManagementError("replica must be 1 or more");
        if (bricks.Count == 0) throw new ManagementError("give at least one brick as HOST:/DIR");
        if (bricks.Count % replica != 0) throw new ManagementError($"{bricks.Count} bricks do not make sets of replica {replica}");
        var parsed = await ParseBricksAsync(bricks, ct).ConfigureAwait(false);
        for (int attempt = 0; attempt < MaxConflicts; attempt++)
        {
            var all = await store.ListAsync("volumes/", ct).ConfigureAwait(false);
            if (all.Any(e => e.Key == Volume.Key(name))) throw new ManagementError($"volume {name} already exists");
            CheckBricksFree(parsed, all.Select(e => Volume.FromJson(e.Value)));
            var v = new Volume(name, Guid.NewGuid().ToString(), VolumeState.Created, replica,
                [.. parsed.Select((b, i) => new Brick(b.Host, b.Path, i, $"{name}-b{i}"))], new SortedDictionary<string, string>(), parsed.Count);
            // The brick check read every volume: commit only if none of them changed meanwhile.
            var conditions = all.Select(StoreCondition.Unchanged).Append(StoreCondition.Absent(Volume.Key(name))).ToList();
            if (await store.CommitAsync(conditions, [new StoreOp.Put(Volume.Key(name), v.ToJson())], ct).ConfigureAwait(false) is not null) return v;
        }
        throw Conflict(name);
    }

    public Task<Volume> StartAsync(string name, CancellationToken ct = default) => UpdateAsync(name, v =>
        v.State == VolumeState.Started ? throw new ManagementError($"volume {name} is already started") : v with { State = VolumeState.Started }, ct);

    public Task<Volume> StopAsync(string name, CancellationToken ct = default) => UpdateAsync(name, v =>
        v.State != VolumeState.Started ? throw new ManagementError($"volume {name} is not started") : v with { State = VolumeState.Stopped }, ct);

    public async Task DeleteAsync(string name, CancellationToken ct = default)
    {
        for (int attempt = 0; attempt < MaxConflicts; attempt++)
        {
            var e = await store.GetAsync(Volume.Key(name), ct).ConfigureAwait(false) ?? throw new ManagementError($"volume {name} does not exist");
            if (Volume.FromJson(e.Value).State == VolumeState.Started)
                throw new ManagementError($"volume {name} is started; stop it first (graft volume stop {name})");
            var ops = new List<StoreOp> { new StoreOp.Delete(Volume.Key(name)), new StoreOp.Delete("rebalance/" + name), new StoreOp.Delete(HealStatus.Key(name)) };
            foreach (var s in await store.ListAsync($"status/{name}/", ct).ConfigureAwait(false)) ops.Add(new StoreOp.Delete(s.Key));
            if (await store.CommitAsync([StoreCondition.Unchanged(e)], ops, ct).ConfigureAwait(false) is not null) return;
        }
        throw Conflict(name);
    }

    public Task<Volume> SetAsync(string name, string key, string value, CancellationToken ct = default)
    {
        var k = VolumeKeys.Find(key) ?? throw new ManagementError($"unknown key '{key}' (graft volume get {name} all lists them)");
        var normal = k.Normalise(value, out var error) ?? throw new ManagementError($"{k.Name}: {error}");
        return UpdateAsync(name, v => v with { Options = With(v.Options, k.Name, normal) }, ct);
    }

    public Task<Volume> ResetAsync(string name, string key, CancellationToken ct = default)
    {
        var all = key == "all";
        var k = all ? null : VolumeKeys.Find(key) ?? throw new ManagementError($"unknown key '{key}' (graft volume get {name} all lists them)");
        return UpdateAsync(name, v => v with { Options = all ? new SortedDictionary<string, string>() : With(v.Options, k!.Name, null) }, ct);
    }

    public async Task<Volume> AddBricksAsync(string name, IReadOnlyList<string> bricks, CancellationToken ct = default)
    {
        if (bricks.Count == 0) throw new ManagementError("give at least one brick as HOST:/DIR");
        var parsed = await ParseBricksAsync(bricks, ct).ConfigureAwait(false);
        for (int attempt = 0; attempt < MaxConflicts; attempt++)
        {
            var all = await store.ListAsync("volumes/", ct).ConfigureAwait(false);
            var e = all.FirstOrDefault(x => x.Key == Volume.Key(name)) ?? throw new ManagementError($"volume {name} does not exist");
            var v = Volume.FromJson(e.Value);
            if (parsed.Count % v.Replica != 0) throw new ManagementError($"{parsed.Count} bricks do not make sets of replica {v.Replica}");
            CheckBricksFree(parsed, all.Select(x => Volume.FromJson(x.Value)));
            var added = parsed.Select((b, i) => new Brick(b.Host, b.Path, v.NextBrickId + i, $"{name}-b{v.NextBrickId + i}")).ToList();
            var nv = v with { Bricks = [.. v.Bricks, .. added], NextBrickId = v.NextBrickId + added.Count };
            if (await store.CommitAsync([.. all.Select(StoreCondition.Unchanged)], [new StoreOp.Put(e.Key, nv.ToJson())], ct).ConfigureAwait(false) is not null)
                return nv;
        }
        throw Conflict(name);
    }

    /// <summary>Marks bricks as being drained (`remove-brick start`): they stay in the graph until committed.</summary>
    public Task<Volume> StartRemoveAsync(string name, IReadOnlyList<string> bricks, CancellationToken ct = default) => UpdateAsync(name, v =>
    {
        var names = BricksNamed(v, bricks);
        if (names.Count == v.Bricks.Count) throw new ManagementError($"cannot remove every brick of {name}; delete the volume instead");
        if (v.Replica > 1 && names.Count % v.Replica != 0) throw new ManagementError($"remove whole replica sets of {v.Replica} bricks");
        return v with { Removing = [.. names] };
    }, ct);

    /// <summary>`remove-brick commit`: the drained bricks leave the volume (a new graph on every client).</summary>
    public Task<Volume> CommitRemoveAsync(string name, IReadOnlyList<string> bricks, CancellationToken ct = default) => UpdateAsync(name, v =>
    {
        var names = BricksNamed(v, bricks);
        if (!names.All(v.Removing.Contains)) throw new ManagementError($"run graft volume remove-brick {name} {string.Join(' ', bricks)} start first");
        return v with { Bricks = [.. v.Bricks.Where(b => !names.Contains(b.Name))], Removing = [.. v.Removing.Except(names)] };
    }, ct);

    /// <summary>Records the port a brick's daemon chose for it.</summary>
    public Task<Volume> SetBrickPortAsync(string name, string brick, int port, CancellationToken ct = default) => UpdateAsync(name, v =>
        v with { Bricks = [.. v.Bricks.Select(b => b.Name == brick ? b with { Port = port } : b)] }, ct);

    private static List<string> BricksNamed(Volume v, IReadOnlyList<string> specs)
    {
        var names = new List<string>();
        foreach (var s in specs)
        {
            var b = v.Bricks.FirstOrDefault(x => x.Spec == s.TrimEnd('/') || x.Name == s)
                    ?? throw new ManagementError($"{s} is not a brick of volume {v.Name}");
            names.Add(b.Name);
        }
        return names;
    }

    /// <summary>Reads the volume, applies <paramref name="change"/>, commits if nobody wrote it meanwhile; else again.</summary>
    public async Task<Volume> UpdateAsync(string name, Func<Volume, Volume> change, CancellationToken ct = default)
    {
        for (int attempt = 0; attempt < MaxConflicts; attempt++)
        {
            var e = await store.GetAsync(Volume.Key(name), ct).ConfigureAwait(false) ?? throw new ManagementError($"volume {name} does not exist");
            var v = change(Volume.FromJson(e.Value));
            if (await store.CommitAsync([StoreCondition.Unchanged(e)], [new StoreOp.Put(e.Key, v.ToJson())], ct).ConfigureAwait(false) is not null) return v;
        }
        throw Conflict(name);
    }

    private static ManagementError Conflict(string name) =>
        new($"volume {name} kept changing under this request; try again");

    private static SortedDictionary<string, string> With(IReadOnlyDictionary<string, string> o, string key, string? value)
    {
        var d = new SortedDictionary<string, string>(o.ToDictionary(), StringComparer.Ordinal);
        if (value is null) d.Remove(key); else d[key] = value;
        return d;
    }

    private async Task<List<(string Host, string Path)>> ParseBricksAsync(IReadOnlyList<string> specs, CancellationToken ct)
    {
        var pool = await poolHosts(ct).ConfigureAwait(false);
        var list = new List<(string, string)>();
        foreach (var s in specs)
        {
            var colon = s.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0 || colon == s.Length - 1) throw new ManagementError($"'{s}' is not HOST:/DIR");
            var host = s[..colon];
            var path = s[(colon + 1)..];
            if (!path.StartsWith('/')) throw new ManagementError($"{s}: the brick directory must be an absolute path");
            path = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
            if (path == "/") throw new ManagementError($"{s}: the root directory cannot be a brick");
            if (!pool.Contains(host)) throw new ManagementError($"host {host} is not a peer (graft peer probe {host}; the pool is {string.Join(", ", pool)})");
            if (list.Any(b => b.Item1 == host && Nested(b.Item2, path))) throw new ManagementError($"{s} is given twice (or inside another brick of this request)");
            list.Add((host, path));
        }
        return list;
    }

    private static void CheckBricksFree(IEnumerable<(string Host, string Path)> bricks, IEnumerable<Volume> volumes)
    {
        foreach (var v in volumes)
            foreach (var b in v.Bricks)
                foreach (var (host, path) in bricks)
                    if (b.Host == host && Nested(b.Path, path))
                        throw new ManagementError($"{host}:{path} is in use by volume {v.Name} (brick {b.Spec})");
    }

    /// <summary>One directory is the other or inside it: two bricks there would share files.</summary>
    private static bool Nested(string a, string b) =>
        a == b || a.StartsWith(b + "/", StringComparison.Ordinal) || b.StartsWith(a + "/", StringComparison.Ordinal);
}
