namespace Graft.Client.Tests;

/// <summary>Bounded waits on a condition (never a sleep-and-hope).</summary>
internal static class Wait
{
    /// <summary>Polls <paramref name="cond"/> every 10 ms; TimeoutException naming <paramref name="what"/> after <paramref name="seconds"/>.</summary>
    public static async Task Until(Func<bool> cond, string what, double seconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!cond())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"waited {seconds} s for {what}");
            await Task.Delay(10);
        }
    }
}
