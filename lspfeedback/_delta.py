"""Which diagnostics an edit introduced and which it resolved.

A diagnostic is the same one before and after if it has the same source, code, severity and
message and, in this order of preference:

1. it sits on the line its old line maps to, the line untouched by the edit (lines inserted or
   deleted above it only shift it);
2. it points at the same text (a line the edit moved, or only re-indented);
3. it sits on the line the edit put in place of its old line, although that line's text
   changed: inside a block of lines the edit replaced, old line ``i1 + k`` maps to new line
   ``j1 + k`` for ``k`` below the shorter block's length (the rest of the longer block maps to
   nothing).

Matching is one-to-one, so a second copy of an existing error counts as introduced. It is also
symmetric: ``compare(a, b)`` and ``compare(b, a)`` are mirror images (the introduced of one is
the resolved of the other), so undoing an edit introduces exactly what the edit resolved. For
that, the line correspondence is always computed in one orientation of the two texts and
inverted for the other (difflib breaks ties by position, which a swap would change), and each
pass pairs the diagnostics of an equivalence class first with first, in list order.
"""

from __future__ import annotations

import bisect
import difflib
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Mapping, Sequence
from itertools import pairwise

from lspfeedback._lsp.positions import split_lines
from lspfeedback._report import Diagnostic


def line_maps(old_text: str, new_text: str) -> tuple[dict[int, int], dict[int, int]]:
    """1-based old line → new line: ``(unchanged, replaced)``.

    ``unchanged`` holds the lines the edit left untouched, ``replaced`` the positional
    correspondence inside the blocks it replaced. Both are one-to-one, and swapping the texts
    gives exactly their inverses. Identical texts give two empty maps (the caller's identity
    fast path).
    """
    if old_text == new_text:
        return {}, {}
    old, new = split_lines(old_text), split_lines(new_text)
    swapped = new < old
    a, b = (new, old) if swapped else (old, new)
    unchanged: dict[int, int] = {}
    replaced: dict[int, int] = {}
    for tag, i1, i2, j1, j2 in _opcodes(a, b):
        target = unchanged if tag == "equal" else replaced
        size = min(i2 - i1, j2 - j1)
        olds, news = range(i1 + 1, i1 + size + 1), range(j1 + 1, j1 + size + 1)
        target.update(zip(news, olds) if swapped else zip(olds, news))
    return unchanged, replaced


SMALL_BLOCK = 64 * 64
"""Below this product of the two sides' line counts, a block goes to difflib as it is."""

_Opcode = tuple[str, int, int, int, int]


def _opcodes(a: list[str], b: list[str]) -> list[_Opcode]:
    """The ``equal`` and ``replace`` blocks between ``a`` and ``b`` (0-based, half-open).

    difflib's matching costs up to the product of the two sides' lengths, and an edit usually
    changes a few lines of a long file, in one or two places: so the lines both sides start
    and end with are equal as they are, and a large block in between is cut at the lines that
    occur exactly once on each side, in the same order on both (patience diff's anchors: the
    longest increasing run of them). difflib aligns the small blocks left between anchors.
    Deterministic, so the caller's fixed orientation keeps the result symmetric.
    """
    out: list[_Opcode] = []
    _align(a, b, 0, len(a), 0, len(b), out)
    return out


CHUNK = 64
"""Lines compared at once (one slice comparison, in C) while the two sides agree."""


def _common_head(a: list[str], b: list[str], alo: int, ahi: int, blo: int, bhi: int) -> int:
    """How many lines ``a[alo:ahi]`` and ``b[blo:bhi]`` start with in common: by chunks, then
    line by line in the chunk that differs (a Python loop over every line of a long file was
    most of what comparing an edit's diagnostics cost)."""
    most = min(ahi - alo, bhi - blo)
    head = 0
    while head + CHUNK <= most and (a[alo + head:alo + head + CHUNK]
                                    == b[blo + head:blo + head + CHUNK]):
        head += CHUNK
    while head < most and a[alo + head] == b[blo + head]:
        head += 1
    return head


