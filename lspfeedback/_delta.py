"""Which diagnostics an edit introduced and which it resolved.

A diagnostic is the same one before and after if it has the same source, code, severity and
message and either sits on the line its old line maps to (lines inserted or deleted above it
only shift it), or points at the same text. Matching is one-to-one, so a second copy of an
existing error counts as introduced.
"""

from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Mapping, Sequence

from lspfeedback._lsp.positions import split_lines
from lspfeedback._report import Diagnostic


def line_map(old_text: str, new_text: str) -> dict[int, int]:
    """1-based old line → new line, for lines the edit left untouched."""
    if old_text == new_text:
        return {}  # identity, see _mapped
    old, new = split_lines(old_text), split_lines(new_text)
    mapping: dict[int, int] = {}
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    for block in matcher.get_matching_blocks():
        for i in range(block.size):
            mapping[block.a + i + 1] = block.b + i + 1
    return mapping


def _key(d: Diagnostic) -> tuple[str, str | None, str, str]:
    return (d.source, d.code, d.severity, d.message)


def _snippet(d: Diagnostic, lines: Sequence[str]) -> str:
    if not 1 <= d.line <= len(lines):
        return ""
    return lines[d.line - 1].strip()


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
        old_text, new_text = old_texts.get(path, ""), new_texts.get(path, "")
        mapping = line_map(old_text, new_text)
        identity = old_text == new_text
        old_lines, new_lines = split_lines(old_text), split_lines(new_text)
        remaining = list(by_path_before[path])
        unmatched: list[Diagnostic] = []
        # Pass 1: same line after mapping. Pass 2: same text under it.
        for d in by_path_after[path]:
            match = next(
                (o for o in remaining if _key(o) == _key(d)
                 and (o.line if identity else mapping.get(o.line)) == d.line
                 and (not identity or o.column == d.column)),
                None,
            )
            if match is None:
                unmatched.append(d)
            else:
                remaining.remove(match)
        for d in unmatched:
            snippet = _snippet(d, new_lines)
            match = next(
                (o for o in remaining if _key(o) == _key(d) and _snippet(o, old_lines) == snippet),
                None,
            )
            if match is None:
                introduced.append(d)
            else:
                remaining.remove(match)
        resolved.extend(remaining)
    return introduced, resolved
