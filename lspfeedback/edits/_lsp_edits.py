"""LSP edits: a ``WorkspaceEdit`` (object or JSON) or ``{path: [TextEdit, ...]}``.

Positions count code units of the given encoding (UTF-16, LSP's default, unless told) on LSP
lines (ending at ``\\n``, ``\\r\\n`` or ``\\r``); see `lspfeedback._lsp.positions`. A character
past the end of its line means the line's end, and a line past the last one the document's
end, as LSP clients treat them. Edits of one document must not overlap; inserts at the same
position appear in the order given. Edits apply from the last position to the first, so that
every range refers to the original text.

When a ``WorkspaceEdit`` has ``documentChanges`` they are used and ``changes`` is ignored, as
the LSP specification asks of clients that support them. Document versions are not checked:
the text the edit applies to is whatever ``read`` returns.
"""

from __future__ import annotations

import itertools
import os
import threading
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import cattrs
from lsprotocol import converters, types

from lspfeedback._exceptions import EditApplyError, EditError
from lspfeedback._lsp.positions import PositionEncoding, line_starts, split_lines, to_code_points
from lspfeedback.edits._buffer import EditBuffer, Reader

__all__ = ["apply_text_edit_map", "apply_text_edits", "apply_workspace_edit", "uri_to_path"]

AnyTextEdit = types.TextEdit | types.AnnotatedTextEdit | types.SnippetTextEdit
"""What a ``TextDocumentEdit`` may hold; snippet edits are refused (they need an editor)."""

_T = TypeVar("_T")


def uri_to_path(uri: str, root: str | os.PathLike[str] | None = None) -> str:
    """The path a ``file://`` URI names: relative to ``root`` (posix) when inside it.

    A URI outside ``root``, or any URI when ``root`` is None, gives the absolute path, which
    the caller is expected to reject or resolve. A string without a scheme is taken to be a
    path already and returned as is. Other schemes raise `EditError`.
    """
    parsed = urllib.parse.urlsplit(uri)
    if not parsed.scheme:
        return uri
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        raise EditError(f"{uri!r} is not a local file:// URI; edits can only name files")
    absolute = Path(os.path.normpath(urllib.parse.unquote(parsed.path)))
    if root is not None:
        # Lexical first (the root as given), then the root with its symlinks resolved.
        root_path = Path(root)
        for base in (Path(os.path.normpath(root_path.absolute())), root_path.resolve()):
            try:
                rel = absolute.relative_to(base)
            except ValueError:
                continue
            if rel.parts:
                return rel.as_posix()
    return str(absolute)


def apply_text_edits(
    text: str,
    edits: Sequence[AnyTextEdit],
    encoding: PositionEncoding = "utf-16",
    *,
    path: str = "<text>",
) -> str:
    """``text`` with ``edits`` applied; ``path`` only names the document in errors.

    Raises `EditApplyError` (``block`` = the edit's 1-based index in ``edits``) for a range
    that ends before it starts or overlaps another edit, and `EditError` for a snippet edit.
    """
    if encoding not in ("utf-8", "utf-16", "utf-32"):
        raise EditError(f"unknown position encoding {encoding!r}; use utf-8, utf-16 or utf-32")
    starts = line_starts(text)
    lines = split_lines(text)
    spans: list[tuple[int, int, int, str]] = []
    for index, edit in enumerate(edits, 1):
        if isinstance(edit, types.SnippetTextEdit):
            raise EditError(f"{path}, edit {index}: snippet edits are not supported")
        if not isinstance(edit, (types.TextEdit, types.AnnotatedTextEdit)):
            raise EditError(f"{path}, edit {index}: not a TextEdit but {type(edit).__name__}")
        start = _offset(text, starts, lines, edit.range.start, encoding, path, index)
        end = _offset(text, starts, lines, edit.range.end, encoding, path, index)
        if end < start:
            raise EditApplyError(
                path, f"the range {_show(edit.range)} ends before it starts",
                block=index, unit="edit", hint="Nothing was applied. Send a valid range.",
            )
        spans.append((start, end, index, edit.new_text))
    # Sorting by (start, end, index) puts an insert before a replacement starting at the same
    # place and keeps inserts at one position in the order given.
    spans.sort(key=lambda span: span[:3])
    for before, after in itertools.pairwise(spans):
        if after[0] < before[1]:
            first, second = sorted((before[2], after[2]))
            raise EditApplyError(
                path, f"edits {first} and {second} overlap "
                f"({_show(edits[first - 1].range)} and {_show(edits[second - 1].range)})",
                block=second, unit="edit",
                hint="Nothing was applied. Merge overlapping edits into one.",
            )
    pieces: list[str] = []
    tail = len(text)
    for start, end, _, new_text in reversed(spans):  # last position first: offsets stay valid
        pieces.append(text[end:tail])
        pieces.append(new_text)
        tail = start
    pieces.append(text[:tail])
    return "".join(reversed(pieces))


