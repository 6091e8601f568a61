using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;

namespace Graft.Management.Store.Sqlite;

/// <summary>
/// The one-node store: an embedded SQLite database in the daemon's state directory. Schema:
/// <c>kv(key TEXT PRIMARY KEY, value TEXT, mod_revision INTEGER)</c> and <c>meta(name, value)</c>
/// holding the store's revision. Each commit is one SQLite transaction that checks its conditions,
/// bumps the revision and writes. Only one daemon opens a state directory (it holds a lock file), so
/// watches and leadership are in-process: a commit wakes the watchers, and the one daemon always leads.
/// </summary>
public sealed class SqliteStore : IClusterStore
{
    private readonly SqliteConnection _db;
    private readonly SemaphoreSlim _sync = new(1, 1);
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Dictionary<string, SemaphoreSlim> _elections = [];
    private readonly Dictionary<string, string> _leaders = [];

    // The keys each commit of this process wrote, for watches (trimmed: a watcher older than the
    // log sees one change at the log's start, which is enough for a level-triggered watcher).
    private const int MaxLog = 100_000;
    private readonly List<(long Rev, string Key)> _log = [];
    private long _openedAt;

    private SqliteStore(SqliteConnection db, long openedAt) { _db = db; _openedAt = openedAt; }

    public string Kind => "sqlite";

