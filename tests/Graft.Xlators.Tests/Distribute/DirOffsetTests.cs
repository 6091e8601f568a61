using Graft.Xlators.Cluster.Distribute;

namespace Graft.Xlators.Tests.Distribute;

/// <summary>A directory offset carries (subvolume, that subvolume's offset) and resumes from the value alone.</summary>
public class DirOffsetsResumeAnywhere
{
    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 1)]
    [InlineData(3, 2)]
    [InlineData(4, 2)]
    [InlineData(5, 3)]
    [InlineData(1024, 10)]
    public void The_index_takes_as_few_bits_as_the_subvolume_count_needs(int n, int bits) => Assert.Equal(bits, DirOffset.IndexBits(n));

    [Theory]
    [InlineData(3, 0, 0L)]
    [InlineData(3, 2, 12345L)]
    [InlineData(4, 3, (1L << 61) - 1)]
    [InlineData(1, 0, long.MaxValue)]
    public void Small_offsets_round_trip_exactly(int n, int subvol, long offset)
    {
        var c = DirOffset.Encode(subvol, offset, n);
        Assert.True(c >= 0);
        Assert.Equal((subvol, offset, (ulong?)null), DirOffset.Decode(c, n));
    }

    [Fact]
    public void Ext4_hash_offsets_resume_at_their_bucket_and_skip_what_was_returned()
    {
        const int n = 4; // 2 bits
        long offset = 0x5A5A_1234_5678_9ABDL;
        var c = DirOffset.Encode(3, offset, n);
        Assert.True(c < 0);
        var (s, from, skip) = DirOffset.Decode(c, n);
        Assert.Equal(3, s);
        Assert.True(from <= offset && offset - from < 4);
        Assert.NotNull(skip);
        Assert.True((ulong)offset <= skip!.Value && skip.Value - (ulong)from == 3);
        // Every offset of another bucket keeps its own place.
        Assert.NotEqual(c, DirOffset.Encode(3, offset + 4, n));
        Assert.NotEqual(c, DirOffset.Encode(2, offset, n));
    }
}
