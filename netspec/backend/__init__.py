"""The back ends: the program -> Python source (codegen), modules (build: the only torch import), pictures (graph)."""
