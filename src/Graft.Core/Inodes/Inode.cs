namespace Graft.Core;

/// <summary>
/// A file or directory as one graph knows it. Lives in exactly one <see cref="InodeTable"/>
/// for its whole life (DESIGN invariant 1): nothing moves an inode to another table or graph.
/// </summary>
public sealed class Inode
{
    private readonly ContextSlots _ctx;

    internal Inode(InodeTable table, Gfid gfid, uint type)
    {
        Table = table;
        Gfid = gfid;
        Type = type;
        _ctx = new ContextSlots(table.CtxSlots);
    }

    public InodeTable Table { get; }
    public Gfid Gfid { get; }
    /// <summary>S_IFMT bits.</summary>
    public uint Type { get; }
    public bool IsDir => PosixMode.IsDir(Type);
    public bool IsRoot => Gfid.IsRoot;
    public Graph? Graph => Table.Graph;

    // Counts, guarded by Table's lock.
    internal int Refs;
    internal ulong Lookups;
    internal readonly List<(Gfid Parent, string Name)> Dentries = new(1);
    internal LinkedListNode<Inode>? LruNode;
    internal bool Purged;

    private ErrorSeq _writeBackErrors;

    /// <summary>
    /// Writes to this file that were acknowledged and then failed to land (see <see cref="ErrorSeq"/>):
    /// recorded by whoever learns of the loss, read by each <see cref="Fd"/> of the file.
    /// </summary>
    public ref ErrorSeq WriteBackErrors => ref _writeBackErrors;

    public int RefCount { get { lock (Table.Sync) return Refs; } }
    public ulong LookupCount { get { lock (Table.Sync) return Lookups; } }

    /// <summary>The translator's private context on this inode (GlusterFS's inode_ctx).</summary>
    public object? GetCtx(Translator xl) => _ctx.Get(xl);

    public void SetCtx(Translator xl, object? value) => _ctx.Set(xl, value);

    /// <summary>Sets the context only if none is there; returns the one that is there afterwards.</summary>
    public T GetOrSetCtx<T>(Translator xl, T value) where T : class => _ctx.GetOrSet(xl, value);

    public override string ToString() => $"inode({Gfid}, gen {Table.Graph?.Generation.ToString() ?? "-"})";
}
