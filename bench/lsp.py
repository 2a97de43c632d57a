"""Language-server latency: `brief lsp` driven over stdio by pygls's client, as an editor drives it.

A ~500-line brief (bench/compile.py's generated catalogue page, 100 components) is opened; then, N
times each, measured from the client's side:

    diagnostics: a one-character change (a z value) → its publishDiagnostics (target ≤ 200 ms,
                 debounce included), and a change that makes an error → the diagnostic naming it;
    completion:  a completion request inside a component and after `recolor cN to ` (target ≤ 100 ms);
    hover:       a hover on a component name;
    semantic tokens: the whole document's (an editor asks after every change; no target in the
                 issue, 200 ms here).

Prints the median and the worst of each, and the targets beside them.

Run: .venv/bin/python bench/lsp.py [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types as lsp
from pygls.lsp.client import LanguageClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from compile import generate, project  # noqa: E402  (the benchmark's shared generator)

TARGETS = {"diagnostics": 0.200, "diagnostics (error)": 0.200, "completion": 0.100, "completion (names)": 0.100,
           "hover": 0.100, "semantic tokens": 0.200}


async def run(repeat: int) -> dict[str, list[float]]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        project(folder)
        text = generate(100).replace('  edit tidy {', '  edit tone {\n    recolor c5 to red\n  }\n  edit tidy {')
        path = folder / "page.brief"
        path.write_text(text)
        uri = path.as_uri()
        lines = text.count("\n")
        client = LanguageClient("brief-bench", "1")
        published: asyncio.Queue = asyncio.Queue()

        @client.feature(lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def on_diagnostics(params: lsp.PublishDiagnosticsParams) -> None:
            published.put_nowait((time.perf_counter(), params))

        await client.start_io(sys.executable, "-m", "brief.cli", "lsp")
        await client.initialize_async(lsp.InitializeParams(capabilities=lsp.ClientCapabilities(),
                                                           root_uri=folder.as_uri()))
        client.initialized(lsp.InitializedParams())
        client.text_document_did_open(lsp.DidOpenTextDocumentParams(
            text_document=lsp.TextDocumentItem(uri=uri, language_id="brief", version=1, text=text)))

        async def diagnostics_for(version: int) -> tuple[float, list]:
            while True:
                when, params = await published.get()
                if params.uri == uri and params.version == version:
                    return when, list(params.diagnostics)

        await diagnostics_for(1)
        times: dict[str, list[float]] = {k: [] for k in TARGETS}
        version = 1
        for i in range(repeat):
            for name, new_text, want_error in (
                ("diagnostics", text.replace("    z 5\n", f"    z {6 + i % 3}\n", 1), False),
                ("diagnostics (error)", text.replace("recolor c5 to red", "recolor c5 to rde"), True),
            ):
                version += 1
                start = time.perf_counter()
                client.text_document_did_change(lsp.DidChangeTextDocumentParams(
                    text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=new_text)]))
                when, diags = await diagnostics_for(version)
                assert bool(diags) == want_error, diags
                times[name].append(when - start)
            version += 1
            client.text_document_did_change(lsp.DidChangeTextDocumentParams(
                text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)]))
            await diagnostics_for(version)
            where = text.index("  component c7 {\n") + len("  component c7 {\n")
            line = text.count("\n", 0, where)
            recolor_at = text.index("recolor c5 to ") + len("recolor c5 to ")
            for name, pos in (("completion", lsp.Position(line, 4)),
                              ("completion (names)", lsp.Position(text.count("\n", 0, recolor_at),
                                                                  recolor_at - text.rfind("\n", 0, recolor_at) - 1))):
                start = time.perf_counter()
                result = await client.text_document_completion_async(lsp.CompletionParams(
                    text_document=lsp.TextDocumentIdentifier(uri=uri), position=pos))
                times[name].append(time.perf_counter() - start)
                labels = {item.label for item in (result.items if isinstance(result, lsp.CompletionList) else result)}
                assert ("region" in labels) if name == "completion" else ("red" in labels), labels
            start = time.perf_counter()
            await client.text_document_hover_async(lsp.HoverParams(
                text_document=lsp.TextDocumentIdentifier(uri=uri), position=lsp.Position(line - 1, 13)))
            times["hover"].append(time.perf_counter() - start)
            start = time.perf_counter()
            tokens = await client.text_document_semantic_tokens_full_async(lsp.SemanticTokensParams(
                text_document=lsp.TextDocumentIdentifier(uri=uri)))
            times["semantic tokens"].append(time.perf_counter() - start)
            assert tokens is not None and len(tokens.data) > 5 * lines
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
        print(f"brief lsp over stdio, a {lines}-line brief (100 components), {repeat} runs each")
        return times


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    times = asyncio.run(run(args.repeat))
    print(f"{'request':<22} {'median ms':>10} {'worst ms':>9} {'target ms':>10}  ")
    ok = True
    for name, values in times.items():
        med, worst = statistics.median(values) * 1000, max(values) * 1000
        met = med <= TARGETS[name] * 1000
        ok &= met
        print(f"{name:<22} {med:>10.1f} {worst:>9.1f} {TARGETS[name] * 1000:>10.0f}  {'✓' if met else 'missed'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
