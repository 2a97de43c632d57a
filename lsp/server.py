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
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer

from . import actions
from .analysis import Analysis, analyze, to_lsp
from .completion import complete
from .hover import hover
from .positions import Lines, path_to_uri, uri_to_path
from .tokens import TOKEN_MODIFIERS, TOKEN_TYPES, semantic_tokens
from .workspace import Workspace, rename_conflict

DEBOUNCE_S = 0.05
log = logging.getLogger("brief.lsp")


class BriefServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("brief", _version())
        self.analyses: dict[str, Analysis] = {}
        self.good: dict[str, Analysis] = {}  # the last analysis whose text parsed, per document
        self.published: dict[str, list[lsp.Diagnostic]] = {}  # what each file was last told
        self.diagnostics_of: dict[str, dict[str, list[lsp.Diagnostic]]] = {}  # per open document, per file
        self.dirty: set[str] | None = set()  # documents changed since the last analysis (None: any)
        self.pending: asyncio.TimerHandle | None = None
        self.out_dirs: list[Path] = []
        self.roots: list[Path] = []
        self.workspace_index = Workspace()

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

    def affected(self, changed: set[str] | None) -> list[str]:
        """The open documents to analyse again: those changed, and those whose last analysis read a
        changed file (a brief using an edited brand file); all of them when `changed` is None."""
        docs = list(self.workspace.text_documents)
        if changed is None:
            return docs
        paths = {os.path.realpath(uri_to_path(u)) for u in changed}
        out = []
        for uri in docs:
            a = self.analyses.get(uri)
            if uri in changed or a is None or paths & a.reads():
                out.append(uri)
        return out

    def analyze_open(self, changed: set[str] | None = None) -> None:
        """Analyse the affected documents and publish, for every file, the union of what the
        analyses of the open documents found in it."""
        overlays = self.overlays()
        docs = self.workspace.text_documents
        for uri in list(self.diagnostics_of):
            if uri not in docs:
                del self.diagnostics_of[uri]
        analysed = self.affected(changed)
        for uri in analysed:
            path = uri_to_path(uri)
            try:
                result = analyze(path, self.text(uri), overlays, self.out_dirs_for(path), self.saved(uri), uri)
                self.diagnostics_of[uri] = to_lsp(result)
            except Exception:  # an internal error: say so in the log, keep serving
                log.exception("analysis of %s failed", uri)
                self.window_log_message(lsp.LogMessageParams(
                    type=lsp.MessageType.Error, message=f"brief: internal error analysing {uri}; see the log"))
                continue
            self.analyses[uri] = result
            if result.program is not None:
                self.good[uri] = result
        by_uri: dict[str, dict[tuple, lsp.Diagnostic]] = {}
        for found in self.diagnostics_of.values():
            for target, diags in found.items():
                bucket = by_uri.setdefault(target, {})
                for d in diags:
                    bucket.setdefault((d.range.start.line, d.range.start.character, d.code, d.message), d)
        for uri in set(self.published) | set(by_uri):
            diags = list(by_uri.get(uri, {}).values())
            if uri not in analysed and self.published.get(uri) == diags:
                continue  # unchanged: say nothing
            version = docs[uri].version if uri in docs else None  # which text these are for
            self.text_document_publish_diagnostics(lsp.PublishDiagnosticsParams(
                uri=uri, diagnostics=diags, version=version))
        self.published = {uri: list(d.values()) for uri, d in by_uri.items()}

    def schedule(self, uri: str | None, delay: float = DEBOUNCE_S) -> None:
        """Analyse after `delay` of quiet: `uri` changed (None: anything may have, e.g. on disk)."""
        if uri is None:
            self.dirty = None
        elif self.dirty is not None:
            self.dirty.add(uri)
        if self.pending is not None:
            self.pending.cancel()
        self.pending = asyncio.get_running_loop().call_later(delay, self._run)

    def _run(self) -> None:
        self.pending = None
        changed, self.dirty = self.dirty, set()
        self.analyze_open(changed)

    def current(self, uri: str) -> Analysis | None:
        """The analysis of the text as it is now (run now if a change is still pending)."""
        if self.pending is not None:
            self.pending.cancel()
            self._run()
        return self.analyses.get(uri)

    def names(self, uri: str) -> Analysis | None:
        """The latest analysis with an index: the names in scope, while the text does not parse."""
        a = self.current(uri)
        return a if a is not None and a.program is not None else self.good.get(uri) or a


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("brieflang")
    except Exception:  # not installed as a distribution (a checkout on sys.path)
        return "0"


