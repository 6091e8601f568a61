namespace Graft.Core;

/// <summary>
/// Marks a method of <see cref="Translator"/> (Translator.Fops.cs) as a fop of the one fop list.
/// Everything per fop is generated from these declarations (src/Graft.FopGen): its
/// <see cref="FopKind"/>, the pass-through default, the overrides of every
/// <see cref="InterceptsEveryFopAttribute"/> translator, its opcode and its wire encoding.
/// docs/dev/adding-a-fop.md says how to add one.
/// </summary>
/// <param name="op">The fop's number on the wire (FopOp). Numbers are a contract with deployed bricks: never reuse or renumber one.</param>
[AttributeUsage(AttributeTargets.Method, Inherited = false)]
public sealed class FopAttribute(ushort op) : Attribute
{
    public ushort Op { get; } = op;

    /// <summary>
    /// The request's arguments after the caller and xdata, in wire order: names of FopRequest
    /// fields separated by spaces (Loc, Loc2, Fd, Fd2, Instance, Flags, Mode, Umask, Rdev, NewGfid,
    /// Offset, Offset2, Length, Size, Name, Data, Bulk (Data sent as bulk), Attr, Lock, DataOnly).
    /// </summary>
    public string Request { get; init; } = "";

    /// <summary>The reply's values when its errno is OK, in wire order: names of FopReply fields (Iatt, Fd, Value, Text, Bytes, Names, Lock, Vfs, Entries, Bulk).</summary>
    public string Reply { get; init; } = "";
}

/// <summary>
/// On a partial translator class: the generator overrides every fop that returns an errno or a
/// result so that it asks the class first. The class defines
/// <c>Intercept(FopKind, FopContext)</c> (null: pass the call through untouched, with no
/// allocation), <c>Intercepted&lt;T&gt;(state, ctx, pass)</c> for result fops and
/// <c>InterceptedErrno(state, ctx, pass)</c> for errno fops, where <c>pass</c> calls the child.
/// A fop added to the list is intercepted without touching the class.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class InterceptsEveryFopAttribute : Attribute;

/// <summary>
/// On a translator with several children (distribute, replicate): every fop must be overridden by
/// hand, because the default passes a fop to the first child alone, which for such a translator is
/// silently wrong. A fop in the list the class does not override is build error GRAFTFOP005, so a
/// fop added to the list is routed (or refused) by each of them on purpose.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class RoutesEveryFopAttribute : Attribute;

/// <summary>
/// On the wire codec's partial class: the generator emits the FopOp enum and FopOps beside it,
/// and the per-op argument and value encoders the codec calls, from the fops' <see cref="FopAttribute.Request"/>
/// and <see cref="FopAttribute.Reply"/>.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class GeneratesFopWireAttribute : Attribute;

/// <summary>
/// On protocol/client: the generator overrides every fop whose arguments map one to one, in order,
/// onto its Request layout and whose answer is its one Reply value, by sending it through the
/// class's <c>CallAsync(ctx, request)</c> (or <c>FdCallAsync(ctx, fd, request)</c> when its first
/// argument is its fd). A fop the class overrides by hand is left to it; a fop that does not map
/// and is not overridden is a build error.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class GeneratesFopClientAttribute : Attribute;

/// <summary>
/// On protocol/server: the generator writes <c>ServeAsync</c>, the dispatch of every fop. A fop that
/// maps one to one onto its layout is served inline; any other is served by the class's own
/// <c>Serve{Fop}(session, call, ctx[, fd])</c> (with the resolved fd when its first argument is its
/// fd). A fop that neither maps nor has a Serve method is a build error.
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class GeneratesFopServerAttribute : Attribute;
