"""Lines with their endings kept, as the edit formats count them."""

from __future__ import annotations

import re
from collections.abc import Sequence

Line = tuple[str, str]
"""One line of a file: its content and its line ending (``"\\r\\n"``, ``"\\n"`` or ``""``)."""

_EOL = re.compile(r"(\r\n|\n)")


def split_eol(text: str) -> list[Line]:
    """Split ``text`` into (content, ending) pairs; ``""`` has no lines.

    Lines end at ``\\n`` or ``\\r\\n``, as git and the edit formats count them (a lone ``\\r``
    stays content). Joining contents and endings gives ``text`` back.
    """
    parts = _EOL.split(text)
    lines = [(parts[k], parts[k + 1]) for k in range(0, len(parts) - 1, 2)]
    if parts[-1]:
        lines.append((parts[-1], ""))
    return lines


def join_eol(lines: Sequence[Line]) -> str:
    """The inverse of `split_eol`."""
    return "".join(content + eol for content, eol in lines)


def dominant_eol(lines: Sequence[Line]) -> str | None:
    """The file's own line ending (the more frequent of CRLF and LF), None if it has none."""
    crlf = sum(1 for _, eol in lines if eol == "\r\n")
    lf = sum(1 for _, eol in lines if eol == "\n")
    if not crlf and not lf:
        return None
    return "\r\n" if crlf > lf else "\n"


def strip_path(path: str) -> str:
    """Drop a leading ``./`` (repeatedly), the one normalisation every format shares."""
    while path.startswith("./"):
        path = path[2:]
    return path
