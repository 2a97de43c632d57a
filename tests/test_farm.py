"""Batches and farms: a 2×3 matrix rendered locally and on Ray gives the same bytes; a worker
killed mid-batch is retried and the batch completes; a variant (or a shared node) whose worker
always dies fails alone; GPU backends get one actor per GPU; the OpenJD template validates and runs.

The Ray tests share one local Ray session (starting Ray is the slow part)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from brief.runtime.build import Options
from runtime_helpers import output_bytes
from test_cli import run

# Ray is one per machine (`ray stop` stops every node of it): every Ray test runs on one xdist worker
pytestmark = pytest.mark.xdist_group("ray")

MATRIX = '''brief m {
  canvas 320 x 240
  matrix season {
    summer "summer park"
    autumn "autumn park"
  }
  matrix sku {
    red "red"
    blue "blue"
    gold "gold"
  }
  component sky {
    prompt "{season}"
  }
  component tag {
    prompt "a {sku} tag"
    region box 10% 10% 40% 40%
    context none
  }
  component badge {
    prompt "round badge"
    region box 60% 60% 90% 90%
    context none
  }
}
'''


def test_local_batch_renders_shared_nodes_once(project):
    from brief.runtime import farm

    path = project.write("m.brief", MATRIX)
    batch = farm.render_local([str(path)], Options(cache=project.root / "c", out=project.root / "out"))
    assert len(batch.outcomes) == 6 and not batch.failures
    assert batch.shared == batch.shared_rendered > 0
    assert all(o.rendered == 1 for o in batch.outcomes)  # only each variant's own composite
    assert sorted(p.name for p in (project.root / "out").iterdir()) == sorted(
        f"m[season={s},sku={k}]" for s in ("summer", "autumn") for k in ("red", "blue", "gold"))


def test_a_worker_compiles_a_brief_once_whatever_budget_its_tasks_carry(project):
    """`--max-calls` puts the batch's budget in every task's options; each task unpickles its own
    copy of it (on Ray, a handle of the actor that holds the count), which is no reason to compile
    the brief again: a worker keeps each brief compiled across tasks, and kept one per task."""
    from brief.runtime import farm
    from brief.runtime.backends.hosted_call import Budget

    path = str(project.write("m.brief", MATRIX))
    options = Options(cache=project.root / "c", backend_options={"max_calls": 4})
    first = farm._compiled(path, farm._with_budget(options, Budget(4)))
    kept = len(farm._COMPILED)
    assert farm._compiled(path, farm._with_budget(options, Budget(4))) is first  # the next task's copy
    assert len(farm._COMPILED) == kept

def test_actor_count_one_per_gpu_for_gpu_backends():
    from brief.runtime.farm import actor_plan

    assert actor_plan({"CPU": 16.0, "GPU": 4.0}, gpu_backend=True, workers=None) == (4, 1)
    assert actor_plan({"CPU": 16.0, "GPU": 4.0}, gpu_backend=True, workers=2) == (2, 1)
    assert actor_plan({"CPU": 16.0, "GPU": 4.0}, gpu_backend=True, workers=32) == (4, 1)  # never more than GPUs
    assert actor_plan({"CPU": 16.0, "GPU": 4.0}, gpu_backend=False, workers=None) == (16, 0)
    assert actor_plan({"CPU": 16.0}, gpu_backend=True, workers=None) == (16, 0)  # no GPU: diffusers on CPUs
    assert actor_plan({"CPU": 8.0}, gpu_backend=False, workers=3) == (3, 0)
    assert actor_plan({}, gpu_backend=False, workers=None) == (1, 0)


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    with pytest.MonkeyPatch.context() as env:
        env.setenv("STABILITY_API_KEY", "sk-farm-test")  # in the workers' own environment, as on a farm
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        yield ray
        ray.shutdown()


HOSTED = '''brief h {
  canvas 64 x 48
  seed 4
  backend stability "sd3.5-large" endpoint "URL"
  matrix mood {
    calm "calm"
    bold "bold"
    wild "wild"
  }
  component sky {
    prompt "{mood} sky"
  }
}
'''


@pytest.mark.slow
def test_max_calls_is_the_batchs_budget_across_every_worker(ray_session, project, tmp_path):
    """`--max-calls N` on a farm: N calls for the whole batch, whichever workers make them (each
    task is a build of its own, in a process of its own); the variants past it fail, saying why."""
    pytest.importorskip("httpx")
    from brief.runtime import farm
    from hosted_server import StabilityImages

    with StabilityImages() as server:
        path = project.write("h.brief", HOSTED.replace("URL", server.url))
        batch = farm.render_ray([str(path)], Options(cache=tmp_path / "c", out=tmp_path / "out", backend_options={
            "max_calls": 2, "retries": 0}), workers=2)
    assert len(server.requests) == 2
    failed = [o for o in batch.outcomes if o.error]
    assert len(failed) == 1 and "more than 2 hosted calls" in failed[0].error, [o.error for o in batch.outcomes]


@pytest.mark.slow
def test_ray_batch_is_byte_identical_and_survives_a_killed_worker(ray_session, project, tmp_path, monkeypatch):
    from brief.runtime import farm

    path = project.write("m.brief", MATRIX)
    local = farm.render_local([str(path)], Options(cache=tmp_path / "c1", out=tmp_path / "local"))
    marker = tmp_path / "kill-a-worker"
    marker.write_text("")
    monkeypatch.setenv(farm.CHAOS, str(marker))
    batch = farm.render_ray([str(path)], Options(cache=tmp_path / "c2", out=tmp_path / "ray"), workers=2)
    assert not marker.exists(), "a worker was killed mid-batch"
    assert len(batch.outcomes) == 6 and not batch.failures
    assert [o.variant for o in batch.outcomes] == [o.variant for o in local.outcomes]
    assert output_bytes(tmp_path / "ray") == output_bytes(tmp_path / "local")


@pytest.mark.slow
def test_split_variants_run_their_heavy_nodes_as_tasks_and_give_the_same_bytes(ray_session, project, tmp_path):
    """`split`: a variant's own generated layers are tasks of their own, done before the variant's task,
    which then renders none of them; the bytes are the local executor's."""
    from brief.runtime import farm

    own = '  component note {\n    prompt "{season} {sku} note"\n    region box 42% 42% 58% 58%\n  }\n'
    path = project.write("m.brief", MATRIX.replace("  component badge {", own + "  component badge {"))
    local = farm.render_local([str(path)], Options(cache=tmp_path / "c1", out=tmp_path / "local"))
    batch = farm.render_ray([str(path)], Options(cache=tmp_path / "c2", out=tmp_path / "ray"), workers=2, split=True)
    assert batch.split == 6 and not batch.failures  # each variant's own note layer (the rest is shared)
    assert sum(o.rendered for o in batch.outcomes) < sum(o.rendered for o in local.outcomes)
    assert output_bytes(tmp_path / "ray") == output_bytes(tmp_path / "local")


