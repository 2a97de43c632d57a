"""Fuzzing the front end: seeded mutations of the example and golden briefs (byte flips, tokens
deleted, duplicated or swapped, unicode, huge and odd numbers, NUL bytes, CRLF, a BOM, invalid
UTF-8, deep nesting, truncation) run through `check`, `fmt` and `compile` the way the CLI runs
them. No exception but `DiagnosticError` may escape; whenever a mutated text parses, its formatted
text parses to the same meaning, formats to itself, and compiles (when it checks) to the same node
ids. Seeded and of a fixed size, so a failure names a case that reproduces. What it found has a
minimal regression test of its own beside the code's other tests (test_fmt.py: comments inside a
setting written over several lines; test_check.py: a path too long for the system; test_parser.py
and test_fmt.py: numbers no float holds).
"""

from __future__ import annotations

import random
import re
import shutil
from pathlib import Path

import pytest

from brief.lang.check import check_program, diagnose
from brief.lang.compile import compile_program
from brief.lang.diagnostics import DiagnosticError, render_text
from brief.lang.fmt import format_module
from brief.lang.load import load, read_source
from brief.lang.parser import parse
from conftest import EXAMPLES, REPO
from test_fmt import shape

CASES = 1000  # about 8 s on two busy cores
SEED = 20240610
GOLDEN = REPO / "tests" / "golden"

TOKEN = re.compile(r'"(?:[^"\\\n]|\\.)*"|#[^\n]*|[^\s"#]+|\s+|.', re.DOTALL)
NUMBER = re.compile(r"(?<![\w#.])[+-]?(?:\d+\.?\d*|\.\d+)(?:px|%)?")
ODD_NUMBERS = ["9" * 400, "-" + "9" * 400, "0." + "0" * 400 + "1", "1" + "0" * 20, "999999999999999.99", "1e5",
               "0x10", "1_000", "-0", "+.5", "00", "0", "-1", "100%", "0px", "1.5", "65536", "4294967296", "1e-05"]
CHARS = list("{}\"'#%.-+x\\ \t\n\r0123456789azAZ_") + ["é", "日本", "🌸", "\u2028", "\u200b", "\ufeff", "\x85",
                                                      "\u0301", "\x1b", "\x0c", "\x7f", "\U0010ffff"]
# lines that are well formed where they land but mean something odd: block opener → lines
SNIPPETS = {
    r"component \S+ \{": [
        "region around sky 10px", "region around logo 0px", "region around product 100%", "context none",
        "z -100000", "z 100000", "region box 0% 0% 0% 0%", "region box 100% 100% 0% 0%", "region full",
        "region anchor center 0px x 0px", "region anchor bottom-right 100% x 100% margin 50%",
        'region mask "assets/logo.png"', 'region mask "../assets/runner.png"', 'prompt "{season} {nope} {"',
        'prompt "{{}}"', 'prompt ""', 'negative "{season}"', 'asset "../../etc/passwd"', 'asset "assets"',
        'asset "fuzz.brief"', 'asset "../assets/runner.png"', "color red within 30", "color nope within 1",
        "opacity 0%", "feather 1024px", "strength 0.0001", "steps 200", "seed 4294967295", "fit cover",
        f'asset "{"a" * 300}.png"', f'region mask "{"d/" * 2100}m.png"'],
    r"brief \S+ \{": [
        "check minsize logo 0px x 0px", "check minsize logo 1% x 1", "check clearspace sky", "check color kite",
        "check color product", "check safezone 50%", "check palette", "check clearspace nope 10",
        "matrix m { }", 'matrix m { a "{m}" b "{{m}}" }', 'matrix season { winter "snow" }',
        "output o 1 x 1 crop", "output o 16384 x 16384 fit", "output square 10 x 10 outpaint", "canvas 1 x 1",
        "canvas 16384 x 4096", "edit e { }", "component c { }", 'component c { asset "assets/product.png" prompt "x" }',
        'component sky { prompt "again" }', "edit tone { recolor sky to #FFF }", "brand acme", "brand nope",
        'backend diffusers ""', "backend draft", 'backend diffusers "models/tiny" revision "x"', "seed 0", "steps 1"],
    r"edit \S+ \{": [
        "recolor sky to #FFF", "recolor product to nope", "harmonize nope band 4", "harmonize product band 100%",
        "inpaint around product 24px", "remove full", 'remove mask "assets/product.png"', 'prompt "x"',
        "remove around tidy 4px", "inpaint anchor top 10% x 10%"],
    r"brand \S+ \{": ["color red #abc", "color red #GGG", 'logo "fuzz.brief"', "clearspace 10", "safezone 0px",
                       "safezone 50%", 'logo "../../x.png"'],
    r"^": ['use "fuzz.brief"', 'use "../brands/acme.brief"', 'use "brands/acme.brief"', 'use "/etc/passwd"',
          'use "acme.brief"', "brand acme { color red #FF0000 }", 'brief extra { component c { prompt "x" } }',
          f'use "{"u" * 300}.brief"', 'use "assets/product.png"', 'use "../assets/runner.png"', 'use "assets"',
          'use "brief.toml"', 'use "."'],
}
NESTS = ["brief a {", "{", "component c {", "brief a { component c {", "edit e { remove around c ", "}"]


