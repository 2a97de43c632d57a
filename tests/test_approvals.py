"""Approvals (issue 14, point 2): `brief approve` records a decision on a delivered output in
brief.approvals beside the brief (sorted TOML: the pixels' hash, the node key, who from git, when,
a note), and `brief status` — the CI gate — exits 1 while any output is unapproved, rejected,
changed since its approval, unbuilt or failing its rules, naming it."""

from __future__ import annotations

import subprocess

import pytest

from brief.runtime.live.approvals import load

BRIEF = '''brief p {{
  canvas 160 x 120
  matrix tone {{
    warm "warm light"
    cool "cool light"
  }}
  component sky {{
    prompt "{{tone}}, {sky}"
    region full
  }}
  output square 100 x 100 crop
  output wide 200 x 100 fit
}}
'''


def brief(*args, cwd):
    """`brief ARGS` run in this process (the CLI's own entry point; a process each would cost seconds)."""
    import contextlib
    import io
    import os
    from types import SimpleNamespace

    from brief.cli import main

    out, err, here = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:
                code = exc.code
    finally:
        os.chdir(here)
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


def test_nothing_ships_unseen(project):
    subprocess.run(["git", "init", "-q", str(project.root)], check=True)
    subprocess.run(["git", "-C", str(project.root), "config", "user.name", "Rita Reviewer"], check=True)
    subprocess.run(["git", "-C", str(project.root), "config", "user.email", "rita@example.com"], check=True)
    path = project.write("p.brief", BRIEF.format(sky="clouds"))
    run = brief("status", path, cwd=project.root)
    assert run.returncode == 1 and run.stdout.count("unbuilt") == 4, run.stdout + run.stderr
    assert brief("build", path, "-q", cwd=project.root).returncode == 0
    run = brief("status", path, cwd=project.root)
    assert run.returncode == 1 and run.stdout.count("unapproved") == 4 and "0 of 4 outputs approved" in run.stdout
    for variant in ("tone=warm", "tone=cool"):
        for output in ("square", "wide"):
            run = brief("approve", path, "--variant", variant, "--output", output, "--note", "on brand",
                        cwd=project.root)
            assert run.returncode == 0, run.stdout + run.stderr
    run = brief("status", path, cwd=project.root)
    assert run.returncode == 0 and "4 of 4 outputs approved" in run.stdout, run.stdout
    decided = load(project.root / "brief.approvals")
    assert list(decided) == sorted(decided) and len(decided) == 4
    entry = decided["p[tone=warm] / square"]
    assert entry["by"] == "Rita Reviewer <rita@example.com>" and entry["note"] == "on brand"
    assert len(entry["sha256"]) == 64

    project.write("p.brief", BRIEF.format(sky="storm clouds"))  # the brief changed: nothing built from it yet
    run = brief("status", path, "--json", cwd=project.root)
    assert run.returncode == 1 and '"state": "unbuilt"' in run.stdout
    assert brief("build", path, "-q", cwd=project.root).returncode == 0
    run = brief("status", path, cwd=project.root)
    assert run.returncode == 1 and "changed    p[tone=warm] / square" in run.stdout, run.stdout
    assert "changed since Rita Reviewer <rita@example.com> approved it" in run.stdout

    run = brief("approve", path, "--variant", "tone=cool", "--output", "wide", "--reject", "--note", "too dark",
                cwd=project.root)
    assert run.returncode == 0 and "rejected by" in run.stdout
    run = brief("status", path, cwd=project.root)
    assert "rejected   p[tone=cool] / wide" in run.stdout and "too dark" in run.stdout

    run = brief("approve", path, "--variant", "tone=cool", "--output", "tall", cwd=project.root)
    assert run.returncode == 2 and "has no output 'tall'" in run.stderr
    run = brief("approve", path, "--variant", "p", "--output", "wide", cwd=project.root)  # names both variants
    assert run.returncode == 2


def test_a_failing_rule_is_not_approvable_into_silence(project):
    path = project.write("f.brief", 'use "brands/acme.brief"\nbrief f {\n  canvas 160 x 120\n  brand acme\n'
                                    '  component logo {\n    asset "assets/logo.png"\n'
                                    '    region box 0% 0% 40% 30%\n  }\n  check safezone\n}\n')
    brief("build", path, "-q", cwd=project.root)
    brief("approve", path, "--variant", "f", "--output", "main", cwd=project.root)
    run = brief("status", path, cwd=project.root)
    assert run.returncode == 1 and "failing    f / main" in run.stdout and "check safezone" in run.stdout, run.stdout


def test_the_review_app_refuses_what_it_should(project):
    """A decision on an output rebuilt since the page showed it is refused; concurrent decisions are
    all kept; a brief.approvals entry that is not a decision brief wrote is an error, never a path."""
    import threading

    from brief.runtime.build import Options, build_file, compile_file
    from brief.runtime.live.review import ReviewServer

    path = project.write("p.brief", BRIEF.format(sky="clouds"))
    options = Options(cache=project.root / "cache", out=project.root / "out")
    build_file(path, options)
    app = ReviewServer(path, lambda: compile_file(path, options).variants, project.root / "out", 0)
    code, said = app.decide("p[tone=warm]", "square", "approve", None, seen="0" * 64)
    assert code == 409 and "changed since the page showed it" in said["error"]
    rows = [(v.name, o) for v in app.variants for o in v.outputs]
    threads = [threading.Thread(target=lambda v=v, o=o: app.decide(v, o, "approve", None)) for v, o in rows]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(load(project.root / "brief.approvals")) == 4  # none lost
    approvals = project.root / "brief.approvals"
    approvals.write_text(approvals.read_text().replace(load(approvals)["p[tone=warm] / square"]["sha256"],
                                                       "../../../etc/*", 1))
    run = brief("status", path, cwd=project.root)
    assert run.returncode == 1 and "is not a decision brief wrote" in run.stderr, run.stdout + run.stderr
    with pytest.raises(ValueError):  # the app says the same (its handler turns it into a JSON error)
        app.state()
