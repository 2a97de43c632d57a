"""A hosted model's place in brief.lock: `retires "YYYY-MM-DD"` on the backend line is recorded in the
lock (news, not drift: it is not part of any key), every build and `brief lock check` warn from 30
days before it (W403), and `brief lock check` finds drift and unpinned models without an API key and
without calling anything."""

from __future__ import annotations

import datetime

import pytest

pytest.importorskip("openai")

from brief.runtime.build import Options, build_file  # noqa: E402
from hosted_server import OpenAIImages  # noqa: E402
from runtime_helpers import ran  # noqa: E402
from test_cli import run  # noqa: E402

BRIEF = '''brief r {{
  canvas 64 x 48
  backend openai "gpt-image-1-2025-04-15" endpoint "{url}"{retires}
  component sky {{
    prompt "blue sky"
  }}
}}
'''


def _day(days: int) -> str:
    return (datetime.date.today() + datetime.timedelta(days=days)).isoformat()


def _text(url: str, days: int | None) -> str:
    return BRIEF.format(url=url, retires="" if days is None else f' retires "{_day(days)}"')


def test_a_retirement_date_is_recorded_and_warned_of_from_30_days_before(project, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-lock-test")
    warnings: list[str] = []
    with OpenAIImages() as server:
        path = project.write("r.brief", _text(server.url, 45))
        options = Options(cache=project.root / "cache", out=project.root / "out")
        build_file(path, options, warn=warnings.append)
        assert warnings == [] and f'retires = "{_day(45)}"' in (project.root / "brief.lock").read_text()
        project.write("r.brief", _text(server.url, 12))  # the provider announced an earlier date
        built = build_file(path, options, warn=warnings.append)
        project.write("r.brief", _text(server.url, None))  # a brief that stops saying it: the lock keeps it
        build_file(path, options, warn=warnings.append)
        project.write("r.brief", _text(server.url, 12))
    assert ran(built) == set() and len(server.requests) == 1  # the date is in no key: nothing renders again
    assert warnings == 2 * [f"model `gpt-image-1-2025-04-15` retires on {_day(12)}, in 12 days: render what you "
                            "need from it now, then move the brief to another model"]
    assert f'retires = "{_day(12)}"' in (project.root / "brief.lock").read_text()

    monkeypatch.delenv("OPENAI_API_KEY")  # lock check needs no key and calls nothing
    res = run("lock", "check", path)
    assert res.returncode == 0 and "warning[W403]" in res.stderr and "r.brief:3:18" in res.stderr, res.stderr
    project.write("r.brief", _text(server.url, -3))
    res = run("lock", "check", path)
    assert res.returncode == 0 and "was retired on" in res.stderr and "3 days ago" in res.stderr
    project.write("r.brief", _text(server.url, None))  # the date stays in the lock: still warned of
    res = run("lock", "check", path)
    assert res.returncode == 0 and "retires on" in res.stderr


def test_lock_check_finds_drift_and_unpinned_models(project):
    path = project.write("r.brief", _text("http://127.0.0.1:9/v1", 90))
    res = run("lock", "check", path)
    assert res.returncode == 1 and "is not pinned in brief.lock yet" in res.stderr
    project.write("brief.lock", 'format = 2\n[models.gpt-image-1-2025-04-15]\nid = "gpt-image-1-2025-04-15"\n'
                                'revision = ""\npipeline = "OpenAI Images API"\nfiles = {}\nversions = {}\n')
    res = run("lock", "check", path)
    assert res.returncode == 0 and "brief.lock holds" in res.stdout, res.stderr
    lock = project.root / "brief.lock"
    lock.write_text(lock.read_text().replace("OpenAI Images API", "x"))
    res = run("lock", "check", path)
    assert res.returncode == 1 and "pipeline 'x' → 'OpenAI Images API'" in res.stderr


def test_a_bad_date_and_a_date_on_a_local_backend_are_refused(project):
    from brief.lang.fmt import format_module
    from brief.lang.parser import parse

    found = project.diagnostics(_text("http://x", None).replace('"{url}"', "").replace(
        'endpoint "http://x"', 'retires "2027-02-30"'))
    assert [(d.code, d.span.line) for d in found] == [("E370", 3)]
    found = project.diagnostics('brief d {\n  backend draft retires "2027-01-01"\n}\n')
    assert [d.code for d in found] == ["E351"]
    text = _text("http://x", 5)
    assert format_module(parse(text, "r.brief"), text) == text  # the formatter keeps it
