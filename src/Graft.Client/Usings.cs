// "FileMode" here is System.IO's (how a stream is opened); st_mode bits are Graft.Core.PosixMode.
global using FileMode = System.IO.FileMode;
