"""The middle: the program of module definitions and what is known of it (ir, resolve, elaborate, shapes, counts).
Torch-free."""