def apply_workspace_edit(
    edit: types.WorkspaceEdit | Mapping[str, object],
    read: Reader,
    *,
    root: str | os.PathLike[str] | None = None,
    encoding: PositionEncoding = "utf-16",
    uri_to_path: Callable[[str], str] | None = None,
) -> dict[str, str | None]:
    """Apply a ``WorkspaceEdit`` (or its JSON); ``{path: new text or None}``, all or nothing.

    Resource operations follow their options: ``CreateFile`` of an existing file fails unless
    ``overwrite`` (it becomes empty) or ``ignoreIfExists``; ``RenameFile`` onto an existing
    file likewise; ``DeleteFile`` of a missing file fails unless ``ignoreIfNotExists``.
    """
    workspace_edit = (
        edit if isinstance(edit, types.WorkspaceEdit) else _structure(edit, types.WorkspaceEdit)
    )
    to_path = _hook(root, uri_to_path)
    changes = EditBuffer(read)
    if workspace_edit.document_changes is not None:
        for number, change in enumerate(workspace_edit.document_changes, 1):
            _document_change(change, number, changes, to_path, encoding)
    elif workspace_edit.changes is not None:
        for uri, text_edits in workspace_edit.changes.items():
            _edit_document(to_path(uri), text_edits, changes, encoding)
    return changes.result()


def apply_text_edit_map(
    edits: Mapping[str, object],
    read: Reader,
    *,
    root: str | os.PathLike[str] | None = None,
    encoding: PositionEncoding = "utf-16",
    uri_to_path: Callable[[str], str] | None = None,
) -> dict[str, str | None]:
    """Apply ``{path or file URI: [TextEdit or its JSON, ...] or new full text}``.

    A mapping of full texts only is returned as is, without reading anything.
    """
    if all(isinstance(value, str) for value in edits.values()):
        return {path: value for path, value in edits.items() if isinstance(value, str)}
    to_path = _hook(root, uri_to_path)
    changes = EditBuffer(read)
    for key, value in edits.items():
        if not isinstance(key, str):
            raise EditError(f"paths must be str, not {type(key).__name__} ({key!r})")
        if isinstance(value, str):
            changes.set(key, value)  # a full text keeps its key as given, as above
        elif isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
            path = to_path(key) if key.startswith("file:") else key
            items: Sequence[object] = value  # pyright: ignore[reportUnknownVariableType]
            text_edits = [_as_text_edit(item, path) for item in items]
            _edit_document(path, text_edits, changes, encoding)
        else:
            raise EditError(
                f"the change for {key!r} must be its new text (str) or a list of TextEdits, "
                f"not {type(value).__name__}"
            )
    return changes.result()


# ---- internals ----------------------------------------------------------------------------


def _hook(root: str | os.PathLike[str] | None, hook: Callable[[str], str] | None) -> Callable[[str], str]:
    return hook if hook is not None else (lambda uri: uri_to_path(uri, root))


_CONVERTER_LOCK = threading.RLock()
_CONVERTER: list[Any] = []
"""One lsprotocol converter, built on first use (about 2 ms each: not one per call)."""


def _converter() -> Any:
    with _CONVERTER_LOCK:
        if not _CONVERTER:
            _CONVERTER.append(converters.get_converter())
        return _CONVERTER[0]


