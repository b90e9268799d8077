"""`DiskSync`: what the replicas' servers must hear when files change on disk.

Two sources: the rescan at the start of every operation (documents we know, compared by
content) and the watcher (files we do not know). A ``verify`` of paths is the third case: the
paths named are this call's change, every other disk change belongs to the baseline.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from lspfeedback import languages
from lspfeedback._deadline import Deadline
from lspfeedback._delta import compare
from lspfeedback._failover import account, lineup_of
from lspfeedback._fixes import with_fixes
from lspfeedback._imports import ImportGraphs, Plan
from lspfeedback._replicas import ReplicaPool
from lspfeedback._report import Diagnostic, Report, in_order
from lspfeedback._reporting import assemble
from lspfeedback._workspace import Check, Workspace


@dataclass(frozen=True)
class External:
    """Files someone else changed on disk since the last call, and what they brought."""

    changes: tuple[str, ...] = ()
    introduced: tuple[Diagnostic, ...] = ()


class DiskSync:
    """Keeps every replica's view of the disk, and the import graph, current."""

    def __init__(self, pool: ReplicaPool, graphs: ImportGraphs) -> None:
        self._pool = pool
        self._graphs = graphs

    def refresh(self, ws: Workspace, skip: Collection[str] = ()) -> list[str]:
        """Re-read every document ``ws`` knows, by content; tell its servers. Returns the
        paths whose text changed."""
        changed = ws.store.rescan(skip)
        if changed:
            ws.disk_changed(changed)
        return changed

    async def refresh_external(self, ws: Workspace, deadline: Deadline,
                               skip: Collection[str] = ()) -> External:
        """`refresh`, and say what the files someone else changed brought: their current
        diagnostics compared with what was known of them before (nothing known: everything
        current counts, nothing is hidden)."""
        key = ws.store.state_key()
        old_texts = {d.path: d.text for d in ws.store.documents()}
        changed = self.refresh(ws, skip)
        if not changed:
            return External()
        checkable = [rel for rel in changed
                     if languages.of_path(rel) is not None and ws.store.get(rel).exists]
        if not checkable:
            return External(tuple(changed))
        lineup = await lineup_of(ws, self._pool.fallbacks)
        now = await ws.check(checkable, deadline, lineup.asked)
        # The same servers on both sides: those that answered now and had answered for that
        # state (a stand-in's results then against a recovered server's now would make every
        # old error look new). Nothing known of the old state at all: everything counts.
        failed = frozenset(u.server for u in now.unknown)
        answered = set(now.results) - failed
        known = ws.cached_servers(checkable, key)
        both = answered & known if known else answered
        introduced, _ = compare(ws.cached_diagnostics(checkable, key, both),
                                now.diagnostics(frozenset(now.results) - both),
                                old_texts, {rel: ws.store.get(rel).text for rel in checkable})
        return External(tuple(changed), tuple(sorted(introduced, key=in_order)))

    def written(self, ws: Workspace, rels: list[str]) -> None:
        """``ws`` wrote ``rels`` to disk itself."""
        if rels:
            ws.disk_changed(rels)

    def watched(self, rels: list[str]) -> None:
        """The watcher saw ``rels`` change on disk (someone else changed them).

        Documents we know are left to the rescan at the start of the next operation (which
        also decides whether a change belongs to the baseline or is the change being
        verified); files we do not track are what the servers must hear about now.
        """
        for ws in self._pool:
            untracked = [rel for rel in rels if not ws.store.known(rel)]
            if untracked:
                ws.store.note_disk_change()
                ws.disk_changed(untracked)

    async def verify_paths(self, paths: Iterable[str | os.PathLike[str]], *, limit: int,
                           deadline: Deadline) -> Report:
        """What the disk changes of ``paths`` did, in them and their importers."""
        started = time.perf_counter()
        ws = self._pool.primary
        store = ws.store
        changed = list(dict.fromkeys(store.relpath(p) for p in paths))
        # The importers as the shadow shows them before it learns of these changes: a deleted
        # (or renamed-away) module's importers no longer resolve it, so a graph read after
        # cannot list them, and they are what the deletion broke.
        earlier = (await self._graphs.plan(changed, limit, deadline=deadline)
                   if ws.shadow.stats is not None else None)
        await ws.ensure_shadow()
        external = await self.refresh_external(ws, deadline, skip=set(changed))
        # Never seen before and changed on disk: its earlier state is unknown, so the baseline
        # is empty and everything current counts as introduced (never hidden).
        first_sight = any(not store.known(p) for p in changed)
        old_texts = {p: store.get(p).text for p in changed}
        scope = _union(earlier, await self._graphs.plan(changed, limit, deadline=deadline))
        lineup = await lineup_of(ws, self._pool.fallbacks)
        before = Check() if first_sight else await ws.check(scope.targets, deadline, lineup.asked)
        reloaded = [rel for rel in changed if store.reload(rel)]
        if reloaded or first_sight:
            # A file read for the first time may have changed after a server read it from
            # disk: the servers must hear of it, and cached results are no longer valid.
            store.note_disk_change()
            ws.disk_changed(changed)
            scope = _union(scope, await self._graphs.plan(changed, limit, deadline=deadline))
        after = await ws.check(scope.targets, deadline, lineup.asked)
        report = assemble(ws, scope, old_texts, before, after, started, external,
                          account(ws, lineup, before, after, self._pool.fallbacks))
        return await with_fixes(ws, report, after, deadline, self._pool.quick_fixes)


def _union(first: Plan | None, second: Plan) -> Plan:
    """Both plans' targets (the first's first)."""
    if first is None:
        return second
    return dataclasses.replace(
        second, targets=list(dict.fromkeys(first.targets + second.targets)),
        omitted=max(first.omitted, second.omitted),
        notes=tuple(dict.fromkeys(first.notes + second.notes)),
        graph_error=first.graph_error or second.graph_error)