def _common_tail(a: list[str], b: list[str], alo: int, ahi: int, blo: int, bhi: int) -> int:
    """How many lines they end with in common (as `_common_head`, from the end)."""
    most = min(ahi - alo, bhi - blo)
    tail = 0
    while tail + CHUNK <= most and (a[ahi - tail - CHUNK:ahi - tail]
                                    == b[bhi - tail - CHUNK:bhi - tail]):
        tail += CHUNK
    while tail < most and a[ahi - tail - 1] == b[bhi - tail - 1]:
        tail += 1
    return tail


def _align(a: list[str], b: list[str], alo: int, ahi: int, blo: int, bhi: int,
           out: list[_Opcode]) -> None:
    head = _common_head(a, b, alo, ahi, blo, bhi)
    if head:
        out.append(("equal", alo, alo + head, blo, blo + head))
        alo, blo = alo + head, blo + head
    tail = _common_tail(a, b, alo, ahi, blo, bhi)
    mid_a, mid_b = ahi - tail, bhi - tail
    anchors = _anchors(a, b, alo, mid_a, blo, mid_b) if (
        (mid_a - alo) * (mid_b - blo) > SMALL_BLOCK) else []
    if anchors:
        # Anchors with nothing between them, or the same lines between them on both sides
        # (what most gaps are: blank lines, a repeated `return`), make one equal block; only
        # a gap that differs, with lines on both sides, can hold a replaced block.
        run_a, run_b = alo, blo
        for i, j in anchors:
            if i - alo != j - blo or a[alo:i] != b[blo:j]:
                if alo > run_a:
                    out.append(("equal", run_a, alo, run_b, blo))
                if alo < i and blo < j:
                    _align(a, b, alo, i, blo, j, out)
                run_a, run_b = i, j
            alo, blo = i + 1, j + 1
        out.append(("equal", run_a, alo, run_b, blo))
        if alo < mid_a and blo < mid_b:
            _align(a, b, alo, mid_a, blo, mid_b, out)
    elif alo < mid_a or blo < mid_b:
        _by_difflib(a, b, alo, mid_a, blo, mid_b, out)
    if tail:
        out.append(("equal", mid_a, ahi, mid_b, bhi))


def _by_difflib(a: list[str], b: list[str], alo: int, ahi: int, blo: int, bhi: int,
                out: list[_Opcode]) -> None:
    """difflib's equal and replaced blocks of a block small enough for it."""
    matcher = difflib.SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag in ("equal", "replace"):
            out.append((tag, alo + i1, alo + i2, blo + j1, blo + j2))


def _anchors(a: list[str], b: list[str], alo: int, ahi: int, blo: int,
             bhi: int) -> list[tuple[int, int]]:
    """Pairs ``(i, j)`` of lines unique on both sides, ``a[i] == b[j]``, increasing in both:
    the longest such chain (the first one found, for determinism)."""
    count_a, count_b = Counter(a[alo:ahi]), Counter(b[blo:bhi])
    where_b = dict(zip(b[blo:bhi], range(blo, bhi)))
    pairs = [(i, where_b[line]) for i, line in enumerate(a[alo:ahi], alo)
             if count_a[line] == 1 and count_b.get(line) == 1]
    if all(p[1] < q[1] for p, q in pairwise(pairs)):
        return pairs  # nothing moved: the whole list is the one longest chain
    return _longest_chain(pairs)


