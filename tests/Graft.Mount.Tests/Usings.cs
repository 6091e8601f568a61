global using FileMode = Graft.Core.PosixMode;
