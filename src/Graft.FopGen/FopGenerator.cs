using System.Collections.Immutable;
using System.Linq;
using System.Text;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp.Syntax;
using Microsoft.CodeAnalysis.Text;

namespace Graft.FopGen;

/// <summary>
/// Generates the per-fop code from the one fop list, the [Fop] methods of Graft.Core's Translator:
/// in Graft.Core the pass-through defaults and FopKind; in any project, the overrides of each
/// [InterceptsEveryFop] translator, the check that each [RoutesEveryFop] translator overrides every
/// fop and, on the [GeneratesFopWire] class, FopOp and the codec's per-op encoders.
/// </summary>
[Generator(LanguageNames.CSharp)]
public sealed class FopGenerator : IIncrementalGenerator
{
    public void Initialize(IncrementalGeneratorInitializationContext context)
    {
        var list = context.CompilationProvider.Select((c, _) => FopList.Read(c));

        context.RegisterSourceOutput(list, (spc, l) =>
        {
            foreach (var d in l.Problems) spc.ReportDiagnostic(d);
            if (!l.DeclaredHere || !l.Problems.IsEmpty) return;
            spc.AddSource("Translator.Fops.g.cs", SourceText.From(CoreEmitter.Defaults(l), Encoding.UTF8));
            spc.AddSource("FopKind.g.cs", SourceText.From(CoreEmitter.Kinds(l), Encoding.UTF8));
        });

        var interceptors = context.SyntaxProvider.ForAttributeWithMetadataName("Graft.Core.InterceptsEveryFopAttribute",
            (n, _) => n is ClassDeclarationSyntax, (a, _) => new Target(a.TargetSymbol));
        context.RegisterSourceOutput(interceptors.Combine(list), (spc, x) =>
        {
            if (x.Right.Problems.IsEmpty) spc.AddSource($"{x.Left.Name}.Fops.g.cs", SourceText.From(InterceptEmitter.Emit(x.Left, x.Right), Encoding.UTF8));
        });

        var routers = context.SyntaxProvider.ForAttributeWithMetadataName("Graft.Core.RoutesEveryFopAttribute",
            (n, _) => n is ClassDeclarationSyntax, (a, _) => new Target(a.TargetSymbol));
        context.RegisterSourceOutput(routers.Combine(list), (spc, x) =>
        {
            foreach (var f in x.Right.Fops)
                if (!x.Left.Overrides.Contains(f.Method))
                    spc.ReportDiagnostic(Diagnostic.Create(Diagnostics.NotRouted, Location.None, x.Left.Name, f.Method));
        });

        var wire = context.SyntaxProvider.ForAttributeWithMetadataName("Graft.Core.GeneratesFopWireAttribute",
            (n, _) => n is ClassDeclarationSyntax, (a, _) => new Target(a.TargetSymbol));
        context.RegisterSourceOutput(wire.Combine(list), (spc, x) =>
        {
            if (!x.Right.Problems.IsEmpty) return;
            var problems = WireEmitter.Check(x.Right);
            foreach (var d in problems) spc.ReportDiagnostic(d);
            if (problems.Count > 0) return;
            spc.AddSource("FopOp.g.cs", SourceText.From(WireEmitter.Ops(x.Left, x.Right), Encoding.UTF8));
            spc.AddSource($"{x.Left.Name}.Layouts.g.cs", SourceText.From(WireEmitter.Codec(x.Left, x.Right), Encoding.UTF8));
        });

        Protocol(context, list, "Graft.Core.GeneratesFopClientAttribute", ProtocolEmitter.Client);
        Protocol(context, list, "Graft.Core.GeneratesFopServerAttribute", ProtocolEmitter.Server);
    }

    private static void Protocol(IncrementalGeneratorInitializationContext context, IncrementalValueProvider<FopList> list, string attribute,
                                 System.Func<Target, FopList, System.Collections.Generic.List<Diagnostic>, string> emit)
    {
        var targets = context.SyntaxProvider.ForAttributeWithMetadataName(attribute, (n, _) => n is ClassDeclarationSyntax, (a, _) => new Target(a.TargetSymbol));
        context.RegisterSourceOutput(targets.Combine(list), (spc, x) =>
        {
            if (!x.Right.Problems.IsEmpty) return;
            var problems = new System.Collections.Generic.List<Diagnostic>();
            var text = emit(x.Left, x.Right, problems);
            foreach (var d in problems) spc.ReportDiagnostic(d);
            if (problems.Count == 0) spc.AddSource($"{x.Left.Name}.Fops.g.cs", SourceText.From(text, Encoding.UTF8));
        });
    }
}

/// <summary>A class the generator adds to: its namespace, name and modifiers, as strings.</summary>
internal sealed class Target : System.IEquatable<Target>
{
    public readonly string Namespace, Name, Accessibility;
    public readonly bool IsStatic, IsSealed;
    /// <summary>What the class's Intercept method returns when it intercepts (its return type without the ?).</summary>
    public readonly string InterceptState = "";
    /// <summary>Names of the members the class declares by hand (what the generator must not write).</summary>
    public readonly System.Collections.Immutable.ImmutableHashSet<string> Members = System.Collections.Immutable.ImmutableHashSet<string>.Empty;
    /// <summary>Names of the methods the class overrides by hand.</summary>
    public readonly System.Collections.Immutable.ImmutableHashSet<string> Overrides = System.Collections.Immutable.ImmutableHashSet<string>.Empty;