@pytest.mark.slow
def test_a_variant_whose_worker_always_dies_fails_alone(ray_session, project, tmp_path, monkeypatch):
    from brief.runtime import farm

    path = project.write("m.brief", MATRIX)
    farm.render_local([str(path)], Options(cache=tmp_path / "c1", out=tmp_path / "local"))
    doomed = "m[season=autumn,sku=blue]"
    # that variant's worker dies every time, and so does every shared-phase task holding the badge's nodes
    monkeypatch.setenv(farm.CHAOS_ALWAYS, f"{doomed};component badge")
    # each death costs a new worker process (~1 s here): one retry per task shows the retry giving up
    # as well as the default three, at half the deaths
    batches, render_ray = [], farm.render_ray
    monkeypatch.setattr(farm, "render_ray",
                        lambda *a, **k: batches.append(render_ray(*a, **{**k, "max_retries": 1})) or batches[-1])
    res = run("render", path, "--executor", "ray", "--workers", "2", "--cache", tmp_path / "c2",
              "--out", tmp_path / "ray")
    assert res.returncode == 1, res.stderr
    assert f"{doomed}: FAILED: its worker died on each of 2 tries" in res.stderr  # tried, retried, given up
    assert sum("FAILED" in line for line in res.stderr.splitlines()) == 1
    (batch,) = batches
    assert 2 <= batch.shared_failed < batch.shared  # the parts holding the badge's two nodes: given up
    local, ray_out = output_bytes(tmp_path / "local"), output_bytes(tmp_path / "ray")
    assert not any(k.startswith(doomed) for k in ray_out)
    assert ray_out == {k: v for k, v in local.items() if not k.startswith(doomed)}
    assert len({k.split("/")[0] for k in ray_out}) == 5