def _structure(data: object, cls: type[_T]) -> _T:
    """LSP JSON (camelCase) to the lsprotocol class, with a readable error."""
    try:
        with _CONVERTER_LOCK:  # cattrs builds its hooks lazily: one thread at a time
            return _converter().structure(data, cls)
    except cattrs.BaseValidationError as exc:
        detail = "; ".join(cattrs.transform_error(exc))
        raise EditError(f"not a valid {cls.__name__}: {detail}") from None
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise EditError(f"not a valid {cls.__name__}: {exc}") from None


def _as_text_edit(item: object, path: str) -> types.TextEdit | types.AnnotatedTextEdit:
    if isinstance(item, (types.TextEdit, types.AnnotatedTextEdit)):
        return item
    if isinstance(item, Mapping):
        return _structure(item, types.TextEdit)
    raise EditError(f"the edits for {path!r} must be TextEdits, not {type(item).__name__}")


def _edit_document(
    path: str, edits: Sequence[AnyTextEdit], changes: EditBuffer, encoding: PositionEncoding
) -> None:
    text = changes.get(path)
    if text is None:
        raise EditApplyError(
            path, "the edits change this file but it does not exist",
            hint="Nothing was applied. Check the path; create the file with a CreateFile "
            "operation (or pass its full text) first.",
        )
    changes.set(path, apply_text_edits(text, edits, encoding, path=path))


def _document_change(
    change: types.TextDocumentEdit | types.CreateFile | types.RenameFile | types.DeleteFile,
    number: int,
    changes: EditBuffer,
    to_path: Callable[[str], str],
    encoding: PositionEncoding,
) -> None:
    """One entry of ``documentChanges``; ``number`` (1-based) names it in errors."""
    if isinstance(change, types.TextDocumentEdit):
        _edit_document(to_path(change.text_document.uri), change.edits, changes, encoding)
        return
    if isinstance(change, types.CreateFile):
        path = to_path(change.uri)
        options = change.options or types.CreateFileOptions()
        if changes.get(path) is not None and not options.overwrite:
            if options.ignore_if_exists:
                return
            raise EditApplyError(
                path, "CreateFile of a file that exists (and neither overwrite nor "
                "ignoreIfExists is set)", block=number, unit="document change",
            )
        changes.set(path, "")
        return
    if isinstance(change, types.RenameFile):
        old, new = to_path(change.old_uri), to_path(change.new_uri)
        text = changes.get(old)
        if text is None:
            raise EditApplyError(
                old, f"RenameFile to {new} of a file that does not exist",
                block=number, unit="document change",
            )
        if old == new:
            return
        options = change.options or types.RenameFileOptions()
        if changes.get(new) is not None and not options.overwrite:
            if options.ignore_if_exists:
                return
            raise EditApplyError(
                new, f"RenameFile of {old} onto a file that exists (and neither overwrite nor "
                "ignoreIfExists is set)", block=number, unit="document change",
            )
        changes.set(old, None)
        changes.set(new, text)
        return
    path = to_path(change.uri)
    if changes.get(path) is None:
        if change.options is not None and change.options.ignore_if_not_exists:
            return
        raise EditApplyError(
            path, "DeleteFile of a file that does not exist (and ignoreIfNotExists is not set)",
            block=number, unit="document change",
        )
    changes.set(path, None)


def _offset(
    text: str,
    starts: list[int],
    lines: list[str],
    position: types.Position,
    encoding: PositionEncoding,
    path: str,
    index: int,
) -> int:
    """The code-point offset of ``position`` in ``text``."""
    if position.line < 0 or position.character < 0:
        raise EditApplyError(
            path, f"negative position {position.line}:{position.character}",
            block=index, unit="edit", hint="Nothing was applied. Send a valid range.",
        )
    if position.line >= len(lines):
        return len(text)
    return starts[position.line] + to_code_points(lines[position.line], position.character, encoding)


def _show(rng: types.Range) -> str:
    """A range as LSP counts it (0-based ``line:character``) for messages."""
    start, end = rng.start, rng.end
    return f"{start.line}:{start.character}-{end.line}:{end.character}"
