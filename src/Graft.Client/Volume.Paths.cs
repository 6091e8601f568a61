using System.Runtime.CompilerServices;
using Graft.Core;
using Graft.Mount;

namespace Graft.Client;

// Path-based operations: attributes, namespace changes, directories, links.
public sealed partial class Volume
{
    /// <summary>stat(2): attributes of the object <paramref name="path"/> names, following a final symlink.</summary>
    public Task<Iatt> StatAsync(string path, CancellationToken ct = default) => StatCoreAsync(path, follow: true, ct);

    /// <summary>lstat(2): as <see cref="StatAsync"/> but a final symlink is reported itself.</summary>
    public Task<Iatt> LstatAsync(string path, CancellationToken ct = default) => StatCoreAsync(path, follow: false, ct);

    private async Task<Iatt> StatCoreAsync(string path, bool follow, CancellationToken ct)
    {
        var ctx = NewContext(ct);
        var node = ThrowHelper.Check(await WalkAsync(ctx, path, follow).ConfigureAwait(false), "stat", path);
        try { return ThrowHelper.Check(await Session.GetattrAsync(ctx, node).ConfigureAwait(false), "stat", path); }
        finally { Release(node); }
    }

    /// <summary>True when <paramref name="path"/> names an object (a dangling symlink counts as existing).</summary>
    public async Task<bool> ExistsAsync(string path, CancellationToken ct = default)
    {
        var ctx = NewContext(ct);
        var r = await WalkAsync(ctx, path, followLast: false).ConfigureAwait(false);
        if (r.Ok) { Release(r.Value); return true; }
        if (r.Error is Errno.ENOENT or Errno.ENOTDIR) return false;
        ThrowHelper.Throw(r.Error, "exists", path);
        return false;
    }

    /// <summary>access(2) with R_OK(4) | W_OK(2) | X_OK(1), or F_OK(0); false on EACCES.</summary>
    public async Task<bool> AccessAsync(string path, int mask, CancellationToken ct = default)
    {
        var ctx = NewContext(ct);
        var node = ThrowHelper.Check(await WalkAsync(ctx, path, true).ConfigureAwait(false), "access", path);
        try
        {
            var e = await Session.AccessAsync(ctx, node, mask).ConfigureAwait(false);
            if (e == Errno.EACCES) return false;
            ThrowHelper.Check(e, "access", path);
            return true;
        }
        finally { Release(node); }
    }

    /// <summary>mkdir(2): creates one directory; EEXIST if the name is taken.</summary>
    public async Task<Iatt> MkdirAsync(string path, uint mode = 0x1FF, CancellationToken ct = default)
    {
        var ctx = NewContext(ct);
        var (parent, name) = ThrowHelper.Check(await WalkParentAsync(ctx, path).ConfigureAwait(false), "mkdir", path);
        try
        {
            var r = ThrowHelper.Check(await Session.MkdirAsync(ctx, parent, name, mode, Options.Umask).ConfigureAwait(false), "mkdir", path);
            Release(r.Node);
            return r.Attr;
        }
        finally { Release(parent); }
    }

    /// <summary>Creates the directory and any missing parents (mkdir -p); succeeds if it already exists as a directory.</summary>
    public async Task CreateDirectoryAsync(string path, uint mode = 0x1FF, CancellationToken ct = default)
    {
        var ctx = NewContext(ct);
        CheckName(path, "mkdir", path);
        var dir = Session.Root;
        var sofar = "";
        try
        {
            foreach (var name in path.Split('/', StringSplitOptions.RemoveEmptyEntries))
            {
                sofar += "/" + name;
                var r = await Session.LookupAsync(ctx, dir, name).ConfigureAwait(false);
                if (r.Error == Errno.ENOENT)
                {
                    r = await Session.MkdirAsync(ctx, dir, name, mode, Options.Umask).ConfigureAwait(false);
                    if (r.Error == Errno.EEXIST) r = await Session.LookupAsync(ctx, dir, name).ConfigureAwait(false); // lost a race: fine
                }
                ThrowHelper.Check(r, "mkdir", sofar);
                Release(dir);
                dir = r.Value.Node;
                if (!dir.IsDir) ThrowHelper.Throw(Errno.ENOTDIR, "mkdir", sofar);
            }
        }
        finally { Release(dir); }
    }

