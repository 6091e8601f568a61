namespace Graft.Xlators.Protocol.Server;

/// <summary>
/// The brick's I/O workers (option io-threads, off by default): a fixed set of threads that serve requests.
/// storage/posix makes its syscalls synchronously, so a fop in a long fsync or on a slow disk holds
/// the thread that serves it. On the .NET thread pool such fops take the threads that the receive
/// loops, the socket engine and the timers need too, and the pool adds threads only slowly once it
/// notices (about one per half second), so many slow fops at once slow every connection, pings
/// included. Here they hold at most io-threads workers: other requests are served by the workers
/// left, and the receive loops, pongs and cancels keep the pool to themselves. The price is a thread
/// wake per request, which the pool mostly avoids (the thread that ran the receive loop picks the
/// fop up itself), hence off by default.
/// </summary>
/// <remarks>
/// A worker runs a request until its first wait that does not complete at once (a blocking lock's
/// queue, say); the rest of it continues on the thread pool and the worker takes the next request.
/// Requests waiting for a worker are bounded per connection by max-requests-in-service and
/// max-request-backlog (ServerConnection.Flow.cs), so this queue is too.
/// </remarks>
internal sealed class IoWorkers
{
    private readonly Queue<ServerCall> _queue = new();   // requests no worker was free for; guarded by itself
    private readonly Stack<Worker> _idle = new();        // guarded by _queue
    private int _busy;                                   // workers serving a request (Interlocked)
    private bool _stopping;                              // guarded by _queue

    public IoWorkers(int count, string name)
    {
        Count = count;
        for (int i = 0; i < count; i++)
        {
            var w = new Worker(this);
            new Thread(w.Run) { IsBackground = true, Name = $"{name}-io{i}" }.Start();
        }
    }

    public int Count { get; }

    /// <summary>Workers serving a request now (the rest wait for one), and requests waiting for a worker.</summary>
    public (int Busy, int Queued) Load { get { lock (_queue) return (Volatile.Read(ref _busy), _queue.Count); } }

    /// <summary>
    /// Hands the request to the worker that went idle last (its stack and caches are the warmest,
    /// as the thread pool's own LIFO wake does), or queues it when every worker is busy. The worker
    /// is woken outside the queue's lock, so it never wakes only to wait for that lock.
    /// </summary>
    public void Post(ServerCall call)
    {
        Worker? w;
        lock (_queue)
        {
            if (!_idle.TryPop(out w)) { _queue.Enqueue(call); return; }
        }
        w.Give(call);
    }

    /// <summary>Workers finish the requests already queued (their connections are closed by now), then end.</summary>
    public void Stop()
    {
        Worker[] idle;
        lock (_queue)
        {
            _stopping = true;
            idle = [.. _idle];
            _idle.Clear();
        }
        foreach (var w in idle) w.Give(null);
    }

    /// <summary>The next queued request, or null after putting <paramref name="w"/> on the idle stack (or when stopping).</summary>
    private ServerCall? NextOrIdle(Worker w, out bool stop)
    {
        lock (_queue)
        {
            stop = false;
            if (_queue.TryDequeue(out var call)) return call;
            if (_stopping) { stop = true; return null; }
            _idle.Push(w);
            return null;
        }
    }

    private sealed class Worker(IoWorkers pool)
    {
        private ServerCall? _given;   // guarded by this
        private bool _woken;          // guarded by this

        /// <summary>Wakes this idle worker with a request (null: stop).</summary>
        public void Give(ServerCall? call)
        {
            lock (this)
            {
                _given = call;
                _woken = true;
                Monitor.Pulse(this);
            }
        }

        public void Run()
        {
            while (true)
            {
                var call = pool.NextOrIdle(this, out var stop);
                if (stop) return;
                if (call is null)
                {
                    lock (this)
                    {
                        while (!_woken) Monitor.Wait(this);
                        _woken = false;
                        (call, _given) = (_given, null);
                    }
                    if (call is null) return;   // stopping
                }
                Interlocked.Increment(ref pool._busy);
                try { ((IThreadPoolWorkItem)call).Execute(); }
                finally { Interlocked.Decrement(ref pool._busy); }
            }
        }
    }
}
