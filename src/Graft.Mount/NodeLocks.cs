using Graft.Core;

namespace Graft.Mount;

/// <summary>
/// The locks this mount holds on one file, as the bricks granted them (issue 7): what the
/// session takes back after a brick restart, and which open file a lost lock fails closed.
/// fcntl locks are kept per owner as non-overlapping <see cref="LockRange"/>s (a set cuts the
/// owner's earlier coverage, as on the brick; adjacent ranges are not merged — cosmetic here);
/// flocks per open file. Guarded by its own monitor; nothing is awaited under it.
/// </summary>
internal sealed class NodeLocks
{
    /// <summary>One fcntl range an owner holds.</summary>
    internal readonly record struct Range(ulong Owner, LockType Type, LockRange Bytes, int Pid, MountFile Through);

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
            if (LockRange.TryFrom(lk, out var cut) != Errno.OK) return; // the brick refused it too
            for (int i = _ranges.Count - 1; i >= 0; i--)
            {
                var r = _ranges[i];
                if (r.Owner != lk.Owner || !r.Bytes.Overlaps(cut)) continue;
                _ranges.RemoveAt(i);
                if (r.Bytes.Start < cut.Start) _ranges.Add(r with { Bytes = r.Bytes with { End = cut.Start - 1 } });
                if (r.Bytes.End > cut.End) _ranges.Add(r with { Bytes = r.Bytes with { Start = cut.End + 1 } });
            }
            if (lk.Type != LockType.Unlock) _ranges.Add(new Range(lk.Owner, lk.Type, cut, lk.Pid, through));
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
            if (LockRange.TryFrom(lk, out var bytes) == Errno.OK)
                _ranges.RemoveAll(r => r.Owner == owner && r.Bytes == bytes && ReferenceEquals(r.Through, through));
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
                    Type = r.Type, Start = r.Bytes.Start, Length = r.Bytes.Length, Pid = r.Pid, Owner = r.Owner,
                }));
            foreach (var (f, lk) in _flocks) all.Add((f, lk));
            return all;
        }
    }
}
