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
    internal int Closed;

    public PosixFd(int os, Gfid gfid, bool isDir) { Os = os; Gfid = gfid; IsDir = isDir; }
}
