"""Write a ~100-billion-parameter spec: a deep, wide residual MLP stack over token embeddings.

    tokens [N, T] -> Embedding(vocab, width)
                  -> blocks x (x + Sequential(LayerNorm, Linear(width, 4 width), GELU, Linear(4 width, width)))
                  -> LayerNorm -> Linear(width, vocab)

The defaults (186 blocks, width 8192, vocab 32000) give 100,392,992,000
parameters; ``expected_params`` counts them by plain arithmetic, independently
of netspec, so the count netspec infers can be checked against it.

    python benchmarks/make_huge_spec.py -o /tmp/huge.yaml [--blocks 186] [--width 8192] [--vocab 32000]
"""

from __future__ import annotations

import argparse
import sys

DEFAULTS = {"blocks": 186, "width": 8192, "vocab": 32000, "mult": 4}


def huge_spec(blocks: int = 186, width: int = 8192, vocab: int = 32000, mult: int = 4) -> str:
    lines = [
        "netspec: 1",
        f"name: Huge{blocks}x{width}",
        f"description: a residual MLP stack, {blocks} blocks of width {width} (benchmarks/make_huge_spec.py)",
        "inputs:",
        "  tokens: {shape: [N, T], dtype: int64}",
        "layers:",
        f"  embed: {{type: Embedding, num_embeddings: {vocab}, embedding_dim: {width}}}",
    ]
    for i in range(blocks):
        lines.append(f"  block{i}: [LayerNorm, {{type: Linear, out_features: {mult * width}}}, GELU, "
                     f"{{type: Linear, out_features: {width}}}]")
    lines += [
        "  norm: LayerNorm",
        f"  head: {{type: Linear, out_features: {vocab}}}",
        "forward:",
        "  - x = embed(tokens)",
        *(f"  - x = x + block{i}(x)" for i in range(blocks)),
        "  - return head(norm(x))",
    ]
    return "\n".join(lines) + "\n"


def expected_params(blocks: int = 186, width: int = 8192, vocab: int = 32000, mult: int = 4) -> int:
    """Parameters by arithmetic: LayerNorm 2w; Linear in*out + out; Embedding vocab*w."""
    hidden = mult * width
    block = 2 * width + (width * hidden + hidden) + (hidden * width + width)
    return vocab * width + blocks * block + 2 * width + (width * vocab + vocab)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", help="write here instead of stdout")
    for name, value in DEFAULTS.items():
        parser.add_argument(f"--{name}", type=int, default=value)
    parser.add_argument("--quick", action="store_true", help="a small spec of the same form (for the test suite)")
    args = parser.parse_args()
    sizes = {name: getattr(args, name) for name in DEFAULTS}
    if args.quick:
        sizes = {**sizes, "blocks": 2, "width": 256, "vocab": 1000}
    text = huge_spec(**sizes)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as out:
            out.write(text)
    else:
        sys.stdout.write(text)
    print(f"{expected_params(**sizes):,} parameters", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
