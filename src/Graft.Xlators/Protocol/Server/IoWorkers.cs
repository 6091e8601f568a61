namespace Graft.Xlators.Protocol.Server;

/// <summary>
/// The brick's I/O workers (option io-threads): a fixed set of threads that serve requests.
/// storage/posix makes its syscalls synchronously, so a fop in a long fsync or on a slow disk holds
/// the thread that serves it. On the .NET thread pool such fops take the threads that the receive
/// loops, the socket engine and the timers need too, and the pool adds threads only slowly once it
/// notices (about one per half second), so a handful of slow fops would stall every connection,
/// pings included. Here they hold at most io-threads workers: other requests are served by the
/// workers left, and the receive loops, pongs and cancels keep running on the pool.
/// </summary>
/// <remarks>
/// A worker runs a request until its first wait that does not complete at once (a blocking lock's
/// queue, say); the rest of it continues on the thread pool and the worker takes the next request.
/// Requests waiting for a worker are bounded per connection by max-requests-in-service and
/// max-request-backlog (ServerConnection.Flow.cs), so this queue is too.
/// </remarks>
internal sealed class IoWorkers
{
    private readonly Queue<ServerCall> _queue = new();   // guarded by itself
    private int _idle;                                   // workers waiting in Monitor.Wait; guarded by _queue
    private int _busy;                                   // workers serving a request (Interlocked)
    private bool _stopping;                              // guarded by _queue

    public IoWorkers(int count, string name)
    {
        Count = count;
        for (int i = 0; i < count; i++)
            new Thread(Run) { IsBackground = true, Name = $"{name}-io{i}" }.Start();
    }

    public int Count { get; }

    /// <summary>Workers serving a request now (the rest wait for one), and requests waiting for a worker.</summary>
    public (int Busy, int Queued) Load { get { lock (_queue) return (Volatile.Read(ref _busy), _queue.Count); } }

    public void Post(ServerCall call)
    {
        lock (_queue)
        {
            _queue.Enqueue(call);
            if (_idle > 0) Monitor.Pulse(_queue);
        }
    }

    /// <summary>Workers finish the requests already queued (their connections are closed by now), then end.</summary>
    public void Stop()
    {
        lock (_queue)
        {
            _stopping = true;
            Monitor.PulseAll(_queue);
        }
    }

    private void Run()
    {
        while (true)
        {
            ServerCall call;
            lock (_queue)
            {
                while (!_queue.TryDequeue(out call!))
                {
                    if (_stopping) return;
                    _idle++;
                    Monitor.Wait(_queue);
                    _idle--;
                }
                Interlocked.Increment(ref _busy);
            }
            try { ((IThreadPoolWorkItem)call).Execute(); }
            finally { Interlocked.Decrement(ref _busy); }
        }
    }
}
