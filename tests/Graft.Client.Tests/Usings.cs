global using PosixMode = Graft.Core.FileMode;
global using FileMode = System.IO.FileMode;
