"""The hosted backends under the faults a provider (or a proxy at `endpoint`) can answer with, as a
demanding user meets them (tests/hosted_server.py's `Faulty` server): answers that are not JSON or
not the API's shape, a job that names no job, a result that is not a picture, a server that never
answers, a server that echoes the key back. Each is one clear line (a `BuildError`, exit 1 from the
CLI), never a traceback, never a hang, never the key. And what a build spends: every call's request
id kept, `--max-calls` counted per build and never spent on a node it cannot finish, and the
per-backend limit on calls at once held across builds that share a cache (a farm's workers)."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest

pytest.importorskip("httpx")
pytest.importorskip("openai")

from brief.runtime.build import Options, build_file  # noqa: E402
from brief.runtime.render.execute import BuildError  # noqa: E402
from hosted_server import BFLImages, Faulty, OpenAIImages, StabilityImages  # noqa: E402

KEYS = {"openai": ("OPENAI_API_KEY", "sk-review-5e1f0c"), "gemini": ("GEMINI_API_KEY", "AIza-review-77ab"),
        "bfl": ("BFL_API_KEY", "bfl-review-c3d9"), "stability": ("STABILITY_API_KEY", "sk-stab-review-0a4e")}
MODELS = {"openai": "gpt-image-1-2025-04-15", "gemini": "gemini-2.5-flash-image", "bfl": "flux-pro-1.0-fill",
          "stability": "sd3.5-large"}
BRIEF = '''brief r {{
  canvas 64 x 48
  seed 4
  backend {backend} "{model}" endpoint "{url}"
  component sky {{
    prompt "{prompt}"
  }}
{more}}}
'''
HTML = (200, b"<html><body>gateway hiccup</body></html>", "text/html")


@pytest.fixture(autouse=True)
def keys(monkeypatch):
    for env, key in KEYS.values():
        monkeypatch.setenv(env, key)


def _url(backend: str, server) -> str:
    return server.url + ("/v1" if backend == "openai" and not server.url.endswith("/v1") else "")


def _build(project, backend: str, server, prompt="blue sky", more="", options=None):
    path = project.write("r.brief", BRIEF.format(backend=backend, model=MODELS[backend], url=_url(backend, server),
                                                 prompt=prompt, more=more))
    opts = {"poll_interval": 0.01, "retries": 0, "timeout": 5, **(options or {})}
    return build_file(path, Options(cache=project.root / "cache", out=project.root / "out", backend_options=opts))


def _fails(project, backend, server, match, **kw) -> BuildError:
    with pytest.raises(BuildError, match=match) as exc:
        _build(project, backend, server, **kw)
    assert not (project.root / "out").exists()  # nothing half-written
    return exc.value


@pytest.mark.parametrize("answer, match", [
    (HTML, r"OpenAI answered 200 with something that is not JSON \(text/html\): <html><body>gateway"),
    ((200, [], "application/json"), "OpenAI answered without an image"),
    ((200, {"created": 1, "data": [{"b64_json": "!!!not base64"}]}, "application/json"),
     "OpenAI answered with an image that could not be read"),
])
def test_openai_answers_that_are_not_its_api_are_one_line(project, answer, match):
    with Faulty(lambda *_: answer) as server:
        _fails(project, "openai", server, match)


def _bfl(submit, poll=None):
    """A BFL-shaped server: `submit` answers the POST, `poll` every GET."""
    def answer(server, method, path):
        return submit if method == "POST" else poll
    return answer


def _job(server) -> dict:
    return {"id": "j1", "polling_url": f"{server.url}/v1/get_result?id=j1"}


@pytest.mark.parametrize("make, match", [
    (lambda s: _bfl(HTML), r"BFL answered 200 with something that is not JSON \(text/html\)"),
    (lambda s: _bfl((200, [], "application/json")), "BFL answered without naming its job"),
    (lambda s: _bfl((200, {}, "application/json")), "BFL answered without naming its job"),
    (lambda s: _bfl((200, _job(s), "application/json"), (200, ["Ready"], "application/json")),
     "BFL answered its job's status with something else"),
    (lambda s: _bfl((200, _job(s), "application/json"),
                    (200, {"status": "Ready", "result": "done"}, "application/json")),
     "BFL answered Ready without a picture"),
    (lambda s: _bfl((200, _job(s), "application/json"),
                    (200, {"status": "Ready", "result": {"sample": "not a url"}}, "application/json")),
     "BFL answered Ready with a picture at `not a url`, not an http"),
])
def test_bfl_answers_that_are_not_its_api_are_one_line_at_once(project, make, match):
    holder: dict = {}
    with Faulty(lambda *a: holder["answer"](*a)) as server:
        holder["answer"] = make(server)
        started = time.monotonic()
        _fails(project, "bfl", server, match)
    assert time.monotonic() - started < 3  # no polling a job it never named, no retrying a bad URL
    assert len(server.requests) <= 2


def test_a_bfl_job_that_never_becomes_ready_ends_at_its_deadline(project):
    with Faulty(lambda s, method, path: (200, _job(s) if method == "POST" else {"status": "Pending"},
                                         "application/json")) as server:
        _fails(project, "bfl", server, "BFL's job j1 was not ready in 0.3 s", options={"poll_timeout": 0.3})


@pytest.mark.parametrize("backend", list(MODELS))
def test_a_server_that_never_answers_is_one_line_within_the_timeout(project, backend):
    if backend == "gemini":
        pytest.importorskip("google.genai")
    with Faulty(lambda *_: None) as server:
        started = time.monotonic()
        _fails(project, backend, server, "did not answer within 0.3 s", options={"timeout": 0.3})
    assert time.monotonic() - started < 4


@pytest.mark.parametrize("backend", list(MODELS))
def test_a_key_the_server_echoes_back_never_reaches_the_message(project, backend):
    if backend == "gemini":
        pytest.importorskip("google.genai")
    env, key = KEYS[backend]

    def echo(server, method, path):
        headers = server.requests[-1]["headers"]
        given = headers.get("Authorization") or headers.get("authorization") or headers.get("x-key") \
            or headers.get("x-goog-api-key")
        text = f"Incorrect API key provided: {given}"
        return 401, {"error": {"message": text, "code": 401}, "detail": text, "errors": [text]}, "application/json"

    with Faulty(echo) as server:
        exc = _fails(project, backend, server, "answered 401: Incorrect API key provided: ")
    assert key not in str(exc) and key[:-1] not in str(exc) and "***" in str(exc)


def _calls(project) -> list[dict]:
    """The cache records' meta of every node that made hosted calls."""
    metas = [json.loads(p.read_text()).get("meta", {}) for p in (project.root / "cache" / "objects").glob("*/*.meta")]
    return [m for m in metas if m.get("calls")]


