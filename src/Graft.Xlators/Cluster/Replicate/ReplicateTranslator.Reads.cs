using System.Numerics;
using System.Runtime.CompilerServices;
using Graft.Core;

namespace Graft.Xlators.Cluster.Replicate;

/// <summary>What replicate keeps on an fd: the children it is open on, and for a directory the child its listing comes from.</summary>
internal sealed class ReplFd(uint opened)
{
    public uint Opened = opened;
    /// <summary>A directory listing's cookies are one child's: the listing stays on the child that gave its first entries.</summary>
    public int ListChild = -1;
}

// Reads go to one copy: up, open (for fd reads), not blamed for the object — never a copy that
// needs heal — chosen by read-policy. A copy that fails the read is left and the next one tried.
// The hot path (readv on a resolved fd whose copy answers) allocates nothing: the pick is bit
// arithmetic, and the retry path is a pooled async method entered only after a failure.
public sealed partial class ReplicateTranslator
{
    /// <summary>The copy to read from, out of <paramref name="candidates"/>, by read-policy; -1 if none.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int PickReader(uint candidates, in Gfid gfid)
    {
        if (candidates == 0) return -1;
        switch (_readPolicy)
        {
            case ReadPolicy.FirstUp:
                return BitOperations.TrailingZeroCount(candidates);
            case ReadPolicy.LeastLoaded:
                int best = -1, load = int.MaxValue;
                for (uint m = candidates; m != 0; m &= m - 1)
                {
                    int i = BitOperations.TrailingZeroCount(m);
                    int l = Volatile.Read(ref _readsInFlight[i]);
                    if (l < load) { best = i; load = l; }
                }
                return best;
            default:
                int k = (int)((gfid.Lo ^ gfid.Hi) % (ulong)BitOperations.PopCount(candidates));
                uint c = candidates;
                for (; k > 0; k--) c &= c - 1;
                return BitOperations.TrailingZeroCount(c);
        }
    }

    /// <summary>Copies of <paramref name="st"/>'s object that may serve a read, among <paramref name="among"/>.</summary>
    private uint Readable(ReplInode st, uint among) => among & UpMask & ~Volatile.Read(ref st.Bad);

    /// <summary>Why no copy can serve a read: split brain (EIO), only copies that need heal are up (EIO), or none is up (ENOTCONN).</summary>
    private Errno NoReader(ReplInode st, uint among)
    {
        if (st.SplitBrain) { Interlocked.Increment(ref _splitBrainRefusals); return Errno.EIO; }
        return (among & UpMask) != 0 ? Errno.EIO : Errno.ENOTCONN;
    }

    private static bool Retryable(Errno e) => e is Errno.ENOTCONN or Errno.EIO or Errno.ESTALE or Errno.EBADF or Errno.ENOENT;

    public override ValueTask<Result<int>> ReadvAsync(FopContext ctx, Fd fd, Memory<byte> buffer, long offset)
    {
        if (fd.GetCtx(this) is not ReplFd f) return new(new Result<int>(Errno.EBADF));
        var st = StateOf(fd.Inode);
        if (st.SplitBrain) return new(new Result<int>(NoReader(st, f.Opened)));
        int c = PickReader(Readable(st, f.Opened), fd.Inode.Gfid);
        if (c < 0) return new(new Result<int>(NoReader(st, f.Opened)));
        if (_readPolicy == ReadPolicy.LeastLoaded) return ReadCountedAsync(ctx, fd, f, st, buffer, offset, c);
        var t = Children[c].ReadvAsync(ctx, fd, buffer, offset);
        if (t.IsCompletedSuccessfully && !Retryable(t.Result.Error)) return t;
        return ReadRetryAsync(t, ctx, fd, f, st, buffer, offset, c);
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Result<int>> ReadRetryAsync(ValueTask<Result<int>> first, FopContext ctx, Fd fd, ReplFd f, ReplInode st, Memory<byte> buffer, long offset, int c)
    {
        var r = await first.ConfigureAwait(false);
        uint tried = 1u << c;
        while (Retryable(r.Error))
        {
            c = PickReader(Readable(st, f.Opened) & ~tried, fd.Inode.Gfid);
            if (c < 0) return r;
            Interlocked.Increment(ref _readRetries);
            tried |= 1u << c;
            r = await Children[c].ReadvAsync(ctx, fd, buffer, offset).ConfigureAwait(false);
        }
        return r;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<Result<int>> ReadCountedAsync(FopContext ctx, Fd fd, ReplFd f, ReplInode st, Memory<byte> buffer, long offset, int c)
    {
        Interlocked.Increment(ref _readsInFlight[c]);
        try { return await ReadRetryAsync(Children[c].ReadvAsync(ctx, fd, buffer, offset), ctx, fd, f, st, buffer, offset, c).ConfigureAwait(false); }
        finally { Interlocked.Decrement(ref _readsInFlight[c]); }
    }

    /// <summary>A read of an object by loc (stat, access, readlink, getxattr, listxattr): one healthy copy, the next on failure.</summary>
    private ValueTask<Result<T>> ReadOneAsync<T>(Loc loc, Func<int, ValueTask<Result<T>>> call) =>
        ReadFromAsync(StateOf(loc), _allMask, loc.Inode?.Gfid ?? loc.Gfid, loc.Inode?.IsDir ?? false, call);

    /// <summary>As <see cref="ReadOneAsync{T}(Loc, Func{int, ValueTask{Result{T}}})"/> for an fd: among the copies it is open on.</summary>
    private ValueTask<Result<T>> ReadOneAsync<T>(Fd fd, Func<int, ValueTask<Result<T>>> call) =>
        fd.GetCtx(this) is ReplFd f ? ReadFromAsync(StateOf(fd.Inode), f.Opened, fd.Inode.Gfid, fd.IsDirectory, call) : new(new Result<T>(Errno.EBADF));

    /// <summary>
    /// Tries the readable copies among <paramref name="among"/> in read-policy order until one answers
    /// with anything but a failure of that copy. A file in split brain has no readable copy (EIO); a
    /// directory's data is its entries, judged by entry heal, so its attributes are still served.
    /// </summary>
    private async ValueTask<Result<T>> ReadFromAsync<T>(ReplInode st, uint among, Gfid gfid, bool isDir, Func<int, ValueTask<Result<T>>> call)
    {
        if (st.SplitBrain && !isDir) return NoReader(st, among);
        uint tried = 0;
        Result<T> r = Errno.ENOTCONN;
        while (true)
        {
            int c = PickReader(Readable(st, among) & ~tried, gfid);
            if (c < 0) return tried == 0 ? NoReader(st, among) : r;
            if (tried != 0) Interlocked.Increment(ref _readRetries);
            tried |= 1u << c;
            r = await call(c).ConfigureAwait(false);
            if (!Retryable(r.Error)) return r;
        }
    }
}
