namespace Graft.Mount.Switching;

/// <summary>Where a mount's volfile comes from and which revision of it was last delivered (`graft state`).</summary>
/// <param name="Kind">"file" or "daemon".</param>
/// <param name="Source">The volfile's path, or "HOST:PORT:/VOLUME" of the daemon now serving it.</param>
/// <param name="Revision">The store revision of the volume the last volfile was generated from (daemon only).</param>
public sealed record VolfileSourceInfo(string Kind, string Source, long? Revision);

/// <summary>
/// A stream of volfile contents other than a local file: a management daemon's subscription. Each new
/// content is handed to the callback given to <see cref="Start"/>, one at a time, and applied by
/// <see cref="VolfileFollower"/> exactly like an edited volfile. Never carries credentials in what it
/// reports.
/// </summary>
public interface IVolfileSource : IDisposable
{
    /// <summary>The name volfile errors are reported under.</summary>
    string Name { get; }

    VolfileSourceInfo Info { get; }

    /// <summary>Begins delivering new contents (not the one already applied).</summary>
    void Start(Func<string, Task> onChange);

    /// <summary>Fetches again now (SIGHUP).</summary>
    void Poke();
}
