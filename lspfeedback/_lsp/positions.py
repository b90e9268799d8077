"""Line splitting and position encodings, as LSP 3.17 defines them.

LSP lines end at ``\\n``, ``\\r\\n`` or ``\\r`` only (not at the other characters that
`str.splitlines` knows). A position's ``character`` counts code units of the negotiated
encoding: UTF-16 unless the server chose otherwise. Python strings index code points, which
is what UTF-32 counts.
"""

from __future__ import annotations

import re
from typing import Literal

from lsprotocol import types

PositionEncoding = Literal["utf-8", "utf-16", "utf-32"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def split_lines(text: str) -> list[str]:
    """Split ``text`` into LSP lines (without their line breaks). Always at least one line."""
    return _LINE_BREAK.split(text)


def line_starts(text: str) -> list[int]:
    """Code-point offsets at which each LSP line of ``text`` starts."""
    return [0] + [m.end() for m in _LINE_BREAK.finditer(text)]


def _units(s: str, encoding: PositionEncoding) -> int:
    if encoding == "utf-32":
        return len(s)
    if encoding == "utf-16":
        return len(s) + sum(1 for ch in s if ord(ch) > 0xFFFF)
    return len(s.encode("utf-8", "surrogatepass"))


def to_code_points(line: str, character: int, encoding: PositionEncoding) -> int:
    """Convert a ``character`` in ``encoding`` units on ``line`` to a code-point index.

    A position past the end of the line, or inside a multi-unit character, is clamped the way
    LSP asks: to the line end, or to the start of that character.
    """
    if encoding == "utf-32":
        return min(character, len(line))
    units = 0
    for index, ch in enumerate(line):
        width = _units(ch, encoding)
        if units + width > character:
            return index
        units += width
    return len(line)


def from_code_points(line: str, index: int, encoding: PositionEncoding) -> int:
    """Convert a code-point ``index`` on ``line`` to ``encoding`` units."""
    return _units(line[: max(0, index)], encoding)


def offset_to_position(
    text: str, offset: int, encoding: PositionEncoding, starts: list[int] | None = None
) -> types.Position:
    """The LSP position of code-point ``offset`` in ``text``."""
    starts = starts if starts is not None else line_starts(text)
    line = _line_of(starts, offset)
    start = starts[line]
    line_text = text[start:offset]
    return types.Position(line=line, character=_units(line_text, encoding))


def _line_of(starts: list[int], offset: int) -> int:
    lo, hi = 0, len(starts) - 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if starts[mid] <= offset:
            lo = mid
        else:
            hi = mid - 1
    return lo
