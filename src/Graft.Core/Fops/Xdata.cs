namespace Graft.Core;

/// <summary>
/// Extra key/value data that travels with a fop and its reply (GlusterFS's dict_t), used by
/// translators to talk to their peers. Null on the hot path; created only when needed.
/// </summary>
public sealed class Xdata
{
    private readonly Dictionary<string, byte[]> _values = new(StringComparer.Ordinal);

    public int Count => _values.Count;
    public IEnumerable<KeyValuePair<string, byte[]>> Entries => _values;

    public void Set(string key, byte[] value) => _values[key] = value;
    public void SetString(string key, string value) => _values[key] = System.Text.Encoding.UTF8.GetBytes(value);
    public void SetInt64(string key, long value) => _values[key] = BitConverter.GetBytes(value);
    public bool TryGet(string key, out byte[] value) => _values.TryGetValue(key, out value!);
    public string? GetString(string key) => _values.TryGetValue(key, out var v) ? System.Text.Encoding.UTF8.GetString(v) : null;
    public long? GetInt64(string key) => _values.TryGetValue(key, out var v) && v.Length == 8 ? BitConverter.ToInt64(v) : null;
    public bool Remove(string key) => _values.Remove(key);
}
