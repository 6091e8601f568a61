using Graft.Core;

namespace Graft.Client;

// Extended attributes by path (following a final symlink, as getxattr(2) does).
public sealed partial class Volume
{
    /// <summary>XATTR_CREATE: fail with EEXIST if the attribute exists. XATTR_REPLACE: fail with ENODATA if it does not.</summary>
    public const int XattrCreate = 1, XattrReplace = 2;

    public async Task<byte[]> GetXattrAsync(string path, string name, CancellationToken ct = default)
    {
        var ctx = NewContext(ct);
        CheckName(name, "getxattr", path);
        var node = ThrowHelper.Check(await WalkAsync(ctx, path, true).ConfigureAwait(false), "getxattr", path);
        try { return ThrowHelper.Check(await Session.GetxattrAsync(ctx, node, name).ConfigureAwait(false), "getxattr", path); }
        finally { Release(node); }
    }

    public async Task SetXattrAsync(string path, string name, ReadOnlyMemory<byte> value, int flags = 0, CancellationToken ct = default)
    {
        var ctx = NewContext(ct);
        CheckName(name, "setxattr", path);
        var node = ThrowHelper.Check(await WalkAsync(ctx, path, true).ConfigureAwait(false), "setxattr", path);
        try { ThrowHelper.Check(await Session.SetxattrAsync(ctx, node, name, value, flags).ConfigureAwait(false), "setxattr", path); }
        finally { Release(node); }
    }

    public async Task<string[]> ListXattrAsync(string path, CancellationToken ct = default)
    {
        var ctx = NewContext(ct);
        var node = ThrowHelper.Check(await WalkAsync(ctx, path, true).ConfigureAwait(false), "listxattr", path);
        try { return ThrowHelper.Check(await Session.ListxattrAsync(ctx, node).ConfigureAwait(false), "listxattr", path); }
        finally { Release(node); }
    }

    public async Task RemoveXattrAsync(string path, string name, CancellationToken ct = default)
    {
        var ctx = NewContext(ct);
        CheckName(name, "removexattr", path);
        var node = ThrowHelper.Check(await WalkAsync(ctx, path, true).ConfigureAwait(false), "removexattr", path);
        try { ThrowHelper.Check(await Session.RemovexattrAsync(ctx, node, name).ConfigureAwait(false), "removexattr", path); }
        finally { Release(node); }
    }
}
