"""`parse_edits`: any supported edit format, detected and applied in memory."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from lsprotocol import types

from lspfeedback._exceptions import EditError
from lspfeedback._lsp.positions import PositionEncoding
from lspfeedback.edits._buffer import Reader
from lspfeedback.edits._lsp_edits import apply_text_edit_map, apply_workspace_edit
from lspfeedback.edits._search_replace import apply_search_replace, has_search_replace
from lspfeedback.edits._unified_diff import apply_unified_diff, has_unified_diff

EditInput = str | types.WorkspaceEdit | Mapping[str, object]
"""What `parse_edits` accepts (see there)."""


def parse_edits(
    changes: EditInput,
    read: Reader,
    *,
    root: str | os.PathLike[str] | None = None,
    encoding: PositionEncoding = "utf-16",
    uri_to_path: Callable[[str], str] | None = None,
) -> dict[str, str | None]:
    """Parse ``changes`` in any supported format into ``{path: new text, or None if deleted}``.

    ``changes`` is one of:

    - ``{path: new_full_text}``: returned as is (values must be str);
    - ``{path: [TextEdit, ...]}`` (objects or their JSON), applied with ``encoding``
      positions; values of one mapping may mix full texts and edit lists;
    - an ``lsprotocol`` ``WorkspaceEdit`` or its JSON (camelCase) form;
    - a ``str`` holding a unified diff, or aider-style SEARCH/REPLACE blocks.

    ``read(path)`` gives the current text of a path (None if it does not exist); it is called
    at most once per path. ``file://`` URIs in LSP edits become paths relative to ``root``
    (the absolute path when outside it or when ``root`` is None), or whatever ``uri_to_path``
    returns when given. Raises `EditApplyError` when an edit does not fit the text it names,
    `EditError` when the input is malformed; in both cases nothing is returned.

    ``EditApplyError.block`` counts SEARCH/REPLACE blocks through the whole string, diff hunks
    within their file, and TextEdits within their document's edit list.
    """
    if isinstance(changes, str):
        if has_search_replace(changes):
            return apply_search_replace(changes, read)
        if has_unified_diff(changes):
            return apply_unified_diff(changes, read)
        if not changes.strip():
            raise EditError("the edit is empty")
        raise EditError(
            "the edit string is neither a unified diff (no 'diff --git', '---'/'+++' or '@@' "
            "lines) nor SEARCH/REPLACE blocks (no '<<<<<<< SEARCH' line); pass one of those, "
            "or a mapping {path: new full text}"
        )
    if isinstance(changes, types.WorkspaceEdit) or (
        isinstance(changes, Mapping) and _looks_like_workspace_edit(changes)
    ):
        return apply_workspace_edit(
            changes, read, root=root, encoding=encoding, uri_to_path=uri_to_path
        )
    if isinstance(changes, Mapping):
        return apply_text_edit_map(
            changes, read, root=root, encoding=encoding, uri_to_path=uri_to_path
        )
    raise EditError(
        f"cannot parse edits of type {type(changes).__name__}: pass a str (unified diff or "
        "SEARCH/REPLACE blocks), a WorkspaceEdit, or a mapping {path: new text or TextEdits}"
    )


def _looks_like_workspace_edit(changes: Mapping[str, object]) -> bool:
    """A WorkspaceEdit's JSON: only its keys, ``changes`` a mapping, ``documentChanges`` a list.

    A file literally named ``changes`` maps to a str or a list of edits, so it is not confused.
    """
    keys = set(changes)
    if not keys or not keys <= {"changes", "documentChanges", "changeAnnotations"}:
        return False
    if not keys & {"changes", "documentChanges"}:
        return False
    edits = changes.get("changes")
    document_changes = changes.get("documentChanges")
    return (edits is None or isinstance(edits, Mapping)) and (
        document_changes is None or isinstance(document_changes, list)
    )
