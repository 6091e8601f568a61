// Micro-benchmarks of the hot paths. Run them all with bench/run-micro.sh, or pick with
// `dotnet run -c Release --project bench/Graft.Benchmarks -- --filter '*Session*'`.
BenchmarkDotNet.Running.BenchmarkSwitcher.FromAssembly(typeof(Graft.Benchmarks.BenchGraph).Assembly).Run(args);
