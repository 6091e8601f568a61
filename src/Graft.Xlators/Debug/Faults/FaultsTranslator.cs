using System.Globalization;
using Graft.Core;

namespace Graft.Xlators.Debug.Faults;

/// <summary>
/// debug/faults: drops (never answers), delays, or fails with a chosen errno the fops it is told
/// to, by count or probability. With nothing configured it passes everything through. Every option
/// can change at run time (reconfigure), and inserting or removing the layer changes the graph's
/// shape, which is the simplest way to cause a graph switch in tests.
/// </summary>
/// <remarks>
/// A dropped call is held until the caller cancels it (EINTR) or the graph is torn down (ENOTCONN):
/// exactly what a lost frame looks like from above, so retirement bounds can be tested with it.
/// </remarks>
/// <remarks>
/// Every fop is overridden by the fop generator (<see cref="InterceptsEveryFopAttribute"/>): an
/// idle layer costs one volatile read per call and allocates nothing; the closure that goes on to
/// the child is made only for a call that is faulted.
/// </remarks>
[InterceptsEveryFop]
public sealed partial class FaultsTranslator : Translator
{
    public static readonly XlatorSpec Spec = new("debug/faults", () => new FaultsTranslator(),
    [
        new("drop", OptionKind.String, "", "fops never answered: comma-separated names (readv, writev, ...) or *") { Runtime = true },
        new("drop-count", OptionKind.Int, "0", "how many matching calls to drop; 0 = every one") { Min = 0, Runtime = true },
        new("fail", OptionKind.String, "", "fops that fail: comma-separated names or *") { Runtime = true },
        new("fail-errno", OptionKind.String, "EIO", "the errno failed fops return (name or number)") { Runtime = true },
        new("fail-count", OptionKind.Int, "0", "how many matching calls to fail; 0 = every one") { Min = 0, Runtime = true },
        new("fail-percent", OptionKind.Percent, "100", "chance that a matching call fails") { Min = 0, Max = 100, Runtime = true },
        new("delay", OptionKind.String, "", "fops that are delayed: comma-separated names or *") { Runtime = true },
        new("delay-duration", OptionKind.Time, "100ms", "how long a delayed call waits before it goes on") { Min = 0, Max = 3_600_000, Runtime = true },
        new("delay-count", OptionKind.Int, "0", "how many matching calls to delay; 0 = every one") { Min = 0, Runtime = true },
        new("delay-percent", OptionKind.Percent, "100", "chance that a matching call is delayed") { Min = 0, Max = 100, Runtime = true },
        new("delay-blocks", OptionKind.Bool, "off", "a delayed call holds its thread for the delay (as a syscall stuck in the kernel does, e.g. an fsync of a large file) instead of awaiting; a cancelled call still wakes at once") { Runtime = true },
    ], "drops, delays or fails chosen fops (fault injection); passes everything through when idle")
    {
        MinChildren = 1, MaxChildren = 1,
    };

    private sealed class Rule(FaultAction action, bool[] fops, long count, int percent)
    {
        public readonly FaultAction Action = action;
        public readonly bool[] Fops = fops;
        public readonly int Percent = percent;
        public readonly bool Limited = count > 0;
        public long Left = count;

        public bool Take(FopKind fop)
        {
            if (!Fops[(int)fop]) return false;
            if (Percent < 100 && Random.Shared.Next(100) >= Percent) return false;
            if (!Limited) return true;
            return Interlocked.Decrement(ref Left) >= 0;
        }
    }

    private volatile Rule[] _rules = [];
    private volatile bool _armed;
    private readonly List<TaskCompletionSource<bool>> _held = [];
    private long _injected;
    private TimeSpan _delay;
    private bool _delayBlocks;
    private Errno _failErrno;

    /// <summary>Calls injected so far (dropped, failed or delayed).</summary>
    public long Injected => Interlocked.Read(ref _injected);

    /// <summary>Dropped calls currently held.</summary>
    public int HeldCount { get { lock (_held) return _held.Count; } }


    /// <summary>Answers every held call with ENOTCONN, as a torn-down connection would (teardown, or a test letting go).</summary>
    public void ReleaseHeld()
    {
        TaskCompletionSource<bool>[] held;
        lock (_held) { held = [.. _held]; _held.Clear(); }
        foreach (var h in held) h.TrySetResult(false);
    }