def make_server() -> BriefServer:
    server = BriefServer()

    @server.feature(lsp.INITIALIZED)
    async def initialized(ls: BriefServer, params: lsp.InitializedParams) -> None:
        folders = ls.workspace.folders.values() if ls.workspace.folders else []
        ls.roots = [Path(uri_to_path(f.uri)) for f in folders]
        if not ls.roots and ls.workspace.root_path:
            ls.roots = [Path(ls.workspace.root_path)]
        ls.workspace_index.roots = ls.roots
        options = getattr(ls, "init_options", None) or {}
        ls.out_dirs = [Path(p) for p in options.get("outDirs", []) if isinstance(p, str)]
        watched = ls.client_capabilities.workspace and ls.client_capabilities.workspace.did_change_watched_files
        if watched and watched.dynamic_registration:  # a build's results, and briefs changed on disk
            try:
                await ls.client_register_capability_async(lsp.RegistrationParams(registrations=[lsp.Registration(
                    id="brief-files", method=lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                    register_options=lsp.DidChangeWatchedFilesRegistrationOptions(watchers=[
                        lsp.FileSystemWatcher(glob_pattern="**/*.brief"),
                        lsp.FileSystemWatcher(glob_pattern="**/manifest.json")]))]))
            except Exception as exc:  # the client said it could, then refused: work without it
                log.warning("the client refused to watch files: %s", exc)

    @server.feature(lsp.INITIALIZE)
    def initialize(ls: BriefServer, params: lsp.InitializeParams) -> None:
        ls.init_options = params.initialization_options if isinstance(params.initialization_options, dict) else {}

    @server.feature(lsp.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: BriefServer, params: lsp.DidOpenTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, 0)

    @server.feature(lsp.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: BriefServer, params: lsp.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri)

    @server.feature(lsp.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: BriefServer, params: lsp.DidSaveTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, 0)  # a build's results may apply again

    @server.feature(lsp.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: BriefServer, params: lsp.DidCloseTextDocumentParams) -> None:
        ls.analyses.pop(params.text_document.uri, None)
        ls.good.pop(params.text_document.uri, None)
        ls.schedule(params.text_document.uri, 0)  # its users read it from disk again

    @server.feature(lsp.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def watched(ls: BriefServer, params: lsp.DidChangeWatchedFilesParams) -> None:
        ls.schedule(None)

    @server.feature(lsp.TEXT_DOCUMENT_COMPLETION, lsp.CompletionOptions(trigger_characters=[" ", "."]))
    def completion(ls: BriefServer, params: lsp.CompletionParams) -> lsp.CompletionList:
        uri = params.text_document.uri
        text = ls.text(uri)
        offset = Lines(text).offset(params.position)
        latest = ls.analyses.get(uri)  # while the line is broken, the text above it (`partial`) holds the
        analysis = latest if latest is not None and latest.loaded is not None else ls.good.get(uri) or latest
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

    def everywhere(ls: BriefServer, symbol):
        found, skipped = ls.workspace_index.occurrences(symbol, list(ls.analyses.values()), ls.overlays())
        if skipped:
            shown = ", ".join(os.path.relpath(p) for p in skipped[:3]) + (" …" if len(skipped) > 3 else "")
            ls.window_show_message(lsp.ShowMessageParams(
                type=lsp.MessageType.Warning,
                message=f"brief: {len(skipped)} brief(s) in the workspace do not parse and were not searched: {shown}"))
        return found

    @server.feature(lsp.TEXT_DOCUMENT_REFERENCES)
    def references(ls: BriefServer, params: lsp.ReferenceParams) -> list[lsp.Location] | None:
        a, occ = occurrence(ls, params.text_document.uri, params.position)
        if occ is None:
            return None
        found = []
        for owner, o in everywhere(ls, occ.symbol):
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
            raise JsonRpcException(f"`{params.new_name}` is not a name: letters, digits, `_` and `-`, "
                                   "not starting with a digit", lsp.LSPErrorCodes.RequestFailed)
        conflict = rename_conflict(a, occ, params.new_name)
        if conflict:
            raise JsonRpcException(f"cannot rename to `{params.new_name}`: {conflict}", lsp.LSPErrorCodes.RequestFailed)
        found = everywhere(ls, occ.symbol)
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
