namespace Graft.Core;

public sealed partial class Graph
{
    private readonly Lock _reconfigureLock = new();

    /// <summary>
    /// Applies <paramref name="newModel"/> to this live graph when it can be applied in place:
    /// returns <see cref="VolfileChangeKind.Identical"/> (nothing done),
    /// <see cref="VolfileChangeKind.Reconfigure"/> (each changed translator got
    /// <see cref="Translator.Reconfigure"/> with its new options), or
    /// <see cref="VolfileChangeKind.NewGraph"/> with the reason: the caller must build a new graph
    /// and switch to it. NewGraph is also returned when a translator refuses its new options; the
    /// translators before it may then already run with theirs, which is harmless because the
    /// graph is about to be replaced. Throws <see cref="VolfileException"/> for an invalid volfile.
    /// </summary>
    public VolfileDiff Reconfigure(VolfileModel newModel, XlatorRegistry registry)
    {
        // Serialised so that two reconfigures cannot interleave their per-translator updates.
        // Translator.Reconfigure is synchronous, so nothing is awaited under the lock.
        lock (_reconfigureLock)
        {
            var diff = VolfileDiff.Compare(this, newModel, registry);
            if (diff.Kind != VolfileChangeKind.Reconfigure) return diff;
            foreach (var t in Translators)
            {
                if (!diff.NewOptions.TryGetValue(t.Name, out var options)) continue;
                var err = t.Reconfigure(options);
                if (err != Errno.OK)
                    return VolfileDiff.NewGraph($"translator '{t.Name}' ({t.Type}) refused the new options: {err.Name()}");
            }
            VolfileText = newModel.Text ?? VolfileWriter.Write(newModel);
            return diff;
        }
    }
}
