"""The VS Code extension (editors/vscode): its TextMate grammar colours .brief files the way the brief
parser reads them, its manifest and language configuration hold together, and
scripts/package_vscode.sh builds a .vsix that holds what the extension needs.

The grammar is run as VS Code runs it (vscode-textmate + vscode-oniguruma under node, one process for
every file: editors/vscode/test/tokenize.js). What each token should be is not listed by hand: the
parser's AST says where every comment, string, hex colour, number, name and keyword is, and each
token is checked against that.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import pytest

from brief.lang import ast
from brief.lang.parser import grammar_text, parse
from brief.lang.scope import placeholders

REPO = Path(__file__).resolve().parent.parent
EXT = REPO / "editors" / "vscode"
CORPUS = sorted(  # every brief that parses, not the `.brief/` cache folders beside them
    p for p in [*REPO.glob("examples/**/*.brief"), *REPO.glob("tests/design_v2/**/*.brief"),
                *REPO.glob("tests/golden/**/*.brief"), *REPO.glob("tests/fmt_corpus/*.brief"),
                *EXT.glob("test/fixtures/*.brief")]
    if p.is_file() and ".brief" not in p.parts)
TRICKY = EXT / "test" / "fixtures" / "tricky.brief"
BLOCK_KEYWORDS = {"brief", "brand", "component", "edit", "matrix", "output", "use", "check"}
DECLARING = (ast.Brand, ast.Brief, ast.Component, ast.Edit, ast.Matrix, ast.Output)
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")
# One xdist worker runs this whole module: `npm ci` (the fixture) and the packaging script both
# rewrite editors/vscode/node_modules, and two workers doing so at once break each other.
pytestmark = pytest.mark.xdist_group("vscode")


def _need_node() -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not on PATH: the TextMate grammar is tested under node")


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """editors/vscode/node_modules, installed from package-lock.json (`npm ci`) when missing."""
    _need_node()
    modules = EXT / "node_modules"
    if not all((modules / pkg / "package.json").is_file() for pkg in ("vscode-textmate", "vscode-oniguruma")):
        run = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=EXT, capture_output=True,
                             text=True, timeout=600)
        assert run.returncode == 0, f"npm ci failed in {EXT}:\n{run.stderr[-3000:]}"
    return modules


@pytest.fixture(scope="module")
def tokens(node_modules) -> dict[Path, list[dict]]:
    """Every corpus file's tokens: {line, startIndex, endIndex, text, scopes}, lines from 0."""
    run = subprocess.run(["node", "test/tokenize.js", *map(str, CORPUS)], cwd=EXT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    return {Path(f): toks for f, toks in json.loads(run.stdout).items()}


# ── what the parser says each piece of text is ────────────────────────────────


@dataclasses.dataclass(frozen=True)
class Piece:
    kind: str  # comment, string, colour, number, keyword, declared, field, value, name
    line: int  # from 0
    start: int  # columns, in code points
    end: int
    text: str


def pieces(text: str) -> list[Piece]:
    """Each comment, string, hex colour, number, name and keyword of a file, from its AST."""
    module = parse(text, "corpus.brief")
    out: list[Piece] = []

    def add(kind: str, start: int, end: int) -> None:
        line = text.count("\n", 0, start)
        first = text.rfind("\n", 0, start) + 1
        assert "\n" not in text[start:end], (kind, text[start:end])
        out.append(Piece(kind, line, start - first, end - first, text[start:end]))

    def keyword_of(node) -> None:
        word = WORD.match(text, node.span.start)
        assert word, node
        if word.group() != node.keyword:  # a check's span starts at `check`, then its kind
            assert word.group() == "check", (word.group(), node.keyword)
            kind = WORD.search(text, word.end())
            assert kind and kind.group() == node.keyword, (kind, node.keyword)
            add("keyword", kind.start(), kind.end())
        add("keyword", word.start(), word.end())

    def walk(node, parent=None, field: str = "") -> None:
        if isinstance(node, tuple):
            for item in node:
                walk(item, parent, field)
            return
        if not dataclasses.is_dataclass(node) or isinstance(node, ast.Span):
            return
        leaf = {ast.Str: "string", ast.HexColor: "colour", ast.Num: "number"}.get(type(node))
        if leaf:
            add(leaf, node.span.start, node.span.end)
            return
        if isinstance(node, ast.Name):
            assert text[node.span.start:node.span.end] == node.value
            kind = ("declared" if isinstance(parent, DECLARING) and field == "name" else
                    "field" if isinstance(parent, ast.MatrixField) and field == "name" else
                    "value" if isinstance(parent, ast.MatrixValue) and field == "name" else "name")
            add(kind, node.span.start, node.span.end)
            return
        if getattr(type(node), "keyword", None):
            keyword_of(node)
        for f in dataclasses.fields(node):
            walk(getattr(node, f.name), node, f.name)

    walk(module.items)
    for comment in module.comments:
        add("comment", comment.span.start, comment.span.end)
    return out


def covering(toks: list[dict], piece: Piece) -> tuple[list[dict], str | None]:
    """The tokens of a piece, and why they do not fit it: a token that runs past its edges must
    only run into whitespace (an unscoped word merges with the spaces around it)."""
    inside = [t for t in toks if t["line"] == piece.line and t["endIndex"] > piece.start
              and t["startIndex"] < piece.end]
    if not inside:
        return inside, "no token"
    for t in inside:
        before = t["text"][:max(0, piece.start - t["startIndex"])]
        after = t["text"][max(0, piece.end - t["startIndex"]):]
        if (before + after).strip():
            return inside, f"the token {t['text']!r} crosses its edge"
    return inside, None


def has(token: dict, prefix: str) -> bool:
    return any(s.startswith(prefix) for s in token["scopes"])


def expect(piece: Piece, token: dict) -> str | None:
    """Why a token of a piece is coloured wrongly, or None."""
    kind = piece.kind
    if has(token, "invalid"):
        return "invalid"
    if kind == "comment":
        return None if has(token, "comment.line.number-sign.brief") else "not a comment"
    if kind == "string":
        return None if has(token, "string.quoted.double.brief") else "not a string"
    if kind == "colour":
        if has(token, "comment"):
            return "a colour coloured as a comment"
        return None if has(token, "constant.other.color.rgb-value.hex.brief") else "not a colour"
    if kind == "number":
        return None if has(token, "constant.numeric.brief") else "not a number"
    if kind == "keyword":
        want = "keyword.control" if piece.text in BLOCK_KEYWORDS else "keyword.other.brief"
        return None if has(token, want) else f"not {want}"
    if has(token, "keyword") or has(token, "comment") or has(token, "string"):
        return "a name coloured as a keyword, comment or string"
    want = {"declared": "entity.name.", "field": "variable.other.property.brief",
            "value": "variable.other.enummember.brief"}.get(kind)
    if want:
        return None if has(token, want) else f"not {want}"
    return None if any(has(token, p) for p in ("variable.", "constant.", "entity.")) else "no name scope"


# ── the grammar ───────────────────────────────────────────────────────────────


def test_corpus_covers_the_examples():
    names = {p.relative_to(REPO).as_posix() for p in CORPUS}
    assert {"examples/campaign/launch.brief", "examples/campaign/runner.brief", "examples/brands/acme.brief",
            "examples/brands/stride.brief", "tests/design_v2/campaign/launch.brief"} <= names


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_token_is_coloured_as_the_parser_reads_it(path, tokens):
    text = path.read_text(encoding="utf-8")
    toks = tokens[path]
    problems, covered = [], set()
    for piece in pieces(text):
        inside, misfit = covering(toks, piece)
        covered.update(id(t) for t in inside)
        where = f"{piece.line + 1}:{piece.start + 1} {piece.kind} {piece.text!r}"
        if misfit:
            problems.append(f"{where}: {misfit}")
        problems += [f"{where}: {why}: {t['text']!r} {t['scopes']}" for t in inside if (why := expect(piece, t))]
        if piece.kind == "string" and not misfit:  # `{axis.field}` placeholders get their own scope, `{{ }}` do not
            marks = [False] * (piece.end - piece.start)
            for name, offset, size in placeholders(piece.text[1:-1]):
                assert name is not None, f"a stray brace in {piece.text}"
                marks[1 + offset:1 + offset + size] = [True] * size
            for t in inside:
                want = marks[t["startIndex"] - piece.start]
                if has(t, "variable.other.placeholder.brief") != want or len(set(
                        marks[t["startIndex"] - piece.start:t["endIndex"] - piece.start])) != 1:
                    problems.append(f"{piece.line + 1}: placeholder scope of {t['text']!r} in {piece.text}")
    # the rest (keywords of the syntax such as `x`, `within`, `to`; braces; the `.` of AXIS.FIELD)
    syntax = ("keyword.", "support.constant.", "punctuation.")
    problems += [f"{t['line'] + 1}:{t['startIndex'] + 1} {t['text']!r}: {t['scopes']}" for t in toks
                 if id(t) not in covered and t["text"].strip()
                 and (has(t, "invalid") or not any(has(t, p) for p in syntax))]
    assert not problems, "\n".join(problems)


def test_every_keyword_of_the_language_is_coloured(tokens):
    """Each keyword of grammar.lark appears in the corpus, and is coloured as a keyword there."""
    reference = re.sub(r"//[^\n]*", "", grammar_text())
    keywords = set(re.findall(r'"([a-z]+)"', reference))
    assert {"brief", "component", "recolor", "x", "within"} <= keywords
    seen = {t["text"] for toks in tokens.values() for t in toks
            if has(t, "keyword.") or has(t, "support.constant.")}
    assert not keywords - seen, f"keywords never coloured in the corpus: {sorted(keywords - seen)}"


def _line(toks: list[dict], text: str, source: str) -> list[dict]:
    (number,) = [i for i, line in enumerate(source.splitlines()) if line.strip() == text]
    return [t for t in toks if t["line"] == number and t["text"].strip()]


def _scopes(line: list[dict]) -> list[tuple[str, str]]:
    """(text, innermost meaningful scope) for each token of a line."""
    return [(t["text"], t["scopes"][-1]) for t in line]


def test_tricky_lines(tokens):
    source, toks = TRICKY.read_text(encoding="utf-8"), tokens[TRICKY]

    line = _line(toks, "color ink #1A1A1A  # a colour, then a comment on the same line", source)
    assert [t["text"] for t in line[:4]] == ["color", "ink", "#", "1A1A1A"]
    assert all(has(t, "constant.other.color") and not has(t, "comment") for t in line[2:4])
    assert all(has(t, "comment.line") for t in line[4:]) and line[-1]["text"].endswith("same line")

    line = _line(toks, "color red #C8102E# a comment straight after a colour", source)
    assert has(line[3], "constant.other.color") and line[3]["text"] == "C8102E"
    assert all(has(t, "comment.line") for t in line[4:])

    line = _line(toks, "z 5 #5 is a comment here: no colour is expected after a number", source)
    assert all(has(t, "comment.line") for t in line[2:]) and not any(has(t, "constant.other.color") for t in line)

    assert _scopes(_line(toks, "color sku.color within 2", source)) == [
        ("color", "keyword.other.brief"), ("sku", "variable.other.object.brief"),
        (".", "punctuation.accessor.brief"), ("color", "variable.other.property.brief"),
        ("within", "keyword.other.brief"), ("2", "constant.numeric.brief")]

    line = _scopes(_line(toks, "region anchor top-right 160px x 80px margin 48px", source))
    assert line[:3] == [("region", "keyword.other.brief"), ("anchor", "support.constant.brief"),
                        ("top-right", "constant.language.brief")]
    assert ("px", "keyword.other.unit.brief") in line and ("x", "support.constant.brief") in line

    line = _line(toks, "format jpeg quality 90 max 500KB", source)
    assert _scopes(line)[:2] == [("format", "keyword.other.brief"), ("jpeg", "constant.language.brief")]
    assert [t["text"] for t in line if has(t, "constant.numeric")] == ["90", "500", "KB"]

    line = _line(toks, 'asset "{{literal}} and {sku.name}"', source)
    assert [t["text"] for t in line if has(t, "constant.character.escape")] == ["{{", "}}"]
    assert "".join(t["text"] for t in line if has(t, "variable.other.placeholder")) == "{sku.name}"

    line = _line(toks, "output story 1080 x 1920 fit {", source)
    assert _scopes(line)[-2] == ("fit", "constant.language.brief")  # the mode, not the setting `fit`
    line = _line(toks, "component size {", source)
    assert _scopes(line)[1] == ("size", "entity.name.function.brief")


# ── the rest of the extension ─────────────────────────────────────────────────


def test_manifest_and_language_configuration_hold_together():
    manifest = json.loads((EXT / "package.json").read_text(encoding="utf-8"))
    (language,) = manifest["contributes"]["languages"]
    (grammar,) = manifest["contributes"]["grammars"]
    assert language["id"] == grammar["language"] == "brief" and language["extensions"] == [".brief"]
    assert json.loads((EXT / grammar["path"]).read_text(encoding="utf-8"))["scopeName"] == grammar["scopeName"]
    config = json.loads((EXT / language["configuration"]).read_text(encoding="utf-8"))
    assert config["comments"]["lineComment"] == "#"
    word = re.compile(config["wordPattern"])  # the pattern is plain enough to read the same in Python
    assert word.findall("anchor top-right 24px color sku.color #C8102E") == [
        "anchor", "top-right", "24px", "color", "sku", "color", "#C8102E"]
    settings = manifest["contributes"]["configuration"]["properties"]
    assert settings["brief.server.path"]["default"] == "brief" and settings["brief.server.args"]["default"] == []
    assert manifest["activationEvents"] == ["onLanguage:brief"] and manifest["main"] == "./extension.js"
    pinned = manifest["devDependencies"].values()
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in pinned), "devDependencies are pinned exactly"


def test_extension_parses():
    _need_node()
    run = subprocess.run(["node", "--check", "extension.js"], cwd=EXT, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr


@pytest.mark.slow
def test_package_script_builds_a_complete_vsix(tmp_path):
    _need_node()
    out = tmp_path / "brief.vsix"
    began = time.monotonic()
    script = str(REPO / "scripts" / "package_vscode.sh")
    run = subprocess.run(["bash", script, "--reuse-modules", str(out)], capture_output=True,
                         text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    print(f"packaging took {time.monotonic() - began:.1f} s")
    names = set(zipfile.ZipFile(out).namelist())
    assert {"extension/package.json", "extension/extension.js", "extension/syntaxes/brief.tmLanguage.json",
            "extension/language-configuration.json", "extension/LICENSE.txt",
            "extension/node_modules/vscode-languageclient/package.json"} <= names
    assert not any(n.startswith(("extension/test/", "extension/node_modules/vscode-textmate/",
                                 "extension/node_modules/@vscode/")) for n in names)
