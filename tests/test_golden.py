"""Golden graphs: each tests/golden/NAME.brief compiles to exactly NAME.graph.txt.

A change to the compiler shows up here as a reviewable diff. Rewrite the files on purpose with
`pytest tests/test_golden.py --update-golden` and read the diff before committing it.
"""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest

from brief.lang.check import check_program
from brief.lang.compile import OpGraph, compile_program
from brief.lang.load import load

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.brief"))


def render(graph: OpGraph) -> str:
    g = graph.graph
    short = {n: n[:12] for n in g}
    lines = []
    for v in graph.variants:
        backend = json.dumps(v.backend, sort_keys=True)
        lines.append(f"variant {v.name}  canvas {v.canvas[0]}x{v.canvas[1]}  backend {backend}")
        lines.append("  layers:  " + " ".join(f"{k}={short[n]}" for k, n in v.layers.items()))
        lines.append(f"  image:   {short[v.image]}")
        lines.append("  outputs: " + " ".join(f"{k}={short[n]}" for k, n in v.outputs.items()))
        lines.append("  checks:  " + " ".join(short[n] for n in v.checks))
        lines.append(f"  export:  {short[v.export]}")
    lines.append("")
    order = nx.lexicographical_topological_sort(g, key=lambda n: (g.nodes[n]["label"], n))
    for n in order:
        a = g.nodes[n]
        region = "" if a["region"] is None else f"  region {a['region']}"
        lines.append(f"{short[n]} {a['op']} ({a['label']}) at {a['span']}{region}")
        if a["inputs"]:
            lines.append("    inputs: " + " ".join(short[i] for i in a["inputs"]))
        lines.append("    params: " + json.dumps(a["params"], sort_keys=True, ensure_ascii=False))
        if a["files"]:
            lines.append("    files:  " + json.dumps(a["files"], sort_keys=True))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name", CASES)
def test_golden_graph(name, update_golden):
    program = load(GOLDEN / f"{name}.brief")
    check_program(program)
    got = render(compile_program(program))
    path = GOLDEN / f"{name}.graph.txt"
    if update_golden or not path.exists():
        path.write_text(got)
        if not update_golden:
            pytest.fail(f"wrote new golden file {path.name}; review it and run again")
    assert got == path.read_text(), f"{name}: graph changed; review, then rerun with --update-golden"


def test_every_golden_brief_has_its_graph():
    assert {p.name.removesuffix(".graph.txt") for p in GOLDEN.glob("*.graph.txt")} == set(CASES)
