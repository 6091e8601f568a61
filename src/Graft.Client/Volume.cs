using Graft.Core;
using Graft.Mount;
using Microsoft.Extensions.Logging;

namespace Graft.Client;

/// <summary>
/// A volume used from .NET code in this process (GlusterFS's gfapi): a mount session without
/// a kernel. Paths are absolute within the volume ("/a/b"); each call walks them component by
/// component through the session, holding a lookup on each node only while it is needed.
/// Names are bytes on Linux: a path, symlink target or xattr name stands for the bytes <see cref="NameBytes"/>
/// maps it to (UTF-8, with U+DC80..U+DCFF for each byte that is not), and names read back (directory entries,
/// readlink) come in the same form. A string that stands for no bytes (a stray surrogate) is EINVAL.
/// </summary>
public sealed partial class Volume : IAsyncDisposable
{
    private static long s_nextLockOwner;
    private int _disposed;

    private Volume(MountSession session, VolumeOptions options)
    {
        Session = session;
        Options = options;
    }

    /// <summary>The mount session under this volume (shared rules: hints, in-flight accounting, state).</summary>
    public MountSession Session { get; }
    public VolumeOptions Options { get; }

    /// <summary>
    /// Opens a volume on <paramref name="graph"/>: initialises it, sends PARENT_UP and waits
    /// (bounded by <see cref="VolumeOptions.ChildUpTimeout"/>) for CHILD_UP.
    /// </summary>
    /// <exception cref="GraftIOException">ENOTCONN when the graph's children did not come up in time, or were refused (the message says why).</exception>
    public static async Task<Volume> OpenAsync(Graph graph, VolumeOptions? options = null, ILoggerFactory? loggers = null, CancellationToken ct = default)
    {
        options ??= new VolumeOptions();
        if (!await graph.StartAndWaitAsync(options.ChildUpTimeout, ct).ConfigureAwait(false))
        {
            await graph.DestroyAsync().ConfigureAwait(false);
            throw new GraftIOException(Errno.ENOTCONN, graph.SetupFailure is { } why ? $"open volume ({why})" : "open volume", null);
        }
        return FromGraph(graph, options, loggers);
    }

    /// <summary>A volume on a graph the caller has already initialised and started (its children are up).</summary>
    public static Volume FromGraph(Graph graph, VolumeOptions? options = null, ILoggerFactory? loggers = null)
    {
        options ??= new VolumeOptions();
        var session = new MountSession(graph, options.Mount with { Registry = options.Registry ?? Xlators.BuiltinXlators.CreateRegistry() }, loggers);
        return new Volume(session, options);
    }

    /// <summary>
    /// Replaces the volume's graph while streams stay open (or reconfigures it in place when only
    /// run-time options changed), as a mount does when its volfile changes. Open streams move to
    /// the new graph on their next use. On failure the current graph keeps serving and the error
    /// shows in <see cref="GetState"/>'s lastVolfileError.
    /// </summary>
    public Task<SwitchResult> ApplyVolfileAsync(string volfileText, string? name = null, CancellationToken ct = default) =>
        Session.ApplyVolfileAsync(volfileText, name, ct);

    /// <summary>The mount's state (graphs, fops in flight, open files), as `graft state` prints it.</summary>
    public MountState GetState() => Session.GetState();

    /// <summary>A fresh per-call context with the volume's identity.</summary>
    internal FopContext NewContext(CancellationToken ct = default) => new()
    {
        Uid = Options.Uid, Gid = Options.Gid, Groups = Options.Groups, Pid = Environment.ProcessId,
        Cancellation = ct,
    };

    /// <summary>A context for one open file: its own lock owner, so POSIX locks are per stream (as gfapi's per-fd lk-owner).</summary>
    internal FopContext NewFileContext()
    {
        var ctx = NewContext();
        ctx.LockOwner = (ulong)Interlocked.Increment(ref s_nextLockOwner);
        return ctx;
    }

