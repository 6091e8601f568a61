using System.Security.Cryptography;

namespace Graft.Mount.Switching;

/// <summary>
/// Watches a volfile and reports each new content once. Notices a write in place as well as a
/// replace-by-rename (what editors and config tools do), and can be poked by hand (SIGHUP).
/// Events are debounced: a burst of writes yields one reload of the final content, and an
/// unchanged file (same bytes) yields none. Only a file that <see cref="TrustedVolfile"/> accepts is
/// read; one that others could have written is reported through <see cref="Refused"/> instead.
/// </summary>
public sealed class VolfileWatcher : IDisposable
{
    private readonly string _path;
    private readonly Func<string, Task> _onChange;
    private readonly FileSystemWatcher _fsw;
    private readonly TimeSpan _debounce;
    private readonly SemaphoreSlim _signal = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private byte[] _lastHash;

    /// <param name="path">The volfile.</param>
    /// <param name="initialText">The content already applied (no event for it).</param>
    /// <param name="onChange">Called with each new content, one call at a time.</param>
    public VolfileWatcher(string path, string initialText, Func<string, Task> onChange, TimeSpan? debounce = null)
    {
        _path = Path.GetFullPath(path);
        _onChange = onChange;
        _debounce = debounce ?? TimeSpan.FromMilliseconds(10); // an editor's write and rename arrive within a few ms
        _lastHash = Hash(initialText);
        // Watch the directory, not the file: a rename over the file replaces its inode, and a
        // watch on the old inode would go silent.
        // Attributes: a chmod or chown decides whether the file may be followed, so it is a reason to read it again.
        _fsw = new FileSystemWatcher(Path.GetDirectoryName(_path)!, Path.GetFileName(_path))
        {
            NotifyFilter = NotifyFilters.LastWrite | NotifyFilters.FileName | NotifyFilters.Size | NotifyFilters.CreationTime
                | NotifyFilters.Attributes,
        };
        _fsw.Changed += (_, _) => Poke();
        _fsw.Created += (_, _) => Poke();
        _fsw.Renamed += (_, e) => { if (string.Equals(e.FullPath, _path, StringComparison.Ordinal)) Poke(); };
        _fsw.EnableRaisingEvents = true;
        _loop = Task.Run(LoopAsync);
    }

    /// <summary>Reads the file again (SIGHUP, or an API call).</summary>
    public void Poke() => _signal.Release();

    /// <summary>Reads and errors of the file itself (not of its content), for logging.</summary>
    public event Action<Exception>? ReadFailed;

    /// <summary>The file (or a directory on the way to it) could have been written by someone other than root or
    /// this process's user: its content is not applied. The argument says why.</summary>
    public event Action<string>? Refused;

    private async Task LoopAsync()
    {
        var ct = _stop.Token;
        try
        {
            while (true)
            {
                await _signal.WaitAsync(ct).ConfigureAwait(false);
                // Debounce: let a burst of writes settle, then take the file as it is.
                await Task.Delay(_debounce, ct).ConfigureAwait(false);
                while (_signal.CurrentCount > 0) await _signal.WaitAsync(ct).ConfigureAwait(false);
                string text;
                string? refusal;
                try { TrustedVolfile.TryRead(_path, out text, out refusal); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    ReadFailed?.Invoke(e); // e.g. between unlink and rename: the next event retries
                    continue;
                }
                if (refusal is not null)
                {
                    // Forget what was last applied, so that the same content, once the file is safe again, is
                    // offered again (and clears the error it left).
                    _lastHash = [];
                    Refused?.Invoke(refusal);
                    continue;
                }
                // A write in place truncates first: an empty file is a moment of that, not a volfile.
                if (string.IsNullOrWhiteSpace(text)) continue;
                var hash = Hash(text);
                if (hash.AsSpan().SequenceEqual(_lastHash)) continue;
                _lastHash = hash;
                try { await _onChange(text).ConfigureAwait(false); }
                catch (Exception e) { ReadFailed?.Invoke(e); }
            }
        }
        catch (OperationCanceledException) { }
    }

    private static byte[] Hash(string text) => SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(text));

    public void Dispose()
    {
        _fsw.Dispose();
        _stop.Cancel();
#pragma warning disable VSTHRD002 // a bounded wait for the loop in a synchronous Dispose; the loop never needs this thread
        try { _loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
#pragma warning restore VSTHRD002
        _stop.Dispose();
    }
}
