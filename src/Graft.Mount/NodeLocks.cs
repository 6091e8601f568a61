using Graft.Core;

namespace Graft.Mount;

/// <summary>
/// The locks this mount holds on one file, as the bricks granted them (issue 7): what the
/// session takes back after a brick restart, and which open file a lost lock fails closed.
/// fcntl locks are kept per owner as non-overlapping ranges (a set cuts the owner's earlier
/// coverage, as on the brick; adjacent ranges are not merged — that is only cosmetic here);
/// flocks per open file. Guarded by its own monitor; nothing is awaited under it.
/// </summary>
internal sealed class NodeLocks
{
    /// <summary>One fcntl range: <see cref="End"/> is inclusive, <see cref="long.MaxValue"/> = to end of file.</summary>
    internal readonly record struct Range(ulong Owner, LockType Type, long Start, long End, int Pid, MountFile Through);

    private readonly List<Range> _ranges = [];
    private readonly Dictionary<MountFile, FileLock> _flocks = [];

    public bool IsEmpty { get { lock (this) return _ranges.Count == 0 && _flocks.Count == 0; } }

    /// <summary>Records a granted set (or an unlock) taken through <paramref name="through"/>.</summary>
    public void Apply(MountFile through, in FileLock lk)
    {
        lock (this)
        {
            if (lk.Flock)
            {
                if (lk.Type == LockType.Unlock) _flocks.Remove(through);
                else _flocks[through] = lk;
                return;
            }
            if (!TryNormalize(lk, out var s, out var e)) return;
            for (int i = _ranges.Count - 1; i >= 0; i--)
            {
                var r = _ranges[i];
                if (r.Owner != lk.Owner || r.End < s || r.Start > e) continue;
                _ranges.RemoveAt(i);
                if (r.Start < s) _ranges.Add(r with { End = s - 1 });
                if (r.End > e) _ranges.Add(r with { Start = e + 1 });
            }
            if (lk.Type != LockType.Unlock) _ranges.Add(new Range(lk.Owner, lk.Type, s, e, lk.Pid, through));
        }
    }

    /// <summary>FLUSH by <paramref name="owner"/>: the brick dropped that owner's fcntl locks on the file.</summary>
    public void DropOwner(ulong owner)
    {
        lock (this) _ranges.RemoveAll(r => r.Owner == owner);
    }

    /// <summary>RELEASE of <paramref name="file"/>: the brick dropped the flocks held through it.</summary>
    public void DropFile(MountFile file)
    {
        lock (this) _flocks.Remove(file);
    }

    /// <summary>Forgets one lock that could not be taken back.</summary>
    public void Forget(MountFile through, FileLock lk)
    {
        lock (this)
        {
            if (lk.Flock) { _flocks.Remove(through); return; }
            var owner = lk.Owner;
            if (TryNormalize(lk, out var s, out var e))
                _ranges.RemoveAll(r => r.Owner == owner && r.Start == s && r.End == e && ReferenceEquals(r.Through, through));
        }
    }

    /// <summary>Every lock held, as the request that takes it back, with the open file it was taken through.</summary>
    public List<(MountFile Through, FileLock Lock)> Snapshot()
    {
        lock (this)
        {
            var all = new List<(MountFile, FileLock)>(_ranges.Count + _flocks.Count);
            foreach (var r in _ranges)
                all.Add((r.Through, new FileLock
                {
                    Type = r.Type, Start = r.Start, Length = r.End == long.MaxValue ? 0 : r.End - r.Start + 1, Pid = r.Pid, Owner = r.Owner,
                }));
            foreach (var (f, lk) in _flocks) all.Add((f, lk));
            return all;
        }
    }

    /// <summary>The inclusive byte range of an fcntl request (POSIX: length 0 = to EOF, negative = before start).</summary>
    internal static bool TryNormalize(in FileLock lk, out long start, out long end)
    {
        if (lk.Length == 0) { start = lk.Start; end = long.MaxValue; }
        else if (lk.Length > 0) { start = lk.Start; end = lk.Start > long.MaxValue - lk.Length + 1 ? long.MaxValue : lk.Start + lk.Length - 1; }
        else { start = lk.Start + lk.Length; end = lk.Start - 1; }
        return start >= 0 && end >= start;
    }
}
