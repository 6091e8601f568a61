using Graft.EndToEnd.Tests.Mounting;
using Graft.EndToEnd.Tests.Switching;

namespace Graft.EndToEnd.Tests.WriteBack;

/// <summary>
/// A `graft up` mount (real brick process, real mount daemon) switched to a client graph with
/// performance/write-behind over debug/faults over the brick's protocol/client, so that a write the
/// application had acknowledged fails (or is held) below write-behind, in the background.
/// </summary>
internal sealed class WriteBackMount : IAsyncDisposable
{
    public readonly SwitchingMount Mount;

    private WriteBackMount(SwitchingMount m) { Mount = m; }

    /// <param name="faults">debug/faults option lines, e.g. "option fail writev".</param>
    public static async Task<WriteBackMount> UpAsync(string what, string[] faults, params string[] mountOptions)
    {
        var m = await SwitchingMount.UpAsync(what, mountOptions);
        try
        {
            await m.ApplyAsync(Layered(m.Original, faults));
            return new WriteBackMount(m);
        }
        catch { await m.DisposeAsync(); throw; }
    }

    /// <summary>The `graft up` volfile with debug/faults and write-behind stacked on its client.</summary>
    public static string Layered(string original, string[] faults)
    {
        var top = SwitchingMount.TopName(original);
        var options = string.Concat(faults.Select(f => $"    {f}\n"));
        return original.TrimEnd() + $"""


            volume wbtest-faults
                type debug/faults
            {options}    subvolumes {top}
            end-volume

            volume wbtest-wb
                type performance/write-behind
                subvolumes wbtest-faults
            end-volume

            """;
    }

    public string P(params string[] parts) => Mount.P(parts);

    /// <summary>Bytes write-behind of the active graph acknowledged and has not yet written (or failed to).</summary>
    public long HeldBytes() =>
        Mount.State().GetProperty("graphs").EnumerateArray().Single(g => g.GetProperty("state").GetString() == "active")
            .GetProperty("writeBehindBytes").GetInt64();

    /// <summary>Waits (bounded) until write-behind has nothing left: every background write landed or failed (and was recorded).</summary>
    public Task BackgroundWritesDoneAsync() => Proc.Until(() => HeldBytes() == 0, "write-behind's background writes ran", seconds: 30);

    public ValueTask DisposeAsync() => Mount.DisposeAsync();
}
