using Graft.Core;

namespace Graft.Xlators.Tests.Features.Locks;

public class LocksSpecTests
{
    [Fact]
    public void Features_locks_is_registered_with_one_child_and_every_option_but_the_marker_path_has_a_default_and_a_description()
    {
        var spec = BuiltinXlators.CreateRegistry().Find("features/locks");
        Assert.NotNull(spec);
        Assert.Equal((1, 1), (spec.MinChildren, spec.MaxChildren));
        Assert.NotEmpty(spec.Options);
        foreach (var o in spec.Options)
        {
            Assert.False(string.IsNullOrWhiteSpace(o.Description), o.Name);
            if (o.Name == "grace-marker") { Assert.Null(o.Default); continue; } // unset: the grace always applies
            Assert.False(string.IsNullOrWhiteSpace(o.Default), o.Name);
            Assert.False(string.IsNullOrWhiteSpace(o.Description), o.Name);
            Assert.NotNull(o.Parse(o.Default!, out _));
        }
    }

    [Fact]
    public async Task Reconfigure_changes_the_waiter_limit_on_a_live_graph()
    {
        var h = await LocksHarness.CreateAsync();
        var spec = BuiltinXlators.CreateRegistry().Find("features/locks")!;
        Assert.Equal(Errno.OK, h.Locks.Reconfigure(new OptionValues(spec.Options, new Dictionary<string, string> { ["max-waiters-per-file"] = "1" })));
        var a = new Proc(LocksHarness.MountA, 1, 1);
        Assert.Equal(Errno.OK, await h.SetLk(a, h.Open(), LockType.Write, 0, 0));
        var w = h.SetLkW(a with { Owner = 2 }, h.Open(), LockType.Write, 0, 0);
        Assert.Equal(Errno.ENOLCK, (await h.SetLkW(a with { Owner = 3 }, h.Open(), LockType.Write, 0, 0)).Error);
        await h.Locks.FiniAsync(); // teardown fails what still waits
        Assert.Equal(Errno.ENOTCONN, (await w.WaitAsync(LocksHarness.Bound)).Error);
    }
}
