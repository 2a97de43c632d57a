"""The language server end to end: `brief lsp` in a subprocess, driven over stdio by pytest-lsp's
client (which also checks every answer against the client capabilities it announced).

One server for the module (start-up is paid once); each test opens its own documents in a project
with a brand file, a font and an asset, as a user's would be.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types as lsp
from PIL import Image
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.asyncio(loop_scope="module")

BRAND = """brand stride {
  color ink   #14161A
  color chalk #F4F1EA
  color volt  #D4FF3A
  font display "../fonts/LiberationSans-Bold.ttf"
}
"""

BRIEF = """use "../brands/stride.brief"

brief launch {
  canvas 800 x 600
  brand stride

  matrix lang {
    en "English" { headline "Run further" }
  }

  component backdrop {
    prompt "studio floor"
    region full
  }
  component product {
    asset "../assets/product.png"
    region box 25% 35% 75% 90%
    color volt within 2
    z 10
  }
  component headline {
    text "{lang.headline}"
    font display
    color ink
    region box 6% 6% 70% 22%
    z 30
  }
  edit tone {
    recolor product to volt
  }
  check contrast headline
}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lsp-project")
    (root / "brief.toml").write_text("")
    for folder in ("brands", "campaign", "assets", "fonts"):
        (root / folder).mkdir()
    shutil.copy(REPO / "tests" / "fonts" / "LiberationSans-Bold.ttf", root / "fonts")
    Image.new("RGBA", (64, 64), (212, 255, 58, 255)).save(root / "assets" / "product.png")
    (root / "brands" / "stride.brief").write_text(BRAND)
    (root / "campaign" / "launch.brief").write_text(BRIEF)
    return root


@pytest_lsp.fixture(config=ClientServerConfig(server_command=[sys.executable, "-m", "brief.cli", "lsp"]),
                    scope="module")
async def client(lsp_client: LanguageClient, project: Path):
    # every publication kept by (uri, version): several can arrive in one read, and a waiter must not
    # miss one (pytest-lsp's wait_for_notification resolves on the first only)
    lsp_client.published = {}
    features = lsp_client.protocol.fm.features
    default = features[lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS]

    def record(params: lsp.PublishDiagnosticsParams) -> None:
        default(params)
        lsp_client.published[(params.uri, params.version)] = list(params.diagnostics)

    features[lsp.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = record
    registered = lsp_client.registrations = []

    @lsp_client.feature(lsp.CLIENT_REGISTER_CAPABILITY)
    def register(params: lsp.RegistrationParams) -> None:  # VS Code's answer: accepted
        registered.extend(params.registrations)
    await lsp_client.initialize_session(lsp.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"), root_uri=project.as_uri(),
        workspace_folders=[lsp.WorkspaceFolder(project.as_uri(), "project")]))
    yield
    await lsp_client.shutdown_session()


_versions: dict[str, int] = {}


async def open_doc(client: LanguageClient, path: Path, text: str | None = None) -> str:
    """Open (or reopen) a document and wait for its diagnostics."""
    uri = path.as_uri()
    text = path.read_text() if text is None else text
    if uri in _versions:
        client.text_document_did_close(lsp.DidCloseTextDocumentParams(text_document=lsp.TextDocumentIdentifier(uri=uri)))
    _versions[uri] = 1
    for stale in [k for k in client.published if k[0] == uri]:
        del client.published[stale]
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(
        text_document=lsp.TextDocumentItem(uri=uri, language_id="brief", version=1, text=text)))
    await wait_diagnostics(client, uri, 1)
    return uri


async def wait_diagnostics(client: LanguageClient, uri: str, version: int) -> list[lsp.Diagnostic]:
    """The diagnostics the server publishes for this version of the document."""
    for _ in range(2000):
        if (uri, version) in client.published:
            return client.published.pop((uri, version))
        await asyncio.sleep(0.005)
    raise AssertionError(f"no diagnostics for {uri} version {version}")


