namespace Graft.Core;

/// <summary>
/// A volfile that cannot become a graph. Carries where the problem is (file, line, volume) so
/// that every front end (CLI, management daemon, mount) reports it the same way:
/// <c>FILE:LINE: volume 'NAME': message</c>.
/// </summary>
public sealed class VolfileException : Exception
{
    public VolfileException(string file, int line, string? volume, string problem)
        : base(Format(file, line, volume, problem))
    {
        File = file;
        Line = line;
        Volume = volume;
        Problem = problem;
    }

    public string File { get; }
    /// <summary>1-based line number the problem is reported at.</summary>
    public int Line { get; }
    /// <summary>The volume the problem is in, or null for a statement outside any volume.</summary>
    public string? Volume { get; }
    /// <summary>The message without the location prefix.</summary>
    public string Problem { get; }

    private static string Format(string file, int line, string? volume, string problem) =>
        volume is null ? $"{file}:{line}: {problem}" : $"{file}:{line}: volume '{volume}': {problem}";
}
