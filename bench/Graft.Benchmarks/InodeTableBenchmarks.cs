using BenchmarkDotNet.Attributes;
using Graft.Core;

namespace Graft.Benchmarks;

/// <summary>GFID → inode in a table of many inodes: what resolving a handle by GFID costs.</summary>
[MemoryDiagnoser]
public class InodeTableBenchmarks
{
    private InodeTable _table = null!;
    private Gfid[] _gfids = null!;
    private int _next;

    [Params(100_000)]
    public int Inodes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _table = new InodeTable(lruLimit: Inodes);
        _gfids = new Gfid[Inodes];
        for (int i = 0; i < Inodes; i++)
        {
            var g = Gfid.NewGfid();
            _gfids[i] = g;
            var inode = _table.Link(Gfid.Root, "f" + i, new Iatt { Gfid = g, Mode = Graft.Core.PosixMode.S_IFREG | 0x1A4 });
            _table.AddLookup(inode);
            _table.Unref(inode);
        }
    }

    [Benchmark(Description = "InodeTable.Find(gfid)")]
    public Inode? FindByGfid()
    {
        var i = _next;
        _next = i + 1 == _gfids.Length ? 0 : i + 1;
        return _table.Find(_gfids[i]);
    }

    [Benchmark(Description = "InodeTable.FindChild(parent, name)")]
    public Inode? FindChild() => _table.FindChild(Gfid.Root, "f12345");
}
