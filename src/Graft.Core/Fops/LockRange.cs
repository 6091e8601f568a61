namespace Graft.Core;

/// <summary>
/// A lock's byte range as two inclusive offsets, so "to end of file" is <see cref="Eof"/> and no
/// arithmetic on it can overflow. FileLock's (Start, Length) is converted once, at the edge — by
/// features/locks on the brick and by the mount's memory of the locks it holds.
/// </summary>
public readonly record struct LockRange(long Start, long End)
{
    /// <summary>The last offset: a range ending here runs to end of file, however the file grows.</summary>
    public const long Eof = long.MaxValue;

    public static readonly LockRange WholeFile = new(0, Eof);

    /// <summary>
    /// The range a struct flock names: Length 0 runs to end of file, a negative Length names the
    /// bytes before Start (POSIX allows it). EINVAL for a range starting before 0.
    /// </summary>
    public static Errno TryFrom(in FileLock lk, out LockRange range)
    {
        range = default;
        long start = lk.Start, end;
        if (lk.Length == 0) end = Eof;
        else if (lk.Length > 0)
        {
            if (start < 0) return Errno.EINVAL;
            // Clamp rather than fail: a range reaching past the largest offset means "to the end".
            end = lk.Length - 1 > Eof - start ? Eof : start + lk.Length - 1;
        }
        else
        {
            if (lk.Length == long.MinValue) return Errno.EINVAL;
            end = start - 1;
            start += lk.Length;
        }
        if (start < 0 || end < start) return Errno.EINVAL;
        range = new LockRange(start, end);
        return Errno.OK;
    }

    /// <summary>Length as struct flock gives it: 0 for "to end of file".</summary>
    public long Length => End == Eof ? 0 : End - Start + 1;

    public bool Overlaps(LockRange o) => Start <= o.End && o.Start <= End;

    /// <summary>Overlapping or directly adjacent: two such ranges of one owner and type merge into one.</summary>
    public bool Touches(LockRange o) =>
        Overlaps(o) || (End != Eof && End + 1 == o.Start) || (o.End != Eof && o.End + 1 == Start);

    public LockRange Union(LockRange o) => new(Math.Min(Start, o.Start), Math.Max(End, o.End));

    public override string ToString() => End == Eof ? $"[{Start}, EOF]" : $"[{Start}, {End}]";
}