async def change(client: LanguageClient, uri: str, text: str) -> list[lsp.Diagnostic]:
    _versions[uri] += 1
    client.text_document_did_change(lsp.DidChangeTextDocumentParams(
        text_document=lsp.VersionedTextDocumentIdentifier(uri=uri, version=_versions[uri]),
        content_changes=[lsp.TextDocumentContentChangeWholeDocument(text=text)]))
    return list(await wait_diagnostics(client, uri, _versions[uri]))


def position(text: str, needle: str, after: bool = True) -> lsp.Position:
    """The position just after (or at) the first `needle` in `text`."""
    at = text.index(needle) + (len(needle) if after else 0)
    line = text.count("\n", 0, at)
    return lsp.Position(line, at - (text.rfind("\n", 0, at) + 1))


async def completions(client: LanguageClient, uri: str, pos: lsp.Position) -> set[str]:
    result = await client.text_document_completion_async(
        lsp.CompletionParams(text_document=lsp.TextDocumentIdentifier(uri=uri), position=pos))
    items = result.items if isinstance(result, lsp.CompletionList) else result
    return {i.label for i in items}


async def test_diagnostics_appear_with_the_cli_codes_and_clear_when_fixed(client, project):
    path = project / "campaign" / "launch.brief"
    broken = BRIEF.replace("color volt within 2", "color vlot within 2").replace("check contrast headline",
                                                                                "check contrast hedline")
    uri = await open_doc(client, path, broken)
    diags = client.diagnostics[uri]
    by_code = {d.code: d for d in diags}
    assert set(by_code) == {"E305", "E310"}, [d.message for d in diags]
    colour = by_code["E305"]
    start = position(broken, "vlot", after=False)
    assert colour.range == lsp.Range(start, lsp.Position(start.line, start.character + len("vlot")))
    assert "Did you mean `volt`?" in colour.message and colour.source == "brief"
    assert "Did you mean `headline`?" in by_code["E310"].message
    assert all(d.severity == lsp.DiagnosticSeverity.Error for d in diags)
    cleared = await change(client, uri, BRIEF)
    assert cleared == []


async def test_a_duplicate_points_at_its_first_definition(client, project):
    path = project / "campaign" / "launch.brief"
    text = BRIEF.replace("  edit tone {", "  component backdrop {\n    prompt \"again\"\n  }\n  edit tone {")
    uri = await open_doc(client, path, text)
    dup = next(d for d in client.diagnostics[uri] if d.code == "E301")
    assert dup.range.start.line == text[: text.rindex("component backdrop")].count("\n")
    (related,) = dup.related_information
    assert related.location.uri == uri
    first = lsp.Position(text[: text.index("component backdrop")].count("\n"), len("  component "))
    assert related.location.range.start == first and "first defined here" in related.message


async def test_completion_follows_the_grammar_and_the_names_in_scope(client, project):
    path = project / "campaign" / "launch.brief"
    uri = await open_doc(client, path)
    # brand colours, from the used brand file, after `recolor product to `
    text = BRIEF.replace("recolor product to volt", "recolor product to ")
    await change(client, uri, text)
    assert {"ink", "chalk", "volt"} <= await completions(client, uri, position(text, "recolor product to "))
    # anchor positions after `anchor `
    text = BRIEF.replace("region box 6% 6% 70% 22%", "region anchor ")
    await change(client, uri, text)
    labels = await completions(client, uri, position(text, "region anchor "))
    assert {"top-left", "top-right", "center", "bottom-right"} <= labels and "box" not in labels
    # inside a component: its settings, not edit keywords
    text = BRIEF.replace("    region full\n", "    region full\n    \n")
    await change(client, uri, text)
    labels = await completions(client, uri, position(text, "region full\n    "))
    assert {"prompt", "asset", "text", "region", "z", "opacity", "font"} <= labels
    assert not labels & {"inpaint", "remove", "recolor", "harmonize", "canvas", "output"}
    # after `check contrast `: text components only
    text = BRIEF.replace("check contrast headline", "check contrast ")
    await change(client, uri, text)
    assert await completions(client, uri, position(text, "check contrast ")) == {"headline"}
    # after `AXIS.` where a colour goes: the axis's fields that hold colours (not its text fields)
    text = BRIEF.replace('{ headline "Run further" }', '{ headline "Run further" tint volt }') \
        .replace("color ink\n", "color lang.\n")
    await change(client, uri, text)
    assert await completions(client, uri, position(text, "color lang.")) == {"tint"}


