// In this project "FileMode" is System.IO's (how a stream is opened); st_mode bits are PosixMode.
global using PosixMode = Graft.Core.PosixMode;
global using FileMode = System.IO.FileMode;
