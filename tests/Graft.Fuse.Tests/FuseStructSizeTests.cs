using System.Runtime.CompilerServices;
using Graft.Fuse.Raw;

namespace Graft.Fuse.Tests;

/// <summary>The wire structs have the sizes linux/fuse.h gives them at 7.45 on x86-64.</summary>
public class FuseStructSizeTests
{
    [Fact]
    public void Struct_sizes_match_the_kernel_header()
    {
        Assert.Equal(40, Unsafe.SizeOf<FuseInHeader>());
        Assert.Equal(16, Unsafe.SizeOf<FuseOutHeader>());
        Assert.Equal(88, Unsafe.SizeOf<FuseAttr>());
        Assert.Equal(128, Unsafe.SizeOf<FuseEntryOut>());
        Assert.Equal(104, Unsafe.SizeOf<FuseAttrOut>());
        Assert.Equal(16, Unsafe.SizeOf<FuseOpenOut>());
        Assert.Equal(80, Unsafe.SizeOf<FuseKstatfs>());
        Assert.Equal(40, Unsafe.SizeOf<FuseReadIn>());
        Assert.Equal(40, Unsafe.SizeOf<FuseWriteIn>());
        Assert.Equal(88, Unsafe.SizeOf<FuseSetattrIn>());
        Assert.Equal(16, Unsafe.SizeOf<FuseCreateIn>());
        Assert.Equal(64, Unsafe.SizeOf<FuseInitIn>());
        Assert.Equal(64, Unsafe.SizeOf<FuseInitOut>());
        Assert.Equal(16, Unsafe.SizeOf<FuseForgetOne>());
        Assert.Equal(16, Unsafe.SizeOf<FuseGetattrIn>());
        Assert.Equal(16, Unsafe.SizeOf<FuseMknodIn>());
        Assert.Equal(16, Unsafe.SizeOf<FuseRename2In>());
        Assert.Equal(24, Unsafe.SizeOf<FuseReleaseIn>());
        Assert.Equal(24, Unsafe.SizeOf<FuseFlushIn>());
        Assert.Equal(16, Unsafe.SizeOf<FuseFsyncIn>());
        Assert.Equal(32, Unsafe.SizeOf<FuseFallocateIn>());
        Assert.Equal(24, Unsafe.SizeOf<FuseLseekIn>());
        Assert.Equal(56, Unsafe.SizeOf<FuseCopyFileRangeIn>());
        Assert.Equal(24, Unsafe.SizeOf<FuseDirent>());
        Assert.Equal(24, Unsafe.SizeOf<FuseFileLock>());
        Assert.Equal(48, Unsafe.SizeOf<FuseLkIn>());
        Assert.Equal(24, Unsafe.SizeOf<FuseLkOut>());
        Assert.Equal(24, Unsafe.SizeOf<FuseNotifyInvalInodeOut>());
    }

    [Fact]
    public void Init_out_fields_sit_at_the_kernel_offsets()
    {
        var o = new FuseInitOut { MaxWrite = 0x11223344, MaxPages = 0x5566, Flags2 = 0x778899AA };
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(new ReadOnlySpan<FuseInitOut>(in o));
        Assert.Equal(0x11223344u, BitConverter.ToUInt32(bytes[20..]));
        Assert.Equal(0x5566, BitConverter.ToUInt16(bytes[28..]));
        Assert.Equal(0x778899AAu, BitConverter.ToUInt32(bytes[32..]));
    }

    [Fact]
    public void Lk_in_fields_sit_at_the_kernel_offsets()
    {
        var a = new FuseLkIn { Fh = 1, Owner = 2, Lk = new FuseFileLock { Start = 3, End = 4, Type = 5, Pid = 6 }, LkFlags = 7 };
        var bytes = System.Runtime.InteropServices.MemoryMarshal.AsBytes(new ReadOnlySpan<FuseLkIn>(in a));
        Assert.Equal((1ul, 2ul, 3ul, 4ul), (BitConverter.ToUInt64(bytes), BitConverter.ToUInt64(bytes[8..]), BitConverter.ToUInt64(bytes[16..]), BitConverter.ToUInt64(bytes[24..])));
        Assert.Equal((5u, 6u, 7u), (BitConverter.ToUInt32(bytes[32..]), BitConverter.ToUInt32(bytes[36..]), BitConverter.ToUInt32(bytes[40..])));
    }
}
