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

from __future__ import annotations

import difflib
import os
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence

from lsprotocol import types

from lspfeedback._exceptions import EditError
from lspfeedback._lsp.positions import PositionEncoding

Reader = Callable[[str], str | None]
"""``read(path)``: the current text of a workspace path, or None if it does not exist."""

EditInput = str | types.WorkspaceEdit | Mapping[str, object]
"""What `parse_edits` accepts (see there)."""

_EXCERPT_LINES = 12
"""Lines of closest text an error message shows; the attribute keeps all of them."""


class EditApplyError(EditError):
    """An edit that parsed but does not fit the current text of ``path``.

    ``block`` is the 1-based index of the failing SEARCH/REPLACE block, hunk, TextEdit or
    document change (``unit`` says which; see `parse_edits` for how each format counts),
    ``closest`` the text nearest to what the edit expected and ``closest_line`` the 1-based
    line where it starts (both None when there is nothing useful to show). ``problem`` is the
    message's first line without the location.
    """

    def __init__(
        self,
        path: str,
        problem: str,
        *,
        block: int | None = None,
        unit: str = "block",
        closest: str | None = None,
        closest_line: int | None = None,
        hint: str = "",
    ) -> None:
        self.path = path
        self.block = block
        self.closest = closest
        self.closest_line = closest_line
        self.problem = problem
        self.unit = unit
        where = path if block is None else f"{path}, {unit} {block}"
        parts = [f"{where}: {problem}"]
        if closest is not None and closest_line is not None:
            last = closest_line + closest.count("\n")
            span = f"line {closest_line}" if last == closest_line else f"lines {closest_line}-{last}"
            parts.append(f"closest text in {path} ({span}):")
            parts.append(numbered(closest, closest_line))
        parts.append(hint or "Nothing was applied. Re-read the file and send the edit again.")
        super().__init__("\n".join(parts))


def numbered(text: str, first_line: int, limit: int = _EXCERPT_LINES) -> str:
    """``text`` with 1-based line numbers starting at ``first_line``, cut at ``limit`` lines."""
    lines = text.split("\n")
    shown = lines[:limit]
    width = len(str(first_line + len(shown) - 1))
    out = [f"  {first_line + k:>{width}} | {line}" for k, line in enumerate(shown)]
    if len(lines) > limit:
        out.append(f"  {'':>{width}} | ... ({len(lines) - limit} more lines)")
    return "\n".join(out)


# ---- shared by the format modules (defined before they are imported below) ------------------

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


# Similarity of a window of lines to the lines an edit expects. Comparing every window
# character by character is quadratic per window and far too slow on real files, so windows
# are first ranked by the trigrams they share with the needle (one linear pass over the file),
# and only the promising ones are compared line by line with difflib.

_CLOSEST_CANDIDATES = 20
"""How many of the best-ranked windows `closest_window` compares line by line."""
CLOSEST_FLOOR = 0.3
"""Less similar text is not offered as the closest match."""


def _trigrams(line: str) -> Counter[str]:
    padded = "\0" + line.strip() + "\0"  # padding gives short lines trigrams too
    return Counter(padded[k : k + 3] for k in range(len(padded) - 2))


def rank_windows(haystack: Sequence[str], needle: Sequence[str]) -> list[tuple[float, int]]:
    """Every ``len(needle)``-line window of ``haystack`` as (trigram Dice score, start).

    Best first (then by position). The score is a cheap upper-bound-like screen for
    `line_similarity`: windows far below it cannot be good matches. Linear in the file size.
    """
    n = len(needle)
    if n == 0 or len(haystack) < n:
        return []
    want: Counter[str] = Counter()
    for line in needle:
        want.update(_trigrams(line))
    want_total = sum(want.values())
    tracked: list[list[tuple[str, int]]] = []
    sizes: list[int] = []
    for line in haystack:
        grams = _trigrams(line)
        sizes.append(sum(grams.values()))
        tracked.append([(g, c) for g, c in grams.items() if g in want])
    have: Counter[str] = Counter()
    overlap = total = 0

    def move(k: int, sign: int) -> None:
        nonlocal overlap, total
        for gram, count in tracked[k]:
            before = min(have[gram], want[gram])
            have[gram] += sign * count
            overlap += min(have[gram], want[gram]) - before
        total += sign * sizes[k]

    for k in range(n):
        move(k, 1)
    ranked: list[tuple[float, int]] = []
    for start in range(len(haystack) - n + 1):
        if start:
            move(start - 1, -1)
            move(start + n - 1, 1)
        both = total + want_total
        ranked.append((2 * overlap / both if both else 1.0, start))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    return ranked


def line_similarity(
    window: Sequence[str], needle: Sequence[str], floor: float = 0.0
) -> tuple[float, int]:
    """difflib's ratio of each right-stripped line with its counterpart, weighted by length.

    Returns (similarity, line pairs compared with difflib); 1.0 means equal. Stops as soon as
    the result must fall below ``floor`` (then the similarity is below ``floor`` but not exact).
    """
    pairs = [(a.rstrip(), b.rstrip()) for a, b in zip(window, needle, strict=True)]
    total = sum(len(a) + len(b) for a, b in pairs)
    if not total:
        return 1.0, 0
    allowed = (1.0 - floor) * total  # characters that may stay unmatched
    lost = compared = 0
    matcher = difflib.SequenceMatcher(None, autojunk=False)
    for a, b in pairs:
        if a == b:
            continue
        matcher.set_seqs(a, b)
        compared += 1
        lost += len(a) + len(b) - 2 * sum(m.size for m in matcher.get_matching_blocks())
        if lost > allowed:
            break
    return (total - lost) / total, compared


def closest_window(haystack: Sequence[str], needle: Sequence[str]) -> tuple[int, float] | None:
    """The start of the window of ``haystack`` most like ``needle``, and its similarity.

    None when nothing is at least `CLOSEST_FLOOR` similar (showing it would only mislead), or
    ``haystack`` has fewer lines than ``needle``.
    """
    n = len(needle)
    ranked = rank_windows(haystack, needle)[:_CLOSEST_CANDIDATES]
    best: tuple[int, float] | None = None
    for _, start in ranked:
        score, _ = line_similarity(haystack[start : start + n], needle)
        if best is None or score > best[1] or (score == best[1] and start < best[0]):
            best = (start, score)
    return best if best is not None and best[1] >= CLOSEST_FLOOR else None


class ChangeSet:
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


def strip_path(path: str) -> str:
    """Drop a leading ``./`` (repeatedly), the one normalisation every format shares."""
    while path.startswith("./"):
        path = path[2:]
    return path


# The format modules import the helpers above, so they are imported only now.
from lspfeedback.edits._lsp_edits import (
    apply_text_edit_map,
    apply_text_edits,
    apply_workspace_edit,
    uri_to_path,
)
from lspfeedback.edits._search_replace import apply_search_replace, has_search_replace
from lspfeedback.edits._unified_diff import apply_unified_diff, has_unified_diff

__all__ = [
    "EditApplyError",
    "EditError",
    "EditInput",
    "Reader",
    "apply_search_replace",
    "apply_text_edit_map",
    "apply_text_edits",
    "apply_unified_diff",
    "apply_workspace_edit",
    "parse_edits",
    "uri_to_path",
]


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
