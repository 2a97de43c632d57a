"""Several machines, simulated honestly: a Ray head and a second Ray node started on this machine
(`ray start --head`, `ray start --address …`), each with its own local cache folder and only a
SeaweedFS bucket in common (the cache's remote tier). A 24-variant batch spreads over both nodes,
renders each shared node once across them, each node fetches what the other rendered instead
of rendering it again (at least 95% of the shared results it reads), and the outputs are
byte-identical to the local executor's."""

from __future__ import annotations

import pytest

pytest.importorskip("ray")
pytest.importorskip("s3fs")

from brief.runtime.build import Options  # noqa: E402
from cluster import ray_nodes  # noqa: E402
from runtime_helpers import output_bytes  # noqa: E402

# Ray is one per machine (`ray stop` stops every node of it): every Ray test runs on one xdist worker
pytestmark = pytest.mark.xdist_group("ray")

BATCH = '''brief m {
  canvas 160 x 120
  matrix season {
    spring "spring park"
    summer "summer park"
    autumn "autumn park"
    winter "winter park"
  }
  matrix sku {
    red "red"
    blue "blue"
    gold "gold"
  }
  matrix lang {
    en "English" { cta "Shop" }
    de "Deutsch" { cta "Kaufen" }
  }
  component sky {
    prompt "{season}"
  }
  component tag {
    prompt "a {sku} tag"
    region box 10% 10% 40% 40%
  }
  component badge {
    prompt "round badge, {lang}"
    region box 60% 60% 90% 90%
    context none
  }
  edit tidy {
    remove box 40% 5% 55% 20%
  }
}
'''


@pytest.fixture
def two_nodes(s3, tmp_path):
    """(address, the two nodes' cache folders), both nodes sharing the bucket; stopped afterwards."""
    caches = [tmp_path / "node-a-cache", tmp_path / "node-b-cache"]
    with ray_nodes(caches, env={"BRIEF_REMOTE_CACHE": s3.url}) as address:
        yield address, caches


@pytest.mark.slow
def test_two_nodes_share_one_bucket_and_render_each_shared_node_once(two_nodes, project, tmp_path):
    from brief.runtime import farm

    address, caches = two_nodes
    path = str(project.write("m.brief", BATCH))
    local = farm.render_local([path], Options(cache=tmp_path / "local-cache", out=tmp_path / "local"))
    batch = farm.render_ray([path], Options(out=tmp_path / "ray"), address=address)
    assert len(batch.outcomes) == 24 and not batch.failures, [o.error for o in batch.failures]
    assert output_bytes(tmp_path / "ray") == output_bytes(tmp_path / "local")
    nodes = {o.node for o in batch.outcomes}
    assert len(nodes) == 2  # both machines rendered variants
    assert batch.shared_rendered == batch.shared > 0  # each shared node once, across both nodes
    # no variant rendered again what a shared task made, wherever it ran: each renders exactly its own nodes
    assert [o.rendered for o in batch.outcomes] == [o.rendered for o in local.outcomes]
    assert all(c.is_dir() for c in caches) and batch.teardown == 0.0  # joined, not started: left running
    fetched = sum(o.remote_hits for o in batch.outcomes)
    assert fetched > 0  # what one node made, the other fetched from the bucket
    # each node read shared results the other rendered, and got at least 95% of them from the bucket
    shares = batch.shared_inputs()
    assert set(shares) == nodes and sum(read for read, _ in shares.values()) > 0, shares
    for node, (read, got) in shares.items():
        assert got >= 0.95 * read, (node, shares)