WIDE = "  output wide 128 x 48 outpaint\n"  # two margins: two calls in one node


def test_every_call_of_a_node_keeps_its_request_id(project):
    with OpenAIImages() as server:
        _build(project, "openai", server, more=WIDE)
    metas = _calls(project)
    outpaint = next(m for m in metas if m["calls"] == 2)
    assert outpaint["request_ids"] == ["req_0002", "req_0003"]  # both margins' calls, not the last only
    assert any(m["request_ids"] == ["req_0001"] for m in metas)  # the sky
    with BFLImages() as server:
        _build(project, "bfl", server, prompt="grey sky")
    assert any(m["request_ids"] == ["job-0001"] for m in _calls(project))  # BFL's job id


def test_max_calls_is_never_spent_on_a_node_it_cannot_finish(project):
    with StabilityImages() as server, pytest.raises(BuildError, match="more than 2 hosted calls"):
        _build(project, "stability", server, more=WIDE, options={"max_calls": 2})
    assert len(server.requests) == 1  # the sky; not the first margin of an out-paint that needs two


def test_max_calls_is_each_builds_own_budget(project):
    """Watch mode rebuilds with one options object: each rebuild has the whole budget again."""
    with StabilityImages() as server:
        options = Options(cache=project.root / "cache", out=project.root / "out",
                          backend_options={"max_calls": 1, "retries": 0})
        for prompt in ("grey sky", "pink sky"):
            path = project.write("r.brief", BRIEF.format(backend="stability", model=MODELS["stability"],
                                                         url=server.url, prompt=prompt, more=""))
            build_file(path, options)  # each build makes one call: within its own budget
    assert len(server.requests) == 2


def test_builds_that_share_a_cache_hold_the_limit_on_calls_at_once(project):
    """Two builds at once (a farm's two workers, here two threads, each its own options) share one
    limit per backend through the cache folder: at most `concurrency` calls in flight."""
    inflight, most, lock = [0], [0], threading.Lock()

    def slow(server, method, path):
        with lock:
            inflight[0] += 1
            most[0] = max(most[0], inflight[0])
        time.sleep(0.15)
        with lock:
            inflight[0] -= 1
        png = base64.b64decode(
            "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGNgYGAAAAAEAAH2FzhVAAAAAElFTkSuQmCC")
        return 200, png, "image/png", {"finish_reason": "SUCCESS"}

    with Faulty(slow) as server:
        errors = []

        def build(name):
            try:
                path = project.write(f"{name}/r.brief", BRIEF.format(
                    backend="stability", model=MODELS["stability"], url=server.url, prompt=f"{name} sky",
                    more=f'  component sun {{\n    prompt "a {name} sun"\n    region box 0% 0% 50% 50%\n'
                         '    context none\n    z 2\n  }\n'))
                build_file(path, Options(cache=project.root / "cache", out=project.root / name / "out",
                                         backend_options={"concurrency": 1, "retries": 0}))
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=build, args=(n,)) for n in ("a", "b")]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == [] and len(server.requests) == 4 and most[0] == 1