    public override ValueTask FiniAsync()
    {
        ReleaseHeld();
        return ValueTask.CompletedTask;
    }

    protected override void ApplyOptions(OptionValues o)
    {
        _failErrno = ParseErrno(o.GetString("fail-errno"));
        _delay = o.GetTime("delay-duration");
        _delayBlocks = o.GetBool("delay-blocks");
        var rules = new List<Rule>();
        if (ParseFops(o.GetString("drop")) is { } drop) rules.Add(new Rule(FaultAction.Drop, drop, o.GetLong("drop-count"), 100));
        if (ParseFops(o.GetString("fail")) is { } fail) rules.Add(new Rule(FaultAction.Fail, fail, o.GetLong("fail-count"), (int)o.GetLong("fail-percent")));
        if (ParseFops(o.GetString("delay")) is { } delay) rules.Add(new Rule(FaultAction.Delay, delay, o.GetLong("delay-count"), (int)o.GetLong("delay-percent")));
        _rules = [.. rules];
        _armed = rules.Count > 0;
    }

    /// <summary>Fop names, comma or space separated, case-insensitive; "*" is every fop. Null when empty.</summary>
    internal static bool[]? ParseFops(string text)
    {
        var set = new bool[Enum.GetValues<FopKind>().Length];
        bool any = false;
        foreach (var part in text.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (part == "*") { Array.Fill(set, true); any = true; continue; }
            if (!Enum.TryParse<FopKind>(part, ignoreCase: true, out var f) || !Enum.IsDefined(f))
                throw new ArgumentException($"unknown fop '{part}' (known: {string.Join(", ", Enum.GetNames<FopKind>()).ToLowerInvariant()})");
            set[(int)f] = true;
            any = true;
        }
        return any ? set : null;
    }

    internal static Errno ParseErrno(string text)
    {
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) && n > 0) return (Errno)n;
        if (Enum.TryParse<Errno>(text, ignoreCase: true, out var e) && e != Errno.OK) return e;
        throw new ArgumentException($"'{text}' is not an errno name or number");
    }

    /// <summary>The fault to apply to this call, or null to pass it through.</summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private FaultAction? Intercept(FopKind fop, FopContext ctx) => _armed ? Pick(fop) : null;

    private FaultAction? Pick(FopKind fop)
    {
        foreach (var r in _rules)
            if (r.Take(fop)) { Interlocked.Increment(ref _injected); return r.Action; }
        return null;
    }

    private async ValueTask<Result<T>> Intercepted<T>(FaultAction action, FopContext ctx, Func<ValueTask<Result<T>>> pass)
    {
        var e = await BeforeAsync(action, ctx).ConfigureAwait(false);
        return e == Errno.OK ? await pass().ConfigureAwait(false) : new Result<T>(e);
    }

    private async ValueTask<Errno> InterceptedErrno(FaultAction action, FopContext ctx, Func<ValueTask<Errno>> pass)
    {
        var e = await BeforeAsync(action, ctx).ConfigureAwait(false);
        return e == Errno.OK ? await pass().ConfigureAwait(false) : e;
    }

    /// <summary>OK to go on to the child, or the errno to answer with instead.</summary>
    private async ValueTask<Errno> BeforeAsync(FaultAction action, FopContext ctx)
    {
        switch (action)
        {
            case FaultAction.Fail:
                return _failErrno;
            case FaultAction.Delay when _delayBlocks:
                return ctx.Cancellation.WaitHandle.WaitOne(_delay) ? Errno.EINTR : Errno.OK;
            case FaultAction.Delay:
                try { await Task.Delay(_delay, ctx.Cancellation).ConfigureAwait(false); }
                catch (OperationCanceledException) { return Errno.EINTR; }
                return Errno.OK;
            default:
                var tcs = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
                lock (_held) _held.Add(tcs);
                using (ctx.Cancellation.Register(() => tcs.TrySetResult(true)))
                {
                    var cancelled = await tcs.Task.ConfigureAwait(false);
                    lock (_held) _held.Remove(tcs);
                    return cancelled ? Errno.EINTR : Errno.ENOTCONN;
                }
        }
    }
}

public enum FaultAction { Drop, Fail, Delay }
