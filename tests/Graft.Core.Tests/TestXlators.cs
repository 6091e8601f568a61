using System.Collections.Concurrent;
using Graft.Core;

namespace Graft.Core.Tests;

/// <summary>What the test translators saw, in order, across the whole graph.</summary>
public sealed class EventLog
{
    private readonly ConcurrentQueue<string> _entries = new();
    public void Add(string entry) => _entries.Enqueue(entry);
    public IReadOnlyList<string> Entries => _entries.ToArray();
    public int IndexOf(string entry) => Entries.ToList().IndexOf(entry);
}

/// <summary>
/// Small translator types for graph tests, registered under test/* with options of every kind.
/// Each instance records the events it receives, its drain, and its reconfigures in one log.
/// </summary>
public static class TestXlators
{
    public static readonly OptionSpec[] LeafOptions =
    [
        new("directory", OptionKind.Path, null, "where the leaf keeps its data") { Required = true },
        new("read-only", OptionKind.Bool, "off", "refuse writes") { Runtime = true, Aliases = ["readonly"] },
    ];

    public static readonly OptionSpec[] CacheOptions =
    [
        new("cache-size", OptionKind.Size, "1MB", "bytes to cache") { Runtime = true, Min = 4096, Max = 1L << 30 },
        new("timeout", OptionKind.Time, "42", "how long an entry stays") { Runtime = true, Aliases = ["cache-timeout"] },
        new("count", OptionKind.Int, "4", "how many workers") { Min = 1, Max = 16 },
        new("mode", OptionKind.Enum, "fast", "how to cache") { Choices = ["fast", "safe"] },
        new("flush-behind", OptionKind.Bool, "on", "flush in the background") { Runtime = true },
        new("fill", OptionKind.Percent, "50", "how full before eviction") { Runtime = true, Min = 0, Max = 100 },
        new("label", OptionKind.String, null, "a free-form label") { Runtime = true },
    ];

    public static XlatorRegistry Registry(EventLog? log = null, Func<string, ValueTask>? drain = null,
                                          Func<Recorder, OptionValues, Errno>? reconfigure = null)
    {
        log ??= new EventLog();
        Recorder Make() => new(log, drain, reconfigure);
        var r = new XlatorRegistry();
        r.Register(new XlatorSpec("test/leaf", Make, LeafOptions, "a leaf") { MinChildren = 0, MaxChildren = 0 });
        r.Register(new XlatorSpec("test/cache", Make, CacheOptions, "one child, many options"));
        r.Register(new XlatorSpec("test/cluster", Make, [], "two or more children") { MinChildren = 2, MaxChildren = int.MaxValue });
        r.Register(new XlatorSpec("test/pair", Make, [], "one or two children") { MinChildren = 1, MaxChildren = 2 });
        r.Register(Graft.Xlators.Debug.Passthrough.Spec);
        return r;
    }

    /// <summary>Records events; drains through the supplied hook (which may be slow).</summary>
    public sealed class Recorder(EventLog log, Func<string, ValueTask>? drain, Func<Recorder, OptionValues, Errno>? reconfigure) : Translator
    {
        public int Reconfigures;

        public override void Notify(GraphEvent ev, Translator? from)
        {
            log.Add($"{Name}: {ev} from {from?.Name ?? "graph"}");
            base.Notify(ev, from);
        }

        protected override async ValueTask DrainAsync()
        {
            log.Add($"{Name}: drain start");
            if (drain is not null) await drain(Name);
            log.Add($"{Name}: drain end");
        }

        public override Errno Reconfigure(OptionValues newOptions)
        {
            Interlocked.Increment(ref Reconfigures);
            log.Add($"{Name}: reconfigure");
            var err = reconfigure?.Invoke(this, newOptions) ?? Errno.OK;
            return err == Errno.OK ? base.Reconfigure(newOptions) : err;
        }
    }

    /// <summary>A three-level chain: leaf 'store' under 'cache' under 'top'.</summary>
    /// <summary>A diamond: one leaf shared by two parents under a two-child top.</summary>
    public const string Dag = """
        volume store
            type test/leaf
            option directory /s
        end-volume
        volume left
            type test/cache
            subvolumes store
        end-volume
        volume right
            type test/cache
            subvolumes store
        end-volume
        volume top
            type test/cluster
            subvolumes left right
        end-volume
        """;

    public const string Chain = """
        # a chain of three
        volume store
            type test/leaf
            option directory /srv/brick
        end-volume

        volume cache
            type test/cache
            option cache-size 2MB
            subvolumes store
        end-volume

        volume top
            type debug/passthrough
            subvolumes cache
        end-volume
        """;

    public static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);
}
