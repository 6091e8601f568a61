using System.Buffers;
using Graft.Core;

namespace Graft.Xlators.Cluster.Replicate;

// Data and metadata heal of one object from one source copy onto sinks.
public sealed partial class ReplicateTranslator
{
    /// <summary>
    /// Copies the source's data onto each sink a chunk (heal-chunk) at a time, each chunk under the
    /// file's lock; a chunk the sink already holds is compared and not written (a copy that missed
    /// a few writes gets only those chunks).
    /// </summary>
    private async ValueTask<Errno> HealDataAsync(FopContext ctx, Inode inode, ReplInode st, int src, uint sinks)
    {
        var loc = Loc.Of(inode);
        var sfd = new Fd(inode, OpenFlags.O_RDONLY);
        var dfd = new Fd(inode, OpenFlags.O_RDWR);
        uint opened = 0;
        int chunk = (int)Volatile.Read(ref _healChunk);
        var a = ArrayPool<byte>.Shared.Rent(chunk);
        var b = ArrayPool<byte>.Shared.Rent(chunk);
        TxnTarget[] target = [new(loc, st, null)];
        try
        {
            var e = await Children[src].OpenAsync(ctx, loc, OpenFlags.O_RDONLY, sfd).ConfigureAwait(false);
            if (e != Errno.OK) return e;
            var r = await FanOutAsync(sinks, i => AsResult(Children[i].OpenAsync(ctx, loc, OpenFlags.O_RDWR, dfd))).ConfigureAwait(false);
            opened = Succeeded(r);
            if (opened != sinks) return FirstOk(r, sinks & ~opened).Error;
            for (long off = 0; ; off += chunk)
            {
                await CloseWindowAsync(st, inline: false).ConfigureAwait(false);
                await st.Mutex.EnterAsync(inline: false).ConfigureAwait(false);
                var lctx = LockContext(ctx);
                uint locked = await LockAsync(lctx, target, Pending.Data, opened | (1u << src)).ConfigureAwait(false);
                int n;
                try
                {
                    var got = await Children[src].ReadvAsync(ctx, sfd, a.AsMemory(0, chunk), off).ConfigureAwait(false);
                    if (!got.Ok) return got.Error;
                    n = got.Value;
                    if (n == 0) break;
                    for (int i = 0; i < Children.Count; i++)
                    {
                        if ((opened & (1u << i)) == 0) continue;
                        var have = await Children[i].ReadvAsync(ctx, dfd, b.AsMemory(0, n), off).ConfigureAwait(false);
                        if (have.Ok && have.Value == n && a.AsSpan(0, n).SequenceEqual(b.AsSpan(0, n))) continue;
                        var w = await Children[i].WritevAsync(ctx, dfd, a.AsMemory(0, n), off).ConfigureAwait(false);
                        if (!w.Ok) return w.Error;
                        Interlocked.Add(ref _healedBytes, n);
                    }
                }
                finally
                {
                    await UnlockAsync(lctx, target, Pending.Data, locked).ConfigureAwait(false);
                    st.Mutex.Release();
                }
                if (n < chunk) break;
            }
            return Errno.OK;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(a);
            ArrayPool<byte>.Shared.Return(b);
            if (sfd.Unref()) await Children[src].ReleaseAsync(sfd).ConfigureAwait(false);
            if (dfd.Unref())
                for (int i = 0; i < Children.Count; i++)
                    if ((opened & (1u << i)) != 0) await Children[i].ReleaseAsync(dfd).ConfigureAwait(false);
        }
    }

    private async ValueTask<Errno> TruncateSinksAsync(FopContext ctx, Loc loc, uint sinks, long size)
    {
        var r = await FanOutAsync(sinks, i => Children[i].SetattrAsync(ctx, loc, new SetAttr { Valid = SetAttrValid.Size, Size = size })).ConfigureAwait(false);
        return Succeeded(r) == sinks ? Errno.OK : FirstOk(r, sinks & ~Succeeded(r)).Error;
    }

    /// <summary>Owner, then mode (a chown clears set-id bits), then xattrs, then times (last: the others change ctime only).</summary>
    private async ValueTask<Errno> HealMetadataAsync(FopContext ctx, Loc loc, int src, uint sinks, Iatt s)
    {
        var names = await Children[src].ListxattrAsync(ctx, loc).ConfigureAwait(false);
        if (!names.Ok) return names.Error;
        var values = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var n in names.Value)
        {
            if (Pending.IsPending(n)) continue;
            var v = await Children[src].GetxattrAsync(ctx, loc, n).ConfigureAwait(false);
            if (v.Ok) values[n] = v.Value;
        }
        var r = await FanOutAsync(sinks, async i =>
        {
            var c = Children[i];
            var set = await c.SetattrAsync(ctx, loc, new SetAttr { Valid = SetAttrValid.Uid | SetAttrValid.Gid, Uid = s.Uid, Gid = s.Gid }).ConfigureAwait(false);
            if (!set.Ok) return new Result<bool>(set.Error);
            if (!s.IsSymlink)
            {
                set = await c.SetattrAsync(ctx, loc, new SetAttr { Valid = SetAttrValid.Mode, Mode = s.Mode & PosixMode.PermMask }).ConfigureAwait(false);
                if (!set.Ok) return new Result<bool>(set.Error);
            }
            var theirs = await c.ListxattrAsync(ctx, loc).ConfigureAwait(false);
            if (theirs.Ok)
                foreach (var n in theirs.Value)
                    if (!Pending.IsPending(n) && !values.ContainsKey(n)) await c.RemovexattrAsync(ctx, loc, n).ConfigureAwait(false);
            foreach (var (n, v) in values)
            {
                var e = await c.SetxattrAsync(ctx, loc, n, v, 0).ConfigureAwait(false);
                if (e != Errno.OK) return new Result<bool>(e);
            }
            set = await c.SetattrAsync(ctx, loc, new SetAttr { Valid = SetAttrValid.Atime | SetAttrValid.Mtime, Atime = s.Atime, Mtime = s.Mtime }).ConfigureAwait(false);
            return set.Ok ? new Result<bool>(true) : set.Error;
        }).ConfigureAwait(false);
        uint done = Succeeded(r);
        return done == sinks ? Errno.OK : FirstOk(r, sinks & ~done).Error;
    }
}