    /// <summary>Entries of a directory except "." and "..", with attributes (readdirp), read in batches.</summary>
    public async IAsyncEnumerable<DirEntry> EnumerateEntriesAsync(string path, [EnumeratorCancellation] CancellationToken ct = default)
    {
        var ctx = NewContext(ct);
        var node = ThrowHelper.Check(await WalkAsync(ctx, path, true).ConfigureAwait(false), "opendir", path);
        MountFile? dir = null;
        try
        {
            dir = ThrowHelper.Check(await Session.OpendirAsync(ctx, node).ConfigureAwait(false), "opendir", path);
            long cookie = 0;
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                var batch = ThrowHelper.Check(await Session.ReaddirpAsync(ctx, dir, cookie, Options.ReaddirBatch, linkNodes: false).ConfigureAwait(false), "readdir", path);
                if (batch.Count == 0) yield break;
                foreach (var e in batch)
                {
                    cookie = e.Entry.NextOffset;
                    if (e.Entry.Name is "." or "..") continue;
                    yield return e.Entry;
                }
            }
        }
        finally
        {
            if (dir is not null) await Session.ReleasedirAsync(dir).ConfigureAwait(false);
            Release(node);
        }
    }

    /// <summary>The entries of a directory (see <see cref="EnumerateEntriesAsync"/>) as a list.</summary>
    public async Task<List<DirEntry>> ListDirectoryAsync(string path, CancellationToken ct = default)
    {
        var list = new List<DirEntry>();
        await foreach (var e in EnumerateEntriesAsync(path, ct).ConfigureAwait(false)) list.Add(e);
        return list;
    }

    /// <summary>rmdir(2); with <paramref name="recursive"/>, deletes the contents first (symlinks are removed, not followed).</summary>
    public async Task DeleteDirectoryAsync(string path, bool recursive = false, CancellationToken ct = default)
    {
        if (recursive)
        {
            foreach (var e in await ListDirectoryAsync(path, ct).ConfigureAwait(false))
            {
                var child = path.TrimEnd('/') + "/" + e.Name;
                if (PosixMode.IsDir(e.Type)) await DeleteDirectoryAsync(child, true, ct).ConfigureAwait(false);
                else await DeleteFileAsync(child, ct).ConfigureAwait(false);
            }
        }
        await RemoveAsync(path, dir: true, ct).ConfigureAwait(false);
    }

    /// <summary>unlink(2): removes a name of a file, symlink or special file.</summary>
    public Task DeleteFileAsync(string path, CancellationToken ct = default) => RemoveAsync(path, dir: false, ct);

    private async Task RemoveAsync(string path, bool dir, CancellationToken ct)
    {
        var op = dir ? "rmdir" : "unlink";
        var ctx = NewContext(ct);
        var (parent, name) = ThrowHelper.Check(await WalkParentAsync(ctx, path).ConfigureAwait(false), op, path);
        try
        {
            var e = dir ? await Session.RmdirAsync(ctx, parent, name).ConfigureAwait(false)
                        : await Session.UnlinkAsync(ctx, parent, name).ConfigureAwait(false);
            ThrowHelper.Check(e, op, path);
        }
        finally { Release(parent); }
    }

    /// <summary>chmod(2): sets the permission bits (the low 12 bits of <paramref name="mode"/>).</summary>
    public Task<Iatt> ChmodAsync(string path, uint mode, CancellationToken ct = default) =>
        SetattrAsync(path, new SetAttr { Valid = SetAttrValid.Mode, Mode = mode & PosixMode.PermMask }, "chmod", ct);

    /// <summary>chown(2); a null id is left unchanged.</summary>
    public Task<Iatt> ChownAsync(string path, uint? uid, uint? gid, CancellationToken ct = default) =>
        SetattrAsync(path, new SetAttr
        {
            Valid = (uid is null ? 0 : SetAttrValid.Uid) | (gid is null ? 0 : SetAttrValid.Gid),
            Uid = uid ?? 0, Gid = gid ?? 0,
        }, "chown", ct);

    /// <summary>utimensat(2); a null time is left unchanged.</summary>
    public Task<Iatt> SetTimesAsync(string path, DateTime? atime, DateTime? mtime, CancellationToken ct = default) =>
        SetattrAsync(path, new SetAttr
        {
            Valid = (atime is null ? 0 : SetAttrValid.Atime) | (mtime is null ? 0 : SetAttrValid.Mtime),
            Atime = atime is { } a ? Timespec.FromDateTime(a) : default,
            Mtime = mtime is { } m ? Timespec.FromDateTime(m) : default,
        }, "utimes", ct);

    /// <summary>truncate(2).</summary>
    public Task<Iatt> TruncateAsync(string path, long length, CancellationToken ct = default) =>
        SetattrAsync(path, new SetAttr { Valid = SetAttrValid.Size, Size = length }, "truncate", ct);

    private async Task<Iatt> SetattrAsync(string path, SetAttr attr, string op, CancellationToken ct)
    {
        var ctx = NewContext(ct);
        var node = ThrowHelper.Check(await WalkAsync(ctx, path, true).ConfigureAwait(false), op, path);
        try { return ThrowHelper.Check(await Session.SetattrAsync(ctx, node, attr).ConfigureAwait(false), op, path); }
        finally { Release(node); }
    }

    /// <summary>rename(2) / renameat2(2) with <paramref name="flags"/>.</summary>
    public async Task RenameAsync(string from, string to, RenameFlags flags = RenameFlags.None, CancellationToken ct = default)
    {
        var ctx = NewContext(ct);
        var (fromDir, fromName) = ThrowHelper.Check(await WalkParentAsync(ctx, from).ConfigureAwait(false), "rename", from);
        try
        {
            var (toDir, toName) = ThrowHelper.Check(await WalkParentAsync(ctx, to).ConfigureAwait(false), "rename", to);
            try { ThrowHelper.Check(await Session.RenameAsync(ctx, fromDir, fromName, toDir, toName, flags).ConfigureAwait(false), "rename", from); }
            finally { Release(toDir); }
        }
        finally { Release(fromDir); }
    }

    /// <summary>link(2): <paramref name="newPath"/> becomes another name of <paramref name="existing"/>.</summary>
    public async Task<Iatt> LinkAsync(string existing, string newPath, CancellationToken ct = default)
    {
        var ctx = NewContext(ct);
        var node = ThrowHelper.Check(await WalkAsync(ctx, existing, followLast: false).ConfigureAwait(false), "link", existing);
        try
        {
            var (dir, name) = ThrowHelper.Check(await WalkParentAsync(ctx, newPath).ConfigureAwait(false), "link", newPath);
            try
            {
                var r = ThrowHelper.Check(await Session.LinkAsync(ctx, node, dir, name).ConfigureAwait(false), "link", newPath);
                Release(r.Node);
                return r.Attr;
            }
            finally { Release(dir); }
        }
        finally { Release(node); }
    }

    /// <summary>symlink(2): creates <paramref name="linkPath"/> pointing at <paramref name="target"/> (stored as given).</summary>
    public async Task<Iatt> SymlinkAsync(string target, string linkPath, CancellationToken ct = default)
    {
        var ctx = NewContext(ct);
        CheckName(target, "symlink", linkPath);
        var (dir, name) = ThrowHelper.Check(await WalkParentAsync(ctx, linkPath).ConfigureAwait(false), "symlink", linkPath);
        try
        {
            var r = ThrowHelper.Check(await Session.SymlinkAsync(ctx, dir, name, target, Options.Umask).ConfigureAwait(false), "symlink", linkPath);
            Release(r.Node);
            return r.Attr;
        }
        finally { Release(dir); }
    }

    /// <summary>readlink(2).</summary>
    public async Task<string> ReadLinkAsync(string path, CancellationToken ct = default)
    {
        var ctx = NewContext(ct);
        var node = ThrowHelper.Check(await WalkAsync(ctx, path, followLast: false).ConfigureAwait(false), "readlink", path);
        try { return ThrowHelper.Check(await Session.ReadlinkAsync(ctx, node).ConfigureAwait(false), "readlink", path); }
        finally { Release(node); }
    }

    /// <summary>statfs(2) of the volume.</summary>
    public async Task<StatVfs> StatfsAsync(string path = "/", CancellationToken ct = default)
    {
        var ctx = NewContext(ct);
        var node = ThrowHelper.Check(await WalkAsync(ctx, path, true).ConfigureAwait(false), "statfs", path);
        try { return ThrowHelper.Check(await Session.StatfsAsync(ctx, node).ConfigureAwait(false), "statfs", path); }
        finally { Release(node); }
    }
}
