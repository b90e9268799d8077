"""Failover: who answers a call when a configured server cannot, and what the report may say.

Servers are grouped by what they check (`ServerSpec.checks`: types, lint, syntax). A call asks
every configured server that is not impaired (see `_supervisor`); for one that is (restarting,
unresponsive, given up), it asks that server's fallbacks instead (`VerifierOptions.fallbacks`),
in order, until its check classes are covered. A server that fails during the call gets its
stand-ins in a second pass, where time is left (results already had are cached, so the pass
costs only the stand-ins' work).

The verdict (`account`): a configured server that did not answer, whose every check class a
stand-in answered for, makes the report *degraded* (`Report.degraded` names it and who stood
in), not unknown; a check class nobody answered for keeps the report ``unknown``. A stand-in
answers for both states an edit is compared between, so its diagnostics are compared with its
own, never with the missing server's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from lspfeedback._deadline import Deadline
from lspfeedback._documents import restore_overlays, save_overlays
from lspfeedback._exceptions import UnknownServer
from lspfeedback._report import Degraded, Unknown
from lspfeedback._reporting import Verdict
from lspfeedback._workspace import Check, Workspace

T = TypeVar("T")

Fallbacks = Mapping[str, Sequence[str]]
"""server name -> the servers that may stand in for it, in order of preference."""


@dataclass(frozen=True)
class Lineup:
    """The servers one call asks, and for whom the stand-ins among them answer."""

    asked: tuple[str, ...]
    standing_in: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """configured server not asked -> the stand-ins asked in its place."""
    reasons: Mapping[str, str] = field(default_factory=dict)
    """configured server not asked -> why not."""

    def covers(self, other: Lineup) -> bool:
        """Whether this lineup asks every server ``other`` asks."""
        return set(other.asked) <= set(self.asked)


async def lineup_of(ws: Workspace, fallbacks: Fallbacks,
                    failed: Mapping[str, str] | None = None) -> Lineup:
    """Who answers on ``ws`` now. ``failed`` (server -> reason) are configured servers that
    already failed in this call: they are treated as impaired too."""
    failed = failed or {}
    asked: list[str] = []
    standing_in: dict[str, tuple[str, ...]] = {}
    reasons: dict[str, str] = {}
    for session in ws.all_sessions():
        if session.state in ("running", "unresponsive") and not session.alive:
            await session.crashed()  # died since the last call: restart it (background)
    for session in ws.sessions.values():
        impaired = session.name in failed or session.supervisor.impaired
        stand_ins = _stand_ins(ws, session.name, session.spec.checks, fallbacks) if impaired else ()
        if not stand_ins:
            asked.append(session.name)  # nobody else can: ask it anyway (it may be back in time)
            continue
        standing_in[session.name] = stand_ins
        reasons[session.name] = failed.get(session.name) or session.supervisor.describe()
        asked.extend(stand_ins)
    return Lineup(tuple(dict.fromkeys(asked)), standing_in, reasons)


def _stand_ins(ws: Workspace, name: str, checks: Sequence[str],
               fallbacks: Fallbacks) -> tuple[str, ...]:
    """The first fallbacks of ``name`` that are not impaired, until ``checks`` are covered."""
    chosen: list[str] = []
    uncovered = set(checks)
    for candidate in fallbacks.get(name, ()):
        if not uncovered:
            break
        try:
            session = ws.session_for(candidate)
        except UnknownServer:
            continue
        if session.supervisor.impaired or not uncovered & set(session.spec.checks):
            continue
        chosen.append(candidate)
        uncovered -= set(session.spec.checks)
    return tuple(chosen)


def failed_servers(checks: Sequence[Check]) -> dict[str, str]:
    """server -> the first reason it gave for not answering in any of ``checks``."""
    failed: dict[str, str] = {}
    for check in checks:
        for u in check.unknown:
            failed.setdefault(u.server, u.reason)
    return failed


async def with_failover(ws: Workspace, fallbacks: Fallbacks, deadline: Deadline,
                        run: Callable[[Lineup], Awaitable[T]],
                        failures: Callable[[T], Sequence[Check]]) -> tuple[Lineup, T]:
    """``run`` with the lineup of now; again with stand-ins for the configured servers that
    failed in it (``failures`` finds their checks), if that asks anyone new and time is left."""
    lineup = await lineup_of(ws, fallbacks)
    result = await run(lineup)
    failed = {name: reason for name, reason in failed_servers(failures(result)).items()
              if name in ws.sessions}
    if not failed or deadline.expired:
        return lineup, result
    second = await lineup_of(ws, fallbacks, failed)
    if lineup.covers(second):
        return lineup, result
    return second, await run(second)


async def check_edit(ws: Workspace, targets: list[str], changes: Mapping[str, str | None],
                     deadline: Deadline, fallbacks: Fallbacks) -> tuple[Verdict, Check, Check]:
    """``targets`` checked before and after laying ``changes`` on ``ws``'s store (they stay
    laid), with failover: a second pass starts again from the state before."""
    store = ws.store
    saved = save_overlays(store, changes)

    async def both_states(lineup: Lineup) -> tuple[Check, Check]:
        restore_overlays(store, saved)  # the state before (a no-op on the first pass)
        before = await ws.check(targets, deadline, lineup.asked)
        store.set_overlays(changes)
        return before, await ws.check(targets, deadline, lineup.asked)

    lineup, (before, after) = await with_failover(ws, fallbacks, deadline, both_states,
                                                  lambda checks: checks)
    return account(ws, lineup, before, after, fallbacks), before, after


async def check_now(ws: Workspace, targets: list[str], deadline: Deadline,
                    fallbacks: Fallbacks) -> tuple[Verdict, Check]:
    """``targets`` checked in the current state, with failover."""
    lineup, check = await with_failover(
        ws, fallbacks, deadline, lambda lineup: ws.check(targets, deadline, lineup.asked),
        lambda check: [check])
    return account(ws, lineup, check, check, fallbacks), check


def account(ws: Workspace, lineup: Lineup, before: Check, after: Check,
            fallbacks: Fallbacks) -> Verdict:
    """The unknowns, stand-ins and notes of one call: see the module docstring.

    ``unknown`` keeps the servers' own entries (a baseline failure marked so) for configured
    servers whose check classes nobody answered for.
    """
    failed = failed_servers([before, after])
    answered = {name for name in lineup.asked if name not in failed}
    unknown: list[Unknown] = []
    degraded: list[Degraded] = []
    for session in ws.sessions.values():
        name = session.name
        reason = lineup.reasons.get(name) or failed.get(name)
        if reason is None:
            continue
        stand_ins = tuple(f for f in fallbacks.get(name, ()) if f in answered and f != name)
        covered = {c for f in stand_ins for c in ws.session_for(f).spec.checks}
        uncovered = tuple(c for c in session.spec.checks if c not in covered)
        if stand_ins:
            degraded.append(Degraded(name, reason, stand_ins, uncovered))
        if uncovered:
            own = [u for u in after.unknown if u.server == name] + [
                Unknown(u.server, f"baseline: {u.reason}") for u in before.unknown
                if u.server == name]
            unknown.extend(own or [Unknown(name, reason)])
    configured = set(ws.sessions)
    notes = [f"stand-in {name} could not answer: {reason}" for name, reason in failed.items()
             if name not in configured]
    return Verdict(unknown, degraded, notes)
