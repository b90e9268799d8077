"""LSP diagnostics -> report `Diagnostic`s: 1-based lines, columns in code points."""

from __future__ import annotations

from collections.abc import Callable

from lsprotocol import types

from lspfeedback._lsp.positions import PositionEncoding, split_lines, to_code_points
from lspfeedback._report import SEVERITIES, Diagnostic


def to_diagnostics(rel: str, text: str, items: list[types.Diagnostic], *, source: str,
                   encoding: PositionEncoding, include_hints: bool,
                   rewrite: Callable[[str], str] | None = None) -> tuple[Diagnostic, ...]:
    """The LSP diagnostics ``items`` of ``rel`` (whose text is ``text``) as report diagnostics:
    1-based lines, code-point columns, sorted."""
    return tuple(d for d, _ in converted(rel, text, items, source=source, encoding=encoding,
                                         include_hints=include_hints, rewrite=rewrite))


def converted(rel: str, text: str, items: list[types.Diagnostic], *, source: str,
              encoding: PositionEncoding, include_hints: bool,
              rewrite: Callable[[str], str] | None = None,
              ) -> list[tuple[Diagnostic, types.Diagnostic]]:
    """Like `to_diagnostics`, each beside the LSP diagnostic it came from (what a
    ``textDocument/codeAction`` request must be given back), sorted by the former."""
    lines = split_lines(text)
    out: list[tuple[Diagnostic, types.Diagnostic]] = []
    for item in items:
        severity = SEVERITIES[(item.severity or types.DiagnosticSeverity.Error) - 1]
        if severity == "hint" and not include_hints:
            continue
        out.append((Diagnostic(
            path=rel,
            line=item.range.start.line + 1,
            column=_column(lines, item.range.start, encoding) + 1,
            end_line=item.range.end.line + 1,
            end_column=_column(lines, item.range.end, encoding) + 1,
            severity=severity,
            message=rewrite(item.message) if rewrite is not None else item.message,
            source=source,
            code=None if item.code is None else str(item.code),
            url=item.code_description.href if item.code_description is not None else None,
        ), item))
    out.sort(key=lambda pair: pair[0])
    return out


def _column(lines: list[str], pos: types.Position, encoding: PositionEncoding) -> int:
    line = lines[pos.line] if pos.line < len(lines) else ""
    return to_code_points(line, pos.character, encoding)
