using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Graft.Client.Tests.Switching;

/// <summary>
/// Keeps the warnings and errors a volume logs, so that a test that fails on an errno can say what
/// the session and its graphs said about it at the time.
/// </summary>
internal sealed class WarningLog : ILoggerFactory, ILoggerProvider, ILogger
{
    private readonly ConcurrentQueue<string> _lines = new();

    public IReadOnlyCollection<string> Lines => _lines;

    public override string ToString() => string.Join('\n', _lines.TakeLast(40));

    public ILogger CreateLogger(string categoryName) => this;
    public void AddProvider(ILoggerProvider provider) { }
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Warning;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (IsEnabled(logLevel)) _lines.Enqueue($"{logLevel}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}");
    }

    public void Dispose() { }
}
