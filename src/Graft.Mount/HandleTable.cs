namespace Graft.Mount;

/// <summary>An object a front end names by a 64-bit id from a <see cref="HandleTable{T}"/>.</summary>
public interface IHandle
{
    /// <summary>The id the table gave this object; 0 until it is added. Only the table sets it
    /// (implement it explicitly so callers of the concrete type see a getter only).</summary>
    ulong HandleId { get; set; }
}

/// <summary>
/// Maps 64-bit ids to mount-level objects for front ends (the kernel's nodeid and fh, the
/// library's handles). An id is (generation &lt;&lt; 32) | slot: a slot is reused only after its
/// object was removed, and then with the next generation, so an id the front end still holds
/// after removal is detected as stale instead of naming a different object (go-fuse does the
/// same for node ids, so LOOKUP, FORGET and notifications cannot race).
/// </summary>
/// <remarks>
/// <see cref="Get"/> is lock-free and allocation-free: it reads the slot array and compares the
/// object's own id, so a reader never sees a half-updated (object, generation) pair.
/// Writers take <see cref="_sync"/> (a leaf lock).
/// </remarks>
public sealed class HandleTable<T> where T : class, IHandle
{
    private readonly object _sync = new();
    private T?[] _slots;
    private uint[] _generations;
    private readonly Stack<uint> _free = new();
    private uint _next;
    private int _count;

    /// <param name="reservedSlots">Slots below this index are never handed out by <see cref="Add"/>
    /// (slot 0 so that id 0 is never valid; FUSE's root nodeid 1 is placed with <see cref="AddAt"/>).</param>
    public HandleTable(uint reservedSlots = 1, int initialCapacity = 64)
    {
        _slots = new T?[Math.Max(initialCapacity, (int)reservedSlots + 1)];
        _generations = new uint[_slots.Length];
        _next = Math.Max(1, reservedSlots);
    }

    public int Count => Volatile.Read(ref _count);

    /// <summary>Gives <paramref name="item"/> a fresh id and makes it findable.</summary>
    public ulong Add(T item)
    {
        lock (_sync)
        {
            uint slot = _free.Count > 0 ? _free.Pop() : _next++;
            if (slot >= _slots.Length) Grow(slot);
            // Generation starts at 1 for handed-out slots, so no id of Add is ever below 2^32.
            var gen = ++_generations[slot];
            if (gen == 0) gen = _generations[slot] = 1;
            var id = ((ulong)gen << 32) | slot;
            item.HandleId = id;
            Volatile.Write(ref _slots[slot], item);
            _count++;
            return id;
        }
    }

    /// <summary>Places <paramref name="item"/> at a fixed id with generation 0 (the root, id 1).</summary>
    public void AddAt(uint slot, T item)
    {
        lock (_sync)
        {
            if (slot >= _slots.Length) Grow(slot);
            if (_slots[slot] is not null) throw new InvalidOperationException($"slot {slot} is taken");
            item.HandleId = slot;
            Volatile.Write(ref _slots[slot], item);
            _count++;
        }
    }

    /// <summary>The object for <paramref name="id"/>, or null when the id is unknown or stale.</summary>
    public T? Get(ulong id)
    {
        var slots = Volatile.Read(ref _slots);
        var slot = (uint)id;
        if (slot >= (uint)slots.Length) return null;
        var item = Volatile.Read(ref slots[slot]);
        return item is not null && item.HandleId == id ? item : null;
    }

    /// <summary>Removes the object with this id; its slot is reused later under a new generation.</summary>
    public bool Remove(T item)
    {
        lock (_sync)
        {
            var slot = (uint)item.HandleId;
            if (slot >= _slots.Length || !ReferenceEquals(_slots[slot], item)) return false;
            Volatile.Write(ref _slots[slot], null);
            _count--;
            if ((item.HandleId >> 32) != 0) _free.Push(slot); // fixed (generation 0) slots are not recycled
            return true;
        }
    }

    /// <summary>A snapshot of the objects in the table (state dumps; not for hot paths).</summary>
    public List<T> Snapshot()
    {
        lock (_sync)
        {
            var list = new List<T>(_count);
            foreach (var item in _slots) if (item is not null) list.Add(item);
            return list;
        }
    }

    private void Grow(uint slot)
    {
        var n = Math.Max(_slots.Length * 2, (int)slot + 1);
        var slots = new T?[n];
        Array.Copy(_slots, slots, _slots.Length);
        Array.Resize(ref _generations, n);
        // Readers holding the old array still find every object that was in it; objects added
        // after this point are written only to the new array, which readers see from now on.
        Volatile.Write(ref _slots, slots);
    }
}
