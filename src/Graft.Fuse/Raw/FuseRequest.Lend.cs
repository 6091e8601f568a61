using Graft.Core;

namespace Graft.Fuse.Raw;

// A WRITE's payload lent past the handler (IPayloadLender, offered through FopContext.Payload by the bridge):
// performance/write-behind keeps a big write in this request's buffer until it is written below instead of copying
// it (the copy was a tenth of the mount's CPU in a sequential write). The request object then goes back to the pool
// only once both the handler has finished and the borrower has given the buffer back; the kernel's next requests
// are read into other pooled buffers meanwhile (a new one is made when the pool is empty).
public sealed unsafe partial class FuseRequest : IPayloadLender
{
    const int NotLent = 0, LentHandlerRunning = 1, LentHandlerDone = 2;
    int _loan;

    /// <summary>A WRITE's data lying in this request's buffer, at least half the largest write and with few buffers
    /// lent already (<see cref="FuseSession.TryCountLoan"/>), is lent; anything else is refused (the borrower copies).</summary>
    bool IPayloadLender.TryLend(ReadOnlySpan<byte> data)
    {
        if (Opcode != FuseOpcode.Write || data.Length < _session.LendMin) return false;
        if (!new ReadOnlySpan<byte>(_buffer, Length).Overlaps(data, out int at) || at < 0 || at + data.Length > Length) return false; // at: where data starts in the buffer
        if (Volatile.Read(ref _loan) != NotLent || !_session.TryCountLoan()) return false;
        if (Interlocked.CompareExchange(ref _loan, LentHandlerRunning, NotLent) == NotLent) return true;
        _session.EndLoan();
        return false;
    }

    void IPayloadLender.GiveBack()
    {
        _session.EndLoan();
        // The handler is still running: its end gives the request back to the pool.
        if (Interlocked.CompareExchange(ref _loan, NotLent, LentHandlerRunning) == LentHandlerRunning) return;
        if (Interlocked.CompareExchange(ref _loan, NotLent, LentHandlerDone) == LentHandlerDone) _session.ReturnLent(this);
    }

    /// <summary>The handler is done: true when the request may go back to the pool now, false when its buffer is lent
    /// (the borrower's <see cref="IPayloadLender.GiveBack"/> returns it).</summary>
    internal bool EndHandler() => Interlocked.CompareExchange(ref _loan, LentHandlerDone, LentHandlerRunning) != LentHandlerRunning;

    /// <summary>Whether this request's buffer is out on loan (tests).</summary>
    internal bool IsLent => Volatile.Read(ref _loan) != NotLent;
}
