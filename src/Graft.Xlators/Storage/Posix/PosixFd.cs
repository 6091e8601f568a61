using Graft.Core;

namespace Graft.Xlators.Storage.Posix;

/// <summary>
/// storage/posix's context on an <see cref="Fd"/>: the OS fd opened with the caller's
/// credentials, and the GFID it was opened as. Readdir calls on one fd are serialised on this
/// object, because they share the OS fd's position.
/// </summary>
internal sealed class PosixFd
{
    public readonly int Os;
    public readonly Gfid Gfid;
    public readonly bool IsDir;
    /// <summary>Opened for writing (or with O_TRUNC): counted in <see cref="SharedBrickState.WriterCounts"/> until released.</summary>
    public readonly bool Writer;
    internal int Closed;

    public PosixFd(int os, Gfid gfid, bool isDir, bool writer = false) { Os = os; Gfid = gfid; IsDir = isDir; Writer = writer; }
}
