using Graft.Core;

namespace Graft.Cli.Tests;

/// <summary>Runs the CLI in-process with captured streams, and keeps the test's files in a private directory.</summary>
public sealed class CliRunner : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("graft-cli-");

    public string WriteFile(string name, string text)
    {
        var path = Path.Combine(_dir.FullName, name);
        File.WriteAllText(path, text);
        return path;
    }

    public string PathOf(string name) => Path.Combine(_dir.FullName, name);

    public static (int Code, string Out, string Err) Run(params string[] args) => Run(null, args);

    public static (int Code, string Out, string Err) Run(Func<XlatorRegistry>? registry, params string[] args)
    {
        var (o, e) = (new StringWriter(), new StringWriter());
        int code = registry is null ? Program.Run(args, o, e) : Program.Run(args, o, e, registry);
        return (code, o.ToString(), e.ToString());
    }

    public void Dispose() => _dir.Delete(recursive: true);
}

/// <summary>A registry with the built-in types plus a leaf, so good volfiles can be checked whatever leaves ship.</summary>
public static class TestTypes
{
    private sealed class Store : Translator { }

    public static XlatorRegistry Registry()
    {
        var r = Graft.Xlators.BuiltinXlators.CreateRegistry();
        r.Register(new XlatorSpec("test/store", () => new Store(),
        [
            new("directory", OptionKind.Path, null, "where the data lives") { Required = true },
            new("read-only", OptionKind.Bool, "off", "refuse writes") { Runtime = true, Aliases = ["readonly"] },
        ], "a leaf for tests") { MinChildren = 0, MaxChildren = 0 });
        r.Register(new XlatorSpec("test/cluster", () => new Store(), [], "many children") { MinChildren = 2, MaxChildren = int.MaxValue });
        return r;
    }
}
