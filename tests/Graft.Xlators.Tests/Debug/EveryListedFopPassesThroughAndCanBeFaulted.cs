using System.Reflection;
using Graft.Core;
using Graft.Xlators.Debug;
using Graft.Xlators.Debug.Faults;

namespace Graft.Xlators.Tests.Debug;

/// <summary>
/// The code per fop is generated from the fop list (Translator's [Fop] methods): every fop on it,
/// called on a translator that overrides nothing, reaches the leaf; and debug/faults fails every
/// one of them without a line written for it. A fop added to the list is covered here unchanged.
/// </summary>
public class EveryListedFopPassesThroughAndCanBeFaulted
{
    private sealed class Leaf : Translator
    {
        public static readonly XlatorSpec Spec = new("test/nothing", () => new Leaf(), [], "answers ENOSYS to everything") { MinChildren = 0, MaxChildren = 0 };
    }

    private static readonly MethodInfo[] Fops = typeof(Translator).GetMethods()
        .Where(m => m.GetCustomAttribute<FopAttribute>() is not null && m.GetParameters()[0].ParameterType == typeof(FopContext)).ToArray();

    private static (Translator Top, FaultsTranslator Faults) Build(Dictionary<string, string> faults)
    {
        var g = Graph.Linear(1, (Leaf.Spec, "leaf", null), (FaultsTranslator.Spec, "faults", faults), (Passthrough.Spec, "top", null));
        g.InitAsync(CancellationToken.None).GetAwaiter().GetResult();
        return (g.Top, (FaultsTranslator)g.Translators[1]);
    }

    /// <summary>Calls the fop with default arguments and returns its errno (neither layer looks at them).</summary>
    private static async Task<Errno> Call(Translator t, MethodInfo fop)
    {
        var args = fop.GetParameters().Select(p => p.ParameterType == typeof(FopContext) ? FopContext.Root()
                                                 : p.ParameterType.IsValueType ? Activator.CreateInstance(p.ParameterType) : null).ToArray();
        var task = fop.Invoke(t, args)!;
        var asTask = (Task)task.GetType().GetMethod("AsTask")!.Invoke(task, null)!;
        await asTask;
        var result = asTask.GetType().GetProperty("Result")!.GetValue(asTask)!;
        return result is Errno e ? e : (Errno)result.GetType().GetField("Error")!.GetValue(result)!;
    }

    [Fact]
    public void The_list_names_every_fop_kind_once()
    {
        Assert.Equal(Enum.GetNames<FopKind>().Order(), Fops.Select(m => m.Name[..^"Async".Length]).Order());
    }

    [Fact]
    public async Task Every_fop_passes_through_a_translator_that_overrides_nothing_to_the_leaf()
    {
        var (top, faults) = Build(new());
        foreach (var fop in Fops) Assert.True(await Call(top, fop) == Errno.ENOSYS, $"{fop.Name} did not reach the leaf");
        Assert.Equal(0, faults.Injected);
    }

    [Fact]
    public async Task Every_fop_is_failed_by_debug_faults_when_it_fails_them_all()
    {
        var (top, faults) = Build(new() { ["fail"] = "*", ["fail-errno"] = "EROFS" });
        foreach (var fop in Fops) Assert.True(await Call(top, fop) == Errno.EROFS, $"{fop.Name} was not faulted");
        Assert.Equal(Fops.Length, faults.Injected);
    }
}
