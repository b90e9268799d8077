"""`EditBuffer`: the files one edit touches, before and after, all in memory."""

from __future__ import annotations

from collections.abc import Callable

from lspfeedback._exceptions import EditError

Reader = Callable[[str], str | None]
"""``read(path)``: the current text of a workspace path, or None if it does not exist."""

class EditBuffer:
    """The files an edit touches: their current text (read once) and their new text.

    Later edits of the same file see the earlier ones. Nothing is written anywhere.
    """

    def __init__(self, read: Reader) -> None:
        self._read = read
        self._before: dict[str, str | None] = {}
        self._after: dict[str, str | None] = {}

    def get(self, path: str) -> str | None:
        """The text of ``path`` as the edits so far left it (None: it does not exist)."""
        if path in self._after:
            return self._after[path]
        if path not in self._before:
            text = self._read(path)
            if text is not None and not isinstance(text, str):
                raise EditError(f"read({path!r}) returned {type(text).__name__}, not str or None")
            self._before[path] = text
        return self._before[path]

    def set(self, path: str, text: str | None) -> None:
        """Record the new text of ``path`` (None deletes it)."""
        if text is None:
            self.get(path)  # whether it existed before decides if `result` reports it
        self._after[path] = text

    def result(self) -> dict[str, str | None]:
        """``{path: new text or None}``; a file created and deleted again is left out."""
        return {
            path: text
            for path, text in self._after.items()
            if text is not None or self._before.get(path) is not None
        }
