"""Checks: names, references, paths, values, cycles and limits; the front-end items of DESIGN's
bad-input list, one test each."""

from __future__ import annotations

import os
import sys

import pytest

from brief.lang.check import check_program, diagnose
from brief.lang.compile import compile_program
from brief.lang.diagnostics import DiagnosticError, render_text
from brief.lang.load import read_source
from conftest import EXAMPLES, codes

HEAD = 'use "brands/acme.brief"\n'


def brief(body: str, head: str = HEAD) -> str:
    return f"{head}brief b {{\n  canvas 1000 x 500\n  brand acme\n{body}\n}}\n"


def errors(project, text):
    return [d for d in project.diagnostics(text) if d.is_error]


def test_design_examples_check_clean(examples_copy):
    from brief.lang.load import load
    assert check_program(load(examples_copy / "campaign" / "runner.brief")) == []
    assert check_program(load(examples_copy / "brands" / "acme.brief")) == []


def test_all_diagnostics_are_collected_and_raised_once(project):
    project.write("main.brief", brief('  component a { prompt "x" z 1.5 }\n  component a { prompt "y" }\n'
                                      '  edit e { recolor nope to blue }'))
    with pytest.raises(DiagnosticError) as info:
        check_program(project.load())
    assert sorted(codes(info.value.diagnostics)) == ["E202", "E301", "E305", "E310"]


def test_prompt_xor_asset(project):
    both = errors(project, brief('  component a { prompt "x" asset "assets/product.png" }'))
    assert codes(both) == ["E320"]
    assert codes(errors(project, brief("  component a { z 1 }"))) == ["E321"]


def test_duplicate_settings_and_names(project):
    found = errors(project, brief('  seed 1\n  seed 2\n  component a { prompt "x" prompt "y" }\n'
                                  '  output o 10 x 10 crop\n  output o 20 x 20 fit'))
    assert sorted(codes(found)) == ["E301", "E302", "E302"]


def test_unknown_brand_colour_suggests(project):
    (d,) = errors(project, brief('  component p { asset "assets/product.png" color redd within 2 }'))
    assert d.code == "E305" and "Did you mean `red`?" in d.detail and "ink, cream, red" in d.detail


def test_unknown_brand_suggests_and_points_to_file(project):
    (d,) = errors(project, brief('  component a { prompt "x" }').replace("brand acme", "brand acm"))
    assert d.code == "E303" and "Did you mean `acme`?" in d.detail
    # defined in a loaded file that this file does not `use` directly
    project.write("other.brief", 'use "main.brief"\nbrief o { brand acme component a { prompt "x" } }\n')
    project.write("main.brief", brief('  component a { prompt "x" }'))
    nested = [d for d in diagnose_file(project, "other.brief") if d.code == "E303"]
    assert nested and "add `use" in nested[0].detail


def diagnose_file(project, rel):
    from brief.lang.check import diagnose
    return diagnose(project.load(rel))


def test_invalid_hex_colours(project):
    project.write("brands/bad.brief", "brand bad { color a #12345 color b #GG0000 color c #abc }")
    found = diagnose_file(project, "brands/bad.brief")
    assert [(d.code, d.summary) for d in found] == [
        ("E307", "invalid hex colour `#12345`: it has 5 digits, not 3 or 6"),
        ("E307", "invalid hex colour `#GG0000`: `G` is not a hex digit"),
    ]


def test_delta_e_out_of_range(project):
    found = errors(project, brief('  component p { asset "assets/product.png" color red within 0 }\n'
                                  "  check palette within 101 coverage 120%"))
    assert codes(found) == ["E203", "E203", "E203"]


@pytest.mark.parametrize("canvas, code", [
    ("100000 x 100000", "E203"), ("0 x 100", "E203"), ("-5 x 100", "E203"), ("10% x 100", "E201"),
    ("16384 x 16384", "E204"), ("12.5 x 100", "E202"),
])
def test_canvas_limits(project, canvas, code):
    text = f'brief b {{ canvas {canvas} component a {{ prompt "x" }} }}'
    assert code in codes(errors(project, text))


