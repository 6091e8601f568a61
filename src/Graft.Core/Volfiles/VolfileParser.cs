namespace Graft.Core;

/// <summary>
/// GlusterFS volfile syntax, one statement per line:
/// <c>volume NAME</c>, <c>type T</c>, <c>option KEY VALUE</c> (VALUE is the rest of the line,
/// trimmed, so it may hold spaces), <c>subvolumes A B ...</c>, <c>end-volume</c>. A line whose
/// first non-blank character is <c>#</c> is a comment; blank lines are ignored. Keywords are
/// case-sensitive. Only syntax is checked here; <see cref="VolfileValidator"/> checks meaning.
/// </summary>
internal static class VolfileParser
{
    private static readonly char[] Blanks = [' ', '\t'];

    public static VolfileModel Parse(string text, string file)
    {
        var volumes = new List<VolfileVolume>();
        var firstLine = new Dictionary<string, int>(StringComparer.Ordinal);
        Open? cur = null;
        // A byte-order mark is not part of the first statement (editors on other systems add one).
        var lines = text.TrimStart('\uFEFF').Split('\n');
        int lastLine = 0;
        for (int i = 0; i < lines.Length; i++)
        {
            int ln = i + 1;
            var line = lines[i].Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            lastLine = ln;
            int sp = line.IndexOfAny(Blanks);
            string keyword = sp < 0 ? line : line[..sp];
            string rest = sp < 0 ? "" : line[(sp + 1)..].Trim();
            string[] args = rest.Length == 0 ? [] : rest.Split(Blanks, StringSplitOptions.RemoveEmptyEntries);

            if (keyword == "volume")
            {
                if (cur is not null)
                    throw new VolfileException(file, ln, cur.Name, $"missing 'end-volume' before '{line}'");
                if (args.Length != 1)
                    throw new VolfileException(file, ln, null, args.Length == 0 ? "'volume' needs a name" : $"'volume' takes one name, got '{rest}'");
                if (firstLine.TryGetValue(args[0], out var first))
                    throw new VolfileException(file, ln, args[0], $"defined twice (first on line {first})");
                firstLine[args[0]] = ln;
                cur = new Open(args[0], ln);
                continue;
            }
            if (cur is null)
            {
                throw new VolfileException(file, ln, null, keyword switch
                {
                    "type" or "option" or "subvolumes" => $"'{keyword}' outside a volume (expected 'volume NAME' first)",
                    "end-volume" => "'end-volume' without a matching 'volume'",
                    _ => $"unknown statement '{keyword}' (expected 'volume NAME')",
                });
            }
            switch (keyword)
            {
                case "type":
                    if (cur.TypeLine != 0) throw new VolfileException(file, ln, cur.Name, $"'type' given twice (first on line {cur.TypeLine})");
                    if (args.Length != 1)
                        throw new VolfileException(file, ln, cur.Name, args.Length == 0 ? "'type' needs a translator type" : $"'type' takes one translator type, got '{rest}'");
                    cur.Type = args[0];
                    cur.TypeLine = ln;
                    break;
                case "option":
                    if (args.Length == 0) throw new VolfileException(file, ln, cur.Name, "'option' needs a key and a value");
                    string key = args[0];
                    string value = rest[key.Length..].Trim();
                    if (value.Length == 0) throw new VolfileException(file, ln, cur.Name, $"option '{key}' has no value");
                    foreach (var o in cur.Options)
                        if (o.Key == key) throw new VolfileException(file, ln, cur.Name, $"option '{key}' given twice (first on line {o.Line})");
                    cur.Options.Add(new VolfileOption(key, value, ln));
                    break;
                case "subvolumes":
                    if (cur.SubvolumesLine != 0) throw new VolfileException(file, ln, cur.Name, $"'subvolumes' given twice (first on line {cur.SubvolumesLine})");
                    if (args.Length == 0) throw new VolfileException(file, ln, cur.Name, "'subvolumes' needs at least one volume name");
                    for (int a = 0; a < args.Length; a++)
                        for (int b = 0; b < a; b++)
                            if (args[a] == args[b]) throw new VolfileException(file, ln, cur.Name, $"subvolume '{args[a]}' is named twice");
                    cur.Subvolumes = args;
                    cur.SubvolumesLine = ln;
                    break;
                case "end-volume":
                    if (args.Length != 0) throw new VolfileException(file, ln, cur.Name, $"'end-volume' takes nothing after it, got '{rest}'");
                    if (cur.TypeLine == 0) throw new VolfileException(file, cur.Line, cur.Name, "has no 'type'");
                    volumes.Add(new VolfileVolume(cur.Name, cur.Line, cur.Type, cur.TypeLine, cur.Options, cur.Subvolumes, cur.SubvolumesLine));
                    cur = null;
                    break;
                default:
                    throw new VolfileException(file, ln, cur.Name,
                        $"unknown statement '{keyword}' (expected 'type', 'option', 'subvolumes' or 'end-volume')");
            }
        }
        if (cur is not null) throw new VolfileException(file, cur.Line, cur.Name, "missing 'end-volume' (the file ends inside this volume)");
        if (volumes.Count == 0) throw new VolfileException(file, Math.Max(lastLine, 1), null, "no volumes defined");
        return new VolfileModel(file, volumes, text);
    }

    private sealed class Open(string name, int line)
    {
        public string Name { get; } = name;
        public int Line { get; } = line;
        public string Type { get; set; } = "";
        public int TypeLine { get; set; }
        public List<VolfileOption> Options { get; } = [];
        public string[] Subvolumes { get; set; } = [];
        public int SubvolumesLine { get; set; }
    }
}
