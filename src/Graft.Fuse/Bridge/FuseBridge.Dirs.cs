using Graft.Core;
using Graft.Fuse.Raw;
using Graft.Mount;

namespace Graft.Fuse.Bridge;

// Directory handles. READDIR offsets are the session's cookies (cookie k resumes after the k-th entry),
// which stay valid across calls. READDIRPLUS entries carry a lookup each (except "." and ".."): those the
// reply has no room for, or that the kernel never receives, are given back at once.
public sealed partial class FuseBridge
{
    // Smallest records: a 1-byte name in a plain dirent is 32 bytes; with an entry 160. Asking the session
    // for that many entries fills the kernel's buffer without reading far past it.
    const int MinDirent = 32, MinDirentPlus = 160;

    public async ValueTask OpenDir(FuseRequest r, FuseOpenIn a)
    {
        if (!TryNode(r, r.NodeId, out var node)) return;
        var res = await _session.OpendirAsync(Ctx(r), node).ConfigureAwait(false);
        await ReplyOpenedAsync(r, res).ConfigureAwait(false);
    }

    public async ValueTask ReadDir(FuseRequest r, FuseReadIn a)
    {
        if (!TryFile(r, a.Fh, out var dir)) return;
        int max = Math.Max(1, (int)(a.Size / MinDirent));
        var res = await _session.ReaddirAsync(Ctx(r), dir, (long)a.Offset, max).ConfigureAwait(false);
        if (!res.Ok) { r.ReplyError(res.Error); return; }
        int length = Pack(r, a.Size, res.Value, plus: false, out _);
        r.ReplyDataBuffer(length);
    }

    public async ValueTask ReadDirPlus(FuseRequest r, FuseReadIn a)
    {
        if (!TryFile(r, a.Fh, out var dir)) return;
        int max = Math.Max(1, (int)(a.Size / MinDirentPlus));
        var res = await _session.ReaddirpAsync(Ctx(r), dir, (long)a.Offset, max, linkNodes: true).ConfigureAwait(false);
        if (!res.Ok) { r.ReplyError(res.Error); return; }
        var entries = res.Value;
        int length = Pack(r, a.Size, entries, plus: true, out int packed);
        for (int i = packed; i < entries.Count; i++)
            if (entries[i].Node is { } n) _session.Forget(n, 1); // no room: the kernel will not count it
        if (r.ReplyDataBuffer(length) != Errno.OK)
            for (int i = 0; i < packed; i++)
                if (entries[i].Node is { } n) _session.Forget(n, 1);
    }

    /// <summary>Packs whole records into the request's data buffer; <paramref name="packed"/> says how many fit.</summary>
    int Pack(FuseRequest r, uint size, IReadOnlyList<MountDirEntry> entries, bool plus, out int packed)
    {
        var w = r.CreateDirentWriter(size, plus);
        Span<byte> name = stackalloc byte[1024];
        packed = 0;
        foreach (var me in entries)
        {
            var e = me.Entry;
            // A brick's names are at most NAME_MAX (255) bytes; the kernel takes none longer than 1024 (FUSE_NAME_MAX).
            int len = NameBytes.GetBytes(e.Name, name);
            ulong ino = e.Ino != 0 ? e.Ino : Iatt.InoOf(e.Gfid);
            bool ok;
            if (plus)
            {
                // No node (".", "..", or an entry without attributes): nodeid 0 lists the name without a lookup.
                var entry = me.Node is { } node && e.Iatt is { } ia
                    ? Entry(node, ia)
                    : new FuseEntryOut { Attr = new FuseAttr { Ino = ino, Mode = e.Type } };
                ok = w.TryAddPlus(name[..len], entry, (ulong)e.NextOffset);
            }
            else
            {
                ok = w.TryAdd(name[..len], ino, DirentWriter.DirentType(e.Type), (ulong)e.NextOffset);
            }
            if (!ok) break;
            packed++;
        }
        return w.Length;
    }
}
