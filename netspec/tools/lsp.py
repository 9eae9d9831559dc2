"""`netspec lsp`: a language server over stdio, on pygls (the optional ``lsp`` extra).

Diagnostics as you type (every netspec error and warning, shapes included; every independent
mistake at once), hover with a layer's or step's output shape in every instance, parameters and
MACs, and a var's or block argument's value, inlay hints with the shape after each forward step
(the root's and every block's), completion of layer types, arguments and forward names,
go-to-definition for blocks and imported files, the document outline, rename of a layer or block,
and quick fixes for the hints that say what to write.  The analysis lives in
:mod:`netspec.tools.lsp_features`; this module only translates.  When edits queue up, only the
latest text of a document is analysed.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from .._version import __version__
from . import lsp_features as f

try:
    from lsprotocol import types
    from pygls import uris
    from pygls.exceptions import JsonRpcInvalidParams
    from pygls.lsp.server import LanguageServer
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("netspec lsp needs pygls: pip install 'netspec[lsp]'") from exc


def uri_path(uri: str) -> str | None:
    """The file a ``file:`` URI names; None for an untitled buffer."""
    if not uri.startswith("file:"):
        return None
    path: str | None = uris.to_fs_path(uri)
    return path


def path_uri(path: str) -> str:
    return Path(path).resolve().as_uri()


_SEVERITY = {"error": types.DiagnosticSeverity.Error, "warning": types.DiagnosticSeverity.Warning}
_KIND = {"class": types.CompletionItemKind.Class, "module": types.CompletionItemKind.Module,
         "field": types.CompletionItemKind.Field, "variable": types.CompletionItemKind.Variable,
         "function": types.CompletionItemKind.Function, "keyword": types.CompletionItemKind.Keyword}


def _range(r: f.Range) -> types.Range:
    return types.Range(start=types.Position(line=r.start[0], character=r.start[1]),
                       end=types.Position(line=r.end[0], character=r.end[1]))


def _location(loc: f.Location) -> types.Location:
    point = types.Position(line=loc.line, character=0)
    return types.Location(uri=path_uri(loc.path), range=types.Range(start=point, end=point))


_SYMBOL = {"layer": types.SymbolKind.Field, "block": types.SymbolKind.Class, "var": types.SymbolKind.Variable,
           "argument": types.SymbolKind.TypeParameter, "input": types.SymbolKind.Variable,
           "forward": types.SymbolKind.Method}


def _symbol(s: f.Symbol) -> types.DocumentSymbol:
    return types.DocumentSymbol(name=s.name, kind=_SYMBOL[s.kind], range=_range(s.range),
                                selection_range=_range(s.selection), detail=s.detail or None,
                                children=[_symbol(c) for c in s.children] or None)


def _token_data(tokens: list[f.Token]) -> list[int]:
    """LSP's encoding: five numbers a token, its line and start relative to the token before it."""
    data: list[int] = []
    line = start = 0
    for t in tokens:
        start = t.start - start if t.line == line else t.start
        data += [t.line - line, start, t.length, f.TOKEN_TYPES.index(t.type),
                 sum(1 << f.TOKEN_MODIFIERS.index(m) for m in t.modifiers)]
        line, start = t.line, t.start
    return data


def _edits(edits: Any) -> list[types.TextEdit]:
    return [types.TextEdit(range=_range(r), new_text=text) for r, text in edits]


class NetspecServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("netspec", __version__)
        self.documents: dict[str, f.Document] = {}
        self.pending: dict[str, int] = {}  # each document's latest change, by a counter
        self.changes = 0

    def document(self, uri: str) -> f.Document:
        doc = self.documents.get(uri)
        if doc is None:
            doc = self.documents[uri] = f.Document(uri_path(uri))
            doc.update(self.workspace.get_text_document(uri).source)
        return doc

    def check(self, uri: str) -> None:
        doc = self.documents.setdefault(uri, f.Document(uri_path(uri)))
        doc.answer(self.workspace.get_text_document(uri).source, lambda problems: self.publish(uri, problems))

    def publish(self, uri: str, problems: list[f.Problem]) -> None:
        diagnostics = [types.Diagnostic(range=_range(p.range), message=p.message, severity=_SEVERITY[p.severity],
                                        code=p.code, source="netspec") for p in problems]
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics))


