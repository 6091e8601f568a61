namespace Graft.Xlators.Protocol.Transport;

/// <summary>
/// The stream under a client's TLS stream: passes everything through and keeps a copy of the first
/// bytes the brick sent. When the TLS handshake fails, those bytes say why: a brick that does not
/// speak TLS answers with a plaintext refusal frame, which the TLS layer would only call garbage.
/// </summary>
internal sealed class RecordingStream(Stream inner, int keep) : Stream
{
    private readonly byte[] _first = new byte[keep];
    private int _kept;

    /// <summary>The first bytes received (up to the size given).</summary>
    public ReadOnlyMemory<byte> Received => _first.AsMemory(0, _kept);

    // Pooled: it stays under the TLS stream for the connection's life, one call per read.
    [System.Runtime.CompilerServices.AsyncMethodBuilder(typeof(System.Runtime.CompilerServices.PoolingAsyncValueTaskMethodBuilder<>))]
    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default)
    {
        int n = await inner.ReadAsync(buffer, ct).ConfigureAwait(false);
        Keep(buffer.Span[..n]);
        return n;
    }

    public override int Read(byte[] buffer, int offset, int count)
    {
        int n = inner.Read(buffer, offset, count);
        Keep(buffer.AsSpan(offset, n));
        return n;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken ct) =>
        ReadAsync(buffer.AsMemory(offset, count), ct).AsTask();

    private void Keep(ReadOnlySpan<byte> got)
    {
        if (_kept == _first.Length || got.IsEmpty) return;
        int n = Math.Min(got.Length, _first.Length - _kept);
        got[..n].CopyTo(_first.AsSpan(_kept));
        _kept += n;
    }

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken ct = default) => inner.WriteAsync(buffer, ct);
    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken ct) => inner.WriteAsync(buffer, offset, count, ct);
    public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
    public override void Flush() => inner.Flush();
    public override Task FlushAsync(CancellationToken ct) => inner.FlushAsync(ct);
    public override bool CanRead => true;
    public override bool CanWrite => true;
    public override bool CanSeek => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
