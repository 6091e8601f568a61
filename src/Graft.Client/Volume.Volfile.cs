using Graft.Core;
using Graft.Xlators;
using Microsoft.Extensions.Logging;

namespace Graft.Client;

// Opening a volume from a volfile, in process.
public sealed partial class Volume
{
    /// <summary>
    /// Builds the graph a volfile describes (translators from <paramref name="registry"/>, by
    /// default every built-in one) and opens a volume on it.
    /// </summary>
    /// <exception cref="VolfileException">The volfile is malformed or names unknown types or bad options.</exception>
    /// <exception cref="GraftIOException">ENOTCONN when the graph's children did not come up in time.</exception>
    public static Task<Volume> OpenVolfileAsync(string path, VolumeOptions? options = null, XlatorRegistry? registry = null,
                                                ILoggerFactory? loggers = null, CancellationToken ct = default) =>
        OpenVolfileTextAsync(File.ReadAllText(path), path, options, registry, loggers, ct);

    /// <summary>As <see cref="OpenVolfileAsync"/>, from volfile text; <paramref name="name"/> is used in error messages.</summary>
    public static Task<Volume> OpenVolfileTextAsync(string text, string name = "<volfile>", VolumeOptions? options = null,
                                                    XlatorRegistry? registry = null, ILoggerFactory? loggers = null,
                                                    CancellationToken ct = default)
    {
        registry ??= options?.Registry ?? BuiltinXlators.CreateRegistry();
        var graph = GraphBuilder.Build(text, name, registry, generation: 1, loggers: loggers);
        options = options is null ? new VolumeOptions { Registry = registry } : options;
        return OpenAsync(graph, options.Registry is null ? With(options, registry) : options, loggers, ct);
    }

    private static VolumeOptions With(VolumeOptions o, XlatorRegistry registry) => new()
    {
        Uid = o.Uid, Gid = o.Gid, Groups = o.Groups, Umask = o.Umask, ChildUpTimeout = o.ChildUpTimeout,
        DrainTimeout = o.DrainTimeout, RetirementTimeout = o.RetirementTimeout, Registry = registry,
        MaxSymlinks = o.MaxSymlinks, ReaddirBatch = o.ReaddirBatch,
    };
}
