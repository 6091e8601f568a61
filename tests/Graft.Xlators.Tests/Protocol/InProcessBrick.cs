using Graft.Core;
using Graft.Xlators.Debug.Faults;
using Graft.Xlators.Features.Index;
using Graft.Xlators.Features.Locks;
using Graft.Xlators.Features.Upcall;
using Graft.Xlators.Protocol.Client;
using Graft.Xlators.Protocol.Server;
using Graft.Xlators.Storage.Posix;

namespace Graft.Xlators.Tests.Protocol;

/// <summary>A brick graph (protocol/server over storage/posix) in this process, on a real directory and a real loopback socket.</summary>
internal sealed class InProcessBrick : IAsyncDisposable
{
    private InProcessBrick(string temp, Graph graph, string? secretFile) { Temp = temp; Graph = graph; SecretFile = secretFile; }

    public string Temp { get; }
    public string Dir => Path.Combine(Temp, "brick");
    public Graph Graph { get; }
    public ProtocolServer Server => (ProtocolServer)Graph.Top;
    /// <summary>debug/faults right under the server, when the brick was started with it.</summary>
    public FaultsTranslator? Faults => Graph.Translators.OfType<FaultsTranslator>().FirstOrDefault();
    /// <summary>features/locks, when the brick was started with it.</summary>
    public LocksTranslator? Locks => Graph.Translators.OfType<LocksTranslator>().FirstOrDefault();
    public int Port => Server.LocalEndPoint!.Port;
    /// <summary>The secret clients must prove (<see cref="TestSecret"/>), or null for a brick that asks none.</summary>
    public string? SecretFile { get; }

    /// <summary>
    /// The brick graph; with <paramref name="lockOptions"/>, features/locks (no lock grace unless
    /// asked for) sits between the server and storage/posix, as in the standard brick graph. With
    /// <paramref name="secret"/> (the default) clients must prove <see cref="TestSecret"/>, and
    /// <see cref="NewClientGraph"/> makes clients that do; without it (or with TLS) the brick asks none.
    /// <paramref name="healIndex"/> (with <paramref name="lockOptions"/>): features/index above storage/posix, as in the standard brick graph.
    /// <paramref name="upcall"/> (alone): features/upcall between the server and storage/posix, so clients that ask get notices.
    /// </summary>
    public static async Task<InProcessBrick> StartAsync(Dictionary<string, string>? serverOptions = null, string? temp = null,
                                                        Dictionary<string, string>? lockOptions = null,
                                                        Dictionary<string, string>? faultOptions = null, bool secret = true, bool healIndex = false,
                                                        bool upcall = false)
    {
        if (upcall && (lockOptions is not null || faultOptions is not null)) throw new ArgumentException("upcall goes alone", nameof(upcall));
        serverOptions = new Dictionary<string, string>(serverOptions ?? []);
        if (secret && !serverOptions.ContainsKey("tls-cert")) serverOptions.TryAdd("secret-file", TestSecret.File);
        temp ??= Path.Combine(Path.GetTempPath(), "graft-protocol-tests", Guid.NewGuid().ToString("n"));
        Directory.CreateDirectory(Path.Combine(temp, "brick"));
        var posix = new Dictionary<string, string> { ["directory"] = Path.Combine(temp, "brick") };
        Graph graph;
        if (upcall)
            graph = Graph.Linear(1, (PosixTranslator.Spec, "brick-posix", posix), (UpcallTranslator.Spec, "brick", null),
                                 (ProtocolServer.Spec, "server", serverOptions));
        else if (faultOptions is not null)
            graph = Graph.Linear(1, (PosixTranslator.Spec, "brick-posix", posix), (FaultsTranslator.Spec, "brick", faultOptions),
                                 (ProtocolServer.Spec, "server", serverOptions));
        else if (lockOptions is null)
            graph = Graph.Linear(1, (PosixTranslator.Spec, "brick", posix), (ProtocolServer.Spec, "server", serverOptions));
        else
        {
            var lo = new Dictionary<string, string> { ["lock-grace"] = "0" };
            foreach (var (k, v) in lockOptions) lo[k] = v;
            graph = !healIndex
                ? Graph.Linear(1, (PosixTranslator.Spec, "brick-posix", posix), (LocksTranslator.Spec, "brick", lo),
                               (ProtocolServer.Spec, "server", serverOptions))
                : Graph.Linear(1, (PosixTranslator.Spec, "brick-posix", posix),
                               (IndexTranslator.Spec, "brick-index", new Dictionary<string, string> { ["index-directory"] = Path.Combine(temp, "brick", ".graft", "indices") }),
                               (LocksTranslator.Spec, "brick", lo), (ProtocolServer.Spec, "server", serverOptions));
        }
        Assert.True(await graph.StartAndWaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None));
        return new InProcessBrick(temp, graph, serverOptions.GetValueOrDefault("secret-file"));
    }

    /// <summary>A client graph: protocol/client pointed at this brick (<paramref name="options"/> add to or override its
    /// options, e.g. another remote-port), with <paramref name="above"/> on top of it when given.</summary>
    public Graph NewClientGraph(Dictionary<string, string>? options = null, long generation = 1, XlatorSpec? above = null)
    {
        var o = new Dictionary<string, string>
        {
            ["remote-host"] = "127.0.0.1",
            ["remote-port"] = Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["remote-subvolume"] = "brick",
        };
        if (SecretFile is not null) o["secret-file"] = SecretFile;
        foreach (var (k, v) in options ?? []) o[k] = v;
        return above is null
            ? Graph.Linear(generation, (ProtocolClient.Spec, "client", o))
            : Graph.Linear(generation, (ProtocolClient.Spec, "client", o), (above, "top", null));
    }

    public async Task<(Graph Graph, ProtocolClient Client)> ConnectAsync(Dictionary<string, string>? options = null)
    {
        var g = NewClientGraph(options);
        Assert.True(await g.StartAndWaitAsync(TimeSpan.FromSeconds(10), CancellationToken.None), "client did not come up");
        return (g, (ProtocolClient)g.Top);
    }

    public async ValueTask DisposeAsync()
    {
        Graph.SendParentDown();
        await Graph.ParentDownHandled.WaitAsync(TimeSpan.FromSeconds(10));
        await Graph.DestroyAsync();
        try { Directory.Delete(Temp, recursive: true); } catch (IOException) { }
    }
}

internal static class ClientGraphs
{
    /// <summary>PARENT_DOWN, wait (bounded) for PARENT_DOWN_HANDLED, then destroy.</summary>
    public static async Task StopAsync(this Graph g)
    {
        g.SendParentDown();
        await g.ParentDownHandled.WaitAsync(TimeSpan.FromSeconds(30));
        await g.DestroyAsync();
    }

    /// <summary>Waits for <paramref name="cond"/> with a bound; fails the test with <paramref name="what"/> when it never holds.</summary>
    public static async Task Until(Func<bool> cond, string what, int timeoutMs = 10000)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        while (!cond())
        {
            Assert.True(Environment.TickCount64 < deadline, $"timed out waiting for: {what}");
            await Task.Delay(10);
        }
    }
}
