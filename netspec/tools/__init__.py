"""What people run: the command line, the language server, export, dump, reports."""
