"""Turning the checks before and after an edit into a `Report` (and a candidate's size).

`report.py` says what a report is; this module says how one is assembled from a replica's
state: which files are left to show, what the edit introduced and resolved, what could not be
known and why.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lspfeedback._delta import compare
from lspfeedback._documents import DocumentStore
from lspfeedback._imports import Plan
from lspfeedback._report import CandidateReport, Degraded, Report, Unknown, in_order, status_of
from lspfeedback._workspace import Check, Workspace

if TYPE_CHECKING:
    from lspfeedback._disk import External

FileChanges = dict[str, str | None]
"""Parsed changes: workspace path -> full new text, or None for a deletion."""


@dataclass(frozen=True)
class Verdict:
    """What could not be known in a call, and who stood in (see `_failover.account`)."""

    unknown: Sequence[Unknown]
    degraded: Sequence[Degraded] = ()
    notes: Sequence[str] = ()


def assemble(ws: Workspace, plan: Plan, old_texts: Mapping[str, str], before: Check,
             after: Check, started: float, external: External | None = None,
             verdict: Verdict | None = None) -> Report:
    """The report of ``plan`` on ``ws``: ``after`` compared with ``before``.

    ``old_texts`` are the texts ``before`` describes (a file missing there is taken as
    unchanged). Only servers that answered in both checks are compared: a server missing on
    one side would make its diagnostics look introduced or resolved. ``verdict`` defaults to
    every failure counting as unknown. Takes the replica's pending disk conflicts: each is
    reported once.
    """
    # A file deleted in this view is changed, but there is nothing left to check in it.
    targets = [rel for rel in plan.targets if ws.store.get(rel).exists]
    new_texts = {rel: ws.store.get(rel).text for rel in targets}
    old = {rel: old_texts.get(rel, new_texts[rel]) for rel in targets}
    current = after.diagnostics()
    one_sided = frozenset(u.server for u in [*before.unknown, *after.unknown])
    compared = after.diagnostics(one_sided) if one_sided else current
    introduced, resolved = compare(before.diagnostics(one_sided), compared, old, new_texts)
    if verdict is None:
        verdict = Verdict(list(after.unknown) + [
            Unknown(u.server, f"baseline: {u.reason}") for u in before.unknown])
    unknown = list(verdict.unknown)
    conflicts = tuple(sorted(ws.store.conflicts))
    ws.store.conflicts.clear()
    importers = set(targets) - set(plan.changed)
    unvouched = tuple(name for name in after.results
                      if importers and not ws.session_for(name).spec.sees_overlays_across_files)
    return Report(
        status=status_of(current, unknown),
        diagnostics=tuple(current),
        introduced=tuple(sorted(introduced, key=in_order)),
        resolved=tuple(sorted(resolved, key=in_order)),
        checked_files=tuple(targets),
        changed_files=tuple(plan.changed),
        versions={rel: ws.store.get(rel).version for rel in targets},
        elapsed_ms=(time.perf_counter() - started) * 1000,
        timings_ms=dict(after.timings_ms),
        unknown=tuple(unknown),
        complete=plan.complete and not unknown and not unvouched and not verdict.degraded,
        unvouched=unvouched,
        dependents_omitted=plan.omitted,
        conflicts=conflicts,
        external_changes=external.changes if external else (),
        external_introduced=external.introduced if external else (),
        degraded=tuple(verdict.degraded),
        servers=tuple(n for n in after.results if n not in one_sided),
        notes=plan.notes + tuple(verdict.notes) + ws.store.unreadable_notes()
        + ((ws.sandbox.notice,) if ws.sandbox.notice else ()),
    )


def changed_lines(base: Mapping[str, str], store: DocumentStore, changes: FileChanges) -> int:
    """Lines added or removed by ``changes`` over ``base`` (else the store's text)."""
    total = 0
    for rel, text in changes.items():
        old = base.get(rel)
        if old is None:
            doc = store.get(rel)
            old = doc.text if doc.exists else ""
        total += _diff_size(old.splitlines(), (text or "").splitlines())
    return total


def _diff_size(old: Sequence[str], new: Sequence[str]) -> int:
    return sum(1 for line in difflib.unified_diff(old, new, lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---")))


def ranked(reports: Sequence[Report], change_sets: Sequence[FileChanges],
           base_texts: Mapping[str, str], store: DocumentStore) -> list[CandidateReport]:
    """Candidates' reports as `CandidateReport`s, best first (see `CandidateReport`)."""
    order = sorted(
        (CandidateReport(index=i, rank=0, report=report, changes=change_sets[i],
                         changed_lines=changed_lines(base_texts, store, change_sets[i]))
         for i, report in enumerate(reports)),
        key=CandidateReport.rank_key,
    )
    return [CandidateReport(c.index, rank, c.report, c.changes, c.changed_lines)
            for rank, c in enumerate(order, 1)]
