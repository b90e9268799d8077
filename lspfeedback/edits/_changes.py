"""`Changes`, what `verify` accepts, and how the engine tells its two kinds apart.

A list of paths means "these files changed on disk: re-read them" (`is_disk_paths`); every
other form is an edit, parsed by `parse_changes` into workspace path -> new text (None for a
deletion) before anything is touched.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeAlias

from lsprotocol import types

from lspfeedback._exceptions import EditError
from lspfeedback.edits._buffer import Reader
from lspfeedback.edits._parse import parse_edits

__all__ = ["Changes", "DiskPaths", "FullTexts", "TextEditMap", "is_disk_paths", "parse_changes"]

FullTexts: TypeAlias = Mapping[str | os.PathLike[str], str | None]
"""Path -> complete new text; None deletes the file."""

TextEditMap: TypeAlias = Mapping[str, Sequence[types.TextEdit | types.AnnotatedTextEdit | Mapping[str, Any]]]
"""Path (or ``file://`` URI) -> LSP ``TextEdit`` list (objects or their JSON), applied together."""

DiskPaths: TypeAlias = Iterable[str | os.PathLike[str]]
"""Paths that changed on disk: re-read them and report what their change did."""

Changes: TypeAlias = FullTexts | TextEditMap | types.WorkspaceEdit | Mapping[str, Any] | str | DiskPaths
"""What `verify` accepts:

- `FullTexts`: ``{path: new full text or None}``;
- `TextEditMap`: ``{path: [TextEdit, ...]}``;
- an LSP ``WorkspaceEdit``, as an ``lsprotocol`` object or its JSON (camelCase) mapping, with
  create, rename and delete operations;
- a ``str`` holding a unified diff (git style, several files) or SEARCH/REPLACE blocks;
- `DiskPaths`: an iterable of paths changed on disk (``verify`` only).
"""


def is_disk_paths(changes: object) -> bool:
    """True for a list (any non-mapping iterable, not a string) of paths changed on disk."""
    return isinstance(changes, Iterable) and not isinstance(changes, str | bytes | Mapping)


def parse_changes(changes: Changes, *, relpath: Callable[[str | os.PathLike[str]], str],
                  read: Reader, root: Path) -> dict[str, str | None]:
    """Parse an edit into workspace path -> new full text (None for a deletion).

    ``relpath`` resolves and contains a path (raising `PathOutsideWorkspace`); ``read`` gives
    a path's current text. Raises `EditError` (or `EditApplyError`, saying where) for an edit
    that cannot apply, for a list of paths, which is not an edit, and for a new text that
    cannot be written as UTF-8 (a lone surrogate), naming the file and where.
    """
    if is_disk_paths(changes):
        raise EditError("a list of paths is not an edit: pass full texts, a diff, "
                        "SEARCH/REPLACE blocks or LSP edits")
    if isinstance(changes, Mapping):
        values = list(changes.values())  # type: ignore[union-attr]
        if all(isinstance(v, str | None) for v in values) and \
                all(isinstance(k, str | os.PathLike) for k in changes):  # type: ignore[union-attr]
            # Full texts; None is a deletion (as in `overlays` and a session's base).
            return _encodable({relpath(p): t for p, t in changes.items()})  # type: ignore[union-attr]
        if any(isinstance(v, bytes) for v in values):
            raise EditError("new texts must be str, not bytes: decode them first")

    def read_path(path: str) -> str | None:
        return read(relpath(path))

    parsed = parse_edits(changes, read_path, root=root)  # type: ignore[arg-type]
    return _encodable({relpath(p): t for p, t in parsed.items()})


def _encodable(changes: dict[str, str | None]) -> dict[str, str | None]:
    """``changes``, once every new text is known to encode to UTF-8 (what the servers and the
    disk are given); raises `EditError` naming the file, line and column otherwise."""
    for rel, text in changes.items():
        if text is None:
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            line = text.count("\n", 0, exc.start) + 1
            column = exc.start - (text.rfind("\n", 0, exc.start) + 1) + 1
            raise EditError(
                f"{rel}: the new text cannot be encoded as UTF-8 at line {line}, column {column} "
                f"(U+{ord(text[exc.start]):04X} is a lone surrogate); nothing was applied: "
                "send the text without it") from None
    return changes
