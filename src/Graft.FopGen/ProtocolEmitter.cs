using System.Collections.Generic;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;

namespace Graft.FopGen;

/// <summary>
/// protocol/client's overrides and protocol/server's dispatch, for every fop whose arguments map one
/// to one, in order, onto its Request layout and whose answer is its one Reply value. A fop that
/// needs more (an fd it opens, bulk data, a second fd, table updates) is written by hand: the
/// generator leaves out a client override the class declares, and the server's dispatch calls
/// Serve{Fop} for a fop the class serves itself.
/// </summary>
internal static class ProtocolEmitter
{
    private const string Core = "global::Graft.Core.";

    // FopRequest fields an argument can travel in as it is (Loc, Fd and Xdata are converted).
    private static readonly Dictionary<string, string> FieldTypes = new()
    {
        ["Flags"] = "int", ["Flags2"] = "int", ["Name2"] = "string?", ["Mode"] = "uint", ["Umask"] = "uint", ["Rdev"] = "ulong", ["NewGfid"] = Core + "Gfid",
        ["Offset"] = "long", ["Offset2"] = "long", ["Length"] = "long", ["Size"] = "uint", ["Name"] = "string",
        ["Data"] = "global::System.ReadOnlyMemory<byte>", ["Attr"] = Core + "SetAttr", ["Lock"] = Core + "FileLock",
        ["DataOnly"] = "bool", ["Instance"] = "global::System.Guid",
    };

    // Result<T> of a fop → the FopReply field that carries T.
    private static readonly Dictionary<string, string> ReplyOf = new()
    {
        [Core + "Iatt"] = "Iatt", ["string"] = "Text", ["long"] = "Value", [Core + "FileLock"] = "Lock", [Core + "StatVfs"] = "Vfs",
        ["byte[]"] = "Bytes", ["string[]"] = "Names", ["global::System.Collections.Generic.IReadOnlyList<" + Core + "DirEntry>"] = "Entries",
    };

    /// <summary>How one argument travels: its initializer in the client, its expression in the server.</summary>
    internal sealed class Arg
    {
        public string Client = "", Server = "";
    }

    internal sealed class Mapping
    {
        public readonly List<Arg> Args = new();
        public bool FdFop;
        public string ReplyField = "";
    }

    /// <summary>True for a fop whose first argument after the context is its fd: the server resolves it before serving.</summary>
    public static bool IsFdFop(Fop f) => f.Shape != FopShape.Void && f.Params.Length > 1 && f.Params[1].Type == Core + "Fd";

    /// <summary>The one-to-one mapping of a fop onto the wire, or null when it has none.</summary>
    public static Mapping? Map(Fop f)
    {
        if (f.Shape == FopShape.Void) return null;
        var m = new Mapping { FdFop = IsFdFop(f) };
        var fields = f.Request.Split(new[] { ' ', ',' }, System.StringSplitOptions.RemoveEmptyEntries);
        var ps = f.Params.Skip(1).ToList();
        if (ps.Count > 0 && ps[ps.Count - 1].Type == Core + "Xdata?")
        {
            var x = ps[ps.Count - 1];
            ps.RemoveAt(ps.Count - 1);
            m.Args.Add(new Arg { Client = $"Xdata = {x.Name}", Server = "q.Xdata" });
        }
        if (ps.Count != fields.Length) return null;
        var args = new List<Arg>();
        for (int i = 0; i < ps.Count; i++)
        {
            var p = ps[i];
            var field = fields[i];
            if (p.Type == Core + "Loc" && field is "Loc" or "Loc2") args.Add(new Arg { Client = $"{field} = global::Graft.Xlators.Protocol.Wire.WireLoc.From({p.Name})", Server = $"ToLoc(q.{field})" });
            else if (p.Type == Core + "Fd" && field == "Fd" && i == 0) args.Add(new Arg { Server = "fd" });
            else if (FieldTypes.TryGetValue(field, out var t) && t == p.Type) args.Add(new Arg { Client = $"{field} = {p.Name}", Server = field == "Name" ? "q.Name!" : $"q.{field}" });
            else if (p.IsEnum && field is "Flags" or "Flags2") args.Add(new Arg { Client = $"{field} = (int){p.Name}", Server = $"({p.Type})q.{field}" });
            else return null;
        }
        if (f.Shape == FopShape.Result)
        {
            if (!ReplyOf.TryGetValue(f.ResultType, out var rf) || rf != f.Reply.Trim()) return null;
            m.ReplyField = rf;
        }
        else if (f.Reply.Trim().Length > 0) return null;
        // Server arguments go in parameter order; the xdata one (added first) goes last.
        var xdata = m.Args.ToList();
        m.Args.Clear();
        m.Args.AddRange(args);
        m.Args.AddRange(xdata);
        return m;
    }

