"""The brief language front end: parse → check → compile. Pure Python; no imaging libraries.

Stages, one module each: `parser` (text → AST), `load` (a file and the files it `use`s),
`check` (diagnostics over the AST), `compile` (AST → operation graph), `fmt` (canonical text).
"""
