using System.Globalization;

namespace Graft.Core.Diagnostics;

/// <summary>
/// Writes what a daemon was doing, on SIGUSR1, to its log directory: one JSON file per dump, named
/// <c>NAME.PID.dump-UTCTIME.json</c>, written beside and renamed into place so a reader never sees half of one.
/// </summary>
public static class StateDump
{
    /// <summary>SIGUSR1 on Linux (PosixSignal names only the portable signals; a raw number is accepted).</summary>
    public const int SIGUSR1 = 10;

    /// <summary>Writes <paramref name="json"/> and returns the file's path.</summary>
    public static string Write(string directory, string name, string json)
    {
        Directory.CreateDirectory(directory);
        var stamp = DateTime.UtcNow.ToString("yyyyMMdd'T'HHmmss.fff'Z'", CultureInfo.InvariantCulture);
        var path = Path.Combine(directory, $"{name}.{Environment.ProcessId}.dump-{stamp}.json");
        var tmp = path + ".tmp";
        File.WriteAllText(tmp, json + "\n");
        File.Move(tmp, path, overwrite: true);
        return path;
    }
}