    public static string Client(Target t, FopList l, List<Diagnostic> problems)
    {
        var sb = new StringBuilder(Gen.Header)
            .Append("using global::Graft.Xlators.Protocol.Wire;\n\n")
            .Append($"namespace {t.Namespace};\n\n{t.Header}\n{{\n");
        foreach (var f in l.Fops)
        {
            if (t.Members.Contains(f.Method)) continue;
            if (Map(f) is not { } m)
            {
                problems.Add(Diagnostic.Create(Diagnostics.NotMapped, f.Location, f.Method, t.Name, $"override {f.Method}"));
                continue;
            }
            var init = string.Join(", ", m.Args.Where(a => a.Client.Length > 0).Select(a => a.Client));
            var request = $"new FopRequest(FopOp.{f.Name}){(init.Length > 0 ? " { " + init + " }" : "")}";
            var call = m.FdFop ? $"FdCallAsync({f.Ctx}, {f.Params[1].Name}, {request})" : $"CallAsync({f.Ctx}, {request})";
            sb.Append($"    public override {f.ReturnType} {f.Method}({f.ParamList(true)})\n");
            if (f.Shape == FopShape.Errno) { sb.Append($"        => ErrnoOf({call});\n\n"); continue; }
            var result = $"{Core}Result<{f.ResultType}>";
            sb.Append($"        => {f.Name}Replied({call});\n\n")
              .Append("    [global::System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(global::System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]\n")
              .Append($"    private static async {f.ReturnType} {f.Name}Replied(global::System.Threading.Tasks.ValueTask<FopReply> call)\n    {{\n")
              .Append("        var p = await call.ConfigureAwait(false);\n")
              .Append($"        return p.Error == {Core}Errno.OK ? new {result}(p.{m.ReplyField}{(IsReference(f.ResultType) ? "!" : "")}) : new {result}(p.Error);\n    }}\n\n");
        }
        return sb.Append("}\n").ToString();
    }

    private static bool IsReference(string type) => type is "string" or "byte[]" or "string[]" || type.StartsWith("global::System.Collections.Generic.IReadOnlyList<", System.StringComparison.Ordinal);

    public static string Server(Target t, FopList l, List<Diagnostic> problems)
    {
        var sb = new StringBuilder(Gen.Header)
            .Append("using global::Graft.Xlators.Protocol.Wire;\n\n")
            .Append($"namespace {t.Namespace};\n\n{t.Header}\n{{\n")
            .Append("    /// <summary>Serves one request: fd fops first resolve the client's remote fd id, which is released when the fop is done.</summary>\n")
            .Append("    [global::System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(global::System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]\n")
            .Append($"    private async global::System.Threading.Tasks.ValueTask<FopReply> ServeAsync(ClientSession s, ServerCall call, {Core}FopContext ctx)\n    {{\n")
            .Append("        var q = call.Request;\n        var c = Child;\n        switch (q.Op)\n        {\n");
        var fdFops = new List<(Fop Fop, Mapping? Map)>();
        foreach (var f in l.Fops)
        {
            var served = t.Members.Contains("Serve" + f.Name);
            var m = served ? null : Map(f);
            if (!served && m is null)
            {
                problems.Add(Diagnostic.Create(Diagnostics.NotMapped, f.Location, f.Method, t.Name, $"declare Serve{f.Name}"));
                continue;
            }
            if (IsFdFop(f)) { fdFops.Add((f, m)); continue; }
            sb.Append($"            case FopOp.{f.Name}: {Case(f, m, "s, call, ctx")}\n");
        }
        sb.Append("        }\n\n")
          .Append($"        if (s.Get(q.Fd) is not {{ }} fd) return new FopReply({Core}Errno.EBADF);\n")
          .Append("        try\n        {\n            switch (q.Op)\n            {\n");
        foreach (var (f, m) in fdFops) sb.Append($"                case FopOp.{f.Name}: {Case(f, m, "s, call, ctx, fd")}\n");
        sb.Append($"                default: return new FopReply({Core}Errno.ENOSYS);\n            }}\n        }}\n")
          .Append("        finally\n        {\n            await ReleaseFdAsync(fd).ConfigureAwait(false);\n        }\n    }\n}\n");
        return sb.ToString();
    }

    private static string Case(Fop f, Mapping? m, string serveArgs)
    {
        if (m is null) return $"return await Serve{f.Name}({serveArgs}).ConfigureAwait(false);";
        var call = $"await c.{f.Method}({string.Join(", ", new[] { "ctx" }.Concat(m.Args.Select(a => a.Server)))}).ConfigureAwait(false)";
        if (f.Shape == FopShape.Errno) return $"return new FopReply({call});";
        return $"{{ var r = {call}; return r.Ok ? new FopReply {{ {m.ReplyField} = r.Value }} : new FopReply(r.Error); }}";
    }
}
