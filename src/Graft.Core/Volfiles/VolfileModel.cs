namespace Graft.Core;

/// <summary>One <c>option KEY VALUE</c> statement, as written (KEY may be an alias).</summary>
public sealed record VolfileOption(string Key, string Value, int Line);

/// <summary>One <c>volume ... end-volume</c> block, as written, with the line of each statement.</summary>
public sealed class VolfileVolume
{
    public VolfileVolume(string name, int line, string type, int typeLine,
                         IReadOnlyList<VolfileOption> options, IReadOnlyList<string> subvolumes, int subvolumesLine)
    {
        Name = name;
        Line = line;
        Type = type;
        TypeLine = typeLine;
        Options = options;
        Subvolumes = subvolumes;
        SubvolumesLine = subvolumesLine;
    }

    public string Name { get; }
    /// <summary>Line of the <c>volume NAME</c> statement.</summary>
    public int Line { get; }
    public string Type { get; }
    public int TypeLine { get; }
    /// <summary>Options in file order.</summary>
    public IReadOnlyList<VolfileOption> Options { get; }
    /// <summary>Child volume names in order (order matters: e.g. distribute hashes over it).</summary>
    public IReadOnlyList<string> Subvolumes { get; }
    /// <summary>Line of the <c>subvolumes</c> statement, or 0 when there is none.</summary>
    public int SubvolumesLine { get; }

    public VolfileOption? FindOption(string key)
    {
        foreach (var o in Options) if (o.Key == key) return o;
        return null;
    }

    public override string ToString() => $"volume {Name} ({Type})";
}

/// <summary>
/// A parsed volfile: its volumes in file order. Parsing checks syntax only; <see cref="Validate"/>
/// checks it against the translator types (and <see cref="GraphBuilder"/> does so before building).
/// The top of the graph is the last volume.
/// </summary>
public sealed class VolfileModel
{
    private readonly Dictionary<string, VolfileVolume> _byName;

    public VolfileModel(string file, IReadOnlyList<VolfileVolume> volumes, string? text = null)
    {
        if (volumes.Count == 0) throw new ArgumentException("a volfile has at least one volume", nameof(volumes));
        File = file;
        Volumes = volumes;
        Text = text;
        _byName = new Dictionary<string, VolfileVolume>(StringComparer.Ordinal);
        foreach (var v in volumes)
            if (!_byName.TryAdd(v.Name, v)) throw new ArgumentException($"volume '{v.Name}' is defined twice", nameof(volumes));
    }

    /// <summary>The name errors are reported against (a path, or a label such as "&lt;generated&gt;").</summary>
    public string File { get; }
    public IReadOnlyList<VolfileVolume> Volumes { get; }
    /// <summary>The source text, when the model was parsed from text.</summary>
    public string? Text { get; }
    /// <summary>The last volume in the file.</summary>
    public VolfileVolume Top => Volumes[^1];

    public VolfileVolume? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>Parses volfile text (syntax only). Throws <see cref="VolfileException"/>.</summary>
    public static VolfileModel Parse(string text, string file = "<volfile>") => VolfileParser.Parse(text, file);

    /// <summary>Reads and parses a volfile (syntax only). Throws <see cref="VolfileException"/> or an IO exception.</summary>
    public static VolfileModel Load(string path) => VolfileParser.Parse(System.IO.File.ReadAllText(path), path);

    /// <summary>Checks types, options, edges and shape against <paramref name="registry"/>. Throws <see cref="VolfileException"/>.</summary>
    public void Validate(XlatorRegistry registry) => VolfileValidator.Validate(this, registry);

    /// <summary>The model as volfile text (see <see cref="VolfileWriter"/>).</summary>
    public override string ToString() => VolfileWriter.Write(this);
}
