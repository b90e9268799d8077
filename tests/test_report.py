"""Report and Diagnostic: JSON round trips, ``ok``, and the one-line diagnostic format."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lspfeedback._report import SEVERITIES, Diagnostic, Report, Unknown, in_order, status_of


def diag(severity: str = "error", message: str = "boom", line: int = 3, code: str | None = "E1",
         path: str = "pkg/m.py", source: str = "Pyright") -> Diagnostic:
    return Diagnostic(path, line, 7, line, 9, severity, message, source, code)  # type: ignore[arg-type]


FULL = Report(
    status="errors",
    diagnostics=(diag(), diag("warning", "unused", 5, None, source="Ruff")),
    introduced=(diag(),),
    resolved=(diag("hint", "gone\nnext line", 1, "H9"),),
    checked_files=("pkg/m.py", "pkg/user.py"),
    changed_files=("pkg/m.py",),
    versions={"pkg/m.py": 4, "pkg/user.py": 1},
    elapsed_ms=12.5,
    timings_ms={"pyright": 10.25, "ruff": 1.125},
    unknown=(Unknown("jedi", "timed out after 5 s"),),
    dependents_omitted=3,
    notes=("3 more importers not checked",),
)


# ---- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("report", [FULL, Report(status="clean"), Report(status="unknown")])
def test_report_round_trips_through_dict(report: Report) -> None:
    assert Report.from_dict(report.to_dict()) == report


@pytest.mark.parametrize("report", [FULL, Report(status="clean")])
def test_report_round_trips_through_json(report: Report) -> None:
    data = json.loads(json.dumps(report.to_dict()))
    restored = Report.from_dict(data)
    assert restored == report
    assert isinstance(restored.diagnostics, tuple) and isinstance(restored.checked_files, tuple)
    assert restored.ok == report.ok


def test_to_dict_is_json_ready_and_carries_ok() -> None:
    data = FULL.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["ok"] is FULL.ok is False
    assert data["unknown"] == [{"server": "jedi", "reason": "timed out after 5 s"}]


def test_from_dict_ignores_ok_and_recomputes_it() -> None:
    data = Report(status="clean").to_dict()
    data["ok"] = False  # a stale or tampered field must not win
    assert Report.from_dict(data).ok is True


def test_from_dict_fills_defaults_for_missing_keys() -> None:
    assert Report.from_dict({"status": "clean"}) == Report(status="clean")


def test_diagnostic_round_trips_and_ignores_unknown_keys() -> None:
    d = diag(code=None)
    data = d.to_dict()
    assert Diagnostic.from_dict(data) == d
    assert Diagnostic.from_dict({**data, "extra": 1}) == d


diagnostics = st.builds(
    Diagnostic,
    path=st.text(min_size=1, max_size=10),
    line=st.integers(1, 10**6),
    column=st.integers(1, 10**4),
    end_line=st.integers(1, 10**6),
    end_column=st.integers(1, 10**4),
    severity=st.sampled_from(SEVERITIES),
    message=st.text(max_size=30),
    source=st.text(max_size=8),
    code=st.none() | st.text(max_size=8),
)
millis = st.integers(0, 10**9).map(lambda n: n / 1000)  # to_dict keeps 3 decimals


@given(
    st.sampled_from(["clean", "errors", "unknown"]),
    st.lists(diagnostics, max_size=3).map(tuple),
    st.lists(diagnostics, max_size=3).map(tuple),
    st.lists(diagnostics, max_size=3).map(tuple),
    st.dictionaries(st.text(max_size=5), st.integers(1, 100), max_size=3),
    millis,
    st.dictionaries(st.text(max_size=5), millis, max_size=3),
    st.lists(st.builds(Unknown, st.text(max_size=5), st.text(max_size=10)), max_size=2).map(tuple),
    st.integers(0, 50),
    st.lists(st.text(max_size=10), max_size=2).map(tuple),
)
def test_report_json_round_trip_property(status, diags, introduced, resolved, versions, elapsed,
                                         timings, unknown, omitted, notes) -> None:
    report = Report(
        status=status, diagnostics=diags, introduced=introduced, resolved=resolved,
        checked_files=tuple(versions), changed_files=tuple(versions)[:1], versions=versions,
        elapsed_ms=elapsed, timings_ms=timings, unknown=unknown, dependents_omitted=omitted,
        notes=notes,
    )
    assert Report.from_dict(json.loads(json.dumps(report.to_dict()))) == report


@given(st.floats(0, 1e7, allow_nan=False), st.floats(0, 1e7, allow_nan=False))
def test_to_dict_is_stable_after_one_round_trip(elapsed: float, timing: float) -> None:
    # Timings are rounded to 3 decimals in to_dict; after that, round trips are exact.
    once = Report(status="clean", elapsed_ms=elapsed, timings_ms={"s": timing}).to_dict()
    assert Report.from_dict(once).to_dict() == once
    assert abs(once["elapsed_ms"] - elapsed) <= 0.0005 + 1e-9 * elapsed


# ---- ok --------------------------------------------------------------------------------------


def test_unknown_is_not_ok_even_without_diagnostics() -> None:
    assert Report(status="unknown").ok is False
    assert Report(status="unknown", unknown=(Unknown("ruff", "crashed"),)).ok is False


def test_clean_is_ok() -> None:
    assert Report(status="clean").ok is True


@pytest.mark.parametrize("severity", ["warning", "information", "hint"])
def test_introduced_non_error_only_is_ok(severity: str) -> None:
    d = diag(severity)
    assert Report(status="clean", diagnostics=(d,), introduced=(d,)).ok is True


def test_introduced_error_is_not_ok() -> None:
    e = diag("error")
    assert Report(status="errors", diagnostics=(e,), introduced=(e,)).ok is False
    w = diag("warning", "w")
    assert Report(status="errors", diagnostics=(e, w), introduced=(w, e)).ok is False


def test_preexisting_errors_alone_are_ok() -> None:
    # The status says the files have errors, but this edit introduced none.
    e = diag("error")
    r = Report(status="errors", diagnostics=(e,))
    assert r.ok is True
    assert r.errors == (e,)


def test_resolved_errors_do_not_affect_ok() -> None:
    assert Report(status="clean", resolved=(diag("error"),)).ok is True


def test_status_of() -> None:
    assert status_of([], []) == "clean"
    assert status_of([diag("warning")], []) == "clean"
    assert status_of([diag("warning"), diag("error")], []) == "errors"
    assert status_of([], [Unknown("s", "r")]) == "unknown"
    assert status_of([diag("error")], iter([Unknown("s", "r")])) == "unknown"


# ---- Diagnostic.__str__ ----------------------------------------------------------------------


def test_str_with_code() -> None:
    d = Diagnostic("pkg/m.py", 12, 5, 12, 9, "error", '"x" is not defined', "Pyright",
                   "reportUndefinedVariable")
    assert str(d) == 'pkg/m.py:12:5: error: "x" is not defined [Pyright reportUndefinedVariable]'


def test_str_without_code() -> None:
    d = Diagnostic("a.py", 1, 1, 1, 2, "warning", "unused import", "Ruff", None)
    assert str(d) == "a.py:1:1: warning: unused import [Ruff]"


@pytest.mark.parametrize(
    ("message", "rendered"),
    [
        ('Argument of type "int"\n  is not assignable to "str"',
         'Argument of type "int" is not assignable to "str"'),
        ("first\r\n    second\n\nthird", "first second third"),
        ("a \n b", "a b"),
    ],
)
def test_str_renders_multi_line_messages_on_one_line(message: str, rendered: str) -> None:
    d = Diagnostic("a.py", 2, 3, 2, 4, "error", message, "Pyright", "X")
    text = str(d)
    assert "\n" not in text and "\r" not in text
    assert text == f"a.py:2:3: error: {rendered} [Pyright X]"


def test_str_joins_lines_broken_by_lone_cr() -> None:
    d = Diagnostic("a.py", 2, 3, 2, 4, "error", "first\rsecond", "Pyright", "X")
    assert str(d) == "a.py:2:3: error: first second [Pyright X]"


def test_report_str_lists_introduced_and_resolved() -> None:
    lines = str(FULL).splitlines()
    assert lines[0].startswith("errors: 1 introduced, 1 resolved, 2 current in 2 files")
    assert f"+ {diag()}" in lines
    assert "- pkg/m.py:1:7: hint: gone next line [Pyright H9]" in lines
    assert "  unknown: jedi: timed out after 5 s" in lines


@given(st.lists(st.builds(
    Diagnostic, path=st.sampled_from(["a.py", "b.py"]), line=st.integers(1, 3),
    column=st.integers(1, 3), end_line=st.integers(1, 3), end_column=st.integers(1, 3),
    severity=st.sampled_from(["error", "warning"]), message=st.sampled_from(["m", "n"]),
    source=st.sampled_from(["ruff", "ty"]), code=st.sampled_from(["X1", "X2"]),
    url=st.sampled_from(["u", "v"]), fixable=st.booleans()), max_size=30))
def test_in_order_sorts_as_the_diagnostics_own_order(ds: list[Diagnostic]) -> None:
    assert sorted(ds, key=in_order) == sorted(ds)
