"""Emitting a compiled graph: the JSON document (sorted keys, stable order) and Graphviz DOT.

Both are deterministic: the same program gives the same bytes, whatever the order of dict
insertion or the machine.
"""

from __future__ import annotations

import json
import os

import networkx as nx

from .compile import OP_VERSIONS, OpGraph
from .schema import GraphDocument, LayerDoc, NodeDoc, VariantDoc


def document(graph: OpGraph, project_root: str) -> GraphDocument:
    g = graph.graph
    nodes = {}
    for key in sorted(g.nodes):
        a = g.nodes[key]
        nodes[key] = NodeDoc(op=a["op"], version=OP_VERSIONS[a["op"]], params=a["params"], inputs=a["inputs"],
                             lock=a["lock"], region=a["region"], span=a["span"], label=a["label"], files=a["files"])
    variants = [VariantDoc(name=v.name, brief=v.brief, file=v.file, axes=v.axes, canvas=v.canvas,
                           backend=v.backend,
                           layers=[LayerDoc(component=k, node=n) for k, n in v.layers.items()], image=v.image, outputs=v.outputs,
                           checks=v.checks, export=v.export) for v in graph.variants]
    return GraphDocument(schema="brief-graph/1", project_root=project_root, variants=variants, nodes=nodes)


def to_json(graph: OpGraph, project_root: str) -> str:
    data = document(graph, project_root).model_dump(mode="json", by_alias=True)
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def to_dot(graph: OpGraph) -> str:
    """Graphviz DOT through pydot: one box per node, labelled with op, what it is and a short id."""
    g = graph.graph
    view = nx.DiGraph(name="brief")
    for key in sorted(g.nodes):
        a = g.nodes[key]
        view.add_node(key[:12], label=f'"{a["op"]}\\n{a["label"]}\\n{key[:8]}"', shape="box")
    for key in sorted(g.nodes):
        for i in g.nodes[key]["inputs"]:
            view.add_edge(i[:12], key[:12])
    return nx.nx_pydot.to_pydot(view).to_string()


def json_schema() -> str:
    return json.dumps(GraphDocument.model_json_schema(by_alias=True), indent=2, sort_keys=True) + "\n"


def relative_root(root, entry: str) -> str:
    """The project root as seen from the entry brief's folder (`..` for examples/campaign/x.brief):
    the same from any working directory or machine."""
    rel = os.path.relpath(os.path.realpath(root), os.path.dirname(os.path.realpath(entry)))
    return rel.replace(os.sep, "/")
