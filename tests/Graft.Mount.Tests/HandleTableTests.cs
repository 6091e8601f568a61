namespace Graft.Mount.Tests;

public class HandleTableTests
{
    private sealed class Item : IHandle { public ulong HandleId { get; set; } }

    [Fact]
    public void Ids_are_unique_nonzero_and_find_their_object()
    {
        var t = new HandleTable<Item>();
        var items = Enumerable.Range(0, 200).Select(_ => new Item()).ToList();
        var ids = items.Select(t.Add).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        Assert.DoesNotContain(0UL, ids);
        for (int i = 0; i < items.Count; i++) Assert.Same(items[i], t.Get(ids[i]));
        Assert.Equal(200, t.Count);
    }

    [Fact]
    public void A_removed_id_is_stale_even_after_its_slot_is_reused()
    {
        var t = new HandleTable<Item>();
        var a = new Item();
        var idA = t.Add(a);
        Assert.True(t.Remove(a));
        Assert.Null(t.Get(idA));
        var b = new Item();
        var idB = t.Add(b);
        Assert.Equal((uint)idA, (uint)idB);  // same slot ...
        Assert.NotEqual(idA, idB);           // ... new generation
        Assert.Null(t.Get(idA));
        Assert.Same(b, t.Get(idB));
    }

    [Fact]
    public void Unknown_and_out_of_range_ids_are_not_found()
    {
        var t = new HandleTable<Item>();
        Assert.Null(t.Get(0));
        Assert.Null(t.Get(12345));
        Assert.Null(t.Get(ulong.MaxValue));
    }

    [Fact]
    public void A_fixed_slot_has_a_fixed_id_and_is_never_handed_out()
    {
        var t = new HandleTable<Item>(reservedSlots: 2);
        var root = new Item();
        t.AddAt(1, root);
        Assert.Equal(1UL, root.HandleId);
        Assert.Same(root, t.Get(1));
        for (int i = 0; i < 10; i++) Assert.NotEqual(1u, (uint)t.Add(new Item()));
    }

    [Fact]
    public void Removing_twice_is_refused()
    {
        var t = new HandleTable<Item>();
        var a = new Item();
        t.Add(a);
        Assert.True(t.Remove(a));
        Assert.False(t.Remove(a));
        Assert.Equal(0, t.Count);
    }
}