    public Target(ISymbol s)
    {
        if (s is INamedTypeSymbol declared)
        {
            Members = declared.GetMembers().Select(m => m.Name).ToImmutableHashSet();
            Overrides = declared.GetMembers().OfType<IMethodSymbol>().Where(m => m.IsOverride).Select(m => m.Name).ToImmutableHashSet();
        }
        if (s is INamedTypeSymbol t && t.GetMembers("Intercept").OfType<IMethodSymbol>().FirstOrDefault() is { } m)
        {
            var r = m.ReturnType is INamedTypeSymbol { OriginalDefinition.SpecialType: SpecialType.System_Nullable_T } n ? n.TypeArguments[0] : m.ReturnType.WithNullableAnnotation(NullableAnnotation.NotAnnotated);
            InterceptState = r.ToDisplayString(SymbolDisplayFormat.FullyQualifiedFormat);
        }
        Namespace = s.ContainingNamespace.ToDisplayString();
        Name = s.Name;
        Accessibility = s.DeclaredAccessibility == Microsoft.CodeAnalysis.Accessibility.Public ? "public" : "internal";
        IsStatic = s.IsStatic;
        IsSealed = s.IsSealed;
    }

    public string Header =>
        $"{Accessibility} {(IsStatic ? "static " : IsSealed ? "sealed " : "")}partial class {Name}";

    public bool Equals(Target? o) => o is not null && o.Namespace == Namespace && o.Name == Name && o.Accessibility == Accessibility && o.InterceptState == InterceptState && o.Members.SetEquals(Members) && o.Overrides.SetEquals(Overrides) && o.IsStatic == IsStatic && o.IsSealed == IsSealed;
    public override bool Equals(object? obj) => Equals(obj as Target);
    public override int GetHashCode() => (Namespace + "." + Name).GetHashCode();
}

internal static class Gen
{
    public const string Header = "// <auto-generated/> by src/Graft.FopGen from the fop list (Graft.Core Translator.Fops.cs): edit the list, not this file.\n#nullable enable\n";
}

internal static class CoreEmitter
{
    /// <summary>Each fop's default: pass to the first child, or ENOSYS for a translator with none.</summary>
    public static string Defaults(FopList l)
    {
        var sb = new StringBuilder(Gen.Header).Append("namespace Graft.Core;\n\npublic abstract partial class Translator\n{\n");
        foreach (var f in l.Fops)
        {
            var none = f.Shape switch
            {
                FopShape.Result => $"NoSys<{f.ResultType}>()",
                FopShape.Errno => "NoSysE()",
                _ => "global::System.Threading.Tasks.ValueTask.CompletedTask",
            };
            sb.Append($"    public virtual partial {f.ReturnType} {f.Method}({f.ParamList(false)})\n")
              .Append($"        => FirstChild is {{ }} child ? child.{f.Method}({f.ArgList}) : {none};\n\n");
        }
        sb.Append("    private static global::System.Threading.Tasks.ValueTask<global::Graft.Core.Result<T>> NoSys<T>() => new(new global::Graft.Core.Result<T>(global::Graft.Core.Errno.ENOSYS));\n")
          .Append("    private static global::System.Threading.Tasks.ValueTask<global::Graft.Core.Errno> NoSysE() => new(global::Graft.Core.Errno.ENOSYS);\n}\n");
        return sb.ToString();
    }

    /// <summary>FopKind: the fops that answer (release and releasedir only free state), in opcode order.</summary>
    public static string Kinds(FopList l)
    {
        var sb = new StringBuilder(Gen.Header).Append("namespace Graft.Core;\n\n")
            .Append("/// <summary>Every fop that answers, by name, for options that name fops (debug/faults) and for counters. Generated from the fop list.</summary>\n")
            .Append("public enum FopKind\n{\n");
        foreach (var f in l.Fops.Where(f => f.Shape != FopShape.Void)) sb.Append($"    {f.Name},\n");
        return sb.Append("}\n").ToString();
    }
}

internal static class InterceptEmitter
{
    public static string Emit(Target t, FopList l)
    {
        var sb = new StringBuilder(Gen.Header).Append($"namespace {t.Namespace};\n\n{t.Header}\n{{\n");
        foreach (var f in l.Fops.Where(f => f.Shape != FopShape.Void))
        {
            // The lambda lives in its own method: captured parameters are hoisted into a closure
            // object at the entry of the method that captures them, so the pass-through path
            // (Intercept answered null) must not be that method.
            var pass = $"base.{f.Method}({f.ArgList})";
            var through = f.Shape == FopShape.Result ? $"Intercepted<{f.ResultType}>" : "InterceptedErrno";
            sb.Append($"    public override {f.ReturnType} {f.Method}({f.ParamList(true)})\n")
              .Append($"        => Intercept(global::Graft.Core.FopKind.{f.Name}, {f.Ctx}) is {{ }} intercepted ? {f.Name}Intercepted(intercepted, {f.ArgList}) : {pass};\n\n")
              .Append($"    private {f.ReturnType} {f.Name}Intercepted({t.InterceptState} intercepted, {f.ParamList(false)})\n")
              .Append($"        => {through}(intercepted, {f.Ctx}, () => {pass});\n\n");
        }
        return sb.Append("}\n").ToString();
    }
}
