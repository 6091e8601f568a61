using Graft.Core;

namespace Graft.Xlators;

/// <summary>Every translator type that ships with Graft, by volfile type name.</summary>
public static class BuiltinXlators
{
    public static XlatorRegistry CreateRegistry()
    {
        var r = new XlatorRegistry();
        r.Register(Debug.Passthrough.Spec);
        r.Register(Debug.Faults.FaultsTranslator.Spec);
        r.Register(Performance.WriteBehind.WriteBehindTranslator.Spec);
        r.Register(Performance.MdCache.MdCacheTranslator.Spec);
        r.Register(Performance.NlCache.NlCacheTranslator.Spec);
        r.Register(Storage.Posix.PosixTranslator.Spec);
        r.Register(Features.Locks.LocksTranslator.Spec);
        r.Register(Features.Index.IndexTranslator.Spec);
        r.Register(Features.Upcall.UpcallTranslator.Spec);
        r.Register(Protocol.Client.ProtocolClient.Spec);
        r.Register(Protocol.Server.ProtocolServer.Spec);
        r.Register(Cluster.Distribute.DistributeTranslator.Spec);
        r.Register(Cluster.Distribute.DistributeTranslator.AliasSpec);
        r.Register(Cluster.Replicate.ReplicateTranslator.Spec);
        r.Register(Cluster.Replicate.ReplicateTranslator.AliasSpec);
        return r;
    }
}
