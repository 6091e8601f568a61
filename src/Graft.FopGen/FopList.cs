using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace Graft.FopGen;

/// <summary>How a fop answers: a result with a value, a bare errno, or nothing (release).</summary>
internal enum FopShape { Result, Errno, Void }

internal sealed class FopParam
{
    public string Name = "", Type = "", Default = "";
    public bool IsEnum;
}

/// <summary>One [Fop] method of Translator, reduced to the strings the emitters need.</summary>
internal sealed class Fop
{
    public string Name = "", Method = "", ReturnType = "", ResultType = "", Request = "", Reply = "";
    public int Op;
    public FopShape Shape;
    public ImmutableArray<FopParam> Params = ImmutableArray<FopParam>.Empty;
    public Location? Location;

    public string ParamList(bool withDefaults) =>
        string.Join(", ", Params.Select(p => $"{p.Type} {p.Name}{(withDefaults && p.Default.Length > 0 ? " = " + p.Default : "")}"));

    public string ArgList => string.Join(", ", Params.Select(p => p.Name));
    public string Ctx => Params.Length > 0 ? Params[0].Name : "ctx";
}

/// <summary>
/// The fop list as read from Translator's [Fop] methods, in opcode order. Compared by a text key
/// so the incremental pipeline reruns the emitters only when a declaration changed.
/// </summary>
internal sealed class FopList : IEquatable<FopList>
{
    public const string TranslatorName = "Graft.Core.Translator", FopAttributeName = "Graft.Core.FopAttribute";

    public ImmutableArray<Fop> Fops = ImmutableArray<Fop>.Empty;
    /// <summary>True when Translator is compiled here (Graft.Core): its defaults and FopKind are emitted here.</summary>
    public bool DeclaredHere;
    public ImmutableArray<Diagnostic> Problems = ImmutableArray<Diagnostic>.Empty;
    private string _key = "";

    private static readonly SymbolDisplayFormat TypeFormat = SymbolDisplayFormat.FullyQualifiedFormat
        .WithMiscellaneousOptions(SymbolDisplayMiscellaneousOptions.UseSpecialTypes | SymbolDisplayMiscellaneousOptions.IncludeNullableReferenceTypeModifier);

    public static FopList Read(Compilation c)
    {
        var list = new FopList();
        var translator = c.GetTypeByMetadataName(TranslatorName);
        if (translator is null) return list;
        list.DeclaredHere = SymbolEqualityComparer.Default.Equals(translator.ContainingAssembly, c.Assembly);
        var fops = new List<Fop>();
        var problems = new List<Diagnostic>();
        foreach (var m in translator.GetMembers().OfType<IMethodSymbol>())
        {
            var attr = m.GetAttributes().FirstOrDefault(a => a.AttributeClass?.ToDisplayString() == FopAttributeName);
            if (attr is null) continue;
            var fop = new Fop
            {
                Method = m.Name,
                Name = m.Name.EndsWith("Async", StringComparison.Ordinal) ? m.Name.Substring(0, m.Name.Length - 5) : m.Name,
                ReturnType = m.ReturnType.ToDisplayString(TypeFormat),
                Op = attr.ConstructorArguments.Length > 0 && attr.ConstructorArguments[0].Value is ushort op ? op : 0,
                Location = m.Locations.FirstOrDefault(),
                Params = m.Parameters.Select(p => new FopParam
                {
                    Name = p.Name, Type = p.Type.ToDisplayString(TypeFormat), IsEnum = p.Type.TypeKind == TypeKind.Enum,
                    Default = !p.HasExplicitDefaultValue ? ""
                        : p.ExplicitDefaultValue is null ? (p.Type.IsValueType ? "default" : "null")
                        : $"({p.Type.ToDisplayString(TypeFormat)}){SymbolDisplay.FormatPrimitive(p.ExplicitDefaultValue, quoteStrings: true, useHexadecimalNumbers: false)}",
                }).ToImmutableArray(),
            };
            foreach (var n in attr.NamedArguments)
            {
                if (n.Key == "Request") fop.Request = n.Value.Value as string ?? "";
                if (n.Key == "Reply") fop.Reply = n.Value.Value as string ?? "";
            }
            if (!Classify(m, fop)) problems.Add(Diagnostic.Create(Diagnostics.BadShape, fop.Location, m.Name));
            fops.Add(fop);
        }
        fops.Sort((a, b) => a.Op.CompareTo(b.Op));
        for (int i = 0; i < fops.Count; i++)
            if (fops[i].Op != i + 1) { problems.Add(Diagnostic.Create(Diagnostics.BadNumbering, fops[i].Location, fops[i].Method, fops[i].Op, i + 1)); break; }
        list.Fops = fops.ToImmutableArray();
        list.Problems = problems.ToImmutableArray();
        var key = new StringBuilder(list.DeclaredHere ? "here;" : "there;");
        foreach (var f in fops)
            key.Append(f.Op).Append(' ').Append(f.Method).Append(' ').Append(f.ReturnType).Append(' ').Append(f.ParamList(true))
               .Append(" | ").Append(f.Request).Append(" | ").Append(f.Reply).Append(';');
        list._key = key.ToString();
        return list;
    }