def _longest_chain(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest run of ``pairs`` (in their order) whose j's increase: patience sorting,
    the first such run found."""
    tops: list[int] = []  # tops[k]: the pair ending the best run of length k + 1 so far
    top_js: list[int] = []  # its j (increasing in k)
    back: list[int] = []
    for n, (_, j) in enumerate(pairs):
        k = bisect.bisect_left(top_js, j)
        back.append(tops[k - 1] if k else -1)
        if k == len(tops):
            tops.append(n)
            top_js.append(j)
        else:
            tops[k], top_js[k] = n, j
    chain: list[tuple[int, int]] = []
    n = tops[-1] if tops else -1
    while n >= 0:
        chain.append(pairs[n])
        n = back[n]
    chain.reverse()
    return chain


def _key(d: Diagnostic) -> tuple[str, str | None, str, str]:
    # The message's first line: ruff's server appends a fix suggestion ("help: ...") that
    # changes with the rest of the line while the finding stays the same.
    return (d.source, d.code, d.severity, d.message.split("\n", 1)[0])


def _snippet(d: Diagnostic, lines: Sequence[str]) -> str:
    if not 1 <= d.line <= len(lines):
        return ""
    return lines[d.line - 1].strip()


_Class = Callable[[Diagnostic], Hashable | None]
"""A pass's equivalence class of a diagnostic (None: this pass cannot match it)."""


def _match(before: list[Diagnostic], after: list[Diagnostic], old_class: _Class,
           new_class: _Class) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """Pair diagnostics of equal class, first with first in list order; return the unpaired
    ``(before, after)`` in their original order."""
    buckets: dict[Hashable, list[int]] = defaultdict(list)
    for index, d in enumerate(before):
        cls = old_class(d)
        if cls is not None:
            buckets[cls].append(index)
    taken: set[int] = set()
    left_after: list[Diagnostic] = []
    for d in after:
        cls = new_class(d)
        bucket = buckets.get(cls) if cls is not None else None
        if bucket:
            taken.add(bucket.pop(0))
        else:
            left_after.append(d)
    return [d for i, d in enumerate(before) if i not in taken], left_after


def compare(
    before: Sequence[Diagnostic],
    after: Sequence[Diagnostic],
    old_texts: Mapping[str, str],
    new_texts: Mapping[str, str],
) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """Return ``(introduced, resolved)`` between two sets of diagnostics of the same files."""
    by_path_before: dict[str, list[Diagnostic]] = defaultdict(list)
    by_path_after: dict[str, list[Diagnostic]] = defaultdict(list)
    for d in before:
        by_path_before[d.path].append(d)
    for d in after:
        by_path_after[d.path].append(d)
    introduced: list[Diagnostic] = []
    resolved: list[Diagnostic] = []
    for path in sorted(set(by_path_before) | set(by_path_after)):
        new, gone = _compare_file(by_path_before[path], by_path_after[path],
                                  old_texts.get(path, ""), new_texts.get(path, ""))
        introduced.extend(new)
        resolved.extend(gone)
    return introduced, resolved


def _compare_file(before: list[Diagnostic], after: list[Diagnostic], old_text: str,
                  new_text: str) -> tuple[list[Diagnostic], list[Diagnostic]]:
    """``(introduced, resolved)`` for one file: the passes of the module's docstring."""
    if old_text == new_text and before == after:
        return [], []  # what the identity pass would find: most importers, on most edits
    if old_text == new_text:
        # Identity: same line and column (the column tells copies on one line apart).
        before, after = _match(before, after, lambda o: (_key(o), o.line, o.column),
                               lambda d: (_key(d), d.line, d.column))
        replaced: dict[int, int] = {}
    else:
        unchanged, replaced = line_maps(old_text, new_text)
        before, after = _match(before, after, lambda o: _mapped(o, unchanged),
                               lambda d: (_key(d), d.line))
    if not before or not after:
        return after, before  # nothing left to pair (the common case: no text is split)
    old_lines, new_lines = split_lines(old_text), split_lines(new_text)
    before, after = _match(before, after, lambda o: (_key(o), _snippet(o, old_lines)),
                           lambda d: (_key(d), _snippet(d, new_lines)))
    if replaced:
        before, after = _match(before, after, lambda o: _mapped(o, replaced),
                               lambda d: (_key(d), d.line))
    return after, before


def _mapped(d: Diagnostic, mapping: Mapping[int, int]) -> Hashable | None:
    line = mapping.get(d.line)
    return None if line is None else (_key(d), line)
