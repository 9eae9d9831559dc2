"""The ``init:`` passes checked against what was built.

A pass is torchvision's re-initialisation loop written as data: ``for m in self.modules(): if isinstance(m,
nn.Conv2d): nn.init.kaiming_normal_(m.weight, ...)``.  Resolve read its rules; here, once every instance is
built and every parameter's shape is known, each rule is checked in each instance of its definition: the
parameter it names exists on some module it reaches, and the initialiser takes that parameter (torch's own
checks: kaiming needs 2 dims, a constant within the dtype).  Where some reached modules lack the parameter (a
Conv2d with ``bias: false``), generated code guards the fill with ``is not None``, as torchvision does.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from typing import Any

from ..errors import Collector, Diagnostic, did_you_mean
from ..frontend.expr import ExprError, evaluate
from ..ops.init import init_problem
from ..ops.weights import possible_params
from . import ir
from .elaborate import Instance


def check_init_passes(instances: Mapping[str, Instance], shapes: Mapping[str, tuple[int, ...]],
                      dtypes: Mapping[str, str], layer_args: Mapping[str, dict[str, Any]],
                      diag: Collector) -> frozenset[int]:
    """Every instance's passes checked; returns the fills (by id) that need an ``is not None`` guard."""
    if not any(instance.definition.init_passes for instance in instances.values()):
        return frozenset()  # most specs have none: no need to type every module of the model
    types = _module_types(instances)
    modules = sorted(types.items())
    paths = [path for path, _ in modules]
    guards: set[int] = set()
    for instance in instances.values():
        for init_pass in instance.definition.init_passes:
            if not condition_holds(init_pass.cond, instance, diag):
                continue
            for rule in init_pass.rules:
                reached = [instance.prefix] if rule.target == ir.SELF else _reached(instance.prefix, rule.target,
                                                                                   modules, paths)
                possible = frozenset().union(*(possible_params(types[m], layer_args.get(m, {})) for m in reached
                                               if m in layer_args))
                for fill in rule.fills:
                    if _check_fill(instance, rule, fill, reached, possible, shapes, dtypes, diag):
                        guards.add(id(fill))
    return frozenset(guards)


def _module_types(instances: Mapping[str, Instance]) -> dict[str, str]:
    """Every built submodule's type by module path: a registry name, "Sequential" or a block's name."""
    types: dict[str, str] = {}
    for instance in instances.values():
        for child, qualified in instance.walk_qualified():
            types[qualified] = child.block if child.type == ir.BLOCK and child.block else (
                child.type)
    return types


def _reached(prefix: str, target: str, modules: list[tuple[str, str]], paths: list[str]) -> list[str]:
    """The modules of type ``target`` below ``prefix`` (its own self.modules(), the module itself excluded)."""
    start = bisect.bisect_left(paths, prefix + "." if prefix else "")
    found = []
    for index in range(start, len(paths)):
        path, kind = modules[index]
        if prefix and not path.startswith(prefix + "."):
            break
        if kind == target:
            found.append(path)
    return found


def condition_holds(cond: ir.Build | bool | None, instance: Instance, diag: Collector) -> bool:
    """An ``if:`` of a pass or a tie in this instance (none: it holds); an expression that fails is reported."""
    if not isinstance(cond, ir.Build):
        return cond is not False
    try:
        return bool(evaluate(cond.expr, instance.env))
    except ExprError as exc:
        diag.add(Diagnostic(exc.code, exc.message, cond.span, cond.path, exc.hint))
        return False


def _check_fill(instance: Instance, rule: ir.InitRule, fill: ir.InitFill, reached: list[str],
                possible: frozenset[str], shapes: Mapping[str, tuple[int, ...]], dtypes: Mapping[str, str],
                diag: Collector) -> bool:
    """One fill checked on every module it reaches; True when some of them lack the parameter (a parameter
    the type can have but none here has, torchvision's ``if m.bias is not None``, fills nothing)."""
    source = instance.definition.source
    keys = [f"{module}.{fill.param}" if module else fill.param for module in reached]
    present = [key for key in keys if key in shapes]
    if reached and not present and fill.param not in possible:
        what = "this module" if rule.target == ir.SELF else f"no {rule.target} here"
        known = sorted(possible | {key[len(module) + 1 if module else 0:] for module in reached for key in shapes
                                   if key.startswith(f"{module}." if module else "")})
        message = (f"'{fill.param}' is not a parameter of {what}" if rule.target == ir.SELF else
                   f"init: {what} has a parameter '{fill.param}'")
        hint = did_you_mean(fill.param, known) or (
            f"its parameters: {', '.join(known[:8])}" if known else "it has no parameters")
        diag.add(Diagnostic("bad-init", message, source.key_span(fill.path), fill.path, hint))
        return False
    try:
        args = {k: evaluate(v.expr, instance.env) if isinstance(v, ir.Build) else v for k, v in fill.args.items()}
    except ExprError as exc:
        diag.add(Diagnostic(exc.code, exc.message, source.key_span(fill.path), fill.path, exc.hint))
        return False
    for key in present:
        problem = init_problem(fill.init, args, shapes[key], dtypes[key])
        if problem is not None:
            code, refusal, advice = problem
            diag.add(Diagnostic(code, f"{key}: {refusal}", source.key_span(fill.path), fill.path, advice))
            return False
    return len(present) < len(keys)


__all__ = ["check_init_passes", "condition_holds"]
