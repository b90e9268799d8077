"""The verify engine: `AsyncVerifier`, the async core that everything else wraps.

Rules (see docs/design.md): one operation at a time per workspace (a lock); every wait ends
at a deadline in a typed outcome; a server that cannot answer for the current version makes
the report ``unknown``, never ``clean``; results are cached per (server, path) under the exact
state they describe, which is what makes baselines lazy and cheap.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import os
import sys
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from lspfeedback import servers as registry
from lspfeedback._delta import compare
from lspfeedback._documents import DocumentStore
from lspfeedback._exceptions import EditError
from lspfeedback._imports import PYTHON_SUFFIXES, ImportGraph
from lspfeedback._report import CandidateReport, Report, Unknown, status_of
from lspfeedback._session import ServerSession
from lspfeedback._watch import DiskWatcher
from lspfeedback._workspace import Check, Workspace
from lspfeedback.servers.base import ServerContext, ServerSpec

log = logging.getLogger(__name__)

DEFAULT_SERVERS = ("pyright", "ruff")
DEFAULT_TIMEOUT = 10.0
"""Seconds a server gets to answer for the current version before the report says unknown."""
DEFAULT_STARTUP_TIMEOUT = 60.0
DEFAULT_MAX_DEPENDENTS = 20

Changes = Any
"""What `verify` accepts; see `AsyncVerifier.verify`."""

ChangeSet = dict[str, str | None]
"""Parsed changes: workspace path -> full new text, or None for a deletion."""


def default_python(root: Path) -> str:
    """The project's own virtualenv interpreter if it has one, else the running one."""
    for name in (".venv", "venv"):
        candidate = root / name / "bin" / "python"
        if candidate.exists():
            return str(candidate)
    return sys.executable


