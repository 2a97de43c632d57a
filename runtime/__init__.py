"""The brief runtime: plans and executes operation graphs, caches results, exports files.

Arrives with the runtime issue; the package exists so the import layout is stable.
"""
