"""Batches and farms: a 2×3 matrix rendered locally and on Ray gives the same bytes; a worker
killed mid-batch is retried and the batch completes; the OpenJD template validates and runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from brief.runtime.build import Options
from runtime_helpers import output_bytes
from test_cli import run

MATRIX = '''brief m {
  canvas 640 x 480
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


@pytest.mark.slow
def test_ray_batch_is_byte_identical_and_survives_a_killed_worker(project, tmp_path, monkeypatch):
    pytest.importorskip("ray")
    import ray

    from brief.runtime import farm

    path = project.write("m.brief", MATRIX)
    local = farm.render_local([str(path)], Options(cache=tmp_path / "c1", out=tmp_path / "local"))
    marker = tmp_path / "kill-a-worker"
    marker.write_text("")
    monkeypatch.setenv(farm.CHAOS, str(marker))
    try:
        batch = farm.render_ray([str(path)], Options(cache=tmp_path / "c2", out=tmp_path / "ray"), workers=2)
    finally:
        ray.shutdown()
    assert not marker.exists(), "a worker was killed mid-batch"
    assert len(batch.outcomes) == 6 and not batch.failures
    assert [o.variant for o in batch.outcomes] == [o.variant for o in local.outcomes]
    assert output_bytes(tmp_path / "ray") == output_bytes(tmp_path / "local")


def test_openjd_template_validates_and_runs(project, tmp_path):
    model = pytest.importorskip("openjd.model")
    path = project.write("m.brief", MATRIX.replace("640 x 480", "160 x 120"))
    job = tmp_path / "job.json"
    res = run("compile", path, "--emit", "openjd", "--cache", tmp_path / "cache", "--out", tmp_path / "out", "-o", job)
    assert res.returncode == 0, res.stderr
    template = json.loads(job.read_text())
    assert template["specificationVersion"] == "jobtemplate-2023-09"
    decoded = model.decode_job_template(template=template)
    steps = [s.name for s in decoded.steps]
    assert steps == ["Shared-1-m", "Render-1-m"]
    render = template["steps"][1]
    assert render["dependencies"] == [{"dependsOn": "Shared-1-m"}]
    assert len(render["parameterSpace"]["taskParameterDefinitions"][0]["range"]) == 6
    assert {p["name"] for p in template["parameterDefinitions"]} >= {"CacheDir", "OutDir", "ProjectDir"}
    openjd = shutil.which("openjd") or os.path.join(os.path.dirname(sys.executable), "openjd")
    if not os.path.exists(openjd):
        pytest.skip("openjd CLI not installed")
    done = subprocess.run([openjd, "run", str(job), "--step", "Render-1-m", "--run-dependencies"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert len(list((tmp_path / "out").iterdir())) == 6
    # a task run twice is idempotent: the same bytes
    before = output_bytes(tmp_path / "out")
    again = subprocess.run([openjd, "run", str(job), "--step", "Render-1-m", "--task-param",
                            "Variant=m[season=summer,sku=red]"], capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and output_bytes(tmp_path / "out") == before