def _tokens(text: str) -> list[str]:
    return TOKEN.findall(text)


def _solid(tokens: list[str]) -> list[int]:
    """Indices of the tokens that are not whitespace (appending one to an empty list if need be)."""
    if not tokens:
        tokens.append("")
    return [i for i, t in enumerate(tokens) if not t.isspace()] or [0]


def flip_char(rng, text):
    i = rng.randrange(len(text) + 1)
    return text[:i] + rng.choice(CHARS) + text[i + 1:]


def delete_token(rng, text):
    tokens = _tokens(text)
    del tokens[rng.choice(_solid(tokens))]
    return "".join(tokens)


def duplicate_token(rng, text):
    tokens = _tokens(text)
    i = rng.choice(_solid(tokens))
    tokens.insert(i, tokens[i] + " ")
    return "".join(tokens)


def swap_tokens(rng, text):
    tokens = _tokens(text)
    solid = _solid(tokens)
    i, j = rng.choice(solid), rng.choice(solid)
    tokens[i], tokens[j] = tokens[j], tokens[i]
    return "".join(tokens)


def rename(rng, text):
    """A word replaced by another word of the file: references to the wrong thing, cycles."""
    words = sorted(set(re.findall(r"\b[a-z][a-z_-]*\b", text))) or ["x"]
    tokens = _tokens(text)
    i = rng.choice(_solid(tokens))
    tokens[i] = rng.choice(words)
    return "".join(tokens)


def odd_number(rng, text):
    spots = list(NUMBER.finditer(text))
    if not spots:
        return text + " " + rng.choice(ODD_NUMBERS)
    m = rng.choice(spots)
    return text[:m.start()] + rng.choice(ODD_NUMBERS) + text[m.end():]


def unicode(rng, text):
    i = rng.randrange(len(text) + 1)
    return text[:i] + rng.choice(["é", "日本の公園", "🌸", "\u2028", "\u2029", "\u200b", "\ufeff", "\x85", "\u0301",
                                  "\x1b[2J", "İ", "ß", "\uffff"]) + text[i:]


def nul(rng, text):
    i = rng.randrange(len(text) + 1)
    return text[:i] + "\x00" + text[i:]


def crlf(rng, text):
    return text.replace("\n", "\r\n") if rng.random() < 0.7 else text.replace("\n", "\r")


def bom(rng, text):
    return "\ufeff" + text


def nest(rng, text):
    lines = text.split("\n")
    i = rng.randrange(len(lines) + 1)
    lines.insert(i, rng.choice(NESTS) * rng.choice([3, 100, 10000]))
    return "\n".join(lines)


def snippet(rng, text):
    """A line that is well formed where it lands, inside a block of its kind."""
    opener = rng.choice(list(SNIPPETS))
    lines = text.split("\n")
    spots = [i + 1 for i, line in enumerate(lines) if re.search(opener, line)] if opener != "^" else [0]
    if not spots:
        return text
    lines.insert(rng.choice(spots), "  " + rng.choice(SNIPPETS[opener]))
    return "\n".join(lines)