@pytest.mark.slow
def test_openjd_template_validates_and_runs_on_the_remote_tier(project, tmp_path, s3):
    """The template for a real farm: `brief` from the workers' PATH by default, a RemoteCache job
    parameter carrying the bucket, and `openjd run` rendering through it (SeaweedFS)."""
    model = pytest.importorskip("openjd.model")
    path = project.write("m.brief", MATRIX.replace("320 x 240", "160 x 120"))
    job = tmp_path / "job.json"
    res = run("compile", path, "--emit", "openjd", "--cache", tmp_path / "cache", "--out", tmp_path / "out",
              "--remote-cache", s3.url, "-o", job)
    assert res.returncode == 0, res.stderr
    template = json.loads(job.read_text())
    assert template["specificationVersion"] == "jobtemplate-2023-09"
    decoded = model.decode_job_template(template=template)
    steps = [s.name for s in decoded.steps]
    assert steps == ["Shared-1-m", "Render-1-m"]
    render = template["steps"][1]
    assert render["dependencies"] == [{"dependsOn": "Shared-1-m"}] and "hostRequirements" not in render  # draft: no GPU
    assert len(render["parameterSpace"]["taskParameterDefinitions"][0]["range"]) == 6
    params = {p["name"]: p for p in template["parameterDefinitions"]}
    assert set(params) >= {"CacheDir", "OutDir", "ProjectDir", "RemoteCache", "BriefCommand"}
    assert params["BriefCommand"]["default"] == "brief" and params["RemoteCache"]["default"] == s3.url
    openjd = shutil.which("openjd") or os.path.join(os.path.dirname(sys.executable), "openjd")
    if not os.path.exists(openjd):
        pytest.skip("openjd CLI not installed")
    here = ["-p", f"BriefCommand={os.path.join(os.path.dirname(sys.executable), 'brief')}"]  # not on PATH here
    done = subprocess.run([openjd, "run", str(job), "--step", "Render-1-m", "--run-dependencies", *here],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert len(list((tmp_path / "out").iterdir())) == 6
    assert s3.fs.find(s3.url[5:])  # the tasks uploaded what they made to the bucket
    # a task run twice, on a fresh worker (an empty local cache), is idempotent: the same bytes, fetched
    before = output_bytes(tmp_path / "out")
    shutil.rmtree(tmp_path / "cache")
    again = subprocess.run([openjd, "run", str(job), "--step", "Render-1-m", "--task-param",
                            "Variant=m[season=summer,sku=red]", *here], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and output_bytes(tmp_path / "out") == before
    assert "rendered 0 nodes" in again.stdout and "remote hits" in again.stdout, again.stdout[-2000:]


def test_a_gpu_backend_asks_the_farm_for_a_gpu_host():
    from brief.lang.emit import to_openjd

    class Graph:
        variants = [type("V", (), {"backend": {"backend": "diffusers"}, "name": "g"})()]

    template = to_openjd([("g.brief", Graph(), 2)], ".", "brief", "cache", "out")
    for step in template["steps"]:
        assert step["hostRequirements"] == {"amounts": [{"name": "amount.worker.gpu", "min": 1}]}


def test_an_address_where_no_cluster_answers_is_refused_at_once():
    from brief.runtime.conditions import UsageError
    from brief.runtime.farm import _reachable

    started = time.time()
    with pytest.raises(UsageError) as info:
        _reachable("127.0.0.1:1")
    assert "no Ray cluster answers at 127.0.0.1:1" in info.value.diagnostics[0].summary
    assert time.time() - started < 10


def test_a_bad_remote_tier_is_one_line_before_ray_starts(project):
    """`brief render --executor ray --remote-cache s3://missing/…`: said at once, not a traceback from
    the first task after Ray's start-up."""
    ray = pytest.importorskip("ray")
    from brief.runtime import farm
    from brief.runtime.conditions import UsageError

    path = project.write("m.brief", MATRIX)
    running = ray.is_initialized()  # the module's session, when a test before this one started it
    with pytest.raises(UsageError, match="not a remote cache URL"):
        farm.render_ray([str(path)], Options(cache=project.root / "c", remote_cache="s3://no such bucket/p"))
    assert ray.is_initialized() == running  # refused before starting Ray


@pytest.mark.slow
def test_a_task_that_fails_on_the_brief_ends_the_batch_with_its_diagnostic_not_a_traceback(ray_session):
    """A task's own DiagnosticError (a worker whose brief.toml names a missing bucket, a lock that does
    not hold there) reaches the command as that diagnostic (one line), not as Ray's wrapper."""
    from brief.lang.diagnostics import error
    from brief.runtime.conditions import UsageError
    from brief.runtime.farm import _Job, _schedule

    def refuse():
        raise UsageError([error("E444", "the remote cache's bucket `gone` does not exist", "Fix it.", None)])

    task = ray_session.remote(refuse).options(max_retries=0)
    with pytest.raises(UsageError, match="bucket `gone` does not exist"):
        list(_schedule([_Job("shared", "m.brief", "k", set())], lambda job: task.remote(), limit=1, retries=0))
