global using PosixMode = Graft.Core.PosixMode;
global using FileMode = System.IO.FileMode;
