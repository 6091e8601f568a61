namespace Graft.Xlators;

/// <summary>
/// For log lines a client can cause at will (hitting a limit over and over): at most one per
/// interval, so abuse cannot flood the log. Every event is still counted by its caller, and the
/// line that is written reports the counts so far.
/// </summary>
internal sealed class LogThrottle(TimeSpan interval)
{
    private readonly long _intervalMs = (long)interval.TotalMilliseconds;
    private long _nextMs;

    /// <summary>True for the first call, then at most once per interval (whichever caller gets there first).</summary>
    public bool Due()
    {
        long now = Environment.TickCount64, next = Volatile.Read(ref _nextMs);
        return now >= next && Interlocked.CompareExchange(ref _nextMs, now + _intervalMs, next) == next;
    }
}
