"""netspec.dims.Sym: a symbolic dim's text read back as an expression, printed exactly as it was written."""

from __future__ import annotations

from fractions import Fraction

import pytest

import netspec
from netspec.dims import Sym, Unbound


@pytest.mark.parametrize("text", ["N", "H-4", "(H-2)//2+1", "min(ceil((H+1)/2)+1, ceil(H/2))", "floor((H+2)*2.0)",
                                  "N*64*(H-2)", "max(A, B)", "s_0123456789", "(H-2)"])
def test_the_printed_form_is_the_text(text: str) -> None:
    assert str(Sym.parse(text)) == text


def test_every_symbolic_dim_of_the_shipped_specs_reads_back_unchanged() -> None:
    seen = 0
    for name in netspec.list_specs():
        for row in netspec.summary(name).rows:
            for dim in (*row.output_shape, row.macs, row.activation_bytes):
                if isinstance(dim, str):
                    assert str(Sym.parse(dim)) == dim
                    seen += 1
    assert seen


def test_free_symbols_value_and_exact_value() -> None:
    sym = Sym.parse("(H-2)//2+max(W, 3)*N")
    assert sym.free_symbols == {"H", "N", "W"}
    assert sym.value({"H": 9, "W": 2, "N": 2}) == 9
    assert sym.exact({"H": 9, "W": 2, "N": 2}) == Fraction(9)
    assert sym.exact({"H": 9}) is None
    with pytest.raises(Unbound):
        sym.value({"H": 9})


def test_terms_and_factors_keep_their_texts() -> None:
    sym = Sym.parse("N*64*(H-2) + W*3 + 5")
    assert [str(t) for t in sym.terms()] == ["N*64*(H-2)", "W*3", "5"]
    assert [str(f) for f in sym.terms()[0].factors()] == ["N", "64", "H-2"]  # a part: its own span


@pytest.mark.parametrize("text", ["__import__('os')", "H.real", "H**2", "[H][0]", "f(H)", "floor(H, x=1)", "H +",
                                  "True", "'a'"])
def test_anything_but_dim_arithmetic_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Sym.parse(text)
