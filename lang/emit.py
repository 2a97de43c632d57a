"""Emitting a compiled graph: the JSON document (sorted keys, stable order) and Graphviz DOT.

Both are deterministic: the same program gives the same bytes, whatever the order of dict
insertion or the machine. The document's models (pydantic) and pydot are imported only by the
function that needs them: `brief` starts without them.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

from .compile import OP_VERSIONS, OpGraph

if TYPE_CHECKING:
    from .schema import GraphDocument


def document(graph: OpGraph, project_root: str) -> GraphDocument:
    from .schema import GraphDocument, LayerDoc, NodeDoc, VariantDoc  # pydantic: only for the document

    g = graph.graph
    nodes = {}
    for key in sorted(g.nodes):
        a = g.nodes[key]
        nodes[key] = NodeDoc(op=a["op"], version=OP_VERSIONS[a["op"]], params=a["params"], inputs=a["inputs"],
                             lock=a["lock"], region=a["region"], reads=a["reads"], span=a["span"], label=a["label"],
                             files=a["files"], space=a.get("space"))
    variants = [VariantDoc(name=v.name, brief=v.brief, file=v.file, axes=v.axes, canvas=v.canvas,
                           backend=v.backend, layers=[LayerDoc(component=k, node=n) for k, n in v.layers.items()],
                           image=v.image, outputs=v.outputs, checks=v.checks, delivery=v.delivery,
                           export=v.export)
                for v in graph.variants]
    return GraphDocument(schema="brief-graph/1", project_root=project_root, variants=variants, nodes=nodes)


def to_json(graph: OpGraph, project_root: str) -> str:
    data = document(graph, project_root).model_dump(mode="json", by_alias=True)
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def to_dot(graph: OpGraph) -> str:
    """Graphviz DOT through pydot: one box per node, labelled with op, what it is and a short id."""
    import networkx as nx

    g = graph.graph
    view: nx.DiGraph[str] = nx.DiGraph(name="brief")
    for key in sorted(g.nodes):
        a = g.nodes[key]
        view.add_node(key[:12], label=f'"{a["op"]}\\n{a["label"]}\\n{key[:8]}"', shape="box")
    for key in sorted(g.nodes):
        for i in g.nodes[key]["inputs"]:
            view.add_edge(i[:12], key[:12])
    return nx.nx_pydot.to_pydot(view).to_string()


def json_schema() -> str:
    from .schema import GraphDocument

    return json.dumps(GraphDocument.model_json_schema(by_alias=True), indent=2, sort_keys=True) + "\n"


def relative_root(root, entry: str) -> str:
    """The project root as seen from the entry brief's folder (`..` for examples/campaign/x.brief):
    the same from any working directory or machine."""
    rel = os.path.relpath(os.path.realpath(root), os.path.dirname(os.path.realpath(entry)))
    return rel.replace(os.sep, "/")


GPU_BACKENDS = ("diffusers",)  # backends that render on a GPU: their steps ask the farm for one


def to_openjd(briefs: list[tuple[str, OpGraph, int]], project_root: str, brief_command: str,
              cache_dir: str, out_dir: str, remote_cache: str = "") -> dict:
    """An Open Job Description job template (jobtemplate-2023-09) rendering the given briefs.

    `briefs` holds (path relative to the project root, compiled graph, number of shared nodes).
    Job parameters: the project folder, the worker's local cache, the cache's remote tier (an
    S3 bucket the workers share; empty: the worker's own configuration), the output folder and the
    `brief` command (default `brief`, on the workers' PATH). Per brief, a `Shared` step renders the
    nodes several variants share (when there are any) and a `Render` step, depending on it, has one
    task per variant running `brief build --variant …`; tasks are idempotent, so a retried task
    rewrites the same bytes. A brief whose backend renders on a GPU asks for a host with one.
    """
    steps: list[dict[str, object]] = []
    for index, (rel, graph, shared) in enumerate(briefs, 1):
        stem = os.path.splitext(os.path.basename(rel))[0]
        tag = f"{index}-{stem}"[:40]
        brief = "{{Param.ProjectDir}}/" + rel
        common = ["--cache", "{{Param.CacheDir}}", "--remote-cache", "{{Param.RemoteCache}}",
                  "--out", "{{Param.OutDir}}", "-q"]
        host = {"hostRequirements": {"amounts": [{"name": "amount.worker.gpu", "min": 1}]}} \
            if any(v.backend.get("backend") in GPU_BACKENDS for v in graph.variants) else {}
        depends = []
        if shared:
            steps.append({"name": f"Shared-{tag}", "description": f"the {shared} nodes that several variants of "
                          f"{rel} share, rendered once",
                          "script": {"actions": {"onRun": {"command": "{{Param.BriefCommand}}",
                                                           "args": ["render", brief, "--shared-only", *common]}}},
                          **host})
            depends = [{"dependsOn": f"Shared-{tag}"}]
        step: dict[str, object] = {"name": f"Render-{tag}", "description": f"every variant of {rel}",
                "parameterSpace": {"taskParameterDefinitions": [
                    {"name": "Variant", "type": "STRING", "range": [v.name for v in graph.variants]}]},
                "script": {"actions": {"onRun": {"command": "{{Param.BriefCommand}}",
                                                 "args": ["build", brief, "--variant", "{{Task.Param.Variant}}",
                                                          *common]}}}}
        if depends:
            step["dependencies"] = depends
        step.update(host)
        steps.append(step)
    return {
        "specificationVersion": "jobtemplate-2023-09",
        "name": "brief: " + ", ".join(os.path.basename(rel) for rel, _, _ in briefs),
        "parameterDefinitions": [
            {"name": "ProjectDir", "type": "PATH", "objectType": "DIRECTORY", "dataFlow": "IN",
             "default": project_root, "description": "the project folder the briefs are in"},
            {"name": "CacheDir", "type": "PATH", "objectType": "DIRECTORY", "dataFlow": "INOUT",
             "default": cache_dir, "description": "the worker's local cache"},
            {"name": "RemoteCache", "type": "STRING", "default": remote_cache, "minLength": 0,
             "description": "the cache's remote tier the workers share, s3://BUCKET[/PREFIX] (empty: each "
                            "worker's BRIEF_REMOTE_CACHE or brief.toml; credentials and AWS_ENDPOINT_URL from "
                            "the worker's environment)"},
            {"name": "OutDir", "type": "PATH", "objectType": "DIRECTORY", "dataFlow": "OUT",
             "default": out_dir, "description": "where out/<brief>[<variant>]/ folders go"},
            {"name": "BriefCommand", "type": "STRING", "default": brief_command,
             "description": "the brief command on the workers (default: brief, on their PATH)"},
        ],
        "steps": steps,
    }
