namespace Graft.Xlators.Tests.Protocol;

/// <summary>
/// Which thread completed a task: a continuation attached with ExecuteSynchronously runs on it. A task that completes
/// while the continuation is being attached runs it inside ContinueWith on the attaching thread instead, which says
/// nothing about where the task finished: such a round answers null, and the caller tries again.
/// </summary>
internal static class WhereATaskFinishes
{
    public static async Task<(string? Thread, bool OnPool)?> ObserveAsync(Task task)
    {
        int attacher = Environment.CurrentManagedThreadId;
        bool attaching = true, ranWhileAttaching = false;
        string? name = null;
        bool onPool = false;
        var finished = task.ContinueWith(_ =>
        {
            name = Thread.CurrentThread.Name;
            onPool = Thread.CurrentThread.IsThreadPoolThread;
            ranWhileAttaching = attaching && Environment.CurrentManagedThreadId == attacher;
        }, TaskContinuationOptions.ExecuteSynchronously);
        attaching = false;
        await finished.WaitAsync(TimeSpan.FromSeconds(10));
        return ranWhileAttaching ? null : (name, onPool);
    }
}
