"""Positions: `lang` spans (1-based lines, columns in characters, offsets) ↔ LSP positions and
ranges (0-based lines, UTF-16 code units, as the protocol's default encoding counts them)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from lsprotocol import types as lsp

from brief.lang import ast


def uri_to_path(uri: str) -> str:
    parsed = urlparse(uri)
    return unquote(parsed.path) if parsed.scheme == "file" else uri


def path_to_uri(path: str) -> str:
    return Path(path).absolute().as_uri()


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


class Lines:
    """One text's lines, for converting between offsets and LSP positions."""

    def __init__(self, text: str):
        self.text = text
        self.starts = [0]
        for i, ch in enumerate(text):
            if ch == "\n":
                self.starts.append(i + 1)

    def line_text(self, line: int) -> str:
        start = self.starts[line]
        end = self.starts[line + 1] - 1 if line + 1 < len(self.starts) else len(self.text)
        return self.text[start:end]

    def position(self, offset: int) -> lsp.Position:
        offset = max(0, min(offset, len(self.text)))
        lo, hi = 0, len(self.starts) - 1
        while lo < hi:  # the last line starting at or before the offset
            mid = (lo + hi + 1) // 2
            if self.starts[mid] <= offset:
                lo = mid
            else:
                hi = mid - 1
        return lsp.Position(lo, _utf16(self.text[self.starts[lo]:offset]))

    def offset(self, pos: lsp.Position) -> int:
        if pos.line >= len(self.starts):
            return len(self.text)
        line = self.line_text(pos.line)
        units = 0
        for i, ch in enumerate(line):
            if units >= pos.character:
                return self.starts[pos.line] + i
            units += 2 if ord(ch) > 0xFFFF else 1
        return self.starts[pos.line] + len(line)

    def range(self, start: int, end: int) -> lsp.Range:
        return lsp.Range(self.position(start), self.position(end))

    def span_range(self, span: ast.Span) -> lsp.Range:
        return self.range(span.start, max(span.end, span.start))


def whole(text: str) -> lsp.Range:
    lines = Lines(text)
    return lines.range(0, len(text))
