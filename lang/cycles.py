"""Cycles in the language's small dependency graphs (`use` between files, `region around` between
components), each reported once. The standard library's `graphlib` answers "is there any?" in
microseconds; networkx (a fifth of a second to import) lists them only when there are some.
"""

from __future__ import annotations

import graphlib
import itertools
from collections.abc import Iterable


def cycles(edges: Iterable[tuple[str, str]], limit: int | None = None) -> list[list[str]]:
    """The simple cycles of the directed graph given by its edges (at most `limit`), each rotated
    to start at its smallest node, so that a cycle reads the same wherever it was entered."""
    edges = list(edges)
    sorter: graphlib.TopologicalSorter[str] = graphlib.TopologicalSorter()
    for a, b in edges:
        sorter.add(b, a)
    try:
        sorter.prepare()
        return []
    except graphlib.CycleError:
        pass
    import networkx as nx

    found = []
    for cycle in itertools.islice(nx.simple_cycles(nx.DiGraph(edges)), limit):
        i = cycle.index(min(cycle))
        found.append(cycle[i:] + cycle[:i])
    return found
