// Graft.Core.PosixMode (st_mode bits) is the one meant everywhere in this project, not System.IO.FileMode.
global using FileMode = Graft.Core.PosixMode;