async def test_definition_of_a_colour_from_a_used_brand_file(client, project):
    path = project / "campaign" / "launch.brief"
    uri = await open_doc(client, path)
    result = await client.text_document_definition_async(lsp.DefinitionParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), position=position(BRIEF, "recolor product to vo")))
    (loc,) = result
    assert loc.uri == (project / "brands" / "stride.brief").as_uri()
    assert loc.range.start == lsp.Position(BRAND[: BRAND.index("volt")].count("\n"), len("  color "))


async def test_references_and_rename_of_a_component(client, project):
    path = project / "campaign" / "launch.brief"
    uri = await open_doc(client, path)
    at = position(BRIEF, "component prod")
    refs = await client.text_document_references_async(lsp.ReferenceParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), position=at,
        context=lsp.ReferenceContext(include_declaration=True)))
    assert len(refs) == 2  # the definition and `recolor product`
    edit = await client.text_document_rename_async(lsp.RenameParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), position=at, new_name="shoe"))
    edits = edit.changes[uri]
    assert len(edits) == 2
    with pytest.raises(Exception, match="already has a component or edit `headline`"):
        await client.text_document_rename_async(lsp.RenameParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri), position=at, new_name="headline"))
    renamed = apply(BRIEF, edits)
    assert "component shoe {" in renamed and "recolor shoe to volt" in renamed and "product" not in \
        renamed.replace("product.png", "")
    assert await change(client, uri, renamed) == []


async def test_rename_a_colour_across_the_brand_file_and_its_users(client, project):
    brief_uri = await open_doc(client, project / "campaign" / "launch.brief")
    edit = await client.text_document_rename_async(lsp.RenameParams(
        text_document=lsp.TextDocumentIdentifier(uri=brief_uri), position=position(BRIEF, "color vo"), new_name="lime"))
    brand_uri = (project / "brands" / "stride.brief").as_uri()
    assert set(edit.changes) == {brief_uri, brand_uri}
    assert "color lime  #D4FF3A" in apply(BRAND, edit.changes[brand_uri])
    renamed = apply(BRIEF, edit.changes[brief_uri])
    assert "color lime within 2" in renamed and "recolor product to lime" in renamed


async def test_format_document_and_range(client, project):
    path = project / "campaign" / "launch.brief"
    messy = BRIEF.replace("  canvas 800 x 600", "canvas    800 x 600").replace("    z 30", "        z   30")
    uri = await open_doc(client, path, messy)
    edits = await client.text_document_formatting_async(lsp.DocumentFormattingParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri),
        options=lsp.FormattingOptions(tab_size=2, insert_spaces=True)))
    assert apply(messy, edits) == BRIEF
    only_z = await client.text_document_range_formatting_async(lsp.DocumentRangeFormattingParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri),
        range=lsp.Range(start=position(messy, "        z   30", after=False), end=position(messy, "        z   30")),
        options=lsp.FormattingOptions(tab_size=2, insert_spaces=True)))
    partly = apply(messy, only_z)
    assert "    z 30\n" in partly and "canvas    800 x 600" in partly


async def test_did_you_mean_code_action(client, project):
    path = project / "campaign" / "launch.brief"
    broken = BRIEF.replace("recolor product to volt", "recolor prodcut to volt")
    uri = await open_doc(client, path, broken)
    (diag,) = client.diagnostics[uri]
    actions = await client.text_document_code_action_async(lsp.CodeActionParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), range=diag.range,
        context=lsp.CodeActionContext(diagnostics=[diag])))
    (action,) = actions
    assert action.title == "Change `prodcut` to `product`" and action.kind == lsp.CodeActionKind.QuickFix
    fixed = apply(broken, action.edit.changes[uri])
    assert fixed == BRIEF
    assert await change(client, uri, fixed) == []


