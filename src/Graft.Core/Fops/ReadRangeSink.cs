namespace Graft.Core;

/// <summary>
/// A front end's offer to take a read's data as a range of an open file instead of as bytes in the read's buffer
/// (<see cref="FopContext.ReadSink"/>). The layer that owns the file (storage/posix) hands it its descriptor, offset
/// and length; the front end takes the pages from there itself (protocol/server splices them to a plaintext socket:
/// no copy out of the page cache and none into the socket). A sink that cannot take them says so and the layer reads
/// into the buffer as usual, so an offer is never an obligation on either side.
/// </summary>
public interface IReadRangeSink
{
    /// <summary>
    /// Takes up to <paramref name="length"/> bytes of the open file <paramref name="descriptor"/> from
    /// <paramref name="offset"/> before it returns (the descriptor need only be valid during the call): the number of
    /// bytes taken, fewer only at the end of the file (0 at or past it), which is then the read's result; or
    /// <see cref="NotTaken"/>, and the caller reads into its buffer itself (its own read reports any error).
    /// At most once per offer; only during the fop the sink came with.
    /// </summary>
    long TakeRange(int descriptor, long offset, int length);

    /// <summary><see cref="TakeRange"/>'s answer when it took nothing: read the bytes into the buffer.</summary>
    const long NotTaken = -1;
}
