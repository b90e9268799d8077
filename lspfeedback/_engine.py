"""The verify engine: `AsyncVerifier`, the async core that everything else wraps.

Rules (see docs/design.md): one operation at a time per workspace (a lock); every wait ends
at a deadline in a typed outcome; a server that cannot answer for the current version makes
the report ``unknown``, never ``clean``; results are cached per (server, path) under the exact
state they describe, which is what makes baselines lazy and cheap. This module keeps the lock,
the lifecycle and the public operations; replicas (`_replicas`), report assembly
(`_reporting`) and change parsing (`lspfeedback.edits`) live beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncGenerator, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Self, Unpack

from lspfeedback._deadline import Deadline
from lspfeedback._disk import DiskSync, External
from lspfeedback._documents import restore_overlays, save_overlays
from lspfeedback._environment import PythonEnvironment, find_environment
from lspfeedback._exceptions import EditError, VerifierClosed
from lspfeedback._failover import check_edit, check_now, with_failover
from lspfeedback._fixes import PendingFixes, choose, combine, with_fixes
from lspfeedback._imports import ImportGraphs, Plan
from lspfeedback._options import OptionFields, VerifierOptions, trusted_python
from lspfeedback._progressive import Stage, check_edit_progressive, rank_tiered
from lspfeedback._replicas import Candidate, ReplicaPool
from lspfeedback._report import CandidateReport, Fix, Report, Unknown
from lspfeedback._reporting import FileChanges, assemble
from lspfeedback._sandbox import sandbox_for
from lspfeedback._status import VerifierStatus, status_of_pool
from lspfeedback._watch import DiskWatcher
from lspfeedback._workspace import Workspace
from lspfeedback.edits import Changes, is_disk_paths, parse_changes
from lspfeedback.servers import ServerContext


@dataclass(frozen=True)
class _Edit:
    """An edit about to be checked on the primary replica (see `AsyncVerifier._begin`)."""

    ws: Workspace
    changes: FileChanges
    old_texts: dict[str, str]
    external: External | None


class AsyncVerifier:
    """Warm language servers for one workspace, and `verify` on top of them.

    Configure it with a `VerifierOptions` (``options``) and/or its fields as keywords
    (``AsyncVerifier(root, servers=["ty", "ruff"], timeout=5)``); keywords win.
    """

    def __init__(self, root: str | os.PathLike[str], options: VerifierOptions | None = None,
                 **fields: Unpack[OptionFields]) -> None:
        self.options: VerifierOptions = (options or VerifierOptions()).replace(**fields)
        """The options this verifier runs with."""
        self.root: Path = Path(root).resolve()
        """The workspace root, resolved."""
        o = self.options
        env = find_environment(self.root)  # read once: the servers' settings and python
        self._context = ServerContext(
            root=self.root, python=trusted_python(o.python, o.trust_workspace, env),
            environment=env)
        self._sandbox = sandbox_for(o.sandbox)
        self._pool = ReplicaPool(self.root, o.specs, self._context, size=o.replica_count,
                                 startup_timeout=o.startup_timeout, include_hints=o.include_hints,
                                 sandbox=self._sandbox, policy=o.restarts,
                                 fallbacks=o.fallbacks, quick_fixes=o.quick_fixes)
        self._graphs = ImportGraphs(dict.fromkeys(n for spec in o.specs for n in spec.languages),
                                    self._primary.shadow.root, self._sandbox)
        self._primary.on_shadow_change = self._graphs.note
        self._disk = DiskSync(self._pool, self._graphs)
        self._lock = asyncio.Lock()
        self._fixes = PendingFixes()
        self._watcher = DiskWatcher(self.root, self._on_disk_change) if o.watch else None
        self._closed = False

    def __repr__(self) -> str:
        states = ", ".join(f"{s.name}:{s.state}" for s in self._primary.sessions.values())
        return (f"<AsyncVerifier {self.root} [{states}] overlays={len(self.overlays)} "
                f"replicas={len(list(self._pool))}/{self._pool.size}>")

    @property
    def python(self) -> str | None:
        """The interpreter the servers may run (None: the project's environment is read from
        its files, never run; see `VerifierOptions.python` and ``trust_workspace``)."""
        return self._context.python

    @property
    def environment(self) -> PythonEnvironment | None:
        """The project's virtualenv as found by reading files, if it has one."""
        return self._context.environment

    @property
    def _primary(self) -> Workspace:
        return self._pool.primary

    @property
    def overlays(self) -> dict[str, str | None]:
        """The in-memory edits not yet committed: path -> text, or None for a deletion."""
        return self._primary.overlay_view()

    def status(self) -> VerifierStatus:
        """Each server's state, restarts and last error, and the replicas in use."""
        return status_of_pool(self.root, self._pool, closed=self._closed)

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every server of the primary replica now (and the disk watcher).

        Raises `ServerNotFound` or `ServerStartError` for the first server that fails.
        """
        self._ensure_open()
        await self._primary.ensure_shadow()
        self._graphs.prefetch()  # read beside the servers' start: large projects take seconds
        await self._primary.start()
        if self._watcher is not None:
            self._watcher.start()

    async def close(self) -> None:
        """Stop every server of every replica, and the watcher. Overlays are dropped."""
        self._closed = True
        if self._watcher is not None:
            await self._watcher.stop()
        await self._graphs.close()
        await self._pool.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ---- the public operations -------------------------------------------------------------

    async def verify(self, changes: Changes) -> Report:
        """Apply ``changes`` and return the diagnostics they cause, here and in importers.

        ``changes`` is one of: a mapping path -> full new text (None deletes); an iterable of
        paths that changed on disk ("re-read them"); a unified diff or search/replace blocks
        (a `str`); an LSP ``WorkspaceEdit`` (object or JSON) or a mapping path -> list of
        ``TextEdit``. Edits stay in-memory overlays until `commit` or `discard`. Raises
        `PathOutsideWorkspace` or `EditError` (`EditApplyError` says where) before changing
        anything, and `VerifierClosed` after `close`. The servers' quick fixes for what the
        edit introduced are in `Report.fixes` (see `apply_fixes`).
        """
        started = time.perf_counter()
        async with self._lock:
            self._ensure_open()
            deadline = Deadline(self.options.timeout)
            if is_disk_paths(changes):
                return await self._disk.verify_paths(
                    changes, limit=self.options.max_dependents,  # type: ignore[arg-type]
                    deadline=deadline)
            edit = await self._begin(changes, deadline)
            try:
                plan = await self._plan(edit.changes, deadline)
                verdict, before, after = await check_edit(edit.ws, plan.targets, edit.changes,
                                                          deadline, self.options.fallbacks)
            except BaseException:
                self._fixes.put_back(edit.ws.store)  # never lose the fixes laid: overlays
                raise
            report = assemble(edit.ws, plan, edit.old_texts, before, after, started,
                              edit.external, verdict)
            return await with_fixes(edit.ws, report, after, deadline, self.options.quick_fixes)

    async def verify_progressive(self, changes: Changes) -> AsyncGenerator[Report, None]:
        """`verify`, answered in tiers: a preview from the fast servers, then the final report.

        For a configured server with previews (`VerifierOptions.previews`: pyright -> ty),
        the first report (``final=False``, never `complete`) comes as soon as the fast
        servers (ruff, ty, ...) have answered for the edited files and their importers; the
        last (``final=True``) when every configured server has, as `verify` would answer.
        The final report holds the configured servers' diagnostics only: a preview's are
        superseded, not merged. With no server to preview, it yields the final report alone.
        Stopping after the preview leaves the edit laid, as `verify` does. ``Report.servers``
        says who each answer comes from.
        """
        started = time.perf_counter()
        async with self._lock:
            self._ensure_open()
            deadline = Deadline(self.options.timeout)
            if is_disk_paths(changes):
                yield await self._disk.verify_paths(
                    changes, limit=self.options.max_dependents,  # type: ignore[arg-type]
                    deadline=deadline)
                return
            edit = await self._begin(changes, deadline)
            o = self.options
            stages: AsyncGenerator[Stage, None] | None = None
            try:
                plan = await self._plan(edit.changes, deadline)
                stages = check_edit_progressive(edit.ws, plan.targets, edit.changes, deadline,
                                                o.fallbacks, o.previews)
                stage = await anext(stages)
            except BaseException:
                self._fixes.put_back(edit.ws.store)
                if stages is not None:
                    await stages.aclose()
                raise
            async with contextlib.aclosing(stages):
                conflicts: tuple[str, ...] = ()
                if not stage.final:
                    preview = assemble(edit.ws, plan, edit.old_texts, stage.before, stage.after,
                                       started, edit.external, stage.verdict)
                    conflicts = preview.conflicts  # reported once per call: in both answers
                    yield replace(preview, final=False, complete=False)
                    stage = await anext(stages)
                report = assemble(edit.ws, plan, edit.old_texts, stage.before, stage.after,
                                  started, edit.external, stage.verdict)
                report = replace(report, conflicts=tuple(sorted({*conflicts,
                                                                 *report.conflicts})))
                yield await with_fixes(edit.ws, report, stage.after, deadline,
                                       o.quick_fixes)

    async def verify_candidates(
        self, candidates: Sequence[Changes], *, base: Mapping[str, str | None] | None = None,
        confirm: int | None = None,
    ) -> list[CandidateReport]:
        """Check each candidate against the same base state; return them best first.

        Each candidate is any edit `verify` accepts (not a list of paths). Candidates run in
        parallel on the warm replicas; the base state is unchanged afterwards. Every
        candidate is parsed before any is run: one that cannot apply raises and nothing runs.
        ``base`` (path -> text, or None for a deletion) is laid over the current state for
        this call only: the candidates apply to it and are compared with it.

        ``confirm=k`` ranks the candidates on the fast tier (`VerifierOptions.previews`: ty
        for pyright) and confirms the best, up to ``k``, with every configured server, in
        rank order until one confirmed is ``ok``. A report only the fast tier made has
        ``final=False`` (never `complete`) and ranks after a confirmed one as good. Without
        previews to use, every candidate is checked by every server, as with None.
        """
        async with self._lock:
            self._ensure_open()
            self._disk.refresh(self._primary)
            store = self._primary.store
            base_set = self._parse(dict(base)) if base else {}
            saved = save_overlays(store, base_set)
            try:
                store.set_overlays(base_set)
                return await self._run_candidates(candidates, confirm)
            finally:
                restore_overlays(store, saved)

    async def verify_speculative(
        self, changes: Changes, *, base: Mapping[str, str | None] | None = None
    ) -> Report:
        """Like `verify`, but nothing is left behind: the edit is checked and taken back.

        With ``base``, the edit applies to (and is compared with) that overlay set laid over
        the current state. This is what the daemon serves to many agents at once.
        """
        ranked = await self.verify_candidates([changes], base=base)
        return ranked[0].report

    async def apply(self, candidate: CandidateReport | Changes) -> list[str]:
        """Make a candidate (a `CandidateReport` or any edit) the current overlay, unchecked.

        Returns the paths it changed. The next `verify` reports against this state.
        """
        async with self._lock:
            self._ensure_open()
            changes = candidate.changes if isinstance(candidate, CandidateReport) else candidate
            return self._primary.store.set_overlays(self._parse(changes))

    async def apply_fixes(self, fixes: Report | Fix | Iterable[Fix], *,
                          only: Collection[str] | None = None) -> list[str]:
        """Lay quick fixes on the overlays as one edit, unchecked; returns the paths changed.

        ``fixes`` is a `Report` (its preferred fixes, one per diagnostic: those that make a
        diagnostic `fixable`), one `Fix`, or several (exactly those). ``only`` keeps the
        fixes whose diagnostic's code (``{"F401"}``) or title is in it. Several fixes of one
        file are merged on its current text. Raises `EditApplyError`, changing nothing, when
        two fixes change the same text, or when a fix was made for another text than the
        current one (the file changed since its report). The next `verify` checks the fixes
        as part of its edit, against the state before them (``verify({})`` checks them
        alone): what they fixed is ``resolved``.
        """
        async with self._lock:
            self._ensure_open()
            self._disk.refresh(self._primary)
            store = self._primary.store
            changes = self._parse(combine(choose(fixes, only), store.current_text))
            before = {rel: store.current_text(rel) for rel in changes}
            changed = store.set_overlays(changes)
            self._fixes.add(before, changes)
            return changed

    async def diagnostics(self, paths: Iterable[str | os.PathLike[str]]) -> Report:
        """Current diagnostics of ``paths`` (no change, no importers)."""
        started = time.perf_counter()
        async with self._lock:
            self._ensure_open()
            self._disk.refresh(self._primary)
            store = self._primary.store
            asked = [store.relpath(p) for p in paths]
            # A file of a language no configured server checks is not checked: listed, it
            # would read as checked and clean. The report's notes name it.
            rels = [rel for rel in asked if self._graphs.checks(rel)]
            skipped = tuple(f"not checked: {rel} (no configured server checks its language)"
                            for rel in asked if rel not in rels)
            ws, deadline = self._primary, Deadline(self.options.timeout)
            verdict, check = await check_now(ws, rels, deadline, self.options.fallbacks)
            if asked and not rels:  # nothing checked is not clean
                verdict = replace(verdict, unknown=[Unknown(
                    "(none)", "no configured server checks " + ", ".join(asked))])
            texts = {rel: store.get(rel).text for rel in rels}
            return assemble(ws, Plan([], rels, 0, skipped), texts, check, check, started,
                            verdict=verdict)

    async def commit(self, changes: Changes | None = None) -> list[str]:
        """Write every overlay to disk atomically (deletions delete); returns the paths.

        With ``changes`` (any edit `verify` accepts), they are laid over the overlays first,
        in the same step: what the daemon uses to commit one session's edits.
        """
        async with self._lock:
            self._ensure_open()
            if changes is not None:
                self._disk.refresh(self._primary)
                self._primary.store.set_overlays(self._parse(changes))
            written = self._primary.store.write_overlays()
            self._fixes.clear()
            self._disk.written(self._primary, written)
            return written

    async def discard(self) -> list[str]:
        """Drop every overlay; servers see the disk again. Returns the paths dropped."""
        async with self._lock:
            store = self._primary.store
            dropped = [d.path for d in store.overlays()]
            self._fixes.clear()
            for rel in dropped:
                store.drop_overlay(rel)
            self._primary.resync(dropped)
            return dropped

    async def reset(self, server: str | None = None) -> None:
        """Forget the past crashes of ``server`` (default: every server), in every replica: a
        server given up on after a crash loop is started again now, a backed-off restart
        happens at once. Raises `UnknownServer` for a name that is not configured."""
        self._ensure_open()
        self._pool.reset(server)

    async def wait_settled(self, timeout: float) -> VerifierStatus:
        """Wait until no server of the primary replica is starting, restarting or being
        probed (restarts run in the background), or ``timeout`` seconds; returns the status."""
        await self._primary.settled(timeout)
        return self.status()

    # ---- internals -------------------------------------------------------------------------

    def _ensure_open(self) -> None:
        if self._closed:
            raise VerifierClosed("this verifier")

    async def _begin(self, changes: Changes, deadline: Deadline) -> _Edit:
        """Parse an edit, learn what changed on disk since the last call, and take the quick
        fixes laid since (they are part of this edit)."""
        parsed = self._parse(changes)
        ws = self._primary
        external = await self._disk.refresh_external(ws, deadline)
        parsed = self._fixes.take(ws.store, parsed)
        return _Edit(ws, parsed, {p: ws.store.get(p).text for p in parsed}, external)

    def _parse(self, changes: Changes) -> FileChanges:
        store = self._primary.store
        return parse_changes(changes, relpath=store.relpath, read=store.current_text,
                             root=self.root)

    async def _run_candidates(self, candidates: Sequence[Changes],
                              confirm: int | None) -> list[CandidateReport]:
        for number, candidate in enumerate(candidates, 1):
            if is_disk_paths(candidate):
                raise EditError(f"candidate {number}: a list of paths is not an edit")
        if confirm is not None and confirm < 1:
            raise ValueError("confirm must be at least 1 (or None: every server checks all)")
        change_sets = [self._parse(c) for c in candidates]
        deadline = Deadline(self.options.timeout)
        jobs = [Candidate(cs, await self._plan(cs, deadline)) for cs in change_sets]
        if confirm is not None and jobs:
            tiered = await rank_tiered(self._pool, jobs, deadline, self._disk.refresh,
                                       self.options.fallbacks, self.options.previews, confirm)
            if tiered is not None:
                return tiered
        _, (reports, _) = await with_failover(
            self._primary, self.options.fallbacks, deadline,
            lambda lineup: self._pool.rank(jobs, deadline, self._disk.refresh, lineup),
            lambda ranked_and_checks: ranked_and_checks[1])
        return reports

    async def _on_disk_change(self, rels: list[str]) -> None:
        """Called by the watcher with paths changed on disk by someone else."""
        async with self._lock:
            if not self._closed:
                self._disk.watched(rels)

    async def _plan(self, changes: FileChanges, deadline: Deadline) -> Plan:
        await self._primary.ensure_shadow()  # the graph reads the shadow: it must be current
        store = self._primary.store
        created = [rel for rel, text in changes.items()
                   if text is not None and store.current_text(rel) is None]
        return await self._graphs.plan(list(changes), self.options.max_dependents, created,
                                       deadline)
