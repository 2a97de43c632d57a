"""brief: a declarative spec language, compiler and runtime for AI image production.

The installed package `brief` maps to the repository root: `brief.lang` (parse, check, compile;
pure, no imaging libraries), `brief.runtime` (execution) and `brief.cli` (wiring).
"""

__version__ = "0.1.0"
