namespace Graft.Xlators.Protocol.Server;

// Flow control of one connection. The receive loop never waits for a request slot: a request
// that finds max-requests-in-service taken waits in the backlog (decoded, in arrival order) and
// the loop reads on, so Ping, Cancel and Goodbye frames behind it are answered at once. Only when
// the backlog holds max-request-backlog bytes does the loop stop reading, and TCP pushes back on
// the client; it reads again as soon as a served request makes room. Blocking lock requests
// (SETLKW, blocking inodelk/entrylk) take no slot at all: they may wait for other clients indefinitely, and are bounded by
// their session's max-lock-waits-per-session instead (ServerConnection.OnFrame).
internal sealed partial class ServerConnection
{
    private readonly object _flow = new();          // guards the fields below; a leaf lock
    private int _inService;                          // requests holding a slot
    private readonly Queue<ServerCall> _backlog = new();
    private long _backlogBytes;
    private bool _flowEnded;                          // the connection is gone: nothing more is started
    private TaskCompletionSource? _room;              // the receive loop waits on it while the backlog is full
    private bool _backlogFull;                        // the receive loop's own: it stops reading frames (set under _flow by Admit)
    private ulong _laneFd;                            // the fd whose write holds the write lane (0: the lane is free)
    private readonly Queue<ServerCall> _lane = new(); // writes of _laneFd that arrived while one of its writes was in service

    /// <summary>Requests in service (holding a slot) and waiting in the backlog, for tests and state.</summary>
    internal (int InService, int Backlog) FlowCounts { get { lock (_flow) return (_inService, _backlog.Count); } }

    /// <summary>What the backlog's requests hold (their footprints), for tests and state.</summary>
    internal long BacklogBytes { get { lock (_flow) return _backlogBytes; } }

    /// <summary>
    /// Starts a request now if a slot is free and nobody waits ahead of it; otherwise it joins the backlog.
    /// <paramref name="inline"/>: a cheap fop with nothing behind it (InlineWhen), served on the receive
    /// loop's own thread — no hand-off, its reply written from here — instead of the thread pool's.
    /// <paramref name="onlyAlone"/>: inline only while nothing else of this connection is in service.
    /// <paramref name="ahead"/>: frames are behind it in what the loop received; served inline, its reply may wait for
    /// the next one (<see cref="ServerCall.ServedAhead"/>), and the loop sends it at the latest when the batch is served.
    /// </summary>
    private void Admit(ServerCall call, bool inline, bool onlyAlone = false, bool ahead = false)
    {
        lock (_flow)
        {
            if (_inService >= _server.MaxRequestsInService || _backlog.Count > 0)
            {
                _backlog.Enqueue(call);
                _backlogBytes += call.Footprint;
                _backlogFull = _backlogBytes >= _server.MaxRequestBacklog;
                return;
            }
            if (onlyAlone && _inService > 0) inline = false;
            _inService++;
            if (!inline && Lane(call)) return;
        }
        if (!inline) Serve(call);
        else
        {
            _server.CountInline();
            // Only here, where the loop serves it itself and now: a call served later (the backlog, the pool) never holds.
            call.ServedAhead = ahead;
            _ = ServeAsync(call);
        }
    }

    /// <summary>
    /// A request that held a slot is done: the slot goes to the oldest request in the backlog, or
    /// back. A receive loop paused on a full backlog reads again once there is room.
    /// </summary>
    private void Next()
    {
        ServerCall? next = null;
        TaskCompletionSource? room = null;
        lock (_flow)
        {
            if (!_flowEnded && _backlog.TryDequeue(out next))
            {
                _backlogBytes -= next.Footprint;
                if (_room is not null && _backlogBytes < _server.MaxRequestBacklog) (room, _room) = (_room, null);
                if (Lane(next)) next = null;   // it keeps the slot it was handed, queued behind a write of its fd
            }
            else _inService--;
        }
        room?.TrySetResult();
        if (next is not null) Serve(next);
    }

    /// <summary>The receive loop, paused by a full backlog: returns once it has room again (or the connection closed).</summary>
    private async Task WaitForRoomAsync()
    {
        Task wait;
        lock (_flow)
        {
            _backlogFull = false;
            if (_backlogBytes < _server.MaxRequestBacklog) return;
            _room ??= new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            wait = Task.WhenAny(_room.Task, _conn.Closed);
        }
        await wait.ConfigureAwait(false);
    }

    /// <summary>
    /// The write lane. ext4 takes a file's inode lock for every buffered write, so writes of one file served side by
    /// side on pool threads wait for each other in the kernel, spinning on the lock's owner (1.2–9% of the brick's CPU
    /// in a sequential write with write-behind's 4 writes in flight, docs/fuse-benchmark.md "Session 11"). So a write
    /// (<see cref="ServerCall.Laneable"/>: buffered, through an fd opened without O_DIRECT, O_SYNC or O_DSYNC: those wait for the disk, and side by side their waits overlap) that arrives while another write of its fd is in
    /// service on the lane queues behind it, holding its slot, and the thread that finishes one serves the next
    /// (<see cref="ServeLaneAsync"/>): one at a time, in arrival order, one wake per burst. Writes of other fds are
    /// served beside it as before. Under <see cref="_flow"/>; true when <paramref name="call"/> was queued.
    /// </summary>
    private bool Lane(ServerCall call)
    {
        if (!call.Laneable) return false;
        ulong fd = call.Request.Fd;
        if (_laneFd == fd)
        {
            _lane.Enqueue(call);
            _server.CountWriteLaned();
            return true;
        }
        if (_laneFd == 0)
        {
            _laneFd = fd;
            call.LaneHead = true;
        }
        return false;
    }

    /// <summary>The lane's write in service is done (its slot given back): serve the writes queued behind it, then free the lane.</summary>
    private async Task ServeLaneAsync()
    {
        while (true)
        {
            ServerCall? next;
            lock (_flow)
            {
                if (_flowEnded || !_lane.TryDequeue(out next))
                {
                    _laneFd = 0;
                    return;
                }
            }
            // A loop, not a chain of continuations: a long stream of writes must not deepen the stack.
            await ServeAsync(next).ConfigureAwait(false);
        }
    }

    /// <summary>The connection ended: requests still in the backlog are never started (their client is gone).</summary>
    private void DropBacklog()
    {
        ServerCall[] dropped;
        lock (_flow)
        {
            _flowEnded = true;
            dropped = [.. _backlog, .. _lane];
            _backlog.Clear();
            _lane.Clear();
            _backlogBytes = 0;
        }
        foreach (var c in dropped) ServerCall.Return(c);
    }

    /// <summary>
    /// Served on the thread pool or the brick's I/O workers (io-threads), not in the receive loop: storage/posix blocks in its
    /// syscalls (an fsync can take a while), and one slow fop must neither hold up the others on
    /// this connection nor delay the pongs that prove the brick is alive (IoWorkers). Only the cheap
    /// fops of <see cref="InlineWhen"/> may be served by the loop itself (Admit).
    /// </summary>
    private void Serve(ServerCall call) => _server.Serve(call);
}
