using Graft.Core;

namespace Graft.Mount;

// Write-behind across a switch. An older graph may still hold writes its write-behind
// acknowledged before the switch (the file's fd has not moved yet, or was just closed on a graph
// whose background writes are still going). Anything that observes that file on a newer graph —
// a lookup that reports its size, the inode miss before an open or a stat — must see those bytes
// (POSIX: a read after write() returned sees the data, through any fd). Before such a fop, the
// session makes the older graphs' held data for that GFID land through the settle contract
// (Translator.SettleAsync: every translator that holds acknowledged writes implements it, every
// other passes it down). Nothing is done while no older graph is alive, or when none of them holds
// bytes (Translator.BytesHeld); the switch itself never waits for any of this.
public sealed partial class MountSession
{
    /// <summary>
    /// Makes data acknowledged on graphs older than <paramref name="g"/> for <paramref name="gfid"/>
    /// land below them. True when something was held (so an answer taken before may be stale).
    /// </summary>
    private ValueTask<bool> SettleOlderAsync(Gfid gfid, Graph g) =>
        !_graphs.HasRetiring ? new(false) : SettleOlderSlowAsync(gfid, g);

    private async ValueTask<bool> SettleOlderSlowAsync(Gfid gfid, Graph g)
    {
        bool settled = false;
        foreach (var og in Graphs)
        {
            if (og.Generation >= g.Generation || BytesHeld(og) == 0) continue;
            // Counted in flight first, so retirement cannot destroy the table under us (invariant 3).
            using (GraphSet.Hold(og))
            {
                if (og.State is GraphState.Destroyed or GraphState.Starting) continue;
                var inode = og.Inodes.Find(gfid);
                if (inode is null) continue;
                // Bounded by the old graph: its writes below time out (frame timeout), or its
                // forced teardown at the retirement bound drops what is still queued.
                await og.Top.SettleAsync(inode).ConfigureAwait(false);
                settled = true;
            }
        }
        return settled;
    }
}
