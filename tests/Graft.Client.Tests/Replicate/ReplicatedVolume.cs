using System.Buffers.Binary;
using System.Runtime.InteropServices;
using System.Text;
using Graft.Client.Tests.Distribute;
using Graft.Xlators.Cluster.Replicate;

namespace Graft.Client.Tests.Replicate;

/// <summary>
/// A library volume over cluster/replicate over N storage/posix bricks in private temp directories
/// (in this process), with a debug/faults layer between replicate and each brick (named b0, b1, ...
/// as the pending counters name them) so that a test can make one copy fail or look gone. With
/// <c>locks</c>, each brick is features/locks (named b0, ...) over the faults layer, as a brick's
/// graph has it: transactions then take real domain locks and use inodelk-xattrop, and a fault fails
/// what features/locks sends down. With <c>faultsAboveLocks</c> the faults layer (b0, ...) sits over
/// features/locks (b0-locks, ...) instead: a fault then fails the lock calls too, as a brick that is gone does.
/// </summary>
internal sealed class ReplicatedVolume : IAsyncDisposable
{
    private readonly string _root;
    private readonly string[] _faults;
    private string _options;
    private readonly bool _locks;
    private bool _faultsAboveLocks;
    private string? _writeBehind;
    public List<string> Bricks { get; } = [];
    public Volume Volume { get; private set; } = null!;
    private readonly List<Volume> _others = [];

    private ReplicatedVolume(string root, int n, string options, bool locks)
    {
        _locks = locks;
        _root = root;
        _faults = new string[n];
        Array.Fill(_faults, "");
        _options = options;
    }

    /// <param name="writeBehind">when set, performance/write-behind (named wb) on top, with these options (`key value;...`).</param>
    public static async Task<ReplicatedVolume> CreateAsync(int bricks = 3, string options = "", bool locks = false, string? writeBehind = null, bool faultsAboveLocks = false)
    {
        var v = new ReplicatedVolume(Path.Combine(Path.GetTempPath(), "graft-afr-tests", Guid.NewGuid().ToString("N")), bricks, options, locks || faultsAboveLocks)
        {
            _writeBehind = writeBehind, _faultsAboveLocks = faultsAboveLocks,
        };
        for (int i = 0; i < bricks; i++)
        {
            var d = Path.Combine(v._root, "b" + i);
            Directory.CreateDirectory(d);
            v.Bricks.Add(d);
        }
        v.Volume = await v.OpenClientAsync();
        return v;
    }

    /// <summary>Another client of the same bricks (another mount): it knows nothing this one learnt in memory.</summary>
    public async Task<Volume> OpenClientAsync()
    {
        var vol = await Volume.OpenVolfileTextAsync(Volfile(), "afr.vol", new VolumeOptions { ChildUpTimeout = TimeSpan.FromSeconds(10) });
        if (Volume is not null) _others.Add(vol);
        return vol;
    }