def make_server() -> NetspecServer:
    server = NetspecServer()

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: NetspecServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.check(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: NetspecServer, params: types.DidChangeTextDocumentParams) -> None:
        # changes already read while this one waits its turn supersede it: only the latest text is analysed
        uri = params.text_document.uri
        ls.changes += 1
        mine = ls.pending[uri] = ls.changes
        await asyncio.sleep(0)
        if ls.pending.get(uri) == mine:
            ls.check(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: NetspecServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.check(params.text_document.uri)  # an imported file may have changed

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: NetspecServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.documents.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: NetspecServer, params: types.HoverParams) -> types.Hover | None:
        doc = ls.document(params.text_document.uri)
        text = f.hover(doc, (params.position.line, params.position.character))
        if text is None:
            return None
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text))

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
    def inlay_hint(ls: NetspecServer, params: types.InlayHintParams) -> list[types.InlayHint]:
        doc = ls.document(params.text_document.uri)
        first, last = params.range.start.line, params.range.end.line
        return [types.InlayHint(position=types.Position(line=line, character=char), label=label,
                                kind=types.InlayHintKind.Type, padding_left=True)
                for (line, char), label in f.inlay_hints(doc) if first <= line <= last]

    @server.feature(types.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL,
                    types.SemanticTokensLegend(token_types=list(f.TOKEN_TYPES),
                                               token_modifiers=list(f.TOKEN_MODIFIERS)))
    def semantic_tokens(ls: NetspecServer, params: types.SemanticTokensParams) -> types.SemanticTokens:
        return types.SemanticTokens(data=_token_data(f.semantic_tokens(ls.document(params.text_document.uri))))

    @server.feature(types.TEXT_DOCUMENT_COMPLETION,
                    types.CompletionOptions(trigger_characters=[":", " ", "{", ",", "("]))
    def completion(ls: NetspecServer, params: types.CompletionParams) -> types.CompletionList:
        doc = ls.document(params.text_document.uri)
        doc.text = ls.workspace.get_text_document(params.text_document.uri).source
        items = [types.CompletionItem(label=c.label, kind=_KIND.get(c.kind), detail=c.detail or None,
                                      documentation=c.documentation or None, insert_text=c.insert_text)
                 for c in f.completions(doc, (params.position.line, params.position.character))]
        return types.CompletionList(is_incomplete=False, items=items)

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: NetspecServer, params: types.DefinitionParams) -> types.Location | None:
        doc = ls.document(params.text_document.uri)
        loc = f.definition(doc, (params.position.line, params.position.character))
        if loc is None:
            return None
        if not loc.path:  # an untitled buffer's own block
            point = types.Position(line=loc.line, character=0)
            return types.Location(uri=params.text_document.uri, range=types.Range(start=point, end=point))
        return _location(loc)

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def document_symbol(ls: NetspecServer, params: types.DocumentSymbolParams) -> list[types.DocumentSymbol]:
        return [_symbol(s) for s in f.symbols(ls.document(params.text_document.uri))]

    @server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
    def prepare_rename(ls: NetspecServer, params: types.PrepareRenameParams) -> types.Range | None:
        doc = ls.document(params.text_document.uri)
        position = (params.position.line, params.position.character)
        target = f.prepare_rename(doc, position)
        if target is None:
            return None
        found = f.word_at(doc.lines[position[0]], position[1])
        assert found is not None
        return types.Range(start=types.Position(line=position[0], character=found[1]),
                           end=types.Position(line=position[0], character=found[2]))

    @server.feature(types.TEXT_DOCUMENT_RENAME)
    def rename(ls: NetspecServer, params: types.RenameParams) -> types.WorkspaceEdit | None:
        doc = ls.document(params.text_document.uri)
        try:
            edits = f.rename(doc, (params.position.line, params.position.character), params.new_name)
        except f.RenameError as exc:
            raise JsonRpcInvalidParams(str(exc)) from None
        if edits is None:
            return None
        return types.WorkspaceEdit(changes={params.text_document.uri: _edits(edits)})

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                    types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]))
    def code_action(ls: NetspecServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        doc = ls.document(params.text_document.uri)
        where = f.Range((params.range.start.line, params.range.start.character),
                        (params.range.end.line, params.range.end.character))
        return [types.CodeAction(
            title=a.title, kind=types.CodeActionKind.QuickFix,
            diagnostics=[types.Diagnostic(range=_range(a.problem.range), message=a.problem.message,
                                          severity=_SEVERITY[a.problem.severity], code=a.problem.code,
                                          source="netspec")],
            edit=types.WorkspaceEdit(changes={params.text_document.uri: _edits(a.edits)}))
            for a in f.code_actions(doc, where)]

    return server


def serve(**_: Any) -> None:
    """Serve LSP over stdin/stdout until the client says exit."""
    make_server().start_io()