def default_replicas() -> int:
    """One warm server set per core, at most 4, and at most one per 2 GiB of free memory
    (pyright on a large project takes 1-2 GiB)."""
    cores = os.cpu_count() or 1
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        by_memory = max(1, pages // (2 * 1024**3))
    except (ValueError, OSError):
        by_memory = 1
    return max(1, min(4, cores, by_memory))


class AsyncVerifier:
    """Warm language servers for one workspace, and `verify` on top of them.

    ``servers`` are registry names (see `lspfeedback.servers.available`) or `ServerSpec`
    objects. ``timeout`` bounds the wait for fresh diagnostics in one call, per server.
    ``replicas`` is how many warm server sets `verify_candidates` may use in parallel (they
    start lazily). ``watch`` follows the disk with watchfiles so that files changed by
    someone else are picked up without a restart.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        servers: Sequence[str | ServerSpec] = DEFAULT_SERVERS,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        max_dependents: int = DEFAULT_MAX_DEPENDENTS,
        python: str | None = None,
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        include_hints: bool = False,
        replicas: int | None = None,
        watch: bool = True,
    ) -> None:
        specs = [s if isinstance(s, ServerSpec) else registry.get(s) for s in servers]
        if not specs:
            raise ValueError("at least one server is needed")
        self._specs = specs
        self._startup_timeout = startup_timeout
        self._include_hints = include_hints
        root_path = Path(root).resolve()
        self.context = ServerContext(root=root_path, python=python or default_python(root_path))
        self.primary = Workspace(root_path, specs, self.context,
                                 startup_timeout=startup_timeout, include_hints=include_hints)
        self.root = self.primary.store.root
        self.timeout = timeout
        self.max_dependents = max_dependents
        self.replicas = replicas if replicas is not None else default_replicas()
        if self.replicas < 1:
            raise ValueError("replicas must be at least 1")
        self._extra: list[Workspace] = []
        self.graph = ImportGraph(self.root, registry.get("ruff").executable("ruff"))
        self._lock = asyncio.Lock()
        self._watcher = DiskWatcher(self.root, self._on_disk_change) if watch else None
        self._closed = False

    def __repr__(self) -> str:
        states = ", ".join(f"{s.name}:{s.state}" for s in self.primary.sessions.values())
        return (f"<AsyncVerifier {self.root} [{states}] overlays={len(self.store.overlays())} "
                f"replicas={1 + len(self._extra)}/{self.replicas}>")

    @property
    def store(self) -> DocumentStore:
        """The primary document store (the shared base state)."""
        return self.primary.store

    @property
    def sessions(self) -> dict[str, ServerSession]:
        """The primary replica's server sessions, by server name."""
        return self.primary.sessions

    @property
    def workspaces(self) -> list[Workspace]:
        """Every replica started so far, the primary first."""
        return [self.primary, *self._extra]

    @property
    def overlays(self) -> dict[str, str | None]:
        """The in-memory edits not yet committed: path -> text, or None for a deletion."""
        return {d.path: (None if d.deleted else d.text) for d in self.store.overlays()}

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every server of the primary replica now (and the disk watcher).

        Raises `ServerNotFound` or `ServerStartError` for the first server that fails.
        """
        await self.primary.start()
        if self._watcher is not None:
            self._watcher.start()

    async def close(self) -> None:
        """Stop every server of every replica, and the watcher. Overlays are dropped."""
        self._closed = True
        if self._watcher is not None:
            await self._watcher.stop()
        await asyncio.gather(*(w.close() for w in [self.primary, *self._extra]))

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ---- the public operations -------------------------------------------------------------

    async def verify(self, changes: Changes) -> Report:
        """Apply ``changes`` and return the diagnostics they cause, here and in importers.

        ``changes`` is one of: a mapping path -> full new text; an iterable of paths that
        changed on disk ("re-read them"); a unified diff or search/replace blocks (a `str`);
        an LSP ``WorkspaceEdit`` (object or JSON) or a mapping path -> list of ``TextEdit``.
        Edits stay in-memory overlays until `commit` or `discard`. Raises
        `PathOutsideWorkspace` or `EditError` (a subclass says where) before changing
        anything.
        """
        started = time.perf_counter()
        async with self._lock:
            self._ensure_open()
            parsed = self._parse(changes)
            if parsed is None:
                return await self._verify_disk_paths(changes, started)
            self._refresh_from_disk(self.primary)
            changed = list(parsed)
            old_texts = {p: self.store.get(p).text for p in changed}
            targets, omitted = await self._targets(changed)
            before = await self.primary.check(targets, self.timeout)
            for rel, text in parsed.items():
                self.store.set_overlay(rel, text)
            after = await self.primary.check(targets, self.timeout)
            return self._report(self.primary, changed, targets, omitted, old_texts, before,
                                after, started)

    async def verify_candidates(
        self, candidates: Sequence[Changes], *, base: Mapping[str, str | None] | None = None
    ) -> list[CandidateReport]:
        """Check each candidate against the same base state; return them best first.

        Each candidate is any edit `verify` accepts (not a list of paths). Candidates run in
        parallel on the warm replicas; the base state is unchanged afterwards. Every
        candidate is parsed before any is run: one that cannot apply raises and nothing runs.
        ``base`` (path -> text, or None for a deletion) is laid over the current state for
        this call only: the candidates apply to it and are compared with it.
        """
        started = time.perf_counter()
        async with self._lock:
            self._ensure_open()
            self._refresh_from_disk(self.primary)
            base_set = self._parse(dict(base)) if base else {}
            saved = _save_overlays(self.store, base_set or {})
            try:
                for rel, text in (base_set or {}).items():
                    self.store.set_overlay(rel, text)
                ranked = await self._run_candidates(candidates)
            finally:
                _restore_overlays(self.store, saved)
            log.debug("%d candidates in %.0f ms", len(ranked), (time.perf_counter() - started) * 1000)
            return ranked

    async def verify_speculative(
        self, changes: Changes, *, base: Mapping[str, str | None] | None = None
    ) -> Report:
        """Like `verify`, but nothing is left behind: the edit is checked and taken back.

        With ``base``, the edit applies to (and is compared with) that overlay set laid over
        the current state. This is what the daemon serves to many agents at once.
        """
        ranked = await self.verify_candidates([changes], base=base)
        return ranked[0].report

    async def _run_candidates(self, candidates: Sequence[Changes]) -> list[CandidateReport]:
        change_sets = []
        for number, candidate in enumerate(candidates, 1):
            parsed = self._parse(candidate)
            if parsed is None:
                raise EditError(f"candidate {number}: a list of paths is not an edit")
            change_sets.append(parsed)
        if not change_sets:
            return []
        plans = [(cs, *await self._targets(list(cs))) for cs in change_sets]
        union = list(dict.fromkeys(t for _, targets, _ in plans for t in targets))
        baseline = await self.primary.check(union, self.timeout)
        base_texts = {rel: self.store.get(rel).text for rel in union}
        workers = await self._workers(len(change_sets))
        queue: asyncio.Queue[int] = asyncio.Queue()
        for index in range(len(change_sets)):
            queue.put_nowait(index)
        reports: dict[int, Report] = {}

        async def work(ws: Workspace) -> None:
            while not queue.empty():
                index = queue.get_nowait()
                changes, targets, omitted = plans[index]
                reports[index] = await self._try_candidate(
                    ws, changes, targets, omitted, baseline, base_texts)

        await asyncio.gather(*(work(ws) for ws in workers))
        ranked = sorted(
            (CandidateReport(index=i, rank=0, report=reports[i], changes=change_sets[i],
                             changed_lines=_changed_lines(base_texts, self.store, change_sets[i]))
             for i in range(len(change_sets))),
            key=CandidateReport.rank_key,
        )
        return [CandidateReport(c.index, rank, c.report, c.changes, c.changed_lines)
                for rank, c in enumerate(ranked, 1)]

    async def apply(self, candidate: CandidateReport | Changes) -> list[str]:
        """Make a candidate (a `CandidateReport` or any edit) the current overlay, unchecked.

        Returns the paths it changed. The next `verify` reports against this state.
        """
        async with self._lock:
            self._ensure_open()
            changes = candidate.changes if isinstance(candidate, CandidateReport) else candidate
            parsed = self._parse(changes)
            if parsed is None:
                raise EditError("apply() takes an edit, not a list of paths")
            for rel, text in parsed.items():
                self.store.set_overlay(rel, text)
            return list(parsed)

    async def diagnostics(self, paths: Iterable[str | os.PathLike[str]]) -> Report:
        """Current diagnostics of ``paths`` (no change, no importers)."""
        started = time.perf_counter()
        async with self._lock:
            self._ensure_open()
            self._refresh_from_disk(self.primary)
            rels = [self.store.relpath(p) for p in paths]
            check = await self.primary.check(rels, self.timeout)
            texts = {rel: self.store.get(rel).text for rel in rels}
            return self._report(self.primary, [], rels, 0, texts, check, check, started)

    async def commit(self, changes: Changes | None = None) -> list[str]:
        """Write every overlay to disk atomically (deletions delete); returns the paths.

        With ``changes`` (any edit `verify` accepts), they are laid over the overlays first,
        in the same step: what the daemon uses to commit one session's edits.
        """
        async with self._lock:
            self._ensure_open()
            if changes is not None:
                self._refresh_from_disk(self.primary)
                parsed = self._parse(changes)
                if parsed is None:
                    raise EditError("commit() takes an edit, not a list of paths")
                for rel, text in parsed.items():
                    self.store.set_overlay(rel, text)
            written = self.store.write_overlays()
            if written:
                self.graph.invalidate()
                self.primary.tell_disk_changed(written)
            return written

    async def discard(self) -> list[str]:
        """Drop every overlay; servers see the disk again. Returns the paths dropped."""
        async with self._lock:
            dropped = [d.path for d in self.store.overlays()]
            for rel in dropped:
                self.store.drop_overlay(rel)
            self.primary.resync(dropped)
            return dropped

    # ---- internals -------------------------------------------------------------------------

    def _ensure_open(self) -> None:
        if self._closed:
            raise EditError("this verifier is closed; create a new one")

    def _parse(self, changes: Changes) -> ChangeSet | None:
        """Validate and parse ``changes``; None means "a list of paths changed on disk".

        All paths are resolved and contained before anything is touched.
        """
        if isinstance(changes, Mapping) and all(isinstance(v, str | None) for v in changes.values()) \
                and all(isinstance(k, str | os.PathLike) for k in changes):
            # Full texts; None is a deletion (as in `overlays` and a session's base).
            return {self.store.relpath(p): t for p, t in changes.items()}
        if _is_path_list(changes):
            return None
        if isinstance(changes, Mapping) and any(isinstance(v, bytes) for v in changes.values()):
            raise EditError("new texts must be str, not bytes: decode them first")
        from lspfeedback.edits import parse_edits

        def read(path: str) -> str | None:
            doc = self.store.get(self.store.relpath(path))
            return doc.text if doc.exists else None

        parsed = parse_edits(changes, read, root=self.root)
        return {self.store.relpath(p): t for p, t in parsed.items()}

    async def _verify_disk_paths(self, changes: Iterable[Any], started: float) -> Report:
        changed = list(dict.fromkeys(self.store.relpath(p) for p in changes))
        # Other files that moved on disk belong to the baseline; these are this call's change.
        self._refresh_from_disk(self.primary, skip=set(changed))
        # Never seen before and changed on disk: its earlier state is unknown, so the baseline
        # is empty and everything current counts as introduced (never hidden).
        first_sight = any(not self.store.known(p) for p in changed)
        old_texts = {p: self.store.get(p).text for p in changed}
        targets, omitted = await self._targets(changed)
        before = Check() if first_sight else await self.primary.check(targets, self.timeout)
        reloaded = [rel for rel in changed if self.store.reload(rel)]
        if reloaded or first_sight:
            # A file read for the first time may have changed after a server read it from
            # disk: the servers must hear of it, and cached results are no longer valid.
            self.store.note_disk_change()
            self.graph.invalidate()
            self.primary.tell_disk_changed(changed)
            targets, omitted = await self._targets(changed)
        after = await self.primary.check(targets, self.timeout)
        return self._report(self.primary, changed, targets, omitted, old_texts, before, after,
                            started)

    def _refresh_from_disk(self, ws: Workspace, skip: Collection[str] = ()) -> None:
        """Re-read every document this replica knows, by content; tell its servers."""
        changed = ws.store.rescan(skip)
        if changed:
            self.graph.invalidate()
            ws.tell_disk_changed(changed)

    async def _on_disk_change(self, rels: list[str]) -> None:
        """Called by the watcher with paths changed on disk by someone else.

        Documents we know are left to the rescan at the start of the next operation (which
        also decides whether a change belongs to the baseline or is the change being
        verified); files we do not track are what the servers must hear about now.
        """
        async with self._lock:
            if self._closed:
                return
            self.graph.invalidate()
            for ws in [self.primary, *self._extra]:
                untracked = [rel for rel in rels if not ws.store.known(rel)]
                if untracked:
                    ws.store.note_disk_change()
                    ws.tell_disk_changed(untracked)

    async def _targets(self, changed: list[str]) -> tuple[list[str], int]:
        dependents, omitted = await self.graph.dependents(changed, self.max_dependents)
        targets = [p for p in changed + dependents if p.endswith(PYTHON_SUFFIXES)]
        return list(dict.fromkeys(targets)), omitted

    async def _workers(self, wanted: int) -> list[Workspace]:
        """The primary plus up to ``replicas - 1`` extra replicas, started on first need.

        A replica that fails to start is left out (its candidates run on the others).
        """
        target = min(self.replicas, wanted)
        while 1 + len(self._extra) < target:
            self._extra.append(Workspace(
                self.root, self._specs, self.context, startup_timeout=self._startup_timeout,
                include_hints=self._include_hints, name=f"replica-{len(self._extra) + 1}",
            ))
        workers = [self.primary, *self._extra[: target - 1]]
        results = await asyncio.gather(*(w.start() for w in workers[1:]), return_exceptions=True)
        failed = {id(w) for w, r in zip(workers[1:], results, strict=True) if isinstance(r, BaseException)}
        return [w for w in workers if id(w) not in failed]

    async def _try_candidate(self, ws: Workspace, changes: ChangeSet, targets: list[str],
                             omitted: int, baseline: Check, base_texts: dict[str, str]) -> Report:
        started = time.perf_counter()
        if ws is not self.primary:
            self._refresh_from_disk(ws)
            ws.mirror(self.store)
        saved = _save_overlays(ws.store, changes)
        try:
            for rel, text in changes.items():
                ws.store.set_overlay(rel, text)
            after = await ws.check(targets, self.timeout)
            return self._report(ws, list(changes), targets, omitted, base_texts, baseline,
                                after, started)
        finally:
            if ws is self.primary:
                _restore_overlays(self.store, saved)
            else:
                ws.mirror(self.store)

    def _report(self, ws: Workspace, changed: list[str], targets: list[str], omitted: int,
                old_texts: dict[str, str], before: Check, after: Check, started: float) -> Report:
        # A file deleted in this view is changed, but there is nothing left to check in it.
        targets = [rel for rel in targets if ws.store.get(rel).exists]
        new_texts = {rel: ws.store.get(rel).text for rel in targets}
        old = {rel: old_texts.get(rel, new_texts[rel]) for rel in targets}
        current = after.diagnostics()
        introduced, resolved = compare(before.diagnostics(), current, old, new_texts)
        unknown = list(after.unknown) + [
            Unknown(u.server, f"baseline: {u.reason}") for u in before.unknown
        ]
        notes = []
        if omitted:
            notes.append(f"{omitted} more importers not checked (max_dependents={self.max_dependents})")
        if self.graph.error:
            notes.append(f"importers not checked: {self.graph.error}")
        conflicts = tuple(sorted(ws.store.conflicts))
        ws.store.conflicts.clear()
        return Report(
            status=status_of(current, unknown),
            diagnostics=tuple(current),
            introduced=tuple(sorted(introduced)),
            resolved=tuple(sorted(resolved)),
            checked_files=tuple(targets),
            changed_files=tuple(changed),
            versions={rel: ws.store.get(rel).version for rel in targets},
            elapsed_ms=(time.perf_counter() - started) * 1000,
            timings_ms=dict(after.timings_ms),
            unknown=tuple(unknown),
            dependents_omitted=omitted,
            conflicts=conflicts,
            notes=tuple(notes),
        )


def _save_overlays(store: DocumentStore, rels: Iterable[str]) -> dict[str, tuple[bool, str | None]]:
    return {rel: (store.get(rel).deleted, store.get(rel).overlay) for rel in rels}


def _restore_overlays(store: DocumentStore, saved: dict[str, tuple[bool, str | None]]) -> None:
    """Put back overlays saved by `_save_overlays` (a deletion, a text, or none at all)."""
    for rel, (deleted, overlay) in saved.items():
        if deleted:
            store.set_overlay(rel, None)
        elif overlay is not None:
            store.set_overlay(rel, overlay)
        else:
            store.drop_overlay(rel)


def _is_path_list(changes: object) -> bool:
    return isinstance(changes, Iterable) and not isinstance(changes, str | bytes | Mapping)


def _changed_lines(base: dict[str, str], store: DocumentStore, changes: ChangeSet) -> int:
    total = 0
    for rel, text in changes.items():
        old = base.get(rel)
        if old is None:
            doc = store.get(rel)
            old = doc.text if doc.exists else ""
        new = text or ""
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0):
            if line[:1] in "+-" and not line.startswith(("+++", "---")):
                total += 1
    return total