async def test_hover_colour_component_and_keyword(client, project):
    uri = await open_doc(client, project / "campaign" / "launch.brief")

    async def hover_at(needle: str) -> str:
        h = await client.text_document_hover_async(lsp.HoverParams(
            text_document=lsp.TextDocumentIdentifier(uri=uri), position=position(BRIEF, needle)))
        return h.contents.value

    colour = await hover_at("recolor product to vo")
    assert "#D4FF3A" in colour and "CIELAB L* 94.2, a* -37.7, b* 81.9" in colour
    component = await hover_at("component prod")
    assert "x 200–600, y 210–540" in component and "placed asset" in component
    keyword = await hover_at("    z")
    assert "Stacking order" in keyword and "Default: 0" in keyword
    region = await hover_at("region bo")
    assert "x 200–600, y 210–540" in region


async def test_outline_and_semantic_tokens(client, project):
    uri = await open_doc(client, project / "campaign" / "launch.brief")
    symbols = await client.text_document_document_symbol_async(lsp.DocumentSymbolParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri)))
    (brief,) = symbols
    assert brief.name == "launch"
    assert [c.name for c in brief.children] == ["lang", "backdrop", "product", "headline", "tone",
                                                "contrast headline"]
    tokens = await client.text_document_semantic_tokens_full_async(lsp.SemanticTokensParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri)))
    decoded = decode(BRIEF, tokens.data)
    assert decoded["volt"] == {"variable"} and decoded["product"] == {"class"}
    assert decoded["component"] == {"keyword"} and decoded['"studio floor"'] == {"string"}
    assert decoded["{lang.headline}"] == {"parameter"} and decoded["25%"] == {"number"}


def decode(text: str, data: list[int]) -> dict[str, set[str]]:
    from brief.lsp.tokens import TOKEN_TYPES

    lines = text.split("\n")
    out: dict[str, set[str]] = {}
    line = char = 0
    for i in range(0, len(data), 5):
        dl, dc, length, kind, _ = data[i:i + 5]
        line += dl
        char = dc if dl else char + dc
        out.setdefault(lines[line][char:char + length], set()).add(TOKEN_TYPES[kind])
    return out


def apply(text: str, edits: list[lsp.TextEdit]) -> str:
    lines = text.split("\n")
    starts = [0]
    for ln in lines[:-1]:
        starts.append(starts[-1] + len(ln) + 1)

    def off(p: lsp.Position) -> int:
        return starts[p.line] + p.character if p.line < len(starts) else len(text)

    for e in sorted(edits, key=lambda e: (e.range.start.line, e.range.start.character), reverse=True):
        text = text[: off(e.range.start)] + e.new_text + text[off(e.range.end):]
    return text


FAILING = BRIEF.replace("launch", "sample").replace("color volt within 2", "color ink within 1") \
    .replace("  edit tone {\n    recolor product to volt\n  }\n", "").replace("check contrast headline",
                                                                           "check color product")


