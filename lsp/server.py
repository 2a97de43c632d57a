"""`brief lsp`: the language server, on pygls, over stdio.

Owns the protocol wiring and the state of a session: the open documents (their unsaved text is
what every analysis reads, for the file and for the files it uses), one analysis per open
document, re-run after a change once typing pauses (`DEBOUNCE_S`), and the diagnostics published
for every file those analyses read (a brand file's problems show in the brand file, whichever
brief found them). Requests are answered from the latest analysis; completion parses the current
text itself, so it follows the line being typed.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.server import LanguageServer

from brief.lang.diagnostics import DiagnosticError
from brief.lang.load import load

from . import actions
from .analysis import Analysis, analyze, to_lsp
from .completion import complete
from .hover import hover
from .index import Index
from .positions import Lines, path_to_uri, uri_to_path
from .tokens import TOKEN_MODIFIERS, TOKEN_TYPES, semantic_tokens

DEBOUNCE_S = 0.05
MAX_WORKSPACE_FILES = 2000
log = logging.getLogger("brief.lsp")


class BriefServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("brief", _version())
        self.analyses: dict[str, Analysis] = {}
        self.good: dict[str, Analysis] = {}  # the last analysis whose text parsed, per document
        self.published: set[str] = set()
        self.pending: asyncio.TimerHandle | None = None
        self.out_dirs: list[Path] = []
        self.roots: list[Path] = []

    # ── documents ──
    def text(self, uri: str) -> str:
        return self.workspace.get_text_document(uri).source

    def overlays(self) -> dict[str, str]:
        return {os.path.realpath(uri_to_path(uri)): doc.source for uri, doc in self.workspace.text_documents.items()}

    def saved(self, uri: str) -> bool:
        try:
            return Path(uri_to_path(uri)).read_text(encoding="utf-8") == self.text(uri)
        except (OSError, UnicodeDecodeError):
            return False

    def out_dirs_for(self, path: str) -> list[Path]:
        if self.out_dirs:
            return self.out_dirs
        dirs = [root / "out" for root in self.roots]
        here = Path(path).parent
        for folder in [here, *here.parents][:6]:  # a project's out/, beside its brief.toml or .git
            if (folder / "brief.toml").exists() or (folder / ".git").exists():
                dirs.append(folder / "out")
                break
        return dirs

    def analyze_all(self) -> None:
        overlays = self.overlays()
        by_uri: dict[str, dict[tuple, lsp.Diagnostic]] = {}
        for uri in list(self.workspace.text_documents):
            path = uri_to_path(uri)
            try:
                result = analyze(path, self.text(uri), overlays, self.out_dirs_for(path), self.saved(uri))
            except Exception:  # an internal error: say so in the log, keep serving
                log.exception("analysis of %s failed", uri)
                self.window_log_message(lsp.LogMessageParams(
                    type=lsp.MessageType.Error, message=f"brief: internal error analysing {uri}; see the log"))
                continue
            self.analyses[uri] = result
            if result.index is not None:
                self.good[uri] = result
            for target, diags in to_lsp(result).items():
                bucket = by_uri.setdefault(target, {})
                for d in diags:
                    bucket.setdefault((d.range.start.line, d.range.start.character, d.code, d.message), d)
        for uri in self.published - set(by_uri):
            self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(uri=uri, diagnostics=[]))
        docs = self.workspace.text_documents
        for uri, diags in by_uri.items():
            version = docs[uri].version if uri in docs else None  # which text these are for
            self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
                uri=uri, diagnostics=list(diags.values()), version=version))
        self.published = set(by_uri)

    def schedule(self, delay: float = DEBOUNCE_S) -> None:
        if self.pending is not None:
            self.pending.cancel()
        loop = asyncio.get_running_loop()
        self.pending = loop.call_later(delay, self._run)

    def _run(self) -> None:
        self.pending = None
        self.analyze_all()

    def current(self, uri: str) -> Analysis | None:
        """The analysis of the text as it is now (run now if a change is still pending)."""
        if self.pending is not None:
            self.pending.cancel()
            self._run()
        return self.analyses.get(uri)

    def names(self, uri: str) -> Analysis | None:
        """The latest analysis with an index: the names in scope, while the text does not parse."""
        a = self.current(uri)
        return a if a is not None and a.index is not None else self.good.get(uri)

    # ── the workspace: every program that reads a file, for references and renames ──
    def workspace_indexes(self, uri: str) -> list[tuple[Analysis, Index]]:
        overlays = self.overlays()
        seen_paths = set()
        found: list[tuple[Analysis, Index]] = []
        for a in self.analyses.values():
            if a.index is not None:
                found.append((a, a.index))
                seen_paths.add(os.path.realpath(a.path))
        count = 0
        for root in self.roots:
            for path in sorted(root.rglob("*.brief")):
                if any(part.startswith(".") or part == "node_modules" for part in path.relative_to(root).parts[:-1]):
                    continue
                count += 1
                if count > MAX_WORKSPACE_FILES:
                    return found
                real = os.path.realpath(path)
                if real in seen_paths:
                    continue
                seen_paths.add(real)
                try:
                    program = load(str(path.absolute()), overlays=overlays)
                except DiagnosticError:
                    continue
                a = Analysis(str(path.absolute()), program.sources.get(str(path.absolute()), ""), program)
                found.append((a, Index(program)))
        return found


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("brieflang")
    except Exception:  # not installed as a distribution (a checkout on sys.path)
        return "0"


def make_server() -> BriefServer:
    server = BriefServer()

    @server.feature(lsp.INITIALIZED)
    def initialized(ls: BriefServer, params: lsp.InitializedParams) -> None:
        folders = ls.workspace.folders.values() if ls.workspace.folders else []
        ls.roots = [Path(uri_to_path(f.uri)) for f in folders]
        if not ls.roots and ls.workspace.root_path:
            ls.roots = [Path(ls.workspace.root_path)]
        options = getattr(ls, "init_options", None) or {}
        ls.out_dirs = [Path(p) for p in options.get("outDirs", []) if isinstance(p, str)]

    @server.feature(lsp.INITIALIZE)
    def initialize(ls: BriefServer, params: lsp.InitializeParams) -> None:
        ls.init_options = params.initialization_options if isinstance(params.initialization_options, dict) else {}

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: BriefServer, params: lsp.DidOpenTextDocumentParams) -> None:
        ls.schedule(0)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: BriefServer, params: lsp.DidChangeTextDocumentParams) -> None:
        ls.schedule()

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: BriefServer, params: lsp.DidSaveTextDocumentParams) -> None:
        ls.schedule(0)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: BriefServer, params: lsp.DidCloseTextDocumentParams) -> None:
        ls.analyses.pop(params.text_document.uri, None)
        ls.good.pop(params.text_document.uri, None)
        ls.schedule(0)

    @server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def watched(ls: BriefServer, params: lsp.DidChangeWatchedFilesParams) -> None:
        ls.schedule()

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[" ", "."]))
    def completion(ls: BriefServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        uri = params.text_document.uri
        text = ls.text(uri)
        offset = Lines(text).offset(params.position)
        analysis = ls.good.get(uri) or ls.analyses.get(uri)
        return lsp.CompletionList(is_incomplete=False, items=complete(analysis, text, offset))

    @server.feature(lsp.TEXT_DOCUMENT_HOVER)
    def on_hover(ls: BriefServer, params: lsp.HoverParams) -> lsp.Hover | None:
        uri = params.text_document.uri
        text = ls.text(uri)
        a = ls.current(uri)
        return hover(a if a is not None and a.text == text else None, text, Lines(text).offset(params.position))

    def occurrence(ls: BriefServer, uri: str, position: lsp.Position):
        a = ls.names(uri)
        if a is None or a.index is None:
            return None, None
        lines = a.lines_of(a.path)
        return a, a.index.at(a.path, lines.offset(position)) if lines else None

    def location(a: Analysis, span) -> lsp.Location | None:
        lines = a.lines_of(span.file)
        return lsp.Location(path_to_uri(span.file), lines.span_range(span)) if lines else None

    @server.feature(lsp.TEXT_DOCUMENT_DEFINITION)
    def definition(ls: BriefServer, params: lsp.DefinitionParams) -> list[lsp.Location] | None:
        a, occ = occurrence(ls, params.text_document.uri, params.position)
        if occ is None:
            return None
        if occ.kind == "file":
            return [lsp.Location(path_to_uri(a.index.shown.get(occ.symbol[1], occ.symbol[1])),
                                 lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0)))]
        found = [loc for d in a.index.definitions(occ.symbol) if (loc := location(a, d.span))]
        return found or None

    def everywhere(ls: BriefServer, uri: str, symbol) -> list[tuple[Analysis, object]]:
        out, seen = [], set()
        for a, index in ls.workspace_indexes(uri):
            for occ in index.occurrences(symbol):
                key = (os.path.realpath(occ.span.file), occ.span.start)
                if key not in seen:
                    seen.add(key)
                    out.append((a, occ))
        return out

    @server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
    def references(ls: BriefServer, params: lsp.ReferenceParams) -> list[lsp.Location] | None:
        a, occ = occurrence(ls, params.text_document.uri, params.position)
        if occ is None:
            return None
        found = []
        for owner, o in everywhere(ls, params.text_document.uri, occ.symbol):
            if (params.context.include_declaration or not o.definition) and (loc := location(owner, o.span)):
                found.append(loc)
        return found

    @server.feature(lsp.TEXT_DOCUMENT_PREPARE_RENAME)
    def prepare_rename(ls: BriefServer, params: lsp.PrepareRenameParams):
        a, occ = occurrence(ls, params.text_document.uri, params.position)
        if occ is None or occ.kind == "file":
            return None
        return a.lines_of(a.path).span_range(occ.span)

    @server.feature(lsp.TEXT_DOCUMENT_RENAME)
    def rename(ls: BriefServer, params: lsp.RenameParams) -> lsp.WorkspaceEdit | None:
        a, occ = occurrence(ls, params.text_document.uri, params.position)
        if occ is None or occ.kind == "file":
            return None
        if not _NAME_RE.fullmatch(params.new_name):
            raise ValueError(f"`{params.new_name}` is not a name: letters, digits, `_` and `-`, "
                             "not starting with a digit")
        found = everywhere(ls, params.text_document.uri, occ.symbol)
        owners = {os.path.realpath(o.span.file): owner for owner, o in found}
        return actions.rename_edits([o for _, o in found], params.new_name,
                                    lambda f: owners[os.path.realpath(f)].lines_of(f))

    @server.feature(lsp.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    def document_symbols(ls: BriefServer, params: lsp.DocumentSymbolParams) -> list[lsp.DocumentSymbol]:
        from .symbols import outline

        a = ls.names(params.text_document.uri)
        return outline(a) if a is not None else []

    @server.feature(lsp.TEXT_DOCUMENT_FORMATTING)
    def formatting(ls: BriefServer, params: lsp.DocumentFormattingParams) -> list[lsp.TextEdit] | None:
        uri = params.text_document.uri
        return actions.format_document(ls.text(uri), uri_to_path(uri))

    @server.feature(lsp.TEXT_DOCUMENT_RANGE_FORMATTING)
    def range_formatting(ls: BriefServer, params: lsp.DocumentRangeFormattingParams) -> list[lsp.TextEdit] | None:
        uri = params.text_document.uri
        return actions.format_range(ls.text(uri), uri_to_path(uri), params.range)

    @server.feature(lsp.TEXT_DOCUMENT_CODE_ACTION,
                    lsp.CodeActionOptions(code_action_kinds=[lsp.CodeActionKind.QuickFix]))
    def code_action(ls: BriefServer, params: lsp.CodeActionParams) -> list[lsp.CodeAction]:
        a = ls.current(params.text_document.uri)
        return actions.code_actions(a, params.range) if a is not None else []

    @server.feature(lsp.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL,
                    lsp.SemanticTokensLegend(token_types=TOKEN_TYPES, token_modifiers=TOKEN_MODIFIERS))
    def tokens_full(ls: BriefServer, params: lsp.SemanticTokensParams) -> lsp.SemanticTokens:
        uri = params.text_document.uri
        return lsp.SemanticTokens(data=semantic_tokens(ls.current(uri), ls.text(uri)))

    return server


_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="brief lsp: %(message)s")
    make_server().start_io()
    return 0