    /// <summary>True once the volume is disposed: its session has released every open file and freed its graph.</summary>
    public bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await Session.DisposeAsync().ConfigureAwait(false);
    }

    // ---- path resolution ----

    /// <summary>
    /// Resolves <paramref name="path"/> to a node holding one lookup the caller must
    /// <see cref="Release"/>. Symlinks in directories are always followed; the last component's
    /// only when <paramref name="followLast"/>. ".." is lexical (POSIX would go to the real parent
    /// of a symlinked directory; a library walking from the root cannot tell without one more fop).
    /// </summary>
    internal async ValueTask<Result<MountNode>> WalkAsync(FopContext ctx, string path, bool followLast)
    {
        if (!NameBytes.IsCanonical(path)) return Errno.EINVAL;
        var pending = new List<string>(Split(path));
        pending.Reverse(); // a stack: the next component is at the end
        var held = new List<MountNode> { Session.Root };
        int links = 0;
        try
        {
            while (pending.Count > 0)
            {
                var name = pending[^1];
                pending.RemoveAt(pending.Count - 1);
                var dir = held[^1];
                if (name == "..")
                {
                    if (held.Count > 1) { Release(dir); held.RemoveAt(held.Count - 1); }
                    continue;
                }
                if (!dir.IsDir) return Errno.ENOTDIR;
                var r = await Session.LookupAsync(ctx, dir, name).ConfigureAwait(false);
                if (!r.Ok) return r.Error;
                var node = r.Value.Node;
                if (PosixMode.IsLnk(node.Type) && (pending.Count > 0 || followLast))
                {
                    if (++links > Options.MaxSymlinks) { Release(node); return Errno.ELOOP; }
                    var target = await Session.ReadlinkAsync(ctx, node).ConfigureAwait(false);
                    Release(node);
                    if (!target.Ok) return target.Error;
                    if (target.Value.StartsWith('/'))
                    {
                        for (int i = held.Count - 1; i > 0; i--) Release(held[i]);
                        held.RemoveRange(1, held.Count - 1);
                    }
                    var parts = Split(target.Value);
                    for (int i = parts.Length - 1; i >= 0; i--) pending.Add(parts[i]);
                    continue;
                }
                held.Add(node);
            }
            var result = held[^1];
            held.RemoveAt(held.Count - 1);
            return result;
        }
        finally
        {
            for (int i = held.Count - 1; i > 0; i--) Release(held[i]);
        }
    }

    /// <summary>Resolves the directory that holds <paramref name="path"/>'s last component, and that component's name.</summary>
    internal async ValueTask<Result<(MountNode Parent, string Name)>> WalkParentAsync(FopContext ctx, string path)
    {
        if (!NameBytes.IsCanonical(path)) return Errno.EINVAL;
        var parts = Split(path);
        if (parts.Length == 0) return Errno.EINVAL; // the root has no parent entry
        var name = parts[^1];
        if (name is "." or "..") return Errno.EINVAL;
        var parentPath = parts.Length == 1 ? "/" : "/" + string.Join('/', parts, 0, parts.Length - 1);
        var p = await WalkAsync(ctx, parentPath, followLast: true).ConfigureAwait(false);
        if (!p.Ok) return p.Error;
        if (!p.Value.IsDir) { Release(p.Value); return Errno.ENOTDIR; }
        return (p.Value, name);
    }

    /// <summary>A symlink target or xattr name given by the caller: EINVAL when it stands for no bytes.</summary>
    internal static void CheckName(string s, string operation, string path)
    {
        if (!NameBytes.IsCanonical(s)) ThrowHelper.Throw(Errno.EINVAL, operation, path);
    }

    /// <summary>Drops the one lookup a walk handed out (no-op for the root).</summary>
    internal void Release(MountNode node) => Session.Forget(node, 1);

    private static string[] Split(string path) =>
        path.Split('/', StringSplitOptions.RemoveEmptyEntries) is var parts && Array.IndexOf(parts, ".") >= 0
            ? Array.FindAll(parts, p => p != ".")
            : parts;
}
