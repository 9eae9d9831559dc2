"""The front end: spec text -> checked data (source, files, shipped, expand, expr, schema). Torch-free."""
