namespace Graft.Core;

/// <summary>
/// Where a path-based fop acts: an object by GFID (and its inode if the caller has one), or a
/// name in a parent directory. A nameless loc (<see cref="Name"/> null, <see cref="Gfid"/> set)
/// is how a handle is resolved on a graph that has never seen its path.
/// </summary>
public readonly struct Loc
{
    public readonly Gfid Gfid;
    public readonly Gfid ParentGfid;
    public readonly string? Name;
    public readonly Inode? Inode;
    public readonly Inode? Parent;

    public Loc(Gfid gfid, Gfid parentGfid, string? name, Inode? inode, Inode? parent)
    {
        Gfid = gfid; ParentGfid = parentGfid; Name = name; Inode = inode; Parent = parent;
    }

    /// <summary>The object itself, known by its inode.</summary>
    public static Loc Of(Inode inode) => new(inode.Gfid, default, null, inode, null);

    /// <summary>The object with this GFID (nameless lookup, or a fop on an object known only by id).</summary>
    public static Loc Nameless(Gfid gfid) => new(gfid, default, null, null, null);

    /// <summary>The entry <paramref name="name"/> in <paramref name="parent"/>.</summary>
    public static Loc Child(Inode parent, string name) => new(default, parent.Gfid, name, null, parent);

    /// <summary>The entry <paramref name="name"/> in the directory with GFID <paramref name="parent"/>.</summary>
    public static Loc Child(Gfid parent, string name) => new(default, parent, name, null, null);

    /// <summary>This loc with the target's GFID (and inode) filled in, e.g. after a lookup.</summary>
    public Loc WithTarget(Gfid gfid, Inode? inode = null) => new(gfid, ParentGfid, Name, inode ?? Inode, Parent);

    public bool IsNameless => Name is null;

    public override string ToString() => Name is null ? $"<gfid:{Gfid}>" : $"<gfid:{ParentGfid}>/{Name}";
}
