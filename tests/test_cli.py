"""The `brief` command line, run as a user runs it: exit codes, output streams, help."""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from types import SimpleNamespace

import pytest

from brief.cli import build_parser, main


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Every subcommand the parser has (name → its parser), found in the parser itself."""
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


COMMANDS = sorted(subcommands(build_parser()))


def run(*args, cwd=None, stdin=None):
    """Run `brief ARGS` in this process (fast), capturing what it prints and its exit code."""
    old_cwd, old_stdin = os.getcwd(), sys.stdin
    out, err = io.StringIO(), io.StringIO()
    try:
        os.chdir(cwd or old_cwd)
        sys.stdin = io.StringIO(stdin or "")
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:
                code = exc.code
    finally:
        os.chdir(old_cwd)
        sys.stdin = old_stdin
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def test_console_script_runs_as_a_process(examples_copy):
    res = subprocess.run([os.path.join(os.path.dirname(sys.executable), "brief"), "check",
                          str(examples_copy / "campaign" / "runner.brief")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_check_ok_and_exit_codes(examples_copy, project):
    ok = run("check", examples_copy / "campaign" / "runner.brief", examples_copy / "brands" / "acme.brief")
    assert ok.returncode == 0 and "All checks passed (2 files)." in ok.stdout
    project.write("bad.brief", 'brief b {\n  canvas 100000 x 10\n  component c { prompt "x" }\n}\n')
    res = run("check", "bad.brief", cwd=project.root)
    assert res.returncode == 1
    assert res.stderr.startswith("bad.brief:2:10: error[E203]: a side of `100000` is out of range\n")
    assert "^^^^^^" in res.stderr and "Found 1 error and 0 warnings." in res.stderr
    assert res.stdout == ""


def test_check_reports_every_file(project):
    a = project.write("a.brief", "brief a { seed -1 component c { prompt \"x\" } }")
    b = project.write("b.brief", "brief b { component c { prompet \"x\" } }")
    res = run("check", a, b, cwd=project.root)
    assert res.returncode == 1
    assert "a.brief:1:16: error[E203]" in res.stderr and "b.brief:1:25: error[E105]" in res.stderr


def test_check_json_format(project):
    project.write("bad.brief", "brief b { component c { prompet \"x\" } }")
    res = run("check", "--format", "json", "bad.brief", cwd=project.root)
    assert res.returncode == 1
    (d,) = json.loads(res.stderr)["diagnostics"]
    assert (d["code"], d["line"], d["column"], d["file"]) == ("E105", 1, 25, "bad.brief")
    assert "Did you mean `prompt`?" in d["detail"]


def test_usage_errors_exit_2(project):
    assert run("check", project.root / "missing.brief").returncode == 2
    assert run("check").returncode == 2
    assert run("frobnicate").returncode == 2
    assert run("compile", "--emit", "svg", project.root / "x.brief").returncode == 2
    assert run("compile").returncode == 2


def test_the_commands_are_found_in_the_parser():
    assert {"check", "fmt", "compile", "plan", "build", "render", "watch", "diff", "cache"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: brief " + command) and len(out.splitlines()) > 5
    description = subcommands(build_parser())[command].description
    assert description and " ".join(description.split()[:4]) in " ".join(out.split()), "--help shows what it does"


def test_top_level_help_lists_every_command_with_its_summary():
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    listed = {action.dest: action.help for action in sub._choices_actions}
    assert sorted(listed) == COMMANDS and all(listed.values()), "each command has a one-line summary"
    help_text = " ".join(parser.format_help().split())
    for command, summary in listed.items():
        assert f"{command} {summary}" in help_text


def test_fmt_rewrites_checks_and_prints(project):
    path = project.write("m.brief", 'brief m {canvas 10  x 10 component c {prompt "x"}}  # end\n')
    check = run("fmt", "--check", "m.brief", cwd=project.root)
    assert check.returncode == 1 and "would be reformatted" in check.stderr
    assert check.stdout.startswith("--- m.brief (original)\n+++ m.brief (formatted)\n")
    assert path.read_text().startswith("brief m {canvas")  # --check changes nothing
    stdout = run("fmt", "--stdout", path, cwd=project.root)
    assert stdout.returncode == 0 and stdout.stdout.startswith("brief m {\n  canvas 10 x 10\n")
    assert run("fmt", path, cwd=project.root).returncode == 0
    assert path.read_text() == stdout.stdout
    assert run("fmt", "--check", path, cwd=project.root).returncode == 0
    piped = run("fmt", "-", stdin='brief s { seed 1 }')
    assert piped.stdout == "brief s {\n  seed 1\n}\n"


def test_fmt_refuses_broken_file_and_leaves_it(project):
    path = project.write("m.brief", "brief m { seed }")
    res = run("fmt", path, cwd=project.root)
    assert res.returncode == 1 and "E107" in res.stderr
    assert path.read_text() == "brief m { seed }"


def test_compile_json_dot_schema(examples_copy, tmp_path):
    brief = examples_copy / "campaign" / "runner.brief"
    first = run("compile", brief)
    assert first.returncode == 0
    assert run("compile", brief, cwd=tmp_path).stdout == first.stdout  # same bytes from anywhere
    doc = json.loads(first.stdout)
    assert doc["schema"] == "brief-graph/1" and len(doc["variants"]) == 2
    out = tmp_path / "g" / "graph.json"
    assert run("compile", brief, "-o", out).returncode == 0 and out.read_text() == first.stdout
    dot = run("compile", brief, "--emit", "dot")
    assert dot.returncode == 0 and dot.stdout.startswith("strict digraph")
    schema = json.loads(run("compile", "--schema").stdout)
    assert schema["title"] == "GraphDocument" and "nodes" in schema["properties"]
    draft = json.loads(run("compile", brief, "--backend", "diffusers").stdout)
    assert {v["backend"]["backend"] for v in draft["variants"]} == {"diffusers"}


def test_compile_refuses_a_brief_with_errors(project):
    bad = project.write("bad.brief", "brief b { component c { asset \"../../etc/passwd\" } }")
    res = run("compile", bad, cwd=project.root)
    assert res.returncode == 1 and res.stdout == "" and "outside the project folder" in res.stderr


def test_allow_outside_root(project, tmp_path_factory):
    outside = tmp_path_factory.mktemp("shared") / "p.png"
    outside.write_bytes((project.root / "assets" / "product.png").read_bytes())
    path = project.write("m.brief", f'brief m {{ component c {{ asset "{outside}" }} }}')
    assert run("check", path).returncode == 1
    assert run("check", "--allow-outside-root", path).returncode == 0


def test_fmt_edge_cases(project, tmp_path):
    binary = project.root / "bin.brief"
    binary.write_bytes(bytes(range(256)) * 4)
    res = run("fmt", binary)
    assert res.returncode == 1 and "E004" in res.stderr and "Traceback" not in res.stderr
    piped = run("fmt", "--check", "-", stdin="brief s {seed 1}")
    assert piped.returncode == 1 and piped.stdout.startswith("--- <stdin> (original)")
    target = project.write("real.brief", "brief s {seed 1}")
    (project.root / "link.brief").symlink_to(target)
    assert run("fmt", project.root / "link.brief").returncode == 0
    assert (project.root / "link.brief").is_symlink() and target.read_text() == "brief s {\n  seed 1\n}\n"
    numbers = run("fmt", "-",
                  stdin="brief s { canvas 0512 x 0512 seed +5 component c { prompt \"x\" opacity .5 strength 1. } }")
    assert "canvas 512 x 512" in numbers.stdout and "opacity 0.5" in numbers.stdout and "strength 1\n" in numbers.stdout


def test_check_stdin_and_bad_root_and_bad_output(project, examples_copy):
    res = run("check", "-", cwd=project.root, stdin='brief s { component c { asset "assets/product.png" } }')
    assert res.returncode == 0, res.stderr
    bom = run("fmt", "-", stdin='\ufeffbrief s {\n   seed 1\n}\n')  # a buffer saved with a byte-order mark
    assert bom.returncode == 0 and bom.stdout == "brief s {\n  seed 1\n}\n", bom.stderr
    assert run("check", "--root", project.root / "nope", examples_copy / "campaign" / "runner.brief").returncode == 2
    out = run("compile", examples_copy / "campaign" / "runner.brief", "-o", project.root / "assets")
    assert out.returncode == 2 and "cannot write" in out.stderr


def test_build_plan_and_cache_commands(examples_copy, tmp_path):
    brief = examples_copy / "campaign" / "runner.brief"
    cache, out = tmp_path / "cache", tmp_path / "out"
    first = run("build", brief, "--cache", cache, "--out", out, "--variant", "season=summer")
    assert first.returncode == 1 and "brand checks failed" in first.stderr  # the example is off-brand
    assert "runner[season=summer]: rendered" in first.stdout and "autumn" not in first.stdout
    assert (out / "runner[season=summer]" / "square.png").exists()
    assert "0 to render" in run("plan", brief, "--cache", cache, "--variant", "season=summer").stdout
    brief.write_text(brief.read_text().replace('"a red kite in the sky"', '"a blue kite in the sky"'))
    planned = run("plan", brief, "--cache", cache, "--variant", "runner[season=summer]")
    assert "~ generate      component kite" in planned.stdout and "upstream changed: component kite" in planned.stdout
    as_json = json.loads(run("plan", brief, "--cache", cache, "--json").stdout)
    assert [p["variant"] for p in as_json] == ["runner[season=summer]", "runner[season=autumn]"]
    stats = run("cache", "stats", "--cache", cache)
    assert stats.returncode == 0 and "objects" in stats.stdout
    gc = run("cache", "gc", "--cache", cache, "--max-size", "1K")
    assert gc.returncode == 0 and "evicted" in gc.stdout
    assert run("cache", "gc", "--cache", cache, "--max-size", "lots").returncode == 2
    assert run("build", brief, "--variant", "season=winter").returncode == 2