async def test_a_failing_check_color_of_the_last_build_offers_its_recolor_fix(client, project):
    """A real build (the CLI, draft backend) whose `check color` fails; the saved brief then shows the
    failure at its `check` line, the code action inserts the printed `recolor` edit, and hover on the
    component tells its node key and when it was rendered."""
    import subprocess

    path = project / "campaign" / "sample.brief"
    path.write_text(FAILING)
    uri = await open_doc(client, path)
    assert not [d for d in client.diagnostics[uri] if d.code == "build-check"]  # not built yet
    assert {w["globPattern"] for r in client.registrations for w in r.register_options["watchers"]} \
        >= {"**/manifest.json"}  # the server asked to hear of builds
    built = subprocess.run([sys.executable, "-m", "brief.cli", "build", str(path), "--out", str(project / "out")],
                           capture_output=True, text=True)
    assert built.returncode == 1, built.stderr  # the brand check fails
    manifest = project / "out" / "sample" / "manifest.json"
    client.workspace_did_change_watched_files(lsp.DidChangeWatchedFilesParams(
        changes=[lsp.FileEvent(uri=manifest.as_uri(), type=lsp.FileChangeType.Created)]))
    (diag,) = [d for d in await wait_diagnostics(client, uri, 1) if d.code == "build-check"]
    assert diag.range.start == position(FAILING, "check color product", after=False)
    assert "`check color product` failed in sample" in diag.message
    assert "edit fix_product { recolor product to ink }" in diag.message
    actions = await client.text_document_code_action_async(lsp.CodeActionParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), range=diag.range,
        context=lsp.CodeActionContext(diagnostics=[diag])))
    (action,) = actions
    fixed = apply(FAILING, action.edit.changes[uri])
    assert "  edit fix_product { recolor product to ink }\n  check color product" in fixed
    hover = await client.text_document_hover_async(lsp.HoverParams(
        text_document=lsp.TextDocumentIdentifier(uri=uri), position=position(FAILING, "component prod")))
    assert "last build:" in hover.contents.value and "(load_asset), rendered 20" in hover.contents.value
    # an unsaved change: the build no longer describes the text, and its result is not shown
    changed = await change(client, uri, FAILING.replace("z 10", "z 11"))
    assert [d for d in changed if d.code == "build-check"] == []


async def test_a_use_cycle_names_the_other_file(client, project):
    a, b = project / "campaign" / "a.brief", project / "brands" / "b.brief"
    a.write_text('use "../brands/b.brief"\nbrand one {\n  color ink #000000\n}\n')
    b.write_text('use "../campaign/a.brief"\nbrand two {\n  color ink #FFFFFF\n}\n')
    uri = await open_doc(client, a)
    (cycle,) = [d for d in client.diagnostics[uri] if d.code == "E011"]
    assert "`use` cycle" in cycle.message
    assert [r.location.uri for r in cycle.related_information] == [b.as_uri()] or \
        b.as_uri() in {r.location.uri for r in cycle.related_information}


async def test_editing_the_brand_file_updates_the_briefs_that_use_it(client, project):
    brief_uri = await open_doc(client, project / "campaign" / "launch.brief")
    brand = project / "brands" / "stride.brief"
    brand_uri = await open_doc(client, brand)
    await wait_diagnostics(client, brief_uri, 1)  # opening the brand file analyses its users again
    without_volt = BRAND.replace("  color volt  #D4FF3A\n", "")
    await change(client, brand_uri, without_volt)  # unsaved: the brief reads the buffer
    diags = await wait_diagnostics(client, brief_uri, 1)
    assert {d.code for d in diags} == {"E305"} and all("volt" in d.message for d in diags)
    await change(client, brand_uri, BRAND)
    assert list(await wait_diagnostics(client, brief_uri, 1)) == []


async def test_fixing_a_broken_brand_file_clears_the_briefs_diagnostics(client, project):
    brief_uri = await open_doc(client, project / "campaign" / "launch.brief")
    brand_uri = await open_doc(client, project / "brands" / "stride.brief")
    await wait_diagnostics(client, brief_uri, 1)  # opening the brand file analyses its users again
    await change(client, brand_uri, BRAND.replace("brand stride {", "brand stride {{"))
    assert {d.code for d in await wait_diagnostics(client, brief_uri, 1)} >= {"E303"}  # the brand is gone
    await change(client, brand_uri, BRAND)
    assert list(await wait_diagnostics(client, brief_uri, 1)) == []


async def test_an_untitled_document_is_answered_at_its_own_uri(client, project):
    uri = "untitled:Untitled-1"
    client.text_document_did_open(lsp.DidOpenTextDocumentParams(text_document=lsp.TextDocumentItem(
        uri=uri, language_id="brief", version=1, text="brief x {\n  canvs 10 x 10\n}\n")))
    (diag,) = await wait_diagnostics(client, uri, 1)
    assert diag.code == "E105" and "Did you mean `canvas`?" in diag.message
