using Graft.Core;

namespace Graft.Xlators.Features.Index;

/// <summary>
/// The objects that need heal, as a directory of empty files named by GFID. A file is created with
/// O_CREAT|O_EXCL and removed with unlink, each one atomic step of the brick's filesystem, so the
/// index is whole at any moment, and it outlives the process: a restarted brick finds it as it was.
/// </summary>
/// <remarks>
/// Not fsync'd: an entry follows an xattrop whose own xattr write is not synced either, so after a
/// crash of the machine the two are as old as each other.
/// </remarks>
internal sealed class PendingIndex(string directory)
{
    public string Directory { get; } = directory;

    public void Create() => System.IO.Directory.CreateDirectory(Directory);

    private string PathOf(Gfid g) => Path.Combine(Directory, g.ToString());

    public bool Contains(Gfid g) => File.Exists(PathOf(g));

    /// <summary>Records <paramref name="g"/> (OK when it was already); <paramref name="added"/>: it was not before.</summary>
    public Errno Add(Gfid g, out bool added)
    {
        added = false;
        try
        {
            new FileStream(PathOf(g), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1, FileOptions.None).Dispose();
            added = true;
            return Errno.OK;
        }
        catch (IOException) when (File.Exists(PathOf(g))) { return Errno.OK; }
        catch (IOException) { return Errno.EIO; }
        catch (UnauthorizedAccessException) { return Errno.EACCES; }
    }

    /// <summary>Forgets <paramref name="g"/> (OK when it was not recorded); <paramref name="removed"/>: it was.</summary>
    public Errno Remove(Gfid g, out bool removed)
    {
        removed = false;
        var path = PathOf(g);
        try
        {
            if (!File.Exists(path)) return Errno.OK;
            File.Delete(path);
            removed = true;
            return Errno.OK;
        }
        catch (IOException) { return Errno.EIO; }
        catch (UnauthorizedAccessException) { return Errno.EACCES; }
    }

    /// <summary>The recorded GFIDs greater than <paramref name="after"/>, in ascending order (names that are not GFIDs are ignored).</summary>
    public List<Gfid> After(Gfid after)
    {
        var all = new List<Gfid>();
        foreach (var f in System.IO.Directory.EnumerateFiles(Directory))
            if (Gfid.TryParse(Path.GetFileName(f.AsSpan()), out var g) && g.CompareTo(after) > 0) all.Add(g);
        all.Sort();
        return all;
    }
}
