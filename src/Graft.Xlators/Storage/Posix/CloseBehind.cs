using Graft.Core;
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
/// Closing threads (up to <see cref="MaxClosers"/> per process) close them in the order they came. One was
/// enough while closes were quick; but where the filesystem frees an inode's blocks with a synchronous discard
/// (ext4 without a journal, mounted `discard`: these VMs' root) each last close waits for the device, 0.3–2 ms,
/// and one thread capped a brick's unlinks at the rate of that wait: four jobs' unlinks scaled 1.5× over one
/// (GlusterFS's, which evict inside their unlink calls on its I/O threads, 2.5×), and an rmdir after them spun in
/// the kernel's shrink_dcache_parent until the backlog of its directory's closes had drained (up to 1.7 s). A
/// closer is added whenever more descriptors wait than there are closers, so the device's waits overlap.
/// The name and the handle are gone before a descriptor is handed over, so nothing can reach the inode
/// meanwhile; only its space comes back a moment later. Past <see cref="MaxPending"/> waiting (the disk is
/// behind) the caller closes its own, so descriptors never pile up; without a thread to be had, too.
/// </remarks>
internal static class CloseBehind
{
    private static readonly object s_lock = new();
    private static readonly Queue<Item> s_queue = new();  // guarded by s_lock
    private static int s_closers;                         // guarded by s_lock
    private static int s_idle;                            // closers waiting for work; guarded by s_lock
    private static int s_held;                            // guarded by s_lock
    private static long s_handed;

    /// <summary>Descriptors that may wait to be closed; past it the caller closes.</summary>
    public const int MaxPending = 1024;

    /// <summary>Closing threads a process may have (each waits for the device in a slow close).</summary>
    public const int MaxClosers = 4;

    /// <summary>Closing threads started so far (they never end; tests).</summary>
    internal static int Closers { get { lock (s_lock) return s_closers; } }

    /// <summary>Descriptors handed to the closing thread since the process started.</summary>
    public static long Handed => Interlocked.Read(ref s_handed);

    /// <summary>
    /// One descriptor to close and, for an unlinked file whose handle is still to go, the brick whose handle of
    /// <see cref="Gfid"/> is dropped after the close (<see cref="PosixTranslator.DropHandleBehind"/>).
    /// </summary>
    private readonly record struct Item(int Fd, SharedBrickState? Brick, Gfid Gfid);

    /// <summary>Closes <paramref name="fd"/> soon, on the closing thread; the caller must not touch it again.</summary>
    public static void Close(int fd) => Hand(new Item(fd, null, default));

    /// <summary>
    /// Closes <paramref name="fd"/> and then drops the handle of <paramref name="g"/> on <paramref name="brick"/>
    /// soon, on a closing thread (or here, when none can take it). The caller counted the work with
    /// <see cref="SharedBrickState.BeginBehind"/>; it is ended here.
    /// </summary>
    public static void CloseAndDropHandle(int fd, SharedBrickState brick, Gfid g) => Hand(new Item(fd, brick, g));

    private static void Hand(Item item)
    {
        lock (s_lock)
        {
            if (s_queue.Count < MaxPending && Started())
            {
                s_queue.Enqueue(item);
                Interlocked.Increment(ref s_handed);
                // A closer busy with a close takes the next from the queue itself: an idle one is woken only for
                // descriptors the busy ones leave (each wake is a switch, on a path that runs per unlink).
                if (s_idle > 0 && s_queue.Count > s_closers - s_idle) Monitor.Pulse(s_lock);
                // More waiting than there are closers: the device is slow to free them; wait for it side by side.
                if (s_queue.Count > s_closers && s_closers < MaxClosers) StartCloser();
                return;
            }
        }
        Finish(item);
    }

    private static void Finish(in Item item)
    {
        Libc.close(item.Fd);
        if (item.Brick is { } b)
        {
            try { PosixTranslator.DropHandleBehind(b, item.Gfid); }
            finally { b.EndBehind(); }
        }
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

    private static bool Started() => s_closers > 0 || StartCloser();

    /// <summary>Starts one more closing thread (under s_lock); false when none could be had.</summary>
    private static bool StartCloser()
    {
        try
        {
            new Thread(Run) { IsBackground = true, Name = "graft-close" }.Start();
            s_closers++;
            return true;
        }
        catch (OutOfMemoryException) { return false; }   // no thread to be had: the caller closes (or the closers there are)
    }

    private static void Run()
    {
        while (true)
        {
            Item item;
            lock (s_lock)
            {
                while (s_queue.Count == 0 || s_held > 0)
                {
                    s_idle++;
                    Monitor.Wait(s_lock);
                    s_idle--;
                }
                item = s_queue.Dequeue();
            }
            Finish(item);
        }
    }
}
