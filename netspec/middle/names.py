"""Every name netspec generates comes from a :class:`Namespace`, and one list says which names generated code
keeps for itself.

As torch.fx's ``_Namespace`` (torch/fx/graph.py): ``create_name(candidate, obj)`` hands out ``candidate`` when it
is free, else ``candidate_2``, ``candidate_3``...; the same ``obj`` gets the same name again.  A namespace refuses
the names it was told are taken, :data:`RESERVED` and, for names a reader writes (``python_names``), Python's
keywords and builtins.

Names enter generated code only through a namespace or after resolve's checks (an identifier, not a keyword, not in
:data:`RESERVED`, not an ``nn.Module`` attribute): user text never reaches it otherwise.  Pure Python: no torch.
"""

from __future__ import annotations

import builtins
import keyword
from collections.abc import Hashable, Iterable

from ..frontend.expr import HELPERS
from ..ops import OPS

# Names the generated module itself uses at top level or inside forward: its imports, the constructor's own
# arguments, the builtins forward calls, the vars table and the module-level helpers (an op's, as corr2d, and
# the build-time language's, as make_divisible).  A spec may not name a layer, parameter, value or argument so
# (resolve), a plugin layer may not be called so (plugins), and dump never picks one for a local.
RESERVED: frozenset[str] = frozenset({
    "self", "torch", "nn", "F", "OrderedDict", "device", "dtype", "super", "NETSPEC_VARS", "getattr", "range",
    "math", *(name for name, op in OPS.items() if op.helper), *HELPERS,
})
# Reserved names a submodule or parameter may still take: generated code only ever reads it as an attribute,
# ``self.self`` (BERT's ``attention.self``), never as a local.
ATTRIBUTE_NAMES_OK: frozenset[str] = frozenset({"self"})
# dump's extension: the input name it gives a module whose forward names none (a Sequential's ``x``) is kept
# for that input, never a local.  Dump also refuses every op name and builtin (its forward calls them bare).
DUMP_RESERVED: frozenset[str] = RESERVED | {"x"}


def is_python_keyword(name: str) -> bool:
    return keyword.iskeyword(name) or keyword.issoftkeyword(name)


# nn.Module's own attributes: a layer or parameter with one of these names would
# replace a method or break registration.  tests/test_resolve.py keeps this list
# in step with the installed torch.
MODULE_ATTRIBUTES = frozenset("""
T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda double dump_patches
eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half ipu load_state_dict
modules mtia named_buffers named_children named_modules named_parameters parameters register_backward_hook
register_buffer register_forward_hook register_forward_pre_hook register_full_backward_hook
register_full_backward_pre_hook register_load_state_dict_post_hook register_load_state_dict_pre_hook
register_module register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
set_extra_state set_submodule share_memory state_dict to to_empty train training type xpu zero_grad
""".split())  # noqa: SIM905 - one word list reads better than 54 quoted strings
# Methods the containers add to nn.Module: a ParameterDict key or a named Sequential
# child with one of these names makes torch refuse the attribute when it is built.
CONTAINER_ATTRIBUTES = {
    "ParameterDict": frozenset({"clear", "copy", "fromkeys", "get", "items", "keys", "pop", "popitem", "setdefault",
                                "update", "values"}),
    "Sequential": frozenset({"append", "extend", "insert", "pop"}),
}


class Namespace:
    """The names of one scope of generated code (a file's classes, a forward's locals), handed out once each.

    ``separator`` joins a candidate and its number (``h_2``; dump's block classes use ``""``: ``Block2``).
    """

    def __init__(self, taken: Iterable[str] = (), reserved: Iterable[str] = (), *, python_names: bool = False,
                 separator: str = "_") -> None:
        self._taken: set[str] = set(taken)
        self._reserved = frozenset(reserved)
        self._python_names = python_names
        self._separator = separator
        self._by_obj: dict[Hashable, str] = {}

    def __contains__(self, name: object) -> bool:
        return name in self._taken

    def free(self, name: str) -> bool:
        """Whether ``name`` may still be handed out."""
        if name in self._taken or name in self._reserved:
            return False
        return not (self._python_names and (is_python_keyword(name) or hasattr(builtins, name)))

    def take(self, name: str) -> None:
        """Mark ``name`` as used without handing it out (a name the scope already has)."""
        self._taken.add(name)

    def create_name(self, candidate: str, obj: Hashable | None = None, *, numbered: bool = False) -> str:
        """A free name made from ``candidate`` (which the caller has checked is an identifier), recorded as taken.

        ``obj``: the thing named; asked again for the same ``obj``, the same name comes back.  ``numbered``:
        start at ``candidate2`` rather than ``candidate`` itself (a made-up candidate such as ``Block``).
        """
        if obj is not None and obj in self._by_obj:
            return self._by_obj[obj]
        k = 2 if numbered else 1
        name = f"{candidate}{self._separator}{k}" if numbered else candidate
        while not self.free(name):
            k += 1
            name = f"{candidate}{self._separator}{k}"
        self._taken.add(name)
        if obj is not None:
            self._by_obj[obj] = name
        return name


__all__ = ["ATTRIBUTE_NAMES_OK", "CONTAINER_ATTRIBUTES", "DUMP_RESERVED", "MODULE_ATTRIBUTES", "RESERVED", "Namespace",
           "is_python_keyword"]
