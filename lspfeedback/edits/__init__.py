"""The edit formats coding agents produce, parsed into one change set.

    from lspfeedback.edits import parse_edits

    new = parse_edits(diff_text, read=lambda p: texts.get(p), root=root)
    # {"pkg/mod.py": "...new full text...", "pkg/old.py": None}

`parse_edits` accepts full new texts, a unified diff, aider-style SEARCH/REPLACE blocks, or
LSP edits (a ``WorkspaceEdit``, its JSON, or ``{path: [TextEdit, ...]}``) and returns
``{path: new_full_text}`` for created or modified files and ``{path: None}`` for deleted ones.
Everything happens in memory and all or nothing: on any failure it raises (`EditError`, or its
subclass `EditApplyError` when an edit does not fit the current text) and returns nothing.

Paths are returned exactly as the edit names them, normalised only by stripping git's
``a/`` / ``b/`` prefixes and a leading ``./``; the caller resolves and validates them.
"""

from lspfeedback._exceptions import EditApplyError, EditError
from lspfeedback.edits._buffer import Reader
from lspfeedback.edits._changes import (
    Changes,
    DiskPaths,
    FullTexts,
    TextEditMap,
    is_disk_paths,
    parse_changes,
)
from lspfeedback.edits._lsp_edits import (
    apply_text_edit_map,
    apply_text_edits,
    apply_workspace_edit,
    uri_to_path,
)
from lspfeedback.edits._parse import EditInput, parse_edits
from lspfeedback.edits._search_replace import apply_search_replace
from lspfeedback.edits._unified_diff import apply_unified_diff

__all__ = [
    "Changes",
    "DiskPaths",
    "EditApplyError",
    "EditError",
    "EditInput",
    "FullTexts",
    "Reader",
    "TextEditMap",
    "apply_search_replace",
    "apply_text_edit_map",
    "apply_text_edits",
    "apply_unified_diff",
    "apply_workspace_edit",
    "is_disk_paths",
    "parse_changes",
    "parse_edits",
    "uri_to_path",
]
