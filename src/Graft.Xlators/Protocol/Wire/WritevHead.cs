using System.Buffers.Binary;

namespace Graft.Xlators.Protocol.Wire;

public static partial class FopCodec
{
    /// <summary>
    /// Where a writev request's data lies in its body, read from the body's first bytes alone (the rest may not have
    /// arrived): the caller, any xdata, the fd and the offset are skipped (nothing is allocated), then the data's length
    /// field is read. False when <paramref name="head"/> ends before the data's length field or the fields are not
    /// well formed: the frame then goes the usual way, where <see cref="TryReadRequest"/> has the last word. (protocol/server's
    /// write-splice receives only the data of such a frame into a pipe.)
    /// </summary>
    /// <param name="head">The first bytes of the body (after the frame header).</param>
    /// <param name="dataAt">Offset of the first data byte in the body.</param>
    /// <param name="dataLength">The data's length.</param>
    public static bool TryReadWritevHead(ReadOnlySpan<byte> head, FrameFlags flags, out int dataAt, out int dataLength)
    {
        dataAt = dataLength = 0;
        int at = 8;   // uid, gid
        if (!U32(head, ref at, out uint groups) || groups > WireCaller.MaxGroups) return false;
        at += (int)groups * 4 + 4 + 8 + 16;   // groups, pid, lock owner, mount id
        if ((flags & FrameFlags.Xdata) != 0)
        {
            if (!U32(head, ref at, out uint entries) || entries > WireStructs.MaxXdataEntries) return false;
            for (uint i = 0; i < entries; i++)
            {
                if (!U32(head, ref at, out uint name) || name > BodyReader.MaxString) return false;
                at += (int)name;
                if (!U32(head, ref at, out uint value) || value > WireStructs.MaxXdataValue) return false;
                at += (int)value;
            }
        }
        at += 8 + 8;   // fd, offset
        if (!U32(head, ref at, out uint length) || length > FrameHeader.MaxIo) return false;
        (dataAt, dataLength) = (at, (int)length);
        return true;
    }

    private static bool U32(ReadOnlySpan<byte> s, ref int at, out uint v)
    {
        v = 0;
        if (at < 0 || at > s.Length - 4) return false;
        v = BinaryPrimitives.ReadUInt32LittleEndian(s[at..]);
        at += 4;
        return true;
    }
}
