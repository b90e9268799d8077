"""`compare()`: which diagnostics an edit introduced and which it resolved."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lspfeedback import _delta
from lspfeedback._delta import _common_head, _common_tail, compare, line_maps  # pyright: ignore[reportPrivateUsage]
from lspfeedback._lsp.positions import _LINE_BREAK  # pyright: ignore[reportPrivateUsage]
from lspfeedback._report import Diagnostic

PATH = "m.py"


def diag(line: int, column: int = 5, message: str = '"undefined_name" is not defined', *,
         path: str = PATH, severity: str = "error", code: str | None = "reportUndefinedVariable",
         source: str = "Pyright") -> Diagnostic:
    return Diagnostic(
        path=path, line=line, column=column, end_line=line, end_column=column + 14,
        severity=severity, message=message, source=source, code=code,  # type: ignore[arg-type]
    )


def run(before, after, old_text, new_text, path=PATH):
    return compare(before, after, {path: old_text}, {path: new_text})


OLD = "import os\n\nx = undefined_name\nprint(x)\n"


def test_diagnostic_moved_down_by_inserted_lines_is_not_introduced() -> None:
    new = "import os\nimport sys\nimport re\n\nx = undefined_name\nprint(x)\n"
    introduced, resolved = run([diag(3)], [diag(5)], OLD, new)
    assert introduced == []
    assert resolved == []


def test_diagnostic_moved_up_by_deleted_lines_is_not_introduced() -> None:
    new = "x = undefined_name\nprint(x)\n"
    introduced, resolved = run([diag(3)], [diag(1)], OLD, new)
    assert (introduced, resolved) == ([], [])


def test_shifted_copies_on_identical_lines_both_match() -> None:
    old = "a = undefined_name\nb = 1\na = undefined_name\n"
    new = "# header\n# more\n" + old
    introduced, resolved = run([diag(1), diag(3)], [diag(3), diag(5)], old, new)
    assert (introduced, resolved) == ([], [])


def test_new_diagnostic_is_introduced() -> None:
    new = OLD + "y = other_name\n"
    fresh = diag(5, message='"other_name" is not defined')
    introduced, resolved = run([diag(3)], [diag(3), fresh], OLD, new)
    assert introduced == [fresh]
    assert resolved == []


def test_removed_diagnostic_is_resolved() -> None:
    new = "import os\n\nx = 1\nprint(x)\n"
    introduced, resolved = run([diag(3)], [], OLD, new)
    assert introduced == []
    assert resolved == [diag(3)]


def test_fix_and_unrelated_error_elsewhere() -> None:
    new = "import os\n\nx = 1\nprint(x)\nz = nope\n"
    fresh = diag(5, 5, '"nope" is not defined')
    introduced, resolved = run([diag(3)], [fresh], OLD, new)
    assert introduced == [fresh]
    assert resolved == [diag(3)]


def test_second_identical_copy_counts_as_introduced() -> None:
    new = "import os\n\nx = undefined_name\nx = undefined_name\nprint(x)\n"
    after = [diag(3), diag(4)]
    introduced, resolved = run([diag(3)], after, OLD, new)
    assert len(introduced) == 1
    assert introduced[0] in after
    assert resolved == []


def test_second_identical_copy_on_same_unchanged_line_counts_as_introduced() -> None:
    # Same text, same line, same key: only the exact column tells them apart.
    text = "x = undefined_name + undefined_name\n"
    old_diag, new_diag = diag(1, 5), diag(1, 22)
    introduced, resolved = run([old_diag], [new_diag, old_diag], text, text)
    assert introduced == [new_diag]
    assert resolved == []


def test_unchanged_text_matches_identical_diagnostics_in_any_order() -> None:
    text = "a = undefined_name\nb = undefined_name\n"
    before = [diag(1), diag(2), diag(2, 9, "other")]
    after = list(reversed(before))
    assert run(before, after, text, text) == ([], [])


def test_same_diagnostic_in_another_file_does_not_match() -> None:
    other = diag(3, path="other.py")
    introduced, resolved = compare(
        [diag(3)], [other], {PATH: OLD, "other.py": OLD}, {PATH: OLD, "other.py": OLD}
    )
    assert introduced == [other]
    assert resolved == [diag(3)]


def test_changed_severity_or_message_or_code_is_a_different_diagnostic() -> None:
    for changed in (
        diag(3, severity="warning"),
        diag(3, message='"undefined_nam" is not defined'),
        diag(3, code="reportOther"),
        diag(3, source="ruff"),
    ):
        introduced, resolved = run([diag(3)], [changed], OLD, OLD)
        assert introduced == [changed]
        assert resolved == [diag(3)]


def test_diagnostic_that_moved_with_its_line_matches_by_text() -> None:
    # The line moved (not just shifted by insertions above): matched by the text under it.
    old = "a = 1\nx = undefined_name\nb = 2\n"
    new = "x = undefined_name\na = 1\nb = 2\n"
    introduced, resolved = run([diag(2)], [diag(1)], old, new)
    assert (introduced, resolved) == ([], [])


def test_diagnostic_onto_a_different_line_in_unchanged_text_is_new() -> None:
    text = "a = undefined_name\nb = 2\n"
    introduced, resolved = run([diag(1)], [diag(2)], text, text)
    assert introduced == [diag(2)]
    assert resolved == [diag(1)]


def test_crlf_text_shift() -> None:
    old = OLD.replace("\n", "\r\n")
    new = "# c\r\n" + old
    assert run([diag(3)], [diag(4)], old, new) == ([], [])


def test_the_pasted_copy_not_the_original_is_introduced() -> None:
    # The original line is untouched (lines map 1->1, 2->2); the copy at line 4 is the new one,
    # whatever order the server lists them in.
    old = "x = undefined_name\ny = 1\n"
    new = "x = undefined_name\ny = 1\n\nx = undefined_name\n"
    for after in ([diag(1), diag(4)], [diag(4), diag(1)]):
        introduced, resolved = run([diag(1)], after, old, new)
        assert introduced == [diag(4)]
        assert resolved == []


def test_lines_inserted_above_a_duplicate_keep_the_original_matched() -> None:
    old = "x = undefined_name\ny = 1\n"
    new = "import os\n\nx = undefined_name\ny = 1\nx = undefined_name\n"
    for after in ([diag(3), diag(5)], [diag(5), diag(3)]):
        introduced, resolved = run([diag(1)], after, old, new)
        assert introduced == [diag(5)]
        assert resolved == []


# ---- lines the edit changed ----------------------------------------------------------------


def test_diagnostic_on_a_line_whose_text_changed_is_neither_introduced_nor_resolved() -> None:
    # The edit rewrote line 3, and the error under it is still there: the same one.
    new = "import os\n\nx = undefined_name or 0\nprint(x)\n"
    assert run([diag(3)], [diag(3, 9)], OLD, new) == ([], [])
    # Undoing the edit does not introduce it either.
    assert run([diag(3, 9)], [diag(3)], new, OLD) == ([], [])


def test_unused_import_edited_to_another_unused_name_keeps_its_diagnostic() -> None:
    unused = diag(1, 8, "`os` imported but unused", code="F401", severity="warning",
                  source="Ruff")
    new = "import os, sys\n\nx = undefined_name\nprint(x)\n"
    after = [unused, diag(1, 12, "`sys` imported but unused", code="F401", severity="warning",
                          source="Ruff"), diag(3)]
    introduced, resolved = run([unused, diag(3)], after, OLD, new)
    assert introduced == [after[1]]
    assert resolved == []


def test_changed_line_below_inserted_lines_still_maps() -> None:
    new = "# header\nimport os\n\nx = undefined_name or 0\nprint(x)\n"
    assert run([diag(3)], [diag(4)], OLD, new) == ([], [])


def test_changed_line_with_a_different_diagnostic_is_introduced_and_resolved() -> None:
    new = "import os\n\nx = undefined_nam\nprint(x)\n"
    fresh = diag(3, message='"undefined_nam" is not defined')
    assert run([diag(3)], [fresh], OLD, new) == ([fresh], [diag(3)])


def test_line_replaced_by_two_lines_maps_to_the_first_and_a_copy_is_introduced() -> None:
    new = "import os\n\nx = undefined_name or 0\ny = undefined_name or 1\nprint(x)\n"
    for after in ([diag(3), diag(4)], [diag(4), diag(3)]):
        assert run([diag(3)], after, OLD, new) == ([diag(4)], [])
    # The rest of the longer block maps to nothing: the error only on the second line is new.
    assert run([diag(3)], [diag(4)], OLD, new) == ([diag(4)], [diag(3)])


def test_same_text_wins_over_position_in_a_reindented_block() -> None:
    # Wrapping lines in `try:` changes every line's text (indentation) and shifts them by one:
    # position would pair old line 2 with `try:`; the text under each error pairs them right.
    old = "def f():\n    a = undefined_name\n    b = undefined_name\n"
    new = ("def f():\n    try:\n        a = undefined_name\n        b = undefined_name\n"
           "    except ValueError:\n        pass\n")
    before, after = [diag(2, 9), diag(3, 9)], [diag(3, 13), diag(4, 13)]
    assert run(before, after, old, new) == ([], [])
    assert run(after, before, new, old) == ([], [])


@pytest.mark.parametrize(("old", "new", "before", "after"), [
    # A line moved below another and pasted twice: which copy is the new one must not depend
    # on the direction difflib was asked in (it breaks ties by position).
    pytest.param("x = undefined_name\ny = 1", "y = 1\nx = undefined_name\nx = undefined_name",
                 [diag(1)], [diag(3), diag(2)], id="moved-and-pasted"),
    pytest.param("y = 1\nx = undefined_name", "x = undefined_name\ny = 1\ny = 1",
                 [diag(2)], [diag(3)], id="moved-below-a-copy"),
])
def test_the_reverse_edit_pairs_the_same_lines(old: str, new: str, before: list[Diagnostic],
                                                 after: list[Diagnostic]) -> None:
    forward, backward = run(before, after, old, new), run(after, before, new, old)
    assert forward == (backward[1], backward[0])


# ---- symmetry: compare(a, b) mirrors compare(b, a) -------------------------------------------

# Few distinct lines, blank ones and re-indented copies: many ties for difflib to break.
LINES = st.sampled_from(["", "", "x = undefined_name", "    x = undefined_name", "y = 1", "y = 2"])
TEXTS = st.builds(lambda lines, crlf: ("\r\n" if crlf else "\n").join(lines),
                  st.lists(LINES, max_size=6), st.booleans())


@st.composite
def states(draw: st.DrawFn, text: str | None = None) -> tuple[str, list[Diagnostic]]:
    """A text and diagnostics on it (sometimes on a line past its end)."""
    if text is None:
        text = draw(TEXTS)
    lines = len(text.splitlines()) + 2
    diagnostics = draw(st.lists(st.builds(
        lambda line, column, message, severity, path: diag(
            line, column, message, severity=severity, path=path),
        st.integers(1, lines), st.integers(1, 2), st.sampled_from(["m1", "m2"]),
        st.sampled_from(["error", "error", "warning"]), st.sampled_from([PATH, PATH, "other.py"]),
    ), max_size=6))
    return text, diagnostics


@st.composite
def edits(draw: st.DrawFn) -> tuple[tuple[str, list[Diagnostic]], tuple[str, list[Diagnostic]]]:
    """Two states of both files: independent texts, or the second an edit of the first."""
    a_text, a_diags = draw(states())
    lines = a_text.split("\n")
    if draw(st.booleans()):
        b_text = draw(TEXTS)
    else:
        at = draw(st.integers(0, len(lines)))
        cut = draw(st.integers(0, 3))
        b_text = "\n".join(lines[:at] + draw(st.lists(LINES, max_size=3)) + lines[at + cut:])
    b_text, b_diags = draw(states(b_text))
    return (a_text, a_diags), (b_text, b_diags)


def _texts(text: str) -> dict[str, str]:
    return {PATH: text, "other.py": text.upper()}


@settings(max_examples=500, deadline=None)
@given(edits())
def test_edit_then_undo_is_the_mirror_image_of_the_edit(pair) -> None:
    (a_text, a_diags), (b_text, b_diags) = pair
    introduced, resolved = compare(a_diags, b_diags, _texts(a_text), _texts(b_text))
    back_introduced, back_resolved = compare(b_diags, a_diags, _texts(b_text), _texts(a_text))
    # The undo introduces exactly what the edit resolved (nothing that survived the edit)
    # and resolves exactly what the edit introduced.
    assert back_introduced == resolved
    assert back_resolved == introduced
    # One-to-one: as many matched on each side, and only the diagnostics of each side.
    assert len(a_diags) - len(resolved) == len(b_diags) - len(introduced)
    assert Counter(introduced) <= Counter(b_diags)
    assert Counter(resolved) <= Counter(a_diags)
    # The state it comes back to is unchanged against itself.
    assert compare(a_diags, a_diags, _texts(a_text), _texts(a_text)) == ([], [])


def test_a_changed_fix_suggestion_is_the_same_finding() -> None:
    # ruff's server appends "help: ..." to the message; it changes with the line's text.
    old, new = "import sys\n", "import sys, re\n"
    before = [diag(1, 8, "`sys` imported but unused\nRemove unused import: `sys`")]
    after = [diag(1, 8, "`sys` imported but unused\nRemove unused import"),
             diag(1, 13, "`re` imported but unused\nRemove unused import")]
    introduced, resolved = run(before, after, old, new)
    assert [d.message.split("\n")[0] for d in introduced] == ["`re` imported but unused"]
    assert resolved == []


# ---- line maps of long files: head, tail and anchors instead of difflib on everything -------


def _check_maps(old: str, new: str) -> None:
    """The properties every caller relies on: equal lines map to equal lines, in order, one
    to one, and swapping the texts gives exactly the inverse maps."""
    old_lines, new_lines = old.split("\n"), new.split("\n")
    unchanged, replaced = line_maps(old, new)
    for i, j in unchanged.items():
        assert old_lines[i - 1] == new_lines[j - 1]
    for mapping in (unchanged, replaced):
        assert len(set(mapping.values())) == len(mapping)
    pairs = sorted(unchanged.items())
    assert [j for _, j in pairs] == sorted(j for _, j in pairs)  # an alignment keeps order
    back_unchanged, back_replaced = line_maps(new, old)
    assert back_unchanged == {j: i for i, j in unchanged.items()}
    assert back_replaced == {j: i for i, j in replaced.items()}


def test_a_long_file_edited_in_two_places_maps_every_untouched_line() -> None:
    # What the benchmark does: one line changed in the middle and a comment at the end.
    body = [f"def f{i}(x: int) -> int:\n    return x + {i}\n" for i in range(600)]
    old = "".join(body) + "# edit 1\n"
    new_body = list(body)
    new_body[300] = "def f300(x: int) -> str:\n    return x + 300\n"
    new = "".join(new_body[:100] + ["import os\n"] + new_body[100:]) + "# edit 2\n"
    unchanged, replaced = line_maps(old, new)
    assert unchanged[1] == 1 and unchanged[200] == 200  # above the inserted line: in place
    assert unchanged[202] == 203 and unchanged[1200] == 1201  # below it: shifted by one
    assert 601 not in unchanged and replaced[601] == 602  # the changed signature
    assert replaced[1201] == 1202  # the comment
    _check_maps(old, new)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(["", "a", "b", "c", "x = 1", "y = 2", "    a"]), max_size=30),
       st.lists(st.sampled_from(["", "a", "b", "c", "x = 1", "y = 2", "    a", "z"]), max_size=30),
       st.data())
def test_anchored_alignment_keeps_the_maps_properties(lines: list[str], inserted: list[str],
                                                      data: st.DataObject) -> None:
    # Unique lines as anchors everywhere (no block is small enough for difflib alone).
    at = data.draw(st.integers(0, len(lines)))
    cut = data.draw(st.integers(0, 4))
    unique = [f"u{i}" for i in range(len(lines))]
    old_lines = [line if k % 3 else unique[k] for k, line in enumerate(lines)]
    new_lines = old_lines[:at] + inserted + old_lines[at + cut:]
    old, new = "\n".join(old_lines), "\n".join(new_lines)
    saved = _delta.SMALL_BLOCK
    _delta.SMALL_BLOCK = 0
    try:
        _check_maps(old, new)
    finally:
        _delta.SMALL_BLOCK = saved


def test_anchors_pair_the_same_lines_as_difflib_on_a_plain_edit() -> None:
    old = "\n".join(f"line {i}" for i in range(50))
    new = old.replace("line 20", "line twenty").replace("line 40", "line 40\nextra")
    expected = line_maps(old, new)
    saved = _delta.SMALL_BLOCK
    _delta.SMALL_BLOCK = 0
    try:
        assert line_maps(old, new) == expected
    finally:
        _delta.SMALL_BLOCK = saved


@given(st.lists(st.sampled_from(["a", "b", ""]), max_size=300), st.data())
def test_the_common_head_and_tail_are_counted_as_line_by_line(a: list[str],
                                                              data: st.DataObject) -> None:
    # By chunks of CHUNK lines, then line by line: the same counts as a plain loop, on
    # either side of every chunk boundary.
    b = data.draw(st.lists(st.sampled_from(["a", "b"]), max_size=300))
    b = a[:data.draw(st.integers(0, len(a)))] + b + a[data.draw(st.integers(0, len(a))):]
    alo, blo = data.draw(st.integers(0, len(a))), data.draw(st.integers(0, len(b)))
    ahi, bhi = data.draw(st.integers(alo, len(a))), data.draw(st.integers(blo, len(b)))
    head = 0
    while alo + head < ahi and blo + head < bhi and a[alo + head] == b[blo + head]:
        head += 1
    tail = 0
    while alo < ahi - tail and blo < bhi - tail and a[ahi - tail - 1] == b[bhi - tail - 1]:
        tail += 1
    assert _common_head(a, b, alo, ahi, blo, bhi) == head
    assert _common_tail(a, b, alo, ahi, blo, bhi) == tail


def _old_line_maps(old_text: str, new_text: str) -> tuple[dict[int, int], dict[int, int]]:
    """`line_maps` as it was before equal gaps were merged (6d3b388): every gap between two
    anchors aligned on its own, the anchors by the same patience chain. The reference the
    merged alignment must equal, map for map."""

    def anchors(a: list[str], b: list[str], alo: int, ahi: int, blo: int,
                bhi: int) -> list[tuple[int, int]]:
        count_a: dict[str, int] = {}
        for i in range(alo, ahi):
            count_a[a[i]] = count_a.get(a[i], 0) + 1
        count_b: dict[str, int] = {}
        where_b: dict[str, int] = {}
        for j in range(blo, bhi):
            count_b[b[j]] = count_b.get(b[j], 0) + 1
            where_b[b[j]] = j
        pairs = [(i, where_b[a[i]]) for i in range(alo, ahi)
                 if count_a[a[i]] == 1 and count_b.get(a[i]) == 1]
        return _delta._longest_chain(pairs)  # pyright: ignore[reportPrivateUsage]

    def align(a: list[str], b: list[str], alo: int, ahi: int, blo: int, bhi: int,
              out: list[tuple[str, int, int, int, int]]) -> None:
        head = 0
        while alo + head < ahi and blo + head < bhi and a[alo + head] == b[blo + head]:
            head += 1
        if head:
            out.append(("equal", alo, alo + head, blo, blo + head))
            alo, blo = alo + head, blo + head
        tail = 0
        while tail < min(ahi - alo, bhi - blo) and a[ahi - tail - 1] == b[bhi - tail - 1]:
            tail += 1
        mid_a, mid_b = ahi - tail, bhi - tail
        found = anchors(a, b, alo, mid_a, blo, mid_b) if (
            (mid_a - alo) * (mid_b - blo) > _delta.SMALL_BLOCK) else []
        if found:
            for i, j in found:
                align(a, b, alo, i, blo, j, out)
                out.append(("equal", i, i + 1, j, j + 1))
                alo, blo = i + 1, j + 1
            align(a, b, alo, mid_a, blo, mid_b, out)
        elif alo < mid_a or blo < mid_b:
            _delta._by_difflib(a, b, alo, mid_a, blo, mid_b, out)  # pyright: ignore[reportPrivateUsage]
        if tail:
            out.append(("equal", mid_a, ahi, mid_b, bhi))

    if old_text == new_text:
        return {}, {}
    old, new = _LINE_BREAK.split(old_text), _LINE_BREAK.split(new_text)
    swapped = new < old
    a, b = (new, old) if swapped else (old, new)
    ops: list[tuple[str, int, int, int, int]] = []
    align(a, b, 0, len(a), 0, len(b), ops)
    unchanged: dict[int, int] = {}
    replaced: dict[int, int] = {}
    for tag, i1, i2, j1, j2 in ops:
        target = unchanged if tag == "equal" else replaced
        for k in range(min(i2 - i1, j2 - j1)):
            i, j = i1 + k + 1, j1 + k + 1
            target[j if swapped else i] = i if swapped else j
    return unchanged, replaced


def test_equal_gaps_between_anchors_make_one_block() -> None:
    # A long module: unique lines between repeated ones (blank lines, the same `return`).
    # Edited in two places, it is a handful of blocks (seven), not one per gap between
    # unique lines (each gap was a recursion: most of what comparing a large file's
    # diagnostics cost).
    body = [f"def f{i}(x: int) -> int:\n    return x\n\n" for i in range(500)]
    old = "".join(body) + "# edit 1\n"
    new_body = list(body)
    new_body[200] = "def f200(x: int) -> str:\n    return x\n\n"
    new = "".join(new_body) + "# edit 2\n"
    a, b = old.split("\n"), new.split("\n")
    opcodes = _delta._opcodes(a, b)  # pyright: ignore[reportPrivateUsage]
    assert len(opcodes) <= 8, opcodes
    unchanged, replaced = line_maps(old, new)
    assert set(replaced) == {601, 1501} and len(unchanged) == len(a) - 2
    assert (unchanged, replaced) == _old_line_maps(old, new)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(["", "a", "b", "x = 1", "    return x"]), max_size=40),
       st.lists(st.sampled_from(["", "a", "z", "    return x", "u1"]), max_size=5),
       st.data())
def test_merged_gaps_give_the_maps_of_aligning_every_gap_alone(
        lines: list[str], inserted: list[str], data: st.DataObject) -> None:
    # Unique lines between repeated ones, then edits: lines replaced, inserted, deleted, and
    # unique lines moved (the anchors' longest chain is then not all of them).
    old_lines = [line if k % 2 else f"u{k}" for k, line in enumerate(lines)]
    new_lines = list(old_lines)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(new_lines)))
        if data.draw(st.booleans()) and len(new_lines) > 2:
            to = data.draw(st.integers(0, len(new_lines) - 1))
            new_lines[at % len(new_lines)], new_lines[to] = (new_lines[to],
                                                              new_lines[at % len(new_lines)])
        else:
            new_lines[at:at + data.draw(st.integers(0, 2))] = inserted
    old, new = "\n".join(old_lines), "\n".join(new_lines)
    saved = _delta.SMALL_BLOCK
    try:
        for small in (0, saved):  # anchors everywhere, and as configured
            _delta.SMALL_BLOCK = small
            assert line_maps(old, new) == _old_line_maps(old, new)
            assert line_maps(new, old) == _old_line_maps(new, old)
    finally:
        _delta.SMALL_BLOCK = saved
