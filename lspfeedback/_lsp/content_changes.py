"""The ``didChange`` content change between two texts: a span, or the whole text.

A server that syncs incrementally is sent the one changed span, in its position encoding; a
server that syncs whole documents, or a change that rewrites most of the text, gets it all.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from lspfeedback._capabilities import Capabilities
from lspfeedback._lsp.positions import line_starts, offset_to_position


def change_event(old: str, new: str,
                 caps: Capabilities | None) -> types.TextDocumentContentChangeEvent:
    """The ``didChange`` content change from ``old`` to ``new``: the changed span in the
    server's encoding when it syncs incrementally, else (or for a large change) the whole text."""
    if caps is None or not caps.incremental_sync:
        return types.TextDocumentContentChangeWholeDocument(text=new)
    start, old_end, new_end = _changed_span(old, new)
    if old_end - start > len(old) // 2:
        return types.TextDocumentContentChangeWholeDocument(text=new)  # fast path
    starts = line_starts(old) if "\r" in old else None  # else counted per position
    return types.TextDocumentContentChangePartial(
        range=types.Range(
            start=offset_to_position(old, start, caps.encoding, starts),
            end=offset_to_position(old, old_end, caps.encoding, starts),
        ),
        text=new[start:new_end],
    )


def _changed_span(old: str, new: str) -> tuple[int, int, int]:
    """``(start, old_end, new_end)``: old[start:old_end] was replaced by new[start:new_end]."""
    limit = min(len(old), len(new))
    start = _common_length(old, new, limit, lambda n: old[:n] == new[:n])
    end = _common_length(
        old, new, limit - start, lambda n: old[len(old) - n:] == new[len(new) - n:]
    )
    # Never split a \r\n pair: a position between them is not a valid LSP position.
    if start > 0 and old[start - 1] == "\r" and old[start:start + 1] == "\n":
        start -= 1
    old_end, new_end = len(old) - end, len(new) - end
    if old_end < len(old) and old[old_end - 1:old_end] == "\r" and old[old_end] == "\n":
        old_end += 1
        new_end += 1
    return start, old_end, new_end


def _common_length(old: str, new: str, limit: int, same: Any) -> int:
    """Largest n <= limit with ``same(n)``, by binary search: slices compare in C."""
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if same(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo
