using System.Globalization;

namespace Graft.Fuse.Raw;

/// <summary>
/// Supplementary groups of calling processes, read from /proc/&lt;pid&gt;/status and reused for a short
/// time. The kernel does not send them (CREATE_SUPP_GROUP carries one group, and only for creates), yet the
/// brick checks permissions against all of them. A short cache bounds both the /proc reads under a burst
/// from one process and how long a changed group list goes unnoticed.
/// </summary>
public sealed class CallerGroups(TimeSpan cacheTime)
{
    readonly Lock _lock = new();
    readonly Dictionary<uint, (uint[] Groups, long Expires)> _byPid = [];
    readonly long _ttlTicks = (long)(cacheTime.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
    long _nextSweep;

    public uint[] Get(uint pid)
    {
        if (pid == 0) return [];
        long now = System.Diagnostics.Stopwatch.GetTimestamp();
        lock (_lock)
        {
            if (_byPid.TryGetValue(pid, out var e) && e.Expires > now) return e.Groups;
        }
        var groups = Read(pid);
        lock (_lock)
        {
            if (now > _nextSweep)
            {
                // Drop expired pids now and then so the table stays as small as the set of active callers.
                foreach (var (k, v) in _byPid)
                    if (v.Expires <= now) _byPid.Remove(k);
                _nextSweep = now + _ttlTicks * 10;
            }
            _byPid[pid] = (groups, now + _ttlTicks);
        }
        return groups;
    }

    /// <summary>Parses the "Groups:" line of /proc/&lt;pid&gt;/status; empty if the process is gone.</summary>
    public static uint[] Read(uint pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (!line.StartsWith("Groups:", StringComparison.Ordinal)) continue;
                var parts = line["Groups:".Length..].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
                var result = new uint[parts.Length];
                for (int i = 0; i < parts.Length; i++)
                    result[i] = uint.Parse(parts[i], CultureInfo.InvariantCulture);
                return result;
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return [];
    }
}
