using Graft.Core;

namespace Graft.Core.Tests;

internal static class Iatts
{
    public static Iatt File(Gfid g) => new() { Gfid = g, Mode = PosixMode.S_IFREG | 0x1A4, Nlink = 1 };
    public static Iatt Dir(Gfid g) => new() { Gfid = g, Mode = PosixMode.S_IFDIR | 0x1ED, Nlink = 2 };
}

/// <summary>A translator that records the inodes it is told to forget.</summary>
internal sealed class ForgetRecorder : Translator
{
    public readonly List<Gfid> Forgotten = [];
    public override void Forget(Inode inode) { lock (Forgotten) Forgotten.Add(inode.Gfid); }
}
