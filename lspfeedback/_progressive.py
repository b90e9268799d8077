"""The progressive verdict: the fast servers answer first, the thorough ones complete it.

Type checkers differ 10-30x in speed (pyright against ty on the same edit). For a call with a
slow configured server that has previews (`VerifierOptions.previews`: pyright -> ty), both
states of the edit are checked by every server, but the *after* check runs as two tiers at
once: the fast tier (the configured servers without previews, plus the previews) and the
thorough tier (the servers with previews). The fast tier's answer is yielded as a preview;
the final answer holds the configured servers' diagnostics only: a preview server's are
superseded, never merged into duplicates. A preview server that answered is also a stand-in
(when it is among the slow server's fallbacks): a slow server that fails leaves a degraded
final report standing on it, as in `_failover`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from lspfeedback._deadline import Deadline
from lspfeedback._documents import SavedOverlays, restore_overlays, save_overlays
from lspfeedback._failover import (
    Fallbacks,
    Lineup,
    account,
    failed_servers,
    lineup_of,
    with_failover,
)
from lspfeedback._replicas import Candidate, ReplicaPool
from lspfeedback._report import CandidateReport
from lspfeedback._reporting import Verdict
from lspfeedback._workspace import Check, Workspace

Previews = Mapping[str, Sequence[str]]
"""slow server -> the fast servers that answer first for it."""


@dataclass(frozen=True)
class Stage:
    """One answer of a progressive check: the verdict and the two states' checks."""

    final: bool
    verdict: Verdict
    before: Check
    after: Check


@dataclass(frozen=True)
class Tiers:
    """Who answers first (``fast``) and who completes the answer (``thorough``)."""

    fast: tuple[str, ...]
    thorough: tuple[str, ...]
    previewed: Mapping[str, tuple[str, ...]]
    """thorough server -> its preview servers."""


def tiers_of(ws: Workspace, lineup: Lineup, previews: Previews) -> Tiers:
    """Split ``lineup`` into tiers: a server with previews that are not impaired is thorough;
    everyone else (and the previews) is fast."""
    previewed = {}
    for name in lineup.asked:
        usable = tuple(p for p in previews.get(name, ()) if p != name
                       and not ws.session_for(p).supervisor.impaired)
        if usable:
            previewed[name] = usable
    fast = [n for n in lineup.asked if n not in previewed]
    fast += [p for ps in previewed.values() for p in ps]
    return Tiers(tuple(dict.fromkeys(fast)), tuple(previewed), previewed)


def only(check: Check, names: Sequence[str]) -> Check:
    """The part of ``check`` that ``names`` answered."""
    keep = set(names)
    return Check({n: r for n, r in check.results.items() if n in keep},
                 [u for u in check.unknown if u.server in keep],
                 {n: t for n, t in check.timings_ms.items() if n in keep})


def merged(*checks: Check) -> Check:
    """One check holding every part of ``checks`` (their servers are disjoint)."""
    out = Check()
    for check in checks:
        out.results.update(check.results)
        out.unknown.extend(check.unknown)
        out.timings_ms.update(check.timings_ms)
    return out


async def check_edit_progressive(ws: Workspace, targets: list[str],
                                 changes: Mapping[str, str | None], deadline: Deadline,
                                 fallbacks: Fallbacks, previews: Previews
                                 ) -> AsyncGenerator[Stage, None]:
    """Like `_failover.check_edit`, as a preview stage (when some server has previews) and a
    final stage. ``changes`` stay laid on ``ws``'s store, as with `check_edit`."""
    store = ws.store
    saved = save_overlays(store, changes)
    lineup = await lineup_of(ws, fallbacks)
    tiers = tiers_of(ws, lineup, previews)
    everyone = list(dict.fromkeys([*lineup.asked, *tiers.fast]))
    # The fast tier alone first, both states: the thorough tier's baseline (seconds for
    # pyright on a state it has not seen) and its check would take the cores it runs on.
    before = await ws.check(targets, deadline, tiers.fast)
    store.set_overlays(changes)
    after = await ws.check(targets, deadline, tiers.fast)
    if tiers.thorough:
        yield Stage(False, _preview_verdict(tiers, before, after), before, after)
        restore_overlays(store, saved)  # the state before, for the thorough tier's baseline
        try:
            before = merged(before, await ws.check(targets, deadline, tiers.thorough))
        finally:
            store.set_overlays(changes)  # the edit stays laid, whatever happens
        after = merged(after, await while_checking(
            ws.check(targets, deadline, tiers.thorough), baselines_ahead(ws, tiers, deadline)))
    lineup, before, after = await _second_pass(ws, targets, changes, saved, deadline,
                                               fallbacks, lineup, everyone, before, after)
    # The final answer: the configured servers and their stand-ins; a preview server counts
    # only as the stand-in of a configured server that failed.
    failed = [n for n in failed_servers([before, after]) if n in ws.sessions]
    helpers = {s for name in failed for s in fallbacks.get(name, ())}
    keep = tuple(n for n in dict.fromkeys([*lineup.asked, *tiers.fast])
                 if n in lineup.asked or n in helpers)
    lineup = Lineup(keep, lineup.standing_in, lineup.reasons)
    before, after = only(before, keep), only(after, keep)
    yield Stage(True, account(ws, lineup, before, after, fallbacks), before, after)