    public string Volfile()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < Bricks.Count; i++)
        {
            sb.Append($"volume b{i}-posix\n    type storage/posix\n    option directory {Bricks[i]}\nend-volume\n\n");
            var below = $"b{i}-posix";
            if (_faultsAboveLocks)
            {
                sb.Append($"volume b{i}-locks\n    type features/locks\n    option lock-grace 0\n    subvolumes {below}\nend-volume\n\n");
                below = $"b{i}-locks";
            }
            var faults = FaultsName(i);
            sb.Append($"volume {faults}\n    type debug/faults\n");
            foreach (var o in _faults[i].Split(';', StringSplitOptions.RemoveEmptyEntries)) sb.Append("    option ").Append(o.Trim()).Append('\n');
            sb.Append($"    subvolumes {below}\nend-volume\n\n");
            if (_locks && !_faultsAboveLocks) sb.Append($"volume b{i}\n    type features/locks\n    option lock-grace 0\n    subvolumes {faults}\nend-volume\n\n");
        }
        sb.Append("volume afr\n    type cluster/replicate\n");
        foreach (var o in _options.Split(';', StringSplitOptions.RemoveEmptyEntries)) sb.Append("    option ").Append(o.Trim()).Append('\n');
        sb.Append("    subvolumes ").AppendJoin(' ', Enumerable.Range(0, Bricks.Count).Select(i => "b" + i)).Append("\nend-volume\n");
        if (_writeBehind is not null)
        {
            sb.Append("\nvolume wb\n    type performance/write-behind\n");
            foreach (var o in _writeBehind.Split(';', StringSplitOptions.RemoveEmptyEntries)) sb.Append("    option ").Append(o.Trim()).Append('\n');
            sb.Append("    subvolumes afr\nend-volume\n");
        }
        return sb.ToString();
    }

    /// <summary>
    /// Sets brick <paramref name="i"/>'s faults (`key value;...`, empty: none) in place on the graph of
    /// <paramref name="client"/> (this volume's first client when null). Clients opened later start with them.
    /// </summary>
    public async Task FaultAsync(int i, string faults, Volume? client = null)
    {
        _faults[i] = faults;
        var r = await (client ?? Volume).ApplyVolfileAsync(Volfile(), "afr.vol");
        Assert.True(r.Outcome == Graft.Mount.SwitchOutcome.Reconfigured, r.Message);
    }

    /// <summary>Brick <paramref name="i"/> answers every call with ENOTCONN, as a brick that is gone would.</summary>
    public Task TakeDownAsync(int i) => FaultAsync(i, "fail *; fail-errno ENOTCONN");

    public Task BringBackAsync(int i) => FaultAsync(i, "");

    public ReplicateTranslator Afr => Volume.Session.ActiveGraph.Translators.OfType<ReplicateTranslator>().Single();

    /// <summary>The debug/faults layer above brick <paramref name="i"/>.</summary>
    public Graft.Xlators.Debug.Faults.FaultsTranslator Faults(int i) =>
        Volume.Session.ActiveGraph.Translators.OfType<Graft.Xlators.Debug.Faults.FaultsTranslator>().Single(t => t.Name == FaultsName(i));

    private string FaultsName(int i) => _locks && !_faultsAboveLocks ? $"b{i}-faults" : $"b{i}";

    /// <summary>Brick <paramref name="i"/>'s features/locks (made with <c>locks</c>).</summary>
    public Graft.Xlators.Features.Locks.LocksTranslator Locks(int i) =>
        Volume.Session.ActiveGraph.Translators.OfType<Graft.Xlators.Features.Locks.LocksTranslator>().Single(t => t.Name == (_faultsAboveLocks ? $"b{i}-locks" : "b" + i));

    public string On(int i, string path) => Path.Combine(Bricks[i], path.TrimStart('/'));

    /// <summary>Brick <paramref name="i"/>'s copy of <paramref name="path"/>: its counter of <paramref name="kind"/> for child <paramref name="of"/>.</summary>
    public long Counter(int i, string path, int of, int kind = Pending.Data) =>
        Xattr.Get(On(i, path), Pending.NameFor("b" + of)) is { } v ? Pending.Read(v, kind) : 0;

    /// <summary>Every counter of every copy of <paramref name="path"/> is zero: nothing pending.</summary>
    public bool Clean(string path)
    {
        for (int i = 0; i < Bricks.Count; i++)
            for (int j = 0; j < Bricks.Count; j++)
                for (int k = 0; k < Pending.Kinds; k++)
                    if (Counter(i, path, j, k) != 0) return false;
        return true;
    }

    /// <summary>Sets brick <paramref name="i"/>'s counter for child <paramref name="of"/> on <paramref name="path"/> directly (a constructed state).</summary>
    public void SetCounter(int i, string path, int of, int kind, long value)
    {
        var v = Xattr.Get(On(i, path), Pending.NameFor("b" + of)) ?? new byte[Pending.Width];
        BinaryPrimitives.WriteInt64BigEndian(v.AsSpan(kind * 8), value);
        Xattr.Set(On(i, path), Pending.NameFor("b" + of), v);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var o in _others) await o.DisposeAsync();
        await Volume.DisposeAsync();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
