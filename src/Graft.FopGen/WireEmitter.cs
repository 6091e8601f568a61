using System.Collections.Generic;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;

namespace Graft.FopGen;

/// <summary>
/// FopOp and the codec's per-op layouts. Each field name of a fop's Request or Reply maps to one
/// encoding here; a layout is those encodings in the order listed, so the bytes of an op depend
/// only on its list (tests/Graft.Xlators.Tests/Protocol/wire-golden.txt pins them).
/// </summary>
internal static class WireEmitter
{
    // field → (write, read): q is the FopRequest, w the BodyWriter, r the BodyReader.
    private static readonly Dictionary<string, (string Write, string Read)> RequestFields = new()
    {
        ["Loc"] = ("WireStructs.Write(w, q.Loc)", "q.Loc = WireStructs.ReadLoc(ref r)"),
        ["Loc2"] = ("WireStructs.Write(w, q.Loc2)", "q.Loc2 = WireStructs.ReadLoc(ref r)"),
        ["Fd"] = ("w.U64(q.Fd)", "q.Fd = r.U64()"),
        ["Fd2"] = ("w.U64(q.Fd2)", "q.Fd2 = r.U64()"),
        ["Instance"] = ("w.Guid(q.Instance)", "q.Instance = r.Guid()"),
        ["Flags"] = ("w.I32(q.Flags)", "q.Flags = r.I32()"),
        ["Flags2"] = ("w.I32(q.Flags2)", "q.Flags2 = r.I32()"),
        ["Mode"] = ("w.U32(q.Mode)", "q.Mode = r.U32()"),
        ["Umask"] = ("w.U32(q.Umask)", "q.Umask = r.U32()"),
        ["Rdev"] = ("w.U64(q.Rdev)", "q.Rdev = r.U64()"),
        ["NewGfid"] = ("w.Gfid(q.NewGfid)", "q.NewGfid = r.Gfid()"),
        ["Offset"] = ("w.I64(q.Offset)", "q.Offset = r.I64()"),
        ["Offset2"] = ("w.I64(q.Offset2)", "q.Offset2 = r.I64()"),
        ["Length"] = ("w.I64(q.Length)", "q.Length = r.I64()"),
        ["Size"] = ("w.U32(q.Size)", "q.Size = r.U32()"),
        ["Name"] = ("w.String(q.Name)", "q.Name = r.RequiredString()"),
        ["Name2"] = ("w.String(q.Name2)", "q.Name2 = r.String()"),
        ["Data"] = ("w.Bytes(q.Data.Span)", "q.Data = r.Bytes()"),
        ["Bulk"] = ("w.WriteBulk(q.Data)", "q.Data = r.Bytes()"),
        ["Attr"] = ("WireStructs.Write(w, q.Attr)", "q.Attr = WireStructs.ReadSetAttr(ref r)"),
        ["Lock"] = ("WireStructs.Write(w, q.Lock)", "q.Lock = WireStructs.ReadLock(ref r)"),
        ["DataOnly"] = ("w.Bool(q.DataOnly)", "q.DataOnly = r.Bool()"),
    };

    private static readonly Dictionary<string, (string Write, string Read)> ReplyFields = new()
    {
        ["Iatt"] = ("WireStructs.Write(w, p.Iatt)", "p.Iatt = WireStructs.ReadIatt(ref r)"),
        ["Fd"] = ("w.U64(p.Fd)", "p.Fd = r.U64()"),
        ["Value"] = ("w.I64(p.Value)", "p.Value = r.I64()"),
        ["Text"] = ("w.String(p.Text ?? \"\")", "p.Text = r.RequiredString()"),
        ["Bytes"] = ("w.Bytes(p.Bytes ?? [])", "p.Bytes = r.Bytes().ToArray()"),
        ["Names"] = ("WireStructs.Write(w, p.Names ?? [])", "p.Names = WireStructs.ReadNames(ref r)"),
        ["Lock"] = ("WireStructs.Write(w, p.Lock)", "p.Lock = WireStructs.ReadLock(ref r)"),
        ["Vfs"] = ("WireStructs.Write(w, p.Vfs)", "p.Vfs = WireStructs.ReadStatVfs(ref r)"),
        ["Entries"] = ("WireStructs.Write(w, p.Entries ?? [])", "p.Entries = WireStructs.ReadEntries(ref r)"),
        ["Bulk"] = ("w.WriteBulk(p.Data)", "p.Data = r.Bytes()"),
    };

