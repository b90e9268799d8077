"""Aider-style SEARCH/REPLACE blocks, matched loosely but never ambiguously.

    path/to/file.py
    ```python
    <<<<<<< SEARCH
    old lines
    =======
    new lines
    >>>>>>> REPLACE
    ```

The path is the nearest non-blank line above the (optional) opening fence; surrounding
backticks, ``**`` and a trailing ``:`` are dropped from it. A block with no path line of its
own (right after another block) edits the same file as the block before it. Blocks apply in
order, each to the text the previous ones left.

A SEARCH text is looked for at four levels, stopping at the first that finds anything: exact
lines; lines compared without trailing whitespace; indentation-relative (every non-blank line
differs by one constant leading-whitespace prefix, and the replacement is re-indented by that
same difference); and, for blocks up to `FUZZY_MAX_LINES` lines, a window of as many lines
at least `FUZZY_RATIO` similar (difflib's ratio of each line with its counterpart, weighted
by length). More than one match at a level is an error.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass

from lspfeedback._exceptions import EditApplyError, EditError
from lspfeedback.edits._buffer import EditBuffer, Reader
from lspfeedback.edits._lines import Line, dominant_eol, join_eol, split_eol, strip_path
from lspfeedback.edits._similarity import closest_window, line_similarity, rank_windows

__all__ = ["FUZZY_MAX_LINES", "FUZZY_RATIO", "apply_search_replace", "has_search_replace"]

FUZZY_RATIO = 0.9
"""The least similarity (see `line_similarity`) a fuzzy match needs."""
FUZZY_MAX_LINES = 300
"""Longer SEARCH texts are matched exactly, without trailing whitespace or re-indented only."""
_FUZZY_MAX_WORK = 5_000
"""Fuzzy matching gives up (no match) rather than compare more line pairs than this."""
_SCREEN_FLOOR = 0.5
"""Windows sharing fewer trigrams than this (Dice) with the SEARCH text are not compared."""

_HEAD = re.compile(r"^<{5,9} SEARCH>?\s*$")
_DIVIDER = re.compile(r"^={5,9}\s*$")
_UPDATED = re.compile(r"^>{5,9} REPLACE\s*$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})[\w+-]*\s*$")
_DETECT = re.compile(r"^(?:<{5,9} SEARCH>?|>{5,9} REPLACE)[ \t]*\r?$", re.MULTILINE)


def has_search_replace(text: str) -> bool:
    """Whether ``text`` holds a SEARCH or REPLACE marker line (never valid lines of a diff)."""
    return _DETECT.search(text) is not None


@dataclass(frozen=True)
class _Block:
    index: int
    """1-based, counted through the whole edit string."""
    path: str
    search: list[str]
    replace: list[str]
    eol: str
    """The line ending the edit itself uses, for files it creates."""


def apply_search_replace(text: str, read: Reader) -> dict[str, str | None]:
    """Apply every SEARCH/REPLACE block of ``text``; ``{path: new text}``, all or nothing.

    Raises `EditError` for malformed blocks and `EditApplyError` when a block's SEARCH text
    is missing or ambiguous (``block`` counts blocks through the whole string).
    """
    changes = EditBuffer(read)
    for block in _parse(text):
        changes.set(block.path, _apply(block, changes.get(block.path)))
    return changes.result()


# ---- parsing ------------------------------------------------------------------------------


def _parse(text: str) -> list[_Block]:
    lines = split_eol(text)
    blocks: list[_Block] = []
    path: str | None = None
    after_last = 0  # first line after the previous block: a path line must come later
    i = 0
    while i < len(lines):
        if not _HEAD.match(lines[i][0]):
            # A stray "=======" may be prose (a heading underline); a stray REPLACE is not.
            if _UPDATED.match(lines[i][0]):
                raise EditError(
                    f"edit line {i + 1}: '>>>>>>> REPLACE' without a '<<<<<<< SEARCH' and "
                    "'=======' before it"
                )
            i += 1
            continue
        index = len(blocks) + 1
        named = _path_above(lines, i, after_last)
        if named is not None:
            path = named
        if path is None:
            raise EditError(
                f"SEARCH/REPLACE block {index} (edit line {i + 1}) has no file path; put the "
                "path on its own line right above the block (or above its opening fence)"
            )
        search, i = _section(lines, i + 1, _DIVIDER, index, path, "=======")
        replace, i = _section(lines, i + 1, _UPDATED, index, path, ">>>>>>> REPLACE")
        eol = lines[i][1] or "\n"
        blocks.append(_Block(index, path, search, replace, "\r\n" if eol == "\r\n" else "\n"))
        i += 1
        after_last = i
    if not blocks:
        raise EditError("no '<<<<<<< SEARCH' block found")
    return blocks


def _section(
    lines: list[Line], i: int, end: re.Pattern[str], index: int, path: str, marker: str
) -> tuple[list[str], int]:
    """The lines from ``i`` up to the ``end`` marker, and the marker's index."""
    out: list[str] = []
    while i < len(lines):
        content = lines[i][0]
        if end.match(content):
            return out, i
        if _HEAD.match(content) or (marker != "=======" and _DIVIDER.match(content)):
            break
        out.append(content)
        i += 1
    where = f"edit line {i + 1}" if i < len(lines) else "the end of the edit"
    raise EditError(
        f"SEARCH/REPLACE block {index} for {path} is not terminated: expected a '{marker}' "
        f"line before {where}; every block needs '<<<<<<< SEARCH', '=======' and "
        "'>>>>>>> REPLACE' lines"
    )


