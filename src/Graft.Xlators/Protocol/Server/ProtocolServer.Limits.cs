using Graft.Core;
using Graft.Xlators.Protocol.Wire;

namespace Graft.Xlators.Protocol.Server;

// What one client may hold here: requests in service and buffered per connection (the receive
// loop's flow control, ServerConnection.Flow.cs), blocking lock waits and open fds per session.
// A refusal is a clear errno for that one call, counted, and logged at most once per 10 s per
// kind so a client hammering a limit cannot flood the log.
public sealed partial class ProtocolServer
{
    private readonly LogThrottle _fdLimitLog = new(TimeSpan.FromSeconds(10)), _lockWaitLimitLog = new(TimeSpan.FromSeconds(10));
    private long _fdsRefused, _lockWaitsRefused;

    internal int MaxRequestsInService { get; private set; } = 1024;
    internal long MaxRequestBacklog { get; private set; } = 16 << 20;
    internal int MaxLockWaitsPerSession { get; private set; } = 4096;
    internal int MaxOpenFdsPerSession { get; private set; } = 16384;

    /// <summary>Opens, creates and opendirs refused with EMFILE (max-open-fds-per-session).</summary>
    public long FdsRefused => Interlocked.Read(ref _fdsRefused);

    /// <summary>Blocking lock requests refused with ENOLCK (max-lock-waits-per-session).</summary>
    public long LockWaitsRefused => Interlocked.Read(ref _lockWaitsRefused);

    /// <summary>Bytes held by requests waiting in backlogs, over every connection.</summary>
    public long RequestBacklogBytes { get { lock (_sessions) return _connections.Sum(c => c.BacklogBytes); } }

    /// <summary>Requests in service (holding a slot) and waiting in backlogs, over every connection.</summary>
    public (int InService, int Backlogged) RequestCounts
    {
        get
        {
            int inService = 0, backlogged = 0;
            lock (_sessions)
                foreach (var c in _connections)
                {
                    var (i, b) = c.FlowCounts;
                    inService += i;
                    backlogged += b;
                }
            return (inService, backlogged);
        }
    }

    /// <summary>Blocking lock requests in service, over every session.</summary>
    public int LockWaits { get { lock (_sessions) return _sessions.Values.Sum(s => s.LockWaits); } }

    private void ReadLimits()
    {
        MaxRequestsInService = Options.GetInt("max-requests-in-service");
        MaxRequestBacklog = Options.GetLong("max-request-backlog");
        MaxLockWaitsPerSession = Options.GetInt("max-lock-waits-per-session");
        MaxOpenFdsPerSession = Options.GetInt("max-open-fds-per-session");
    }

    private IoWorkers? _io;

    /// <summary>Threads serving fops (io-threads); 0 when fops run on the .NET thread pool.</summary>
    public int IoThreads => _io?.Count ?? 0;

    /// <summary>I/O workers serving a request now, and requests waiting for one.</summary>
    public (int Busy, int Queued) IoLoad => _io?.Load ?? (0, 0);

    /// <summary>Connections receive on threads of their own (option receive-threads).</summary>
    internal bool ReceiveThreads { get; private set; } = true;

    /// <summary>Cheap fops may be served on their connection's receive loop (option inline-fops, and io-threads 0).</summary>
    internal bool InlineFops { get; private set; }

    private void StartIoWorkers()
    {
        var n = Options.GetInt("io-threads");
        if (n > 0) _io = new IoWorkers(n, BrickName);
        ReceiveThreads = Options.GetBool("receive-threads");
        // With io-threads the brick's owner chose to bound the threads fops may hold: every fop goes to a worker.
        InlineFops = n == 0 && Options.GetBool("inline-fops");
    }

    /// <summary>Starts serving a request: on an I/O worker, or on the thread pool when io-threads is 0.</summary>
    internal void Serve(ServerCall call)
    {
        if (_io is { } io) io.Post(call);
        else ThreadPool.UnsafeQueueUserWorkItem(call, preferLocal: false);
    }

    /// <summary>EMFILE for an open past max-open-fds-per-session: counted, and logged (throttled).</summary>
    private FopReply FdLimitReached(ClientSession s)
    {
        var n = Interlocked.Increment(ref _fdsRefused);
        if (_fdLimitLog.Due()) _log.LimitReached(s.Peer, s.Key, "open fds", "max-open-fds-per-session", MaxOpenFdsPerSession, "EMFILE", n);
        return new FopReply(Errno.EMFILE);
    }

    /// <summary>A blocking lock request past max-lock-waits-per-session (the receive loop answers it ENOLCK): counted, and logged (throttled).</summary>
    internal void LockWaitLimitReached(ClientSession s)
    {
        var n = Interlocked.Increment(ref _lockWaitsRefused);
        if (_lockWaitLimitLog.Due()) _log.LimitReached(s.Peer, s.Key, "blocking lock requests", "max-lock-waits-per-session", MaxLockWaitsPerSession, "ENOLCK", n);
    }
}
