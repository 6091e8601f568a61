global using FileMode = System.IO.FileMode;