def _path_above(lines: list[Line], head: int, low: int) -> str | None:
    """The path line above the SEARCH marker at ``head`` (skipping one fence), if any."""
    k = head - 1
    while k >= low and not lines[k][0].strip():
        k -= 1
    if k >= low and _FENCE.match(lines[k][0]):
        k -= 1
        while k >= low and not lines[k][0].strip():
            k -= 1
    if k < low or _FENCE.match(lines[k][0]):
        return None
    name = lines[k][0].strip().strip("`*").strip().removesuffix(":").strip()
    return strip_path(name) or None


# ---- applying -----------------------------------------------------------------------------


def _apply(block: _Block, text: str | None) -> str:
    """The text of ``block.path`` after ``block``; raises when it cannot apply."""
    empty_search = not any(line.strip() for line in block.search)
    if text is None:
        if not empty_search:
            raise EditApplyError(
                block.path, "the file does not exist", block=block.index,
                hint="Nothing was applied. Check the path; to create the file, leave the "
                "SEARCH section empty.",
            )
        return "".join(line + block.eol for line in block.replace)
    if empty_search:
        if text.strip():
            raise EditApplyError(
                block.path, "the SEARCH section is empty but the file is not", block=block.index,
                closest="\n".join(content for content, _ in split_eol(text)), closest_line=1,
                hint="Nothing was applied. Put the lines to change (or, to append, the file's "
                "last lines) in the SEARCH section.",
            )
        return "".join(line + block.eol for line in block.replace)
    lines = split_eol(text)
    start, replacement = _find(block, [c for c, _ in lines])
    return join_eol(_splice(lines, start, len(block.search), replacement))


def _splice(lines: list[Line], start: int, n: int, replacement: list[str]) -> list[Line]:
    """``lines`` with ``n`` lines at ``start`` replaced, in the file's own line endings."""
    eol = dominant_eol(lines) or "\n"
    last_eol = lines[start + n - 1][1]  # keeps a missing newline at the end of the file
    new = [(content, eol) for content in replacement]
    if new:
        new[-1] = (new[-1][0], last_eol)
    return lines[:start] + new + lines[start + n :]


def _find(block: _Block, contents: list[str]) -> tuple[int, list[str]]:
    """Where ``block.search`` matches, and the replacement to put there (maybe re-indented)."""
    search, n = block.search, len(block.search)
    windows = range(len(contents) - n + 1)
    exact = [s for s in windows if contents[s : s + n] == search]
    if exact:
        return _one(block, contents, exact, "exactly"), block.replace
    stripped = [line.rstrip() for line in search]
    loose = [s for s in windows if [c.rstrip() for c in contents[s : s + n]] == stripped]
    if loose:
        return _one(block, contents, loose, "ignoring trailing whitespace"), block.replace
    shifted: list[tuple[int, tuple[str, str]]] = []
    for s in windows:
        shift = _indent_shift(contents[s : s + n], search)
        if shift is not None:
            shifted.append((s, shift))
    if shifted:
        start = _one(block, contents, [s for s, _ in shifted], "with different indentation")
        add, remove = dict(shifted)[start]
        return start, [_reindent(line, add, remove) for line in block.replace]
    fuzzy = _fuzzy(contents, search)
    if fuzzy:
        return _one(block, contents, fuzzy, f"approximately (similarity >= {FUZZY_RATIO})"), (
            block.replace
        )
    found = closest_window(contents, search)
    raise EditApplyError(
        block.path, "the SEARCH text was not found"
        + (f" (the closest text is {found[1]:.0%} similar)" if found
           else " (nothing in the file is similar)")
        + ("; the file has too many similar places to match it approximately"
           if fuzzy is None else ""),
        block=block.index,
        closest="\n".join(contents[found[0] : found[0] + n]) if found else None,
        closest_line=found[0] + 1 if found else None,
        hint="Nothing was applied. Copy the SEARCH lines exactly from the file's current text "
        "(re-read it if unsure) and send all the blocks again.",
    )


