using Graft.Xlators.Storage.Posix.Native;

namespace Graft.Xlators.Storage.Posix;

/// <summary>
/// Closes the last descriptor of an unlinked file off the request path. The filesystem frees an unlinked
/// inode (its blocks and its table entry) when its last reference goes, and an unlink holds one — the O_PATH
/// fd it checked the object through — until it is done. That close took 0.44–1.8 ms of a brick's unlink on
/// average (0.01–126 ms each; `perf trace` of the receive thread at load 6–7, ext4), all before the reply
/// could leave; and an unlink served on a connection's receive thread held up every request behind it
/// (docs/fuse-benchmark.md, "Session 9").
/// </summary>
/// <remarks>
/// One thread per process closes them in the order they came. The name and the handle are gone before a
/// descriptor is handed over, so nothing can reach the inode meanwhile; only its space comes back a moment
/// later. Past <see cref="MaxPending"/> waiting (the disk is behind) the caller closes its own, so
/// descriptors never pile up; without a thread to be had, too.
/// </remarks>
internal static class CloseBehind
{
    private static readonly object s_lock = new();
    private static readonly Queue<int> s_queue = new();   // guarded by s_lock
    private static Thread? s_thread;                      // guarded by s_lock
    private static int s_held;                            // guarded by s_lock
    private static long s_handed;

    /// <summary>Descriptors that may wait to be closed; past it the caller closes.</summary>
    public const int MaxPending = 1024;

    /// <summary>Descriptors handed to the closing thread since the process started.</summary>
    public static long Handed => Interlocked.Read(ref s_handed);

    /// <summary>Closes <paramref name="fd"/> soon, on the closing thread; the caller must not touch it again.</summary>
    public static void Close(int fd)
    {
        lock (s_lock)
        {
            if (s_queue.Count < MaxPending && Started())
            {
                s_queue.Enqueue(fd);
                Interlocked.Increment(ref s_handed);
                // The thread waits only on an empty queue.
                if (s_queue.Count == 1) Monitor.Pulse(s_lock);
                return;
            }
        }
        Libc.close(fd);
    }

    /// <summary>Tests: nothing is closed while the returned hold lasts (so a test can see who closed what).</summary>
    internal static IDisposable Hold()
    {
        lock (s_lock) s_held++;
        return new Holding();
    }

    private sealed class Holding : IDisposable
    {
        private int _done;
        public void Dispose()
        {
            if (Interlocked.Exchange(ref _done, 1) != 0) return;
            lock (s_lock) { s_held--; Monitor.PulseAll(s_lock); }
        }
    }

    private static bool Started()
    {
        if (s_thread is not null) return true;
        try
        {
            var t = new Thread(Run) { IsBackground = true, Name = "graft-close" };
            t.Start();
            s_thread = t;
            return true;
        }
        catch (OutOfMemoryException) { return false; }   // no thread to be had: the caller closes
    }

    private static void Run()
    {
        while (true)
        {
            int fd;
            lock (s_lock)
            {
                while (s_queue.Count == 0 || s_held > 0) Monitor.Wait(s_lock);
                fd = s_queue.Dequeue();
            }
            Libc.close(fd);
        }
    }
}
