namespace Graft.Core;

/// <summary>
/// A front end's offer to write a write's data into an open file itself, where the bytes are not in the write's memory
/// yet (<see cref="FopContext.WriteSource"/>): protocol/server received a big write's payload from its socket into a
/// pipe without copying it into user memory (write-splice), and moves it from there into the file with splice(2). The
/// layer that owns the file (storage/posix) hands it the descriptor and offset; a layer that cannot use the offer (or
/// needs the bytes) calls <see cref="TryFill"/> and uses the memory it gives instead of the write's data. The write's
/// data has the right length but not the bytes (it reads as zeros) while an offer stands.
/// </summary>
public interface IWriteSource
{
    /// <summary>
    /// Writes all of the write's data into <paramref name="descriptor"/> at <paramref name="offset"/> (the descriptor's
    /// position is not used or moved) before it returns: true with the bytes written (fewer only when the file
    /// refused the rest, as a short pwrite) or the error of a write that wrote nothing (ENOSPC, EIO, EFBIG...); false
    /// when this file cannot be written so (an O_APPEND descriptor, a file system without splice): nothing was written
    /// and the caller calls <see cref="TryFill"/> and writes the data itself. At most once per offer.
    /// </summary>
    bool TryWriteTo(int descriptor, long offset, out Result<int> written);

    /// <summary>
    /// Brings the bytes into memory: <paramref name="data"/> holds them, valid during the fop. False when they could
    /// not be had (then fail the write with EIO). At most once per offer, instead of <see cref="TryWriteTo"/>.
    /// </summary>
    bool TryFill(out ReadOnlyMemory<byte> data);
}