def _one(block: _Block, contents: list[str], starts: list[int], how: str) -> int:
    if len(starts) == 1:
        return starts[0]
    n = len(block.search)
    lines = ", ".join(str(s + 1) for s in starts[:8]) + (", ..." if len(starts) > 8 else "")
    raise EditApplyError(
        block.path, f"the SEARCH text matches {len(starts)} places {how} (at lines {lines}); "
        "it must match exactly one",
        block=block.index, closest="\n".join(contents[starts[0] : starts[0] + n]),
        closest_line=starts[0] + 1,
        hint="Nothing was applied. Add lines around the change to the SEARCH section (and the "
        "REPLACE section) until it is unique, and send all the blocks again.",
    )


def _indent_shift(window: Sequence[str], search: Sequence[str]) -> tuple[str, str] | None:
    """``(add, remove)``: the file's lines are the search lines with ``remove`` taken off
    their start and ``add`` put on (one of them empty), the same for every non-blank line.
    """
    shift: tuple[str, str] | None = None
    for have, want in zip(window, search, strict=True):
        have, want = have.rstrip(), want.rstrip()
        if not have or not want:
            if have or want:
                return None
            continue
        if shift is None:
            if have.endswith(want) and not have[: len(have) - len(want)].strip():
                shift = (have[: len(have) - len(want)], "")
            elif want.endswith(have) and not want[: len(want) - len(have)].strip():
                shift = ("", want[: len(want) - len(have)])
            else:
                return None
        add, remove = shift
        if not want.startswith(remove) or have != add + want[len(remove) :]:
            return None
    return shift


def _reindent(line: str, add: str, remove: str) -> str:
    if not line.strip():
        return line
    if remove:
        # Take off as much of ``remove`` as this line has: it may be indented less.
        k = 0
        while k < len(remove) and k < len(line) and line[k] == remove[k]:
            k += 1
        line = line[k:]
    return add + line


def _fuzzy(contents: list[str], search: list[str]) -> list[int] | None:
    """The fuzzy match, or every distinct place that matches (ambiguous), or [].

    None when there are too many similar windows to compare within the work limit: then no
    match is chosen rather than one that might not be the only one.
    """
    n = len(search)
    if n > FUZZY_MAX_LINES:
        return []
    # Two exact screens before difflib: trigrams shared (see `rank_windows`) and line lengths
    # (an aligned pair of lines can match at most as many characters as the shorter has).
    file_lengths = [len(line.rstrip()) for line in contents]
    search_lengths = [len(line.rstrip()) for line in search]
    prefix = [0, *itertools.accumulate(file_lengths)]
    search_total = sum(search_lengths)
    work = 0
    scores: list[tuple[float, int]] = []
    for screen, start in rank_windows(contents, search):
        if screen < _SCREEN_FLOOR:
            break
        total = prefix[start + n] - prefix[start] + search_total
        length_loss = sum(map(abs, map(operator.sub, file_lengths[start : start + n], search_lengths)))
        if length_loss > (1.0 - FUZZY_RATIO) * total:
            continue
        score, compared = line_similarity(contents[start : start + n], search, FUZZY_RATIO)
        work += compared
        if work > _FUZZY_MAX_WORK:
            return None
        if score >= FUZZY_RATIO:
            scores.append((score, start))
    if not scores:
        return []
    best_score, best = max(scores, key=lambda item: (item[0], -item[1]))
    # Windows overlapping the best one are the same place seen a line off; a tie, or a good
    # match elsewhere, is a second place.
    others = [s for r, s in scores if s != best and (r == best_score or abs(s - best) >= n)]
    return [best, *sorted(others)]