HUGE = "9" * 400
NUMBER_POSITIONS = [  # every place a number is accepted; NUM marks it
    "  canvas NUM x 10", "  canvas 10 x -NUM", "  seed NUM", "  steps NUM",
    '  component a { prompt "x" region box 0% 0% NUM% 10% }', '  component a { prompt "x" region box 0 0 10 NUMpx }',
    '  component a { prompt "x" z -NUM }', '  component a { prompt "x" seed NUM }',
    '  component a { prompt "x" steps NUM }',
    '  component a { prompt "x" strength NUM }', '  component a { prompt "x" opacity NUM% }',
    '  component a { prompt "x" feather NUMpx }', '  component a { asset "assets/product.png" color red within NUM }',
    '  component a { prompt "x" region anchor center NUMpx x 10px }',
    '  component a { prompt "x" region anchor center 10px x 10px margin NUMpx }',
    '  component a { prompt "x" region around b NUMpx }', '  edit e { harmonize b band NUM }',
    '  edit e { remove box 0% 0% 10% NUM% }', "  check palette within NUM", "  check palette coverage NUM%",
    "  check clearspace b NUM", "  check safezone NUMpx", "  check minsize b NUMpx x 10px", "  output o NUM x 10 crop",
]


@pytest.mark.parametrize("command", ["check", "fmt", "compile", "build"])
def test_a_400_digit_number_anywhere_is_a_diagnostic_with_a_caret(project, command):
    from test_cli import run
    for line in NUMBER_POSITIONS:
        text = f'{HEAD}brief b {{\n  brand acme\n  component b {{ prompt "y" }}\n{line.replace("NUM", HUGE)}\n}}\n'
        project.write("main.brief", text)
        out = project.root / "out"
        res = run(command, "main.brief", *(["--out", out] if command == "build" else []), cwd=project.root)
        column = line.index("NUM") + 1 - (line[line.index("NUM") - 1] == "-")
        assert res.returncode == 1, (line, res.stderr)
        assert f"main.brief:5:{column}: error[E109]: the number `" in res.stderr, (line, res.stderr)
        assert "Traceback" not in res.stderr and "\n  |" in res.stderr and "^^^" in res.stderr
        assert not out.exists() and (project.root / "main.brief").read_text() == text  # fmt wrote nothing


def test_output_size_limits(project):
    assert codes(errors(project, brief('  component a { prompt "x" }\n  output big 90000 x 10 crop'))) == ["E203"]


def test_regions_must_fit_the_canvas(project):
    found = errors(project, brief('  component a { prompt "x" region box 50% 10% 20% 90% }\n'
                                  '  component b { prompt "x" region box 0px 0px 2000px 10px }\n'
                                  '  component c { prompt "x" region box 10 10 20 20 }\n'
                                  '  component d { prompt "x" region anchor middle 10% x 10% }\n'
                                  '  component e { prompt "x" region anchor center 2000px x 10px }'))
    assert codes(found) == ["E205", "E206", "E201", "E201", "E201", "E201", "E324", "E206"]


def test_references_to_components(project):
    found = errors(project, brief('  component product { prompt "x" }\n'
                                  "  edit e { inpaint around prodcut 10px prompt \"s\" }\n"
                                  "  check color product\n  check clearspace logo"))
    assert codes(found) == ["E310", "E311", "E310"]
    assert "Did you mean `product`?" in found[0].detail


def test_edits_need_exactly_one_operation(project):
    found = errors(project, brief('  component p { prompt "x" }\n  edit a { prompt "x" }\n'
                                  "  edit b { remove full recolor p to red }\n  edit c { inpaint full }"))
    assert codes(found) == ["E330", "E331", "E332"]


def test_warnings_for_settings_without_effect(project):
    found = project.diagnostics(brief('  component p { asset "assets/product.png" steps 4 }\n'
                                      '  component q { prompt "x" fit cover }'))
    assert codes(found) == ["W322", "W323"] and not any(d.is_error for d in found)


def test_matrix_interpolation(project):
    found = project.diagnostics(brief('  matrix season { summer "s" }\n  matrix sku { red "r" }\n'
                                      '  component a { prompt "{seasn} {{literal}} {" }'))
    assert codes(found) == ["W344", "W344", "E343", "E342"]
    assert "Did you mean `season`?" in found[2].detail


