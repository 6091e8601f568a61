namespace Graft.Management.Store;

/// <summary>One key of the store with the revision that last wrote it.</summary>
public sealed record StoreEntry(string Key, string Value, long ModRevision);

/// <summary>A write inside a <see cref="IClusterStore.CommitAsync"/>.</summary>
public abstract record StoreOp(string Key)
{
    public sealed record Put(string Key, string Value) : StoreOp(Key);
    public sealed record Delete(string Key) : StoreOp(Key);
}

/// <summary>
/// A compare of a transaction: <see cref="Key"/> was last written at <see cref="ModRevision"/>, or, with
/// <see cref="ModRevision"/> 0, does not exist. This is the whole of the store's concurrency control:
/// read, decide, commit if nothing changed under you, else read again (compare-and-swap on revisions).
/// </summary>
public sealed record StoreCondition(string Key, long ModRevision)
{
    public static StoreCondition Absent(string key) => new(key, 0);
    public static StoreCondition Unchanged(StoreEntry e) => new(e.Key, e.ModRevision);
}

/// <summary>
/// Held while this process leads: <see cref="Lost"/> fires when the leadership ends (the etcd lease
/// expired or could not be kept alive, the store closed). Disposing gives it up.
/// </summary>
public interface ILeadership : IAsyncDisposable
{
    CancellationToken Lost { get; }
}

/// <summary>
/// Where the cluster's state lives: a revisioned key-value map with transactions, watches and leader
/// election. Two implementations, with the same contract (tests run against both): an embedded SQLite
/// database (one node) and an etcd cluster (many nodes; consensus, watches and leases are etcd's own).
/// Keys are '/'-separated paths such as "volumes/NAME"; values are JSON text.
/// </summary>
public interface IClusterStore : IAsyncDisposable
{
    /// <summary>"sqlite" or "etcd", for status and logs.</summary>
    string Kind { get; }

    Task<StoreEntry?> GetAsync(string key, CancellationToken ct = default);

    /// <summary>Every key that starts with <paramref name="prefix"/>, in key order.</summary>
    Task<IReadOnlyList<StoreEntry>> ListAsync(string prefix, CancellationToken ct = default);

    /// <summary>
    /// Applies <paramref name="ops"/> atomically if every condition holds; returns the new revision,
    /// or null (nothing written) when a condition failed.
    /// </summary>
    Task<long?> CommitAsync(IReadOnlyList<StoreCondition> conditions, IReadOnlyList<StoreOp> ops, CancellationToken ct = default);

    /// <summary>The store's current revision (it grows with every commit).</summary>
    Task<long> RevisionAsync(CancellationToken ct = default);

    /// <summary>
    /// Yields a revision each time something under <paramref name="prefix"/> changed after
    /// <paramref name="afterRevision"/> (several changes may be folded into one). Level-triggered on
    /// purpose: a watcher re-reads what it needs, so a missed or merged event loses nothing. Ends when
    /// <paramref name="ct"/> is cancelled; reconnects by itself.
    /// </summary>
    IAsyncEnumerable<long> WatchAsync(string prefix, long afterRevision, CancellationToken ct);

    /// <summary>
    /// Waits until this process leads <paramref name="election"/> (one leader in the whole cluster at a
    /// time), or <paramref name="ct"/> is cancelled. <paramref name="candidate"/> names it in the store.
    /// </summary>
    Task<ILeadership> LeadAsync(string election, string candidate, CancellationToken ct);

    /// <summary>Who leads <paramref name="election"/> now, or null.</summary>
    Task<string?> LeaderAsync(string election, CancellationToken ct = default);
}

/// <summary>The store could not be reached within its bound: the operation did nothing or its outcome is unknown.</summary>
public sealed class StoreUnavailableException(string message, Exception? inner = null) : Exception(message, inner);