async def baselines_ahead(ws: Workspace, tiers: Tiers, deadline: Deadline) -> None:
    """Check, in the store's state, every document the fast tier's servers hold, so that a
    next call's baseline (this state, while nothing changes) is in the cache.

    The baseline is the preview's own cost: on django an edit of a module with 100 importers
    is preceded by an edit elsewhere, and ty checks the importers in that state first, tens
    of ms on the preview's path (docs/servers.md). A file-local server (a linter) is left
    out: its results for other files keep their cache keys across an edit, and so is a
    server not running (work ahead never starts one)."""
    sessions = [s for s in ws.running() if s.name in tiers.fast and not s.spec.file_local]
    # Its checks are only for the cache, each server of what it holds (none is made to open
    # another's files). A second past the call's deadline: they are cancelled with the
    # thorough check, never timed out, so a slow answer here never counts against the
    # server (`Supervisor.missed_deadline`).
    ahead = Deadline(deadline.remaining() + 1.0)
    await asyncio.gather(*(ws.check(s.held_paths(), ahead, [s.name]) for s in sessions
                           if s.held_paths()))


async def while_checking(check: Awaitable[Check], ahead: Awaitable[None]) -> Check:
    """``check``'s result; ``ahead`` runs meanwhile and is cancelled if still running when
    ``check`` ends: work for a next call never delays this one."""
    task = asyncio.ensure_future(ahead)
    try:
        return await check
    finally:
        task.cancel()
        await asyncio.wait([task])
        fault = None if task.cancelled() else task.exception()
        if fault is not None:
            raise fault  # servers' faults are a check's unknowns: this one is ours


def _preview_verdict(tiers: Tiers, before: Check, fast: Check) -> Verdict:
    unknown = [*fast.unknown]
    unknown += [type(u)(u.server, f"baseline: {u.reason}") for u in before.unknown
                if u.server in tiers.fast]
    notes = [f"preview: {', '.join(p)} answered for {name}; its own answer follows"
             for name, p in tiers.previewed.items()]
    return Verdict(unknown, (), notes)


async def _second_pass(ws: Workspace, targets: list[str], changes: Mapping[str, str | None],
                       saved: SavedOverlays, deadline: Deadline, fallbacks: Fallbacks,
                       lineup: Lineup, checked: Sequence[str], before: Check, after: Check
                       ) -> tuple[Lineup, Check, Check]:
    """Stand-ins for configured servers that failed in the call (as
    `_failover.with_failover`): both states again, for those not ``checked`` yet."""
    failed = {n: r for n, r in failed_servers([before, after]).items() if n in ws.sessions}
    if not failed or deadline.expired:
        return lineup, before, after
    second = await lineup_of(ws, fallbacks, failed)
    new = [n for n in second.asked if n not in checked]
    if new:
        restore_overlays(ws.store, saved)
        try:
            before = merged(before, await ws.check(targets, deadline, new))
        finally:
            ws.store.set_overlays(changes)  # the preview said the edit is laid: it stays
        after = merged(after, await ws.check(targets, deadline, new))
    asked = tuple(dict.fromkeys([*lineup.asked, *second.asked]))
    return Lineup(asked, {**lineup.standing_in, **second.standing_in},
                  {**lineup.reasons, **second.reasons}), before, after


async def rank_tiered(pool: ReplicaPool, jobs: Sequence[Candidate], deadline: Deadline,
                      refresh: Callable[[Workspace], object], fallbacks: Fallbacks,
                      previews: Previews, confirm: int) -> list[CandidateReport] | None:
    """Candidates ranked on the fast tier, the best ``confirm`` of them confirmed in rank
    order by every server until one confirmed is ``ok``. None when no server has previews
    (the fast tier would be every server: rank them as usual)."""
    ws = pool.primary
    tiers = tiers_of(ws, await lineup_of(ws, fallbacks), previews)
    if not tiers.thorough:
        return None
    fast, _ = await pool.rank(jobs, deadline, refresh, Lineup(tiers.fast))
    note = (f"ranked on the fast tier ({', '.join(tiers.fast)}); not confirmed by "
            f"{', '.join(tiers.thorough)}")
    reports = {c.index: replace(c.report, final=False, complete=False,
                                notes=(*c.report.notes, note)) for c in fast}
    for candidate in fast[:confirm]:
        if deadline.expired:
            break
        _, (confirmed, _) = await with_failover(
            ws, fallbacks, deadline,
            lambda lineup, c=candidate: pool.rank([jobs[c.index]], deadline, refresh, lineup),
            lambda ranked_and_checks: ranked_and_checks[1])
        reports[candidate.index] = confirmed[0].report
        if confirmed[0].report.ok:
            break
    order = sorted(fast, key=lambda c: CandidateReport.rank_key(replace(
        c, report=reports[c.index])))
    return [replace(c, rank=rank, report=reports[c.index]) for rank, c in enumerate(order, 1)]