    public static async Task<SqliteStore> OpenAsync(string file, CancellationToken ct = default)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
        var db = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = file, Pooling = false }.ToString());
        await db.OpenAsync(ct).ConfigureAwait(false);
        // Microsoft.Data.Sqlite's commands, readers and transactions dispose synchronously: plain using.
        using (var cmd = db.CreateCommand())
        {
            // WAL: a crash mid-commit leaves the last committed state; synchronous=FULL: a commit the
            // CLI was told about survives a power cut.
            cmd.CommandText = """
                PRAGMA journal_mode=WAL;
                PRAGMA synchronous=FULL;
                CREATE TABLE IF NOT EXISTS kv(key TEXT PRIMARY KEY, value TEXT NOT NULL, mod_revision INTEGER NOT NULL);
                CREATE TABLE IF NOT EXISTS meta(name TEXT PRIMARY KEY, value INTEGER NOT NULL);
                INSERT OR IGNORE INTO meta(name, value) VALUES ('revision', 1);
                """;
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        using var rev = db.CreateCommand();
        rev.CommandText = "SELECT value FROM meta WHERE name = 'revision'";
        return new SqliteStore(db, (long)(await rev.ExecuteScalarAsync(ct).ConfigureAwait(false))!);
    }

    public async Task<StoreEntry?> GetAsync(string key, CancellationToken ct = default)
    {
        await _sync.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT value, mod_revision FROM kv WHERE key = $k";
            cmd.Parameters.AddWithValue("$k", key);
            using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            return await r.ReadAsync(ct).ConfigureAwait(false) ? new StoreEntry(key, r.GetString(0), r.GetInt64(1)) : null;
        }
        finally { _sync.Release(); }
    }

    public async Task<IReadOnlyList<StoreEntry>> ListAsync(string prefix, CancellationToken ct = default)
    {
        await _sync.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            using var cmd = _db.CreateCommand();
            // A range on the primary key rather than LIKE: '%' and '_' in a prefix mean nothing here.
            cmd.CommandText = "SELECT key, value, mod_revision FROM kv WHERE key >= $p AND key < $end ORDER BY key";
            cmd.Parameters.AddWithValue("$p", prefix);
            cmd.Parameters.AddWithValue("$end", prefix + '\uffff');
            var list = new List<StoreEntry>();
            using var r = await cmd.ExecuteReaderAsync(ct).ConfigureAwait(false);
            while (await r.ReadAsync(ct).ConfigureAwait(false)) list.Add(new StoreEntry(r.GetString(0), r.GetString(1), r.GetInt64(2)));
            return list;
        }
        finally { _sync.Release(); }
    }

    public async Task<long?> CommitAsync(IReadOnlyList<StoreCondition> conditions, IReadOnlyList<StoreOp> ops, CancellationToken ct = default)
    {
        long revision;
        await _sync.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            using var tx = (SqliteTransaction)await _db.BeginTransactionAsync(ct).ConfigureAwait(false);
            foreach (var c in conditions)
            {
                using var q = _db.CreateCommand();
                q.Transaction = tx;
                q.CommandText = "SELECT mod_revision FROM kv WHERE key = $k";
                q.Parameters.AddWithValue("$k", c.Key);
                var found = await q.ExecuteScalarAsync(ct).ConfigureAwait(false);
                long current = found is long l ? l : 0;
                if (current != c.ModRevision) return null;
            }
            using (var bump = _db.CreateCommand())
            {
                bump.Transaction = tx;
                bump.CommandText = "UPDATE meta SET value = value + 1 WHERE name = 'revision' RETURNING value";
                revision = (long)(await bump.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
            }
            foreach (var op in ops)
            {
                using var w = _db.CreateCommand();
                w.Transaction = tx;
                w.Parameters.AddWithValue("$k", op.Key);
                if (op is StoreOp.Put put)
                {
                    w.CommandText = "INSERT INTO kv(key, value, mod_revision) VALUES ($k, $v, $r) " +
                                    "ON CONFLICT(key) DO UPDATE SET value = excluded.value, mod_revision = excluded.mod_revision";
                    w.Parameters.AddWithValue("$v", put.Value);
                    w.Parameters.AddWithValue("$r", revision);
                }
                else w.CommandText = "DELETE FROM kv WHERE key = $k";
                await w.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            }
            await tx.CommitAsync(ct).ConfigureAwait(false);
        }
        finally { _sync.Release(); }
        lock (_log)
        {
            foreach (var op in ops) _log.Add((revision, op.Key));
            if (_log.Count > MaxLog) _log.RemoveRange(0, _log.Count - MaxLog / 2);
            _openedAt = Math.Max(_openedAt, _log[0].Rev - 1);
        }
        Interlocked.Exchange(ref _changed, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
        return revision;
    }

    public async Task<long> RevisionAsync(CancellationToken ct = default)
    {
        await _sync.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            using var cmd = _db.CreateCommand();
            cmd.CommandText = "SELECT value FROM meta WHERE name = 'revision'";
            return (long)(await cmd.ExecuteScalarAsync(ct).ConfigureAwait(false))!;
        }
        finally { _sync.Release(); }
    }

    public async IAsyncEnumerable<long> WatchAsync(string prefix, long afterRevision, [EnumeratorCancellation] CancellationToken ct)
    {
        var seen = afterRevision;
        while (!ct.IsCancellationRequested)
        {
            // Take the wake-up before reading, so a commit between the read and the wait is not missed.
            var changed = Volatile.Read(ref _changed).Task;
            long newest = 0;
            lock (_log)
            {
                // What happened before this process opened the store is not in the log: report it as one change.
                if (seen < _openedAt) newest = _openedAt;
                foreach (var (rev, key) in _log)
                    if (rev > seen && key.StartsWith(prefix, StringComparison.Ordinal)) newest = Math.Max(newest, rev);
            }
            if (newest > seen) { seen = newest; yield return newest; continue; }
            try { await changed.WaitAsync(ct).ConfigureAwait(false); }
            catch (OperationCanceledException) { yield break; }
        }
    }

    public async Task<ILeadership> LeadAsync(string election, string candidate, CancellationToken ct)
    {
        SemaphoreSlim gate;
        lock (_elections)
        {
            if (!_elections.TryGetValue(election, out gate!)) _elections[election] = gate = new SemaphoreSlim(1, 1);
        }
        await gate.WaitAsync(ct).ConfigureAwait(false);
        lock (_elections) _leaders[election] = candidate;
        return new Leadership(this, election, gate);
    }

    public Task<string?> LeaderAsync(string election, CancellationToken ct = default)
    {
        lock (_elections) return Task.FromResult(_leaders.GetValueOrDefault(election));
    }

    private sealed class Leadership(SqliteStore store, string election, SemaphoreSlim gate) : ILeadership
    {
        private readonly CancellationTokenSource _lost = new();
        private int _disposed;
        public CancellationToken Lost => _lost.Token;

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return ValueTask.CompletedTask;
            lock (store._elections) store._leaders.Remove(election);
            _lost.Cancel();
            gate.Release();
            return ValueTask.CompletedTask;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _sync.WaitAsync().ConfigureAwait(false);
        try { await _db.DisposeAsync().ConfigureAwait(false); }
        finally { _sync.Release(); }
    }
}
