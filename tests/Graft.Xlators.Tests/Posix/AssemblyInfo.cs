// The brick translators use Linux syscalls; so do their tests.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