def test_each_brief_calls_its_own_endpoint(project):
    """Two briefs of one file, each its model through its own endpoint: each brief's calls go to its
    endpoint (not both to whichever backend line was read last)."""
    with BFLImages() as first, BFLImages() as second:
        text = "".join(BRIEF.format(backend="bfl", model=model, url=server.url, prompt="sky", more="").replace(
            "brief r ", f"brief {name} ") for name, model, server in (
                ("a", "flux-pro-1.0-fill", first), ("b", "flux-kontext-pro", second)))
        path = project.write("r.brief", text)
        build_file(path, Options(cache=project.root / "cache", out=project.root / "out",
                                 backend_options={"poll_interval": 0.01}))
    assert [r["model"] for r in first.requests] == ["flux-pro-1.0-fill"]
    assert [r["model"] for r in second.requests] == ["flux-kontext-pro"]


def test_an_endpoint_that_is_not_a_url_is_refused_at_the_backend_line(project):
    from brief.lang.diagnostics import DiagnosticError

    path = project.write("r.brief", BRIEF.format(backend="stability", model=MODELS["stability"],
                                                 url="api.stability.ai", prompt="sky", more=""))
    with pytest.raises(DiagnosticError, match=r"endpoint `api.stability.ai` is not an http\(s\) URL") as exc:
        build_file(path, Options(cache=project.root / "cache", out=project.root / "out"))
    assert exc.value.diagnostics[0].span.line == 4


def test_an_edit_around_a_component_never_repaints_the_component(project):
    """`inpaint around product 12px`: the band around the product is painted, the product itself is
    not, to its last edge pixel (the feathering stays outside it), as the draft backend does."""
    import numpy as np
    from PIL import Image

    product = ('  component product {\n    asset "assets/product.png"\n    region box 20% 30% 70% 90%\n    z 3\n  }\n')
    shadow = '  edit shadow {\n    inpaint around product 12px\n    prompt "soft shadow"\n  }\n'
    with OpenAIImages() as server:
        _build(project, "openai", server, more=product + shadow)
        folder = project.root / "out" / "r"
        x0, y0, x1, y1 = json.loads((folder / "manifest.json").read_text())["layers"]["product"]["box"]
        layer = np.asarray(Image.open(folder / "layers" / "product.png").convert("RGBA"))
        edited = np.asarray(Image.open(folder / "main.png").convert("RGB"))
        _build(project, "openai", server, more=product)
        plain = np.asarray(Image.open(folder / "main.png").convert("RGB"))
    solid = layer[..., 3] == 255
    assert solid.sum() > 500 and not np.array_equal(edited, plain)  # the band was painted
    assert np.array_equal(edited[y0:y1, x0:x1][solid], plain[y0:y1, x0:x1][solid])  # the product was not
    mask = server.requests[1]["mask"][..., 3]  # what the service was asked to paint: transparent = paint
    assert mask.min() == 0 and mask.max() == 255


def test_the_cli_says_one_line_and_exits_1(project):
    """What a user sees of a proxy's page in place of BFL's answer (it was an internal error, exit 3)."""
    from test_cli import run

    with Faulty(lambda *_: HTML) as server:
        path = project.write("r.brief", BRIEF.format(backend="bfl", model=MODELS["bfl"], url=server.url,
                                                     prompt="sky", more=""))
        res = run("build", path, "--cache", project.root / "cache", "-q")
    assert res.returncode == 1, res.stderr
    assert res.stderr.strip().splitlines() == [
        "r.brief:5:3: error: component sky of r: BFL answered 200 with something that is not JSON (text/html): "
        "<html><body>gateway hiccup</body></html>"]
    assert not (project.root / "out").exists()


MATRIX = '''brief r {{
  canvas 64 x 48
  seed 4
  backend stability "sd3.5-large" endpoint "{url}"
  matrix mood {{
    calm "calm"
    bold "bold"
    wild "wild"
  }}
  component sky {{
    prompt "{{mood}} sky"
  }}
}}
'''


def test_max_calls_is_a_renders_budget_across_its_variants(project):
    """`brief render --max-calls N` spends at most N calls on the whole batch, not N per variant
    (each variant is a build of its own): the variants past the budget fail, and say why."""
    from brief.runtime import farm

    with StabilityImages() as server:
        path = project.write("r.brief", MATRIX.format(url=server.url))
        batch = farm.render_local([str(path)], Options(cache=project.root / "cache", out=project.root / "out",
                                                       backend_options={"max_calls": 2, "retries": 0}))
    assert len(server.requests) == 2
    assert [o.error == "" for o in batch.outcomes] == [True, True, False]
    assert "more than 2 hosted calls" in batch.outcomes[2].error