def test_backends(project):
    assert codes(errors(project, brief('  backend difusers\n  component a { prompt "x" }'))) == ["E350"]
    assert codes(errors(project, brief('  backend diffusers\n  component a { prompt "x" }'))) == ["E352"]
    assert codes(errors(project, brief('  backend draft "m"\n  component a { prompt "x" }'))) == ["E351"]


def test_enumerated_words_suggest(project):
    found = errors(project, brief('  component a { prompt "x" context scne }\n  output o 10 x 10 outpant'))
    assert [d.detail.split("?")[0] for d in found] == ["Did you mean `scene`", "Did you mean `outpaint`"]


# ── bad input 8: paths that leave the project ─────────────────────────────────

@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "assets/../../x.png"])
def test_asset_path_escape_is_rejected(project, path):
    (d,) = errors(project, brief(f'  component a {{ asset "{path}" }}'))
    assert d.code == "E360" and "outside the project folder" in d.summary


def test_symlink_escaping_the_project_is_rejected(project, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secret.png"
    outside.write_bytes((project.root / "assets" / "product.png").read_bytes())
    os.symlink(outside, project.root / "assets" / "link.png")
    text = brief('  component a { asset "assets/link.png" }')
    (d,) = errors(project, text)
    assert "through a symlink" in d.summary
    assert errors_allowing(project, text) == []


def errors_allowing(project, text):
    from brief.lang.check import diagnose
    return [d for d in diagnose(project.load("main.brief", text, allow_outside=True)) if d.is_error]


def test_use_path_escape_and_missing_files(project):
    found = errors(project, 'use "../../etc/passwd"\nuse "nope.brief"\n'
                            'brief b { component a { asset "assets/missing.png" } '
                            'component c { asset "assets/notes.txt" } }')
    assert codes(found) == ["E010", "E010", "E360", "E361"]


# ── bad input 9 is above (canvas limits); 10: huge and deeply nested input ────

def test_huge_file_is_refused_without_reading_it(tmp_path):
    big = tmp_path / "big.brief"
    with open(big, "wb") as fh:
        fh.truncate(100 * 1024 * 1024)  # 100 MB, sparse
    with pytest.raises(DiagnosticError) as info:
        read_source(str(big))
    assert info.value.diagnostics[0].code == "E001"


def test_deeply_nested_file(project):
    with pytest.raises(DiagnosticError) as info:
        project.load("deep.brief", "brief a {" * 20000)
    assert info.value.diagnostics[0].code.startswith("E1")


def test_long_use_chain_is_a_diagnostic(project):
    for i in range(60):
        project.write(f"chain/{i}.brief", f'use "{i + 1}.brief"\n')
    project.write("chain/60.brief", "")
    found = diagnose_file(project, "chain/0.brief")
    assert codes(found) == ["E012"]


# ── bad input 11: cycles ───────────────────────────────────────────────────────

def test_use_cycle_is_named(project):
    project.write("a.brief", 'use "b.brief"\nbrief a { component x { prompt "x" } }\n')
    project.write("b.brief", 'use "c.brief"\n')
    project.write("c.brief", 'use "a.brief"\n')
    (d,) = diagnose_file(project, "a.brief")
    assert d.code == "E011" and d.summary == "`use` cycle: a.brief → b.brief → c.brief → a.brief"


def test_self_use_is_a_cycle(project):
    (d,) = project.diagnostics('use "main.brief"\n')
    assert d.summary == "`use` cycle: main.brief → main.brief"


def test_component_around_itself(project):
    found = errors(project, brief('  component a { prompt "x" region around a 10px }\n'
                                  '  component b { prompt "x" region around c 10px }\n'
                                  '  component c { prompt "x" region around b 10px }'))
    assert sorted(d.summary for d in found) == ["region cycle: a → a", "region cycle: b → c → b"]


def test_examples_dir_holds_a_project_marker():
    assert (EXAMPLES / "brief.toml").exists()


def test_around_a_component_generated_over_it_is_a_cycle(project):
    found = errors(project, brief('  component glow { prompt "glow" region around hero 10px z 1 }\n'
                                  '  component hero { prompt "hero" region box 10% 10% 50% 50% z 2 }\n'
                                  '  component ok { prompt "x" region around prod 10px z 1 }\n'
                                  '  component prod { asset "assets/product.png" region box 60% 10% 90% 50% z 2 }'))
    assert codes(found) == ["E313"] and "`glow` is placed around `hero`" in found[0].summary


def test_a_brand_defined_in_two_used_files_is_an_error(project):
    project.write("other.brief", "brand acme {\n  color red #FF0000\n}\n")
    found = errors(project, 'use "other.brief"\n' + brief('  component a { prompt "x" }'))
    assert codes(found) == ["E308"]


# ── a file that `use`s one file thousands of times checks in linear time ──────

class _OverBudget(Exception):
    pass


def _calls(fn, budget: float = float("inf")) -> int:
    """Function calls (Python and built-in) made by `fn()`: a count of work that, unlike a timing,
    a busy machine does not disturb. Stops `fn` as soon as the count passes `budget`."""
    count = 0

    def profile(frame, event, arg):
        nonlocal count
        if event == "call" or event == "c_call":
            count += 1
            if count > budget:
                raise _OverBudget
    previous = sys.getprofile()
    sys.setprofile(profile)
    try:
        fn()
    except _OverBudget:
        pass
    finally:
        sys.setprofile(previous)
    return count


@pytest.mark.parametrize("used", ["brands/acme.brief", "main.brief", "lib.brief", "missing.brief"])
def test_many_uses_of_one_file_check_in_linear_time(project, used):
    """A quadratic walk (every `use` line × every item of the file it names, or every diagnostic ×
    every line of its file) costs 16x the work for 4x the uses; linear work costs 4x. The used file
    here is small (a brand), the file itself, as large as the user, or missing (one diagnostic a line)."""
    def check_and_compile(n: int) -> None:
        project.write("lib.brief", 'use "brands/acme.brief"\n' * n)
        program = project.load("main.brief",
                               HEAD + f'use "{used}"\n' * n + brief('  component a { prompt "x" }', head=""))
        found = diagnose(program)
        render_text(found, program.sources)
        if not any(d.is_error for d in found):
            compile_program(program)
        expected = {"main.brief": ["E011"], "missing.brief": ["E010"] * n}.get(used, [])
        assert codes(found) == expected

    check_and_compile(10)  # warm up: parser tables, imports
    small = _calls(lambda: check_and_compile(300))
    large = _calls(lambda: check_and_compile(1200), budget=6 * small)
    assert large <= 6 * small, f"4x the uses took over 6x the work ({small} calls for 300)"


def test_a_brand_clash_points_at_the_use_that_brings_the_second_one(project):
    project.write("other.brief", "brand acme {\n  color red #FF0000\n}\n")
    found = errors(project, 'use "missing.brief"\nuse "brands/acme.brief"\nuse "brands/acme.brief"\n'
                            'use "other.brief"\n' + brief('  component a { prompt "x" }', head=""))
    assert [(d.code, d.span.line) for d in found] == [("E010", 1), ("E308", 4)]


def test_a_path_too_long_for_the_system_is_a_diagnostic(project):
    """Found by tests/test_fuzz.py: `stat` of a 300-character file name raised OSError (ENAMETOOLONG)."""
    long = "a" * 300
    found = project.diagnostics(f'use "{long}.brief"\nbrand k {{\n  logo "{long}.png"\n}}\nbrief b {{\n'
                                f'  component c {{\n    asset "{"d/" * 2100}c.png"\n'
                                f'    region mask "{long}.png"\n  }}\n}}\n')
    assert [(d.code, d.span.line) for d in found] == [("E010", 1), ("E360", 3), ("E360", 7), ("E360", 8)]
    assert "File name too long" in found[0].summary


def test_check_of_a_folder_finds_a_truncated_photo_behind_a_matrix_field(tmp_path):
    """`brief check .` (the pre-commit hook for changed assets) checks every brief under a folder, and
    decodes the file each value of `{sku.asset}` names: a truncated SKU photo is an error there."""
    import shutil
    import subprocess
    import sys

    from conftest import EXAMPLES

    shutil.copytree(EXAMPLES, tmp_path / "examples")
    photo = tmp_path / "examples" / "assets" / "sku-navy.png"
    photo.write_bytes(photo.read_bytes()[:1000])
    run = subprocess.run([sys.executable, "-m", "brief.cli", "check", "."], cwd=tmp_path / "examples",
                         capture_output=True, text=True)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "campaign/launch.brief:33:11: error[E362]" in run.stderr and "for sku=navy" in run.stderr
