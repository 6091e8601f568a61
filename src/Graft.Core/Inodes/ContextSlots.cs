namespace Graft.Core;

/// <summary>
/// Per-translator private context on an inode or fd (GlusterFS's inode_ctx / fd_ctx): one slot
/// per translator of the graph, indexed by <see cref="Translator.Index"/>. Reads take no lock.
/// </summary>
internal sealed class ContextSlots(int size)
{
    private object?[] _slots = new object?[size];

    public object? Get(Translator xl)
    {
        var c = Volatile.Read(ref _slots);
        return (uint)xl.Index < (uint)c.Length ? Volatile.Read(ref c[xl.Index]) : null;
    }

    public void Set(Translator xl, object? value)
    {
        lock (this)
        {
            Grow(xl.Index);
            Volatile.Write(ref _slots[xl.Index], value);
        }
    }

    /// <summary>Sets the context only if none is there; returns the one that is there afterwards.</summary>
    public T GetOrSet<T>(Translator xl, T value) where T : class
    {
        lock (this)
        {
            Grow(xl.Index);
            if (_slots[xl.Index] is T existing) return existing;
            Volatile.Write(ref _slots[xl.Index], value);
            return value;
        }
    }

    /// <summary>
    /// The first context of type <typeparamref name="T"/> that <paramref name="match"/> accepts, in
    /// slot order, whichever translator set it: for a translator that must find its counterpart's
    /// context on an object of another graph (lock rebind), where its own slot index means nothing.
    /// </summary>
    public T? Find<T>(Func<T, bool> match) where T : class
    {
        foreach (var o in Volatile.Read(ref _slots))
            if (o is T t && match(t)) return t;
        return null;
    }

    private void Grow(int index)
    {
        if (index < _slots.Length) return;
        var bigger = new object?[index + 1];
        Array.Copy(_slots, bigger, _slots.Length);
        Volatile.Write(ref _slots, bigger);
    }
}
