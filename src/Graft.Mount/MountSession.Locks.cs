using System.Diagnostics;
using Graft.Core;

namespace Graft.Mount;

// POSIX locks and flock (issue 7): the LK fop. The bricks keep the locks; what only the mount can
// do — remember them and take them back after a brick restart, move a blocking request across
// switches and reconnects, re-bind a grant that landed behind a migration — is the lock room's
// (LockKeeper); a migration's re-bind is the FileMigrator's.
public sealed partial class MountSession
{
    /// <summary>
    /// LK: GETLK, SETLK, SETLKW (and reclaims) with <see cref="FileLock.Owner"/> as the front end
    /// set it (the kernel's lock owner, or the library stream's). A SETLKW waits until granted,
    /// cancelled (<see cref="FopContext.Cancellation"/> → EINTR) or failed, across any number of
    /// graph switches.
    /// </summary>
    public async ValueTask<Result<FileLock>> LkAsync(FopContext ctx, MountFile file, LockCmd cmd, FileLock lk)
    {
        // As fcntl(2): a read lock needs an fd open for reading, a write lock one open for writing.
        // (A reclaim takes back what was granted, possibly through another open of the file.)
        var acc = file.Flags & OpenFlags.O_ACCMODE;
        if (!lk.Flock && (cmd is LockCmd.SetLk or LockCmd.SetLkW) &&
            ((lk.Type == LockType.Write && acc == OpenFlags.O_RDONLY) || (lk.Type == LockType.Read && acc == OpenFlags.O_WRONLY)))
            return Errno.EBADF;
        if (cmd == LockCmd.SetLkW) return await _locks.WaitAsync(ctx, file, lk).ConfigureAwait(false);
        if (cmd != LockCmd.GetLk) file.NoteLocking(); // before the call: a migration from here on re-binds
        var t0 = Stopwatch.GetTimestamp();
        var (lease, f) = await EnterFileAsync(ctx, file).ConfigureAwait(false);
        var g = lease.Graph;
        try
        {
            if (!f.Ok) return f.Error;
            try
            {
                // Writes an older graph acknowledged land before an unlock lets anyone else in.
                if (cmd != LockCmd.GetLk && lk.Type == LockType.Unlock) await _graphs.SettleOlderAsync(file.Node.Gfid, g).ConfigureAwait(false);
                var r = await g.Top.LkAsync(ctx, f.Value, cmd, lk).ConfigureAwait(false);
                if (r.Ok && cmd != LockCmd.GetLk) await _locks.GrantedAsync(file, f.Value, lk).ConfigureAwait(false);
                return r;
            }
            finally { await PutFdAsync(f.Value).ConfigureAwait(false); }
        }
        finally { lease.Dispose(); Timed(MountFop.Lk, t0); }
    }

    /// <summary>
    /// close(2) of a file that failed closed: the brick must still drop the owner's fcntl locks
    /// (they belong to the owner, not to the fd), so FLUSH goes to the fd's own graph; the caller
    /// gets EIO all the same.
    /// </summary>
    private async ValueTask<Errno> FlushFailedAsync(FopContext ctx, MountFile file)
    {
        var fd = file.Fd;
        var g = fd.Graph!;
        var lease = GraphSet.Hold(g);
        try
        {
            if (g.State != GraphState.Destroyed && fd.TryRef())
            {
                ctx.Graph = g;
                ctx.MountId = Options.MountId;
                try { await g.Top.FlushAsync(ctx, fd).ConfigureAwait(false); }
                finally { await PutFdAsync(fd).ConfigureAwait(false); }
            }
        }
        finally { lease.Dispose(); ctx.Graph = null; }
        file.Node.Locks?.DropOwner(ctx.LockOwner);
        return file.Failure;
    }
}
