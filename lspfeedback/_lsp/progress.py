"""A server's work-done progress (``$/progress``: begin, report, end), kept per token.

A server that analyses a large project at start-up says so with work-done progress (pyright:
"Searching for source files", "Analyzing…" with a file count). `ProgressTracker` keeps the
latest state of each token and calls a hook on every change, so a caller can show it instead
of looking hung. LSP 3.17 ``WorkDoneProgressBegin/Report/End``: ``title`` comes with the
begin; a report may change ``message`` and ``percentage``; the end closes the token.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

TOKENS_KEPT = 64
"""Tokens whose state is kept at most (a server may begin progress without ending it)."""


@dataclass(frozen=True)
class Progress:
    """One work-done progress of a server, as its last ``$/progress`` left it."""

    server: str
    title: str
    message: str | None = None
    percentage: int | None = None
    done: bool = False
    """The server sent its ``end``: the work is over."""
    token: int | str = ""
    """The server's token for this work (tells two at once apart)."""


ProgressHook = Callable[[Progress], None]
"""Called with the new state after every ``$/progress`` begin, report and end."""


class ProgressTracker:
    """The work-done progress of one server: every token's latest state."""

    def __init__(self, server: str) -> None:
        self.server = server
        self._tokens: collections.OrderedDict[int | str, Progress] = collections.OrderedDict()
        self.on_progress: ProgressHook | None = None

    @property
    def latest(self) -> Progress | None:
        """The most recently changed progress still under way; None when none is."""
        for state in reversed(self._tokens.values()):
            if not state.done:
                return state
        return None

    def update(self, token: int | str, value: Any) -> Progress | None:
        """Take one ``$/progress`` value (a raw ``WorkDoneProgress*`` object). Returns the new
        state, None for a value that is not work-done progress (partial results)."""
        if not isinstance(value, dict) or value.get("kind") not in ("begin", "report", "end"):
            return None
        kind = value["kind"]
        previous = self._tokens.pop(token, None)
        title = value.get("title") if kind == "begin" else None
        state = Progress(
            server=self.server,
            title=str(title) if title is not None else (previous.title if previous else ""),
            message=_text(value.get("message"), previous.message if previous else None),
            percentage=_percentage(value.get("percentage"),
                                   previous.percentage if previous else None),
            done=kind == "end",
            token=token,
        )
        self._tokens[token] = state
        while len(self._tokens) > TOKENS_KEPT:
            self._tokens.popitem(last=False)
        if self.on_progress is not None:
            try:
                self.on_progress(state)
            except Exception:  # a caller's hook must not stop the reading of messages
                log.exception("%s: the progress hook failed", self.server)
        return state


def _text(value: Any, previous: str | None) -> str | None:
    return value if isinstance(value, str) else previous


def _percentage(value: Any, previous: int | None) -> int | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(0, min(100, int(value)))
    return previous
