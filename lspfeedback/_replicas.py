"""`ReplicaPool`: the primary replica and the extra ones candidates run on.

The primary holds the shared base state. Extra replicas start on first need, mirror the
primary's overlays before each candidate and are put back after it, so every candidate sees
the same base; a replica that fails to start is left out and its candidates run on the others.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lspfeedback._deadline import Deadline
from lspfeedback._documents import restore_overlays, save_overlays
from lspfeedback._exceptions import UnknownServer
from lspfeedback._failover import Fallbacks, Lineup, account
from lspfeedback._fixes import with_fixes
from lspfeedback._imports import Plan
from lspfeedback._report import CandidateReport, Report
from lspfeedback._reporting import FileChanges, assemble, ranked
from lspfeedback._sandbox import Sandbox
from lspfeedback._supervisor import RestartPolicy
from lspfeedback._workspace import Check, Workspace
from lspfeedback.servers import ServerContext, ServerSpec


@dataclass(frozen=True)
class Candidate:
    """One candidate to run: its changes and what checking it covers."""

    changes: FileChanges
    plan: Plan


class ReplicaPool:
    """The primary replica plus up to ``size - 1`` extra ones, started lazily."""

    def __init__(self, root: Path, specs: Sequence[ServerSpec], context: ServerContext, *,
                 startup_timeout: float, include_hints: bool, size: int,
                 sandbox: Sandbox | None = None, policy: RestartPolicy | None = None,
                 fallbacks: Fallbacks | None = None, quick_fixes: bool = True) -> None:
        self._sandbox = sandbox
        self.quick_fixes = quick_fixes
        """Whether reports ask for quick fixes (`VerifierOptions.quick_fixes`)."""
        self._policy = policy
        self.fallbacks: Fallbacks = fallbacks or {}
        self._root = root
        self._specs = list(specs)
        self._context = context
        self._startup_timeout = startup_timeout
        self._include_hints = include_hints
        self.size = size
        self.primary = self._new("primary")
        self._extra: list[Workspace] = []

    def __repr__(self) -> str:
        return f"<ReplicaPool started={1 + len(self._extra)}/{self.size}>"

    def __iter__(self) -> Iterator[Workspace]:
        """Every replica created so far, the primary first."""
        return iter([self.primary, *self._extra])

    async def close(self) -> None:
        await asyncio.gather(*(w.close() for w in self))

    def reset(self, server: str | None) -> None:
        """Forget the past crashes of ``server`` (None: every server) in every replica."""
        names = list(self.primary.sessions) if server is None else [server]
        if server is not None and server not in self.primary.sessions:
            raise UnknownServer(server, list(self.primary.sessions))
        for ws in self:
            for name in names:
                ws.sessions[name].supervisor.reset()

    def _new(self, name: str) -> Workspace:
        return Workspace(self._root, self._specs, self._context,
                         startup_timeout=self._startup_timeout,
                         include_hints=self._include_hints, name=name, sandbox=self._sandbox,
                         policy=self._policy)

    async def workers(self, wanted: int) -> list[Workspace]:
        """The primary plus extra replicas up to ``min(size, wanted)``, started if needed."""
        target = min(self.size, wanted)
        while 1 + len(self._extra) < target:
            self._extra.append(self._new(f"replica-{len(self._extra) + 1}"))
        workers = [self.primary, *self._extra[: target - 1]]
        results = await asyncio.gather(*(w.start() for w in workers[1:]), return_exceptions=True)
        failed = {id(w) for w, r in zip(workers[1:], results, strict=True)
                  if isinstance(r, BaseException)}
        return [w for w in workers if id(w) not in failed]

    async def rank(self, candidates: Sequence[Candidate], deadline: Deadline,
                   refresh: Callable[[Workspace], object],
                   lineup: Lineup) -> tuple[list[CandidateReport], list[Check]]:
        """Check every candidate against the primary's current state; best first. Also
        returns the checks made, for the failover to see who failed.

        The baseline is one check of every file any candidate covers, on the primary.
        """
        if not candidates:
            return [], []
        union = list(dict.fromkeys(t for c in candidates for t in c.plan.targets))
        baseline = await self.primary.check(union, deadline, lineup.asked)
        store = self.primary.store
        base_texts = {rel: store.get(rel).text for rel in union}
        runs = await self.run(candidates, baseline, base_texts, deadline, refresh, lineup)
        reports = [report for report, _ in runs]
        return (ranked(reports, [c.changes for c in candidates], base_texts, store),
                [baseline, *(after for _, after in runs)])

    async def run(self, candidates: Sequence[Candidate], baseline: Check,
                  base_texts: dict[str, str], deadline: Deadline,
                  refresh: Callable[[Workspace], object],
                  lineup: Lineup) -> list[tuple[Report, Check]]:
        """Each candidate's report against ``baseline``, in the order given.

        Candidates are handed out from one queue to every started replica; ``refresh``
        brings an extra replica's disk view up to date before it mirrors the primary.
        """
        # The base, taken once: the primary's own overlays change while it runs a candidate,
        # and a replica starting its candidate meanwhile must not take those for the base.
        base = self.primary.overlay_view()
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(len(candidates)):
            queue.put_nowait(index)
        reports: dict[int, tuple[Report, Check]] = {}

        async def work(ws: Workspace) -> None:
            while not queue.empty():
                index = queue.get_nowait()
                reports[index] = await self._try(ws, candidates[index], base, baseline,
                                                 base_texts, deadline, refresh, lineup)

        await asyncio.gather(*(work(ws) for ws in await self.workers(len(candidates))))
        return [reports[i] for i in range(len(candidates))]

    async def _try(self, ws: Workspace, candidate: Candidate, base: dict[str, str | None],
                   baseline: Check, base_texts: dict[str, str], deadline: Deadline,
                   refresh: Callable[[Workspace], object],
                   lineup: Lineup) -> tuple[Report, Check]:
        started = time.perf_counter()
        if ws is not self.primary:
            refresh(ws)
            ws.mirror(base)
            # A replica's own overlays are only ever copies of the base: a disk change under
            # one is no conflict of the user's (the primary reports those).
            ws.store.conflicts.clear()
        saved = save_overlays(ws.store, candidate.changes)
        try:
            for rel, text in candidate.changes.items():
                ws.store.set_overlay(rel, text)
            after = await ws.check(candidate.plan.targets, deadline, lineup.asked)
            verdict = account(ws, lineup, baseline, after, self.fallbacks)
            report = assemble(ws, candidate.plan, base_texts, baseline, after, started,
                              verdict=verdict)
            # Asked now, while the servers still hold the candidate's text.
            return await with_fixes(ws, report, after, deadline, self.quick_fixes), after
        finally:
            if ws is self.primary:
                restore_overlays(ws.store, saved)
            else:
                ws.mirror(base)
