"""The brief language server (`brief lsp`): pygls over stdio, reusing `lang/` only.

`server.py` wires the protocol; `analysis.py` loads and checks open documents (with unsaved buffers
as overlays) and indexes their symbols (`index.py`); `completion.py`, `hover.py`, `actions.py`
(code actions and formatting), `tokens.py` (semantic tokens) and `builds.py` (the last build's
brand-check results) answer one request kind each; `positions.py` converts spans to LSP ranges.
"""
