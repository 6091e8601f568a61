using Graft.Core;
using Graft.Xlators.Debug;
using Graft.Xlators.Storage.Posix;

namespace Graft.Client.Tests;

/// <summary>A volume on a real storage/posix brick in a private temp directory, under pass-through layers.</summary>
internal sealed class TestVolume : IAsyncDisposable
{
    public readonly string BrickDir;
    public readonly Volume Volume;

    private TestVolume(string dir, Volume v) { BrickDir = dir; Volume = v; }

    public static async Task<TestVolume> CreateAsync(VolumeOptions? options = null, int layers = 1)
    {
        var dir = Path.Combine(Path.GetTempPath(), "graft-client-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        var specs = new List<(XlatorSpec, string, IReadOnlyDictionary<string, string>?)>
        {
            (PosixTranslator.Spec, "posix", new Dictionary<string, string> { ["directory"] = dir }),
        };
        for (int i = 1; i <= layers; i++) specs.Add((Passthrough.Spec, "p" + i, null));
        var graph = Graph.Linear(1, [.. specs]);
        var v = await Volume.OpenAsync(graph, options ?? new VolumeOptions { ChildUpTimeout = TimeSpan.FromSeconds(10) });
        return new TestVolume(dir, v);
    }

    /// <summary>Another volume (other identity) on the same brick directory.</summary>
    public static async Task<Volume> OpenSecondAsync(string dir, VolumeOptions options)
    {
        var graph = Graph.Linear(2, (PosixTranslator.Spec, "posix", new Dictionary<string, string> { ["directory"] = dir }));
        return await Volume.OpenAsync(graph, options);
    }

    public async ValueTask DisposeAsync()
    {
        await Volume.DisposeAsync();
        try { Directory.Delete(BrickDir, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

internal static class Errors
{
    public static async Task<GraftIOException> ThrowsErrno(Errno expected, Func<Task> action)
    {
        var e = await Assert.ThrowsAnyAsync<GraftIOException>(action);
        Assert.Equal(expected, e.Errno);
        return e;
    }
}