    private static string[] Fields(string layout) => layout.Split(new[] { ' ', ',' }, System.StringSplitOptions.RemoveEmptyEntries);

    public static List<Diagnostic> Check(FopList l)
    {
        var problems = new List<Diagnostic>();
        foreach (var f in l.Fops)
        {
            foreach (var n in Fields(f.Request).Where(n => !RequestFields.ContainsKey(n)))
                problems.Add(Diagnostic.Create(Diagnostics.BadWireField, f.Location, f.Method, n, "Request"));
            foreach (var n in Fields(f.Reply).Where(n => !ReplyFields.ContainsKey(n)))
                problems.Add(Diagnostic.Create(Diagnostics.BadWireField, f.Location, f.Method, n, "Reply"));
        }
        return problems;
    }

    public static string Ops(Target t, FopList l)
    {
        var sb = new StringBuilder(Gen.Header).Append($"namespace {t.Namespace};\n\n")
            .Append("/// <summary>Fop opcodes on the wire, one per fop of the fop list (Translator.Fops.cs). Values are on the wire: never renumber.</summary>\n")
            .Append("public enum FopOp : ushort\n{\n    None = 0,\n");
        foreach (var f in l.Fops) sb.Append($"    {f.Name} = {f.Op},\n");
        sb.Append("}\n\npublic static class FopOps\n{\n")
          .Append($"    public const FopOp First = FopOp.{l.Fops.First().Name}, Last = FopOp.{l.Fops.Last().Name};\n")
          .Append("    public static bool IsKnown(FopOp op) => op >= First && op <= Last;\n}\n");
        return sb.ToString();
    }

    public static string Codec(Target t, FopList l)
    {
        var sb = new StringBuilder(Gen.Header).Append("using Graft.Core;\n\n").Append($"namespace {t.Namespace};\n\n{t.Header}\n{{\n");

        sb.Append("    /// <summary>The op's arguments, in its Request layout.</summary>\n")
          .Append("    private static void WriteArgs(BodyWriter w, in FopRequest q)\n    {\n        switch (q.Op)\n        {\n");
        foreach (var f in l.Fops) sb.Append($"            case FopOp.{f.Name}: {Statements(f.Request, RequestFields, write: true)}break;\n");
        sb.Append("            default: throw new global::System.ArgumentOutOfRangeException(nameof(q), q.Op, \"unknown fop\");\n        }\n    }\n\n");

        sb.Append("    private static void ReadArgs(ref BodyReader r, ref FopRequest q)\n    {\n        switch (q.Op)\n        {\n");
        foreach (var f in l.Fops) sb.Append($"            case FopOp.{f.Name}: {Statements(f.Request, RequestFields, write: false)}break;\n");
        sb.Append("        }\n    }\n\n");

        sb.Append("    /// <summary>The op's values when its errno is OK, in its Reply layout.</summary>\n")
          .Append("    private static void WriteValues(BodyWriter w, FopOp op, in FopReply p)\n    {\n        switch (op)\n        {\n");
        foreach (var f in l.Fops.Where(f => Fields(f.Reply).Length > 0)) sb.Append($"            case FopOp.{f.Name}: {Statements(f.Reply, ReplyFields, write: true)}break;\n");
        sb.Append("        }\n    }\n\n");

        sb.Append("    private static void ReadValues(ref BodyReader r, FopOp op, ref FopReply p)\n    {\n        switch (op)\n        {\n");
        foreach (var f in l.Fops.Where(f => Fields(f.Reply).Length > 0)) sb.Append($"            case FopOp.{f.Name}: {Statements(f.Reply, ReplyFields, write: false)}break;\n");
        sb.Append("        }\n    }\n}\n");
        return sb.ToString();
    }

    private static string Statements(string layout, Dictionary<string, (string Write, string Read)> table, bool write) =>
        string.Concat(Fields(layout).Select(n => (write ? table[n].Write : table[n].Read) + "; "));
}
