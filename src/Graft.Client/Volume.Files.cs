using Graft.Core;
using Graft.Mount;

namespace Graft.Client;

// Opening files as streams, and whole-file helpers.
public sealed partial class Volume
{
    /// <summary>Opens <paramref name="path"/> as <see cref="System.IO.File.Open(string, FileMode, FileAccess)"/> would.</summary>
    public Task<GraftFileStream> OpenAsync(string path, FileMode mode, FileAccess access = FileAccess.ReadWrite, uint permissions = 0x1B6, CancellationToken ct = default) =>
        OpenAsync(path, ToFlags(mode, access), permissions, ct);

    /// <summary>
    /// open(2) with raw flags (<see cref="OpenFlags"/>): O_CREAT, O_EXCL, O_TRUNC, O_APPEND,
    /// O_NOFOLLOW and O_DIRECTORY are honoured; the rest go to the graph as they are.
    /// <paramref name="permissions"/> (less the volume's umask) applies when the file is created.
    /// </summary>
    public async Task<GraftFileStream> OpenAsync(string path, int flags, uint permissions = 0x1B6, CancellationToken ct = default)
    {
        var ctx = NewFileContext();
        ctx.Cancellation = ct;
        if ((flags & OpenFlags.O_DIRECTORY) != 0) ThrowHelper.Throw(Errno.EISDIR, "open", path); // a stream is never a directory
        if ((flags & OpenFlags.O_CREAT) == 0)
        {
            var node = ThrowHelper.Check(await WalkAsync(ctx, path, (flags & OpenFlags.O_NOFOLLOW) == 0).ConfigureAwait(false), "open", path);
            return await OpenNodeAsync(ctx, node, flags, path).ConfigureAwait(false);
        }

        var (parent, name) = ThrowHelper.Check(await WalkParentAsync(ctx, path).ConfigureAwait(false), "open", path);
        try
        {
            // Lookup, then create if absent; a create that loses a race to another creator
            // (EEXIST without O_EXCL) goes round again and opens what the winner made.
            for (int attempt = 0; ; attempt++)
            {
                var found = await Session.LookupAsync(ctx, parent, name).ConfigureAwait(false);
                if (found.Error == Errno.ENOENT)
                {
                    var created = await Session.CreateAsync(ctx, parent, name, flags, permissions & PosixMode.PermMask, Options.Umask).ConfigureAwait(false);
                    if (created.Error == Errno.EEXIST && (flags & OpenFlags.O_EXCL) == 0 && attempt < 3) continue;
                    var c = ThrowHelper.Check(created, "create", path);
                    return new GraftFileStream(this, ctx, c.Node, c.File, path);
                }
                var node = ThrowHelper.Check(found, "open", path).Node;
                if ((flags & OpenFlags.O_EXCL) != 0) { Release(node); ThrowHelper.Throw(Errno.EEXIST, "open", path); }
                if (PosixMode.IsLnk(node.Type))
                {
                    // An existing symlink is followed (O_CREAT does not create at a dangling target here).
                    Release(node);
                    if ((flags & OpenFlags.O_NOFOLLOW) != 0) ThrowHelper.Throw(Errno.ELOOP, "open", path);
                    node = ThrowHelper.Check(await WalkAsync(ctx, path, followLast: true).ConfigureAwait(false), "open", path);
                }
                return await OpenNodeAsync(ctx, node, flags & ~(OpenFlags.O_CREAT | OpenFlags.O_EXCL), path).ConfigureAwait(false);
            }
        }
        finally { Release(parent); }
    }

    /// <summary>Opens a node the caller holds one lookup on; the stream takes that lookup over.</summary>
    private async Task<GraftFileStream> OpenNodeAsync(FopContext ctx, MountNode node, int flags, string path)
    {
        var ok = false;
        try
        {
            if (node.IsDir) ThrowHelper.Throw(Errno.EISDIR, "open", path);
            if (PosixMode.IsLnk(node.Type)) ThrowHelper.Throw(Errno.ELOOP, "open", path); // O_NOFOLLOW on a symlink
            var file = ThrowHelper.Check(await Session.OpenAsync(ctx, node, flags).ConfigureAwait(false), "open", path);
            ok = true;
            return new GraftFileStream(this, ctx, node, file, path);
        }
        finally { if (!ok) Release(node); }
    }

    /// <summary>Reads a whole file.</summary>
    public async Task<byte[]> ReadAllBytesAsync(string path, CancellationToken ct = default)
    {
        var s = await OpenAsync(path, FileMode.Open, FileAccess.Read, ct: ct).ConfigureAwait(false);
        await using var sScope = s.ConfigureAwait(false);
        var ms = new MemoryStream();
        await s.CopyToAsync(ms, ct).ConfigureAwait(false);
        return ms.ToArray();
    }

    /// <summary>Creates or replaces a file with <paramref name="data"/>.</summary>
    public async Task WriteAllBytesAsync(string path, ReadOnlyMemory<byte> data, CancellationToken ct = default)
    {
        var s = await OpenAsync(path, FileMode.Create, FileAccess.Write, ct: ct).ConfigureAwait(false);
        await using var sScope = s.ConfigureAwait(false);
        await s.WriteAsync(data, ct).ConfigureAwait(false);
    }

    /// <summary>The open(2) flags for a <see cref="FileMode"/> and <see cref="FileAccess"/>, with FileStream's checks.</summary>
    public static int ToFlags(FileMode mode, FileAccess access)
    {
        int acc = access switch
        {
            FileAccess.Read => OpenFlags.O_RDONLY,
            FileAccess.Write => OpenFlags.O_WRONLY,
            FileAccess.ReadWrite => OpenFlags.O_RDWR,
            _ => throw new ArgumentOutOfRangeException(nameof(access)),
        };
        if (access == FileAccess.Read && mode is FileMode.CreateNew or FileMode.Create or FileMode.Truncate or FileMode.Append)
            throw new ArgumentException($"FileMode.{mode} needs write access", nameof(access));
        return acc | mode switch
        {
            FileMode.CreateNew => OpenFlags.O_CREAT | OpenFlags.O_EXCL,
            FileMode.Create => OpenFlags.O_CREAT | OpenFlags.O_TRUNC,
            FileMode.Open => 0,
            FileMode.OpenOrCreate => OpenFlags.O_CREAT,
            FileMode.Truncate => OpenFlags.O_TRUNC,
            FileMode.Append => OpenFlags.O_CREAT | OpenFlags.O_APPEND,
            _ => throw new ArgumentOutOfRangeException(nameof(mode)),
        };
    }
}
