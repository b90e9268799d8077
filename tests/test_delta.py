"""`compare()`: which diagnostics an edit introduced and which it resolved."""

from __future__ import annotations

from lspfeedback._delta import compare
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
