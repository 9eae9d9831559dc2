"""Diagnostics as data for tools: netspec's own JSON and SARIF 2.1.0.

SARIF is what code-scanning services (GitHub, GitLab, Azure DevOps, IDE viewers)
read to put an error on the line of the file it concerns.  Nothing here prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath
from typing import Any
from urllib.parse import quote

from .._version import __version__
from ..errors import Diagnostic

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


@dataclass
class SpecReport:
    """One spec's outcome: valid or not, its model when valid, and every diagnostic."""

    file: str
    diagnostics: list[Diagnostic] = field(default_factory=list)
    name: str | None = None
    total_params: int | None = None

    @property
    def valid(self) -> bool:
        return not any(d.severity == "error" for d in self.diagnostics)


def diagnostic_json(d: Diagnostic) -> dict[str, Any]:
    """One diagnostic as plain data; ``line`` and ``column`` are 1-based, null for the file as a whole."""
    located = d.span is not None and d.span.line > 0
    return {
        "file": d.span.file if d.span else None,
        "line": d.span.line if located and d.span else None,
        "column": d.span.col if located and d.span else None,
        "severity": d.severity,
        "code": d.code,
        "path": d.dotted_path,
        "message": d.message,
        "hint": d.hint,
    }


def reports_json(reports: Sequence[SpecReport]) -> dict[str, Any]:
    """``netspec validate --format json``: every spec, valid or not, with its diagnostics."""
    specs = [{"file": r.file, "valid": r.valid, "name": r.name, "total_params": r.total_params,
              "diagnostics": [diagnostic_json(d) for d in r.diagnostics]} for r in reports]
    every = [d for r in reports for d in r.diagnostics]
    return {"netspec": __version__, "valid": all(r.valid for r in reports), "specs": specs,
            "errors": sum(d.severity == "error" for d in every),
            "warnings": sum(d.severity == "warning" for d in every)}


def sarif(reports: Sequence[SpecReport]) -> dict[str, Any]:
    """``netspec validate --format sarif``: a SARIF 2.1.0 log with one run and one result per diagnostic."""
    every = [d for r in reports for d in r.diagnostics]
    rule_ids = sorted({d.code for d in every})
    # rule ids are the stable error codes docs/spec.md lists under "Error codes"
    driver = {"name": "netspec", "version": __version__, "rules": [{"id": code} for code in rule_ids]}
    results = [_sarif_result(d, rule_ids.index(d.code)) for d in every]
    artifacts = [{"location": {"uri": file_uri(r.file)}} for r in reports]
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0",
            "runs": [{"tool": {"driver": driver}, "artifacts": artifacts, "results": results,
                      "columnKind": "unicodeCodePoints"}]}


def _sarif_result(d: Diagnostic, rule_index: int) -> dict[str, Any]:
    subject = f"{d.dotted_path}: " if d.path else ""
    text = f"{subject}{d.message}" + (f" (hint: {d.hint})" if d.hint else "")
    location: dict[str, Any] = {"artifactLocation": {"uri": file_uri(d.span.file if d.span else "<spec>")}}
    if d.span and d.span.line > 0:  # line 0 is the file as a whole: no region
        location["region"] = {"startLine": d.span.line, "startColumn": max(d.span.col, 1)}
    properties: dict[str, Any] = {"path": d.dotted_path}
    if d.hint:
        properties["hint"] = d.hint
    return {"ruleId": d.code, "ruleIndex": rule_index, "level": d.severity, "message": {"text": text},
            "locations": [{"physicalLocation": location}], "properties": properties}


def file_uri(file: str) -> str:
    """A file name as a SARIF URI reference: relative paths stay relative (services resolve
    them against the checkout), absolute ones become ``file://`` URIs, and ``<stdin>`` is escaped."""
    path = PurePath(file)
    if path.is_absolute():
        return path.as_uri()
    return quote(path.as_posix(), safe="/-._~")


__all__ = ["SpecReport", "diagnostic_json", "file_uri", "reports_json", "sarif"]
