using System.Text;
using Graft.Core;

namespace Graft.Client.Tests;

/// <summary>Files as streams: what is written is read back, at the right offsets.</summary>
public class FileStreamTests
{
    [Fact]
    public async Task Written_bytes_are_read_back_and_land_in_the_brick_directory()
    {
        await using var t = await TestVolume.CreateAsync();
        var data = Encoding.UTF8.GetBytes("hello, graft");
        await using (var s = await t.Volume.OpenAsync("/a.txt", FileMode.CreateNew, FileAccess.Write))
            await s.WriteAsync(data);
        Assert.Equal(data, await t.Volume.ReadAllBytesAsync("/a.txt"));
        Assert.Equal(data, await File.ReadAllBytesAsync(Path.Combine(t.BrickDir, "a.txt")));
    }

    [Fact]
    public async Task Seek_and_overwrite_changes_only_the_bytes_written()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/f", "0123456789"u8.ToArray());
        await using (var s = await t.Volume.OpenAsync("/f", FileMode.Open, FileAccess.ReadWrite))
        {
            Assert.True(s.CanSeek && s.CanRead && s.CanWrite);
            Assert.Equal(10, s.Length);
            Assert.Equal(4, s.Seek(4, SeekOrigin.Begin));
            await s.WriteAsync("ab"u8.ToArray());
            Assert.Equal(6, s.Position);
            Assert.Equal(8, s.Seek(-2, SeekOrigin.End));
            var buf = new byte[10];
            Assert.Equal(2, await s.ReadAsync(buf));
            Assert.Equal("89"u8.ToArray(), buf[..2]);
            Assert.Equal(0, await s.ReadAsync(buf)); // end of file
            s.Position = 2;
            Assert.Equal(3, s.Seek(1, SeekOrigin.Current));
        }
        Assert.Equal("0123ab6789"u8.ToArray(), await t.Volume.ReadAllBytesAsync("/f"));
    }

    [Fact]
    public async Task The_synchronous_stream_members_work_too()
    {
        await using var t = await TestVolume.CreateAsync();
        using (var s = await t.Volume.OpenAsync("/sync", FileMode.Create, FileAccess.ReadWrite))
        {
            s.Write("abcdef"u8);
            s.Write([1, 2, 3], 1, 2);
            s.Position = 0;
            var buf = new byte[8];
            Assert.Equal(8, s.Read(buf, 0, 8));
            Assert.Equal("abcdef\u0002\u0003"u8.ToArray(), buf);
            s.Position = 3;
            Span<byte> span = stackalloc byte[3];
            Assert.Equal(3, s.Read(span));
            Assert.Equal("def"u8.ToArray(), span.ToArray());
            s.Flush();
            s.Fsync();
        }
        Assert.Equal(8, (await t.Volume.StatAsync("/sync")).Size);
    }

    [Fact]
    public async Task A_large_write_is_read_back_intact()
    {
        await using var t = await TestVolume.CreateAsync(layers: 3);
        var data = new byte[3 * 1024 * 1024 + 17];
        new Random(42).NextBytes(data);
        await t.Volume.WriteAllBytesAsync("/big", data);
        Assert.Equal(data, await t.Volume.ReadAllBytesAsync("/big"));
    }

    [Fact]
    public async Task SetLength_truncates_and_extends_through_the_open_file()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/f", "0123456789"u8.ToArray());
        await using var s = await t.Volume.OpenAsync("/f", FileMode.Open, FileAccess.ReadWrite);
        s.SetLength(4);
        Assert.Equal(4, s.Length);
        await s.SetLengthAsync(6);
        Assert.Equal(6, (await s.StatAsync()).Size);
        Assert.Equal("0123\0\0"u8.ToArray(), await t.Volume.ReadAllBytesAsync("/f"));
    }

    [Fact]
    public async Task A_read_only_stream_refuses_writes_and_a_write_only_stream_refuses_reads()
    {
        await using var t = await TestVolume.CreateAsync();
        await t.Volume.WriteAllBytesAsync("/f", "x"u8.ToArray());
        await using (var r = await t.Volume.OpenAsync("/f", FileMode.Open, FileAccess.Read))
        {
            Assert.False(r.CanWrite);
            await Assert.ThrowsAsync<NotSupportedException>(async () => await r.WriteAsync("y"u8.ToArray()));
            Assert.Throws<NotSupportedException>(() => r.SetLength(0));
        }
        await using (var w = await t.Volume.OpenAsync("/f", FileMode.Open, FileAccess.Write))
        {
            Assert.False(w.CanRead);
            await Assert.ThrowsAsync<NotSupportedException>(async () => await w.ReadExactlyAsync(new byte[1]));
        }
    }

    [Fact]
    public async Task A_disposed_stream_is_closed_everywhere()
    {
        await using var t = await TestVolume.CreateAsync();
        var s = await t.Volume.OpenAsync("/f", FileMode.Create, FileAccess.ReadWrite);
        var id = s.Handle.HandleId;
        var st = t.Volume.GetState();
        Assert.Equal(1, st.OpenFileCount);
        Assert.Equal(1, st.Graphs[0].Fds);
        await s.DisposeAsync();
        await s.DisposeAsync(); // twice is harmless
        Assert.False(s.CanSeek);
        Assert.Throws<ObjectDisposedException>(() => s.Position);
        Assert.Null(t.Volume.Session.GetFile(id));
        st = t.Volume.GetState();
        Assert.Equal(0, st.OpenFileCount);
        Assert.Equal(0, st.Graphs[0].Fds);
        Assert.Equal(0, st.Graphs[0].FopsInFlight);
        Assert.Equal(1, st.Nodes); // only the root: the stream's lookup was given back
    }

    [Fact]
    public async Task Fsync_reaches_the_brick()
    {
        await using var t = await TestVolume.CreateAsync();
        await using var s = await t.Volume.OpenAsync("/f", FileMode.Create, FileAccess.Write);
        await s.WriteAsync(new byte[100]);
        await s.FsyncAsync();
        await s.FsyncAsync(dataOnly: true);
        Assert.Equal(100, new FileInfo(Path.Combine(t.BrickDir, "f")).Length);
    }
}

public class VolumeDisposalTests
{
    [Fact]
    public async Task Disposing_the_volume_releases_open_streams_which_can_still_be_disposed_afterwards()
    {
        var t = await TestVolume.CreateAsync();
        var s = await t.Volume.OpenAsync("/f", FileMode.Create, FileAccess.Write);
        await s.WriteAsync("x"u8.ToArray());
        var graph = t.Volume.Session.ActiveGraph;
        await t.DisposeAsync();
        Assert.Equal(Graft.Core.GraphState.Destroyed, graph.State);
        Assert.Equal(0, graph.FopsInFlight);
        await s.DisposeAsync(); // no exception: the session already released it
        Assert.True(t.Volume.IsDisposed);
    }
}
