namespace Graft.Core;

/// <summary>
/// A front end's offer to lend a write's payload buffer beyond the call (<see cref="FopContext.Payload"/>). A
/// translator that would copy the data to keep it after it answers (performance/write-behind) may keep the front
/// end's buffer instead and give it back once the data is written below: one copy of the payload less per write.
/// The front end decides whether it can spare that buffer (a payload big enough for the buffer to be worth keeping,
/// few enough lent already), so a caller that is refused copies as before.
/// </summary>
public interface IPayloadLender
{
    /// <summary>
    /// Lends the buffer <paramref name="data"/> lies in: it is neither freed nor reused by the front end until
    /// <see cref="GiveBack"/>. False when it will not be lent (the data is not this lender's, too small, lent already,
    /// too many lent): the caller copies what it keeps. Only during the call the lender was offered with.
    /// </summary>
    bool TryLend(ReadOnlySpan<byte> data);

    /// <summary>Ends a loan <see cref="TryLend"/> granted; exactly once per loan, and nothing may read the data after it.</summary>
    void GiveBack();
}
