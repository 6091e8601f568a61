using Graft.Core;

namespace Graft.Client.Tests.Replicate;

/// <summary>Without quorum (two of three copies gone) changes fail with EROFS and change nothing; reads go on from the copy that is left.</summary>
public class QuorumGuardsChanges
{
    [Fact]
    public async Task Two_of_three_down_refuses_writes_creates_and_chmod_but_serves_reads()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3);
        await v.Volume.WriteAllBytesAsync("/f", "kept"u8.ToArray());
        await v.TakeDownAsync(1);
        await v.TakeDownAsync(2);
        await Errors.ThrowsErrno(Errno.EROFS, () => v.Volume.WriteAllBytesAsync("/f", "lost"u8.ToArray()));
        await Errors.ThrowsErrno(Errno.EROFS, () => v.Volume.WriteAllBytesAsync("/g", "lost"u8.ToArray()));
        await Errors.ThrowsErrno(Errno.EROFS, () => v.Volume.ChmodAsync("/f", 0x100));
        Assert.Equal("kept"u8.ToArray(), await v.Volume.ReadAllBytesAsync("/f"));
        Assert.Equal("kept", File.ReadAllText(v.On(0, "/f")));
        Assert.False(File.Exists(v.On(0, "/g")));
        Assert.True(v.Afr.Counters!["quorumRefusals"] > 0);
    }

    [Fact]
    public async Task One_of_three_down_keeps_quorum_and_changes_are_made()
    {
        await using var v = await ReplicatedVolume.CreateAsync(3);
        await v.TakeDownAsync(2);
        await v.Volume.WriteAllBytesAsync("/f", "made"u8.ToArray());
        Assert.Equal("made", File.ReadAllText(v.On(0, "/f")));
        Assert.Equal("made", File.ReadAllText(v.On(1, "/f")));
    }

    [Fact]
    public async Task Fixed_quorum_of_three_refuses_with_one_down_and_none_accepts_with_two_down()
    {
        await using (var v = await ReplicatedVolume.CreateAsync(3, "quorum-type fixed; quorum-count 3"))
        {
            await v.TakeDownAsync(2);
            await Errors.ThrowsErrno(Errno.EROFS, () => v.Volume.WriteAllBytesAsync("/f", "x"u8.ToArray()));
        }
        await using (var v = await ReplicatedVolume.CreateAsync(3, "quorum-type none"))
        {
            await v.TakeDownAsync(1);
            await v.TakeDownAsync(2);
            await v.Volume.WriteAllBytesAsync("/f", "x"u8.ToArray());
            Assert.Equal("x", File.ReadAllText(v.On(0, "/f")));
        }
    }

    [Fact]
    public async Task With_two_copies_auto_quorum_is_the_first_one()
    {
        await using var v = await ReplicatedVolume.CreateAsync(2);
        await v.TakeDownAsync(1);
        await v.Volume.WriteAllBytesAsync("/f", "x"u8.ToArray());
        await v.BringBackAsync(1);
        await v.TakeDownAsync(0);
        await Errors.ThrowsErrno(Errno.EROFS, () => v.Volume.WriteAllBytesAsync("/g", "x"u8.ToArray()));
    }
}