def comment(rng, text):
    """A comment (or blank lines) between two tokens, anywhere."""
    tokens = _tokens(text)
    i = rng.randrange(len(tokens) + 1)
    tokens.insert(i, rng.choice([" # note\n", "\n# own line\n", "\n\n\n", " #x\n", "\n  #\n", "#\r\n"]))
    return "".join(tokens)


def duplicate_line(rng, text):
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    lines.insert(i, lines[i])
    return "\n".join(lines)


def delete_line(rng, text):
    lines = text.split("\n")
    del lines[rng.randrange(len(lines))]
    return "\n".join(lines)


def truncate(rng, text):
    return text[:rng.randrange(len(text) + 1)]


MUTATIONS = [flip_char, delete_token, duplicate_token, swap_tokens, rename, odd_number, odd_number, unicode, nul,
             crlf, bom, nest, duplicate_line, delete_line, truncate] + [comment] * 4 + [snippet] * 10


def mutated(rng: random.Random, text: str) -> tuple[bytes, list[str]]:
    names = []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        fn = rng.choice(MUTATIONS)
        text = fn(rng, text)
        names.append(fn.__name__)
    data = text.encode("utf-8", "surrogatepass")
    if rng.random() < 0.05:  # a flipped byte: often no longer UTF-8
        i = rng.randrange(len(data) + 1)
        data = data[:i] + bytes([rng.randrange(256)]) + data[i + 1:]
        names.append("flip_byte")
    return data, names


# ── one case, run as `brief check`, `brief fmt` and `brief compile` run ───────


def check_fmt_compile(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    shown = str(path)

    # brief check: every problem is a diagnostic, and it renders
    try:
        program = load(shown)
        found = diagnose(program)
        render_text(found, program.sources)
    except DiagnosticError as exc:
        program, found = None, exc.diagnostics
        render_text(found, {shown: data.decode("utf-8", "replace")})

    # brief fmt: what parses formats to text that parses to the same meaning, and is canonical
    try:
        source = read_source(shown)
        module = parse(source, shown)
    except DiagnosticError:
        assert program is None, "fmt refused what check loaded"
        return
    formatted = format_module(module, source)
    again = parse(formatted, shown)
    assert shape(again.items) == shape(module.items), "fmt changed the meaning"
    assert [c.text for c in again.comments] == [c.text.rstrip() for c in module.comments], "fmt lost a comment"
    assert format_module(again, formatted) == formatted, "fmt is not idempotent"

    # brief compile: a text that checks compiles, and its formatted text to the same node ids
    if program is None or any(d.is_error for d in found):
        return
    before = set(compile_program(program).graph.nodes)
    path.write_text(formatted, encoding="utf-8")
    program = load(shown)
    check_program(program)
    assert set(compile_program(program).graph.nodes) == before, "fmt changed the compiled graph"


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> list[tuple[Path, str]]:
    """(where a mutant is written, the brief it mutates), in copies of examples/ and tests/golden/."""
    root = tmp_path_factory.mktemp("fuzz")
    found = []
    for tree in (EXAMPLES, GOLDEN):
        copy = root / tree.name
        shutil.copytree(tree, copy)
        for brief in sorted(p for p in copy.rglob("*.brief") if p.is_file()):
            found.append((brief.parent / "fuzz.brief", brief.read_text(encoding="utf-8")))
    return found


@pytest.mark.slow
def test_mutated_briefs_never_crash_the_front_end(sources):
    rng = random.Random(SEED)
    for case in range(CASES):
        path, text = rng.choice(sources)
        data, names = mutated(rng, text)
        try:
            check_fmt_compile(path, data)
        except Exception as exc:  # any other exception: report the case that reproduces it
            raise AssertionError(f"case {case} ({'+'.join(names)}) of {path.parent.name}: "
                                 f"{type(exc).__name__}: {exc}\n{data[:600]!r}") from exc
