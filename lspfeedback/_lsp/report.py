"""The answer to ``textDocument/diagnostic``, structured without cattrs on the hot path.

A check pulls every file it checks from every server, and cattrs' generic structuring of
each report (a union of four report kinds, each diagnostic's optional fields) cost more than
the rest of reading the answer. `structure_report` reads the JSON of the two kinds a pull
can get, LSP 3.17's full and unchanged reports, into lsprotocol's own classes by hand; an item
it does not recognise exactly is given to the converter, so what comes out is what the
converter makes (tests/test_hot_path.py compares the two on real servers' answers).

A server that gives no result ids (ruff, pyrefly) sends every file's diagnostics again on
every pull; when they are the JSON of the previous report exactly, that report's items are
taken again instead of being read anew (comparing JSON is a C loop; structuring is not).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from lsprotocol import types


@dataclass(frozen=True)
class DiagnosticReport:
    """A pull's answer: ``full`` with its items, or ``unchanged`` (the report of
    ``result_id``, sent as ``previousResultId``, still stands)."""

    kind: Literal["full", "unchanged"]
    result_id: str | None
    items: tuple[types.Diagnostic, ...] = ()
    raw_items: Any = field(default=None, compare=False, repr=False)
    """The JSON ``items`` these were read from (a full report)."""


def structure_report(raw: Any, converter: Any,
                     previous: DiagnosticReport | None = None) -> DiagnosticReport:
    """``raw``, the JSON result of a pull, as a `DiagnosticReport`; its items are those of
    ``previous`` (the same objects) when their JSON is equal. Raises TypeError or ValueError
    (or the converter's error) for what is not a document diagnostic report."""
    if not isinstance(raw, dict):
        raise TypeError(f"a diagnostic report must be an object, not {type(raw).__name__}")
    kind = raw.get("kind")
    result_id = raw.get("resultId")
    if result_id is not None and not isinstance(result_id, str):
        raise ValueError(f"a resultId must be a string, not {result_id!r}")
    if kind == "unchanged":
        if result_id is None:
            raise ValueError("an unchanged diagnostic report without its resultId")
        return DiagnosticReport("unchanged", result_id)
    raw_items = raw.get("items")
    if kind != "full" or not isinstance(raw_items, list):
        raise ValueError(f"unexpected diagnostic report kind {kind!r}")
    if previous is not None and previous.raw_items == raw_items:
        return DiagnosticReport("full", result_id, previous.items, previous.raw_items)
    return DiagnosticReport("full", result_id, tuple(
        _diagnostic(item, converter) for item in raw_items), raw_items)


def _diagnostic(raw: Any, converter: Any) -> types.Diagnostic:
    try:
        return _fast_diagnostic(raw)
    except (KeyError, TypeError, ValueError, AttributeError):
        return converter.structure(raw, types.Diagnostic)  # its error names the fault


def _fast_diagnostic(raw: dict[str, Any]) -> types.Diagnostic:
    message = raw["message"]
    if not isinstance(message, str):
        raise TypeError("message")
    severity = raw.get("severity")
    code = raw.get("code")
    if code is not None and (isinstance(code, bool) or not isinstance(code, int | str)):
        raise TypeError("code")
    source = raw.get("source")
    if source is not None and not isinstance(source, str):
        raise TypeError("source")
    description = raw.get("codeDescription")
    tags = raw.get("tags")
    related = raw.get("relatedInformation")
    return types.Diagnostic(
        range=_range(raw["range"]),
        message=message,
        severity=None if severity is None else types.DiagnosticSeverity(_int(severity)),
        code=code,
        code_description=None if description is None else types.CodeDescription(
            href=_str(description["href"])),
        source=source,
        tags=None if tags is None else tuple(types.DiagnosticTag(_int(tag)) for tag in tags),
        related_information=None if related is None else tuple(
            types.DiagnosticRelatedInformation(
                location=types.Location(uri=_str(info["location"]["uri"]),
                                        range=_range(info["location"]["range"])),
                message=_str(info["message"]))
            for info in related),
        data=raw.get("data"),
    )


def _range(raw: dict[str, Any]) -> types.Range:
    start, end = raw["start"], raw["end"]
    return types.Range(
        start=types.Position(line=_int(start["line"]), character=_int(start["character"])),
        end=types.Position(line=_int(end["line"]), character=_int(end["character"])))


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError("an integer")
    return value


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError("a string")
    return value
