"""The compiler: determinism, Merkle keys that change exactly when a dependency changes, variants,
and the JSON document's schema."""

from __future__ import annotations

import json
import shutil

import networkx as nx

from brief.lang.check import check_program
from brief.lang.compile import compile_program
from brief.lang.emit import to_dot, to_json
from brief.lang.load import load
from brief.lang.schema import GraphDocument

BASE = '''use "brands/acme.brief"
brief b {
  canvas 1000 x 500
  seed 3
  brand acme
  matrix season { summer "sunny" autumn "leafy" }
  component sky { prompt "{season} sky" region full }
  component kite { prompt "a kite" region box 60% 10% 80% 30% z 5 }
  component far { prompt "a bird" region box 0% 0% 10% 10% z 6 context none }
  component product { asset "assets/product.png" region box 30% 40% 70% 95% z 10 color red within 2 }
  component logo { asset "assets/logo.png" region anchor top-right 100px x 50px margin 20px z 20 }
  edit shadow { inpaint around product 24px prompt "shadow" }
  edit tone { recolor product to red }
  check color product
  check clearspace logo
  output square 800 x 800 outpaint
}
'''


def ids(graph) -> set[str]:
    return set(graph.graph.nodes)


def by_label(graph, variant: int = 0) -> dict[str, str]:
    """'component kite' → node id, for one variant (layers, edits, outputs, checks)."""
    v = graph.variants[variant]
    g = graph.graph
    wanted = nx.ancestors(g, v.export) | {v.export}
    return {f"{g.nodes[n]['op']} {g.nodes[n]['label']}": n for n in wanted}


def test_compiling_twice_gives_identical_bytes(project):
    first = to_json(project.compile(BASE), ".")
    second = to_json(project.compile(BASE), ".")
    assert first == second
    assert to_dot(project.compile(BASE)) == to_dot(project.compile(BASE))


def test_examples_compile_deterministically(examples_copy):
    def emit():
        program = load(examples_copy / "campaign" / "runner.brief")
        check_program(program)
        return to_json(compile_program(program), ".")
    a, b = emit(), emit()
    assert a == b
    doc = GraphDocument.model_validate_json(a)
    assert [v.name for v in doc.variants] == ["runner[season=summer]", "runner[season=autumn]"]


def test_comments_and_whitespace_change_no_node_id(project):
    noisy = BASE.replace("\n", "   # noise\n").replace("  component", "\n\n\tcomponent").replace(" z 5", "  z   5")
    noisy = "# a header\n" + noisy
    assert ids(project.compile(noisy)) == ids(project.compile(BASE))


def test_changing_one_prompt_changes_exactly_it_and_downstream(project):
    before = project.compile(BASE)
    after = project.compile(BASE.replace('"a kite"', '"a red kite"'))
    g = before.graph
    changed = ids(before) - ids(after)
    kite_nodes = {n for n in g if g.nodes[n]["label"] == "component kite"}
    expected = set(kite_nodes)
    for n in kite_nodes:
        expected |= nx.descendants(g, n)
    assert changed == expected
    labels = {g.nodes[n]["label"] for n in changed}
    # not the sky, not the far bird (context none), not the placed product or logo
    assert not labels & {"component sky", "component far", "component product", "component logo"}
    assert {"component kite", "brief b", "edit shadow", "output square"} <= labels


def test_context_scene_depends_only_on_overlapping_layers_below(project):
    graph = project.compile(BASE)
    g, v = graph.graph, graph.variants[0]
    kite_inputs = g.nodes[v.layers["kite"]]["inputs"]
    assert v.layers["sky"] in kite_inputs  # over the sky
    assert v.layers["far"] not in kite_inputs  # above it and elsewhere
    assert g.nodes[v.layers["far"]]["inputs"] == [next(i for i in g.nodes[v.layers["far"]]["inputs"])]
    assert g.nodes[v.layers["product"]]["inputs"] == []  # an asset depends only on its bytes


def test_sky_change_rerenders_layers_generated_over_it_only(project):
    before = project.compile(BASE)
    after = project.compile(BASE.replace('"{season} sky"', '"{season} sky, dusk"'))
    changed = {before.graph.nodes[n]["label"] for n in ids(before) - ids(after)
               if before.graph.nodes[n]["op"] in ("generate", "load_asset")}
    assert changed == {"component sky", "component kite"}


def test_asset_nodes_key_on_bytes_not_path(project):
    before = project.compile(BASE)
    shutil.copy(project.root / "assets" / "product.png", project.root / "assets" / "renamed.png")
    moved = project.compile(BASE.replace("assets/product.png", "assets/renamed.png"))
    assert before.variants[0].layers["product"] == moved.variants[0].layers["product"]
    (project.root / "assets" / "renamed.png").write_bytes(
        (project.root / "assets" / "logo.png").read_bytes())
    rebytes = project.compile(BASE.replace("assets/product.png", "assets/renamed.png"))
    assert before.variants[0].layers["product"] != rebytes.variants[0].layers["product"]


def test_variants_share_nodes_they_have_in_common(project):
    graph = project.compile(BASE)
    summer, autumn = graph.variants
    assert (summer.name, autumn.name) == ("b[season=summer]", "b[season=autumn]")
    assert summer.layers["product"] == autumn.layers["product"]
    assert summer.layers["far"] == autumn.layers["far"]
    assert summer.layers["sky"] != autumn.layers["sky"]
    assert summer.export != autumn.export


def test_backend_lock_is_part_of_every_key(project):
    draft = project.compile(BASE)
    model = project.write("models/m/model_index.json", "{}")
    assert model.exists()
    pinned = BASE.replace("seed 3", 'seed 3\n  backend diffusers "models/m" revision "r1"')
    a = project.compile(pinned)
    b = project.compile(pinned.replace('"r1"', '"r2"'))
    assert ids(draft).isdisjoint(ids(a)) and ids(a).isdisjoint(ids(b))
    program = load(project.root / "main.brief")
    locked = compile_program(program, lock_for=lambda d: {**d, "weights": "sha-of-weights"})
    assert ids(locked).isdisjoint(ids(a))


def test_node_attributes(project):
    graph = project.compile(BASE)
    g, v = graph.graph, graph.variants[0]
    kite = g.nodes[v.layers["kite"]]
    assert kite["op"] == "generate" and kite["region"] == [600, 50, 800, 150]
    assert kite["params"]["crop"] == [568, 18, 832, 182]
    assert kite["span"] == "main.brief:8:3"
    logo = g.nodes[v.layers["logo"]]
    assert logo["region"] == [880, 20, 980, 70] and logo["files"] == {"asset": "assets/logo.png"}
    assert [g.nodes[n]["op"] for n in v.outputs.values()] == ["outpaint"]
    ops = {g.nodes[n]["op"] for n in g}
    assert ops == {"encode_prompt", "generate", "load_asset", "composite", "inpaint", "recolor",
                   "outpaint", "check", "export", "reframe_layer"}  # rules measure the output: layers mapped there
    assert nx.is_directed_acyclic_graph(g)


def test_json_document_matches_schema_and_sorted_keys(project):
    text = to_json(project.compile(BASE), ".")
    data = json.loads(text)
    assert list(data) == sorted(data)
    doc = GraphDocument.model_validate(data)
    for node in doc.nodes.values():
        assert all(i in doc.nodes for i in node.inputs)
    assert data["schema"] == "brief-graph/1"
