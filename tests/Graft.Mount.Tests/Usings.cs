global using FileMode = Graft.Core.FileMode;