    /// <summary>ValueTask&lt;Result&lt;T&gt;&gt;, ValueTask&lt;Errno&gt; or ValueTask; anything else is not a fop.</summary>
    private static bool Classify(IMethodSymbol m, Fop fop)
    {
        if (m.ReturnType is not INamedTypeSymbol ret || ret.Name != "ValueTask") return false;
        if (ret.TypeArguments.Length == 0) { fop.Shape = FopShape.Void; return true; }
        var inner = ret.TypeArguments[0];
        if (inner.Name == "Errno") { fop.Shape = FopShape.Errno; return m.Parameters.Length > 0 && m.Parameters[0].Type.Name == "FopContext"; }
        if (inner is INamedTypeSymbol { Name: "Result", TypeArguments.Length: 1 } result)
        {
            fop.Shape = FopShape.Result;
            fop.ResultType = result.TypeArguments[0].ToDisplayString(TypeFormat);
            return m.Parameters.Length > 0 && m.Parameters[0].Type.Name == "FopContext";
        }
        return false;
    }

    public bool Equals(FopList? other) => other is not null && other._key == _key;
    public override bool Equals(object? obj) => Equals(obj as FopList);
    public override int GetHashCode() => _key.GetHashCode();
}

internal static class Diagnostics
{
    public static readonly DiagnosticDescriptor BadShape = new("GRAFTFOP001", "Not a fop shape",
        "[Fop] method '{0}' must return ValueTask<Result<T>> or ValueTask<Errno> and take a FopContext first, or return ValueTask",
        "Graft.FopGen", DiagnosticSeverity.Error, true);

    public static readonly DiagnosticDescriptor BadNumbering = new("GRAFTFOP002", "Fop numbers must run 1..N",
        "[Fop] method '{0}' has number {1} where {2} was expected: fop numbers are unique and run from 1 without gaps",
        "Graft.FopGen", DiagnosticSeverity.Error, true);

    public static readonly DiagnosticDescriptor NotMapped = new("GRAFTFOP004", "Fop needs hand-written protocol code",
        "'{0}' does not map one to one onto its wire layout, so {1} must {2} by hand",
        "Graft.FopGen", DiagnosticSeverity.Error, true);

    public static readonly DiagnosticDescriptor NotRouted = new("GRAFTFOP005", "Fop not routed",
        "'{0}' is [RoutesEveryFop] but does not override '{1}': the default would pass it to the first child alone; route it, or refuse it (ENOSYS) on purpose",
        "Graft.FopGen", DiagnosticSeverity.Error, true);

    public static readonly DiagnosticDescriptor BadWireField = new("GRAFTFOP003", "Unknown wire field",
        "[Fop] method '{0}' names '{1}' in its {2} layout, which is no field the codec knows",
        "Graft.FopGen", DiagnosticSeverity.Error, true);
}
