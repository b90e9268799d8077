"""A workspace replica: one document store and one warm session per server.

The engine has one primary replica (the shared base state) and, for candidates, more replicas
that start lazily. Replicas share nothing mutable: each has its own store, its own server
processes and its own result cache.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types

from lspfeedback import languages
from lspfeedback import servers as registry
from lspfeedback._deadline import Deadline
from lspfeedback._documents import DocumentStore, StateKey, local_key
from lspfeedback._exceptions import (
    RequestTimeout,
    ServerCrashed,
    ServerError,
    ServerStartError,
    ServerUnavailable,
)
from lspfeedback._report import Diagnostic, Unknown, in_order
from lspfeedback._sandbox import Sandbox
from lspfeedback._session import FileResult, ServerSession
from lspfeedback._shadow import Change, ShadowRoot
from lspfeedback._supervisor import RestartPolicy
from lspfeedback.servers.base import ServerContext, ServerSpec

MAX_CACHED_RESULTS = 4096
"""Per-file results kept across states (a few MB at most)."""

MAX_OPEN_DOCUMENTS = 200
"""Documents a server keeps open at most (overlays and the files being checked always are)."""


@dataclass
class Check:
    """Diagnostics of some files from every server, or why a server could not say."""

    results: dict[str, dict[str, FileResult]] = field(default_factory=dict)
    """server -> path -> result"""
    unknown: list[Unknown] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    def diagnostics(self, exclude: frozenset[str] = frozenset()) -> list[Diagnostic]:
        """Every diagnostic had, but those of the ``exclude`` servers."""
        return sorted((d for server, per_file in self.results.items() if server not in exclude
                       for r in per_file.values() for d in r.diagnostics), key=in_order)


class Workspace:
    """A document store and its warm language servers."""

    def __init__(
        self,
        root: Path,
        specs: Sequence[ServerSpec],
        context: ServerContext,
        *,
        startup_timeout: float,
        include_hints: bool,
        name: str = "primary",
        sandbox: Sandbox | None = None,
        policy: RestartPolicy | None = None,
    ) -> None:
        self.name = name
        self.shadow = ShadowRoot.create(root, name)
        self.store = DocumentStore(root, server_root=self.shadow.root)
        self.sandbox = sandbox or Sandbox(None)
        # The servers run over the shadow root: overlays are files there (see _shadow.py).
        self._context = dataclasses.replace(context, root=self.shadow.root)
        self._startup_timeout, self._include_hints = startup_timeout, include_hints
        self._policy = policy
        self.sessions = {spec.name: self._session(spec) for spec in specs}
        """The configured servers."""
        self.standby: dict[str, ServerSession] = {}
        """Stand-ins started on first need, when a configured server cannot answer."""
        self._shown: dict[str, int] = {}
        """Path -> the store version the shadow shows, for documents the store knows."""
        self.on_shadow_change: Callable[[list[Change]], None] | None = None
        """Told of every change made in the shadow (the engine keeps its import graph so)."""
        # Results by (server, path, state key), least recently used first. Several states per
        # file: a speculative check or a candidate is taken back, and the base state it came
        # from must still be answered from the cache.
        self._cache: OrderedDict[tuple[str, str, Any], FileResult] = OrderedDict()

    def __repr__(self) -> str:
        states = ", ".join(f"{s.name}:{s.state}" for s in self.sessions.values())
        return f"<Workspace {self.name} [{states}] overlays={len(self.store.overlays())}>"

    def _session(self, spec: ServerSpec) -> ServerSession:
        session = ServerSession(spec, self._context, self.store, policy=self._policy,
                                startup_timeout=self._startup_timeout,
                                include_hints=self._include_hints)
        session.rewrite = self.shadow.to_workspace
        session.sandbox = self.sandbox
        return session

    def session_for(self, name: str) -> ServerSession:
        """The session of a configured server, or of a stand-in (created on first need;
        raises `UnknownServer` for a name the registry does not know)."""
        session = self.sessions.get(name) or self.standby.get(name)
        if session is None:
            session = self.standby[name] = self._session(registry.get(name))
        return session

    def all_sessions(self) -> list[ServerSession]:
        """Configured servers, then stand-ins."""
        return [*self.sessions.values(), *self.standby.values()]

    async def ensure_shadow(self) -> None:
        """Materialize the shadow root if it is not yet, and make it show the store."""
        if self.shadow.stats is None:
            await asyncio.to_thread(self.shadow.materialize)
        self.sync_shadow()

    async def start(self) -> None:
        """Materialize the shadow root (once), start every server; raise the first failure."""
        await self.ensure_shadow()
        results = await asyncio.gather(
            *(_first_start(s) for s in self.sessions.values()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def close(self) -> None:
        """Stop every server and delete the shadow root."""
        await asyncio.gather(*(s.stop() for s in self.all_sessions()))
        self.shadow.close()

    async def settled(self, timeout: float) -> None:
        """Wait until no server is starting, restarting or being probed, or ``timeout`` s."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        for session in self.all_sessions():
            await session.supervisor.settled(max(0.0, end - loop.time()))

    def running(self) -> list[ServerSession]:
        return [s for s in self.all_sessions() if s.state in ("running", "unresponsive")
                and s.client is not None and s.client.alive]

    # ---- state -----------------------------------------------------------------------------

    def overlay_view(self) -> dict[str, str | None]:
        """This replica's overlays: path -> text, or None for a deletion."""
        return {d.path: (None if d.deleted else d.text) for d in self.store.overlays()}

    def mirror(self, wanted: Mapping[str, str | None]) -> None:
        """Make this replica's overlays equal to ``wanted`` (its disk view is its own)."""
        for doc in self.store.overlays():
            if doc.path not in wanted:
                self.store.drop_overlay(doc.path)
        for rel, text in wanted.items():
            self.store.set_overlay(rel, text)

    def sync_shadow(self) -> list[Change]:
        """Make the shadow show what the store shows (overlays written, deletions applied,
        the disk linked back where an overlay went); tell the running servers."""
        if self.shadow.stats is None:
            return []  # not materialized yet: it will be built from the store's view
        changes: list[Change] = []
        for doc in self.store.documents():
            shown = self._shown.get(doc.path)
            if shown == doc.version:
                continue
            if doc.has_overlay:
                change = self.shadow.show(doc.path, None if doc.deleted else doc.overlay)
            elif shown is None and not os.path.lexists(self.store.abspath(doc.path)):
                # First seen here and gone from disk since it was read: the shadow keeps the
                # state the store still describes until the store learns of the deletion
                # (its rescan, or a verify of the path), which then says what it broke.
                self._shown[doc.path] = doc.version
                continue
            else:
                change = self.shadow.restore(doc.path)
            self._shown[doc.path] = doc.version  # not before: a write that failed is retried
            if change is not None:
                changes.append(change)
        changes = self.shadow.take_new_folders() + changes
        self._announce(changes)
        return changes

    def disk_changed(self, rels: list[str]) -> None:
        """``rels`` changed on disk: link them into the shadow again (unless an overlay
        hides them) and tell the servers."""
        changes: list[Change] = []
        for rel in rels:
            doc = self.store.get(rel) if self.store.known(rel) else None
            if doc is not None and doc.has_overlay:
                continue
            if doc is not None:
                self._shown[rel] = doc.version
            change = self.shadow.restore(rel) if self.shadow.stats is not None else None
            changes.append(change or (rel, types.FileChangeType.Changed))
        self._announce(changes)

    def _announce(self, changes: list[Change]) -> None:
        if not changes:
            return
        if self.on_shadow_change is not None:
            self.on_shadow_change(changes)
        for session in self.running():
            # A file the server holds open gets its text by didChange (every held document
            # is synced before a pull); a watched-file event for it only makes the server
            # re-index: 73 ms of ruff's time per edit at 50,000 modules, 2 ms without.
            news = [(rel, kind) for rel, kind in changes
                    if kind != types.FileChangeType.Changed or session.holds(rel) is None]
            if news:
                session.files_changed(news)

    def resync(self, rels: list[str]) -> None:
        """Send the servers the current text of those of ``rels`` they hold."""
        for session in self.running():
            session.sync([rel for rel in rels if session.holds(rel) is not None])

    # ---- checking --------------------------------------------------------------------------

    def cached_servers(self, rels: list[str], key: StateKey) -> set[str]:
        """The servers with a cached result for one of ``rels`` in the state ``key``."""
        return {s.name for s in self.all_sessions()
                if any(self._cache_key(s, rel, key) in self._cache for rel in rels)}

    def cached_diagnostics(self, rels: list[str], key: StateKey,
                           servers: Collection[str] | None = None) -> list[Diagnostic]:
        """What the servers (all, or ``servers``) said of ``rels`` in the state ``key``, as far
        as it is cached (a file not cached counts as having had no diagnostics: nothing is
        hidden)."""
        return sorted((d for session in self.all_sessions()
                       if servers is None or session.name in servers for rel in rels
                       for d in getattr(self._cache.get(self._cache_key(session, rel, key)),
                                        "diagnostics", ())), key=in_order)

    @staticmethod
    def _cache_key(session: ServerSession, rel: str, state: StateKey) -> tuple[str, str, object]:
        """A result's key: the whole state, or for a file-local server (a linter) only the
        part of it the file's result depends on (`local_key`)."""
        if not session.spec.file_local:
            return session.name, rel, state
        return session.name, rel, local_key(state, rel, lambda p: _its_file(session, p))

    async def check(self, targets: list[str], deadline: Deadline,
                    servers: Sequence[str] | None = None) -> Check:
        """Fresh diagnostics of ``targets`` from ``servers`` (default: the configured ones), in
        parallel across servers, each ending by ``deadline``."""
        check = Check()
        await self.ensure_shadow()
        sessions = ([self.session_for(n) for n in servers] if servers is not None
                    else list(self.sessions.values()))
        await asyncio.gather(*(self._check_one(s, targets, deadline, check) for s in sessions))
        return check

    async def _check_one(self, session: ServerSession, targets: list[str], deadline: Deadline,
                         check: Check) -> None:
        started = time.perf_counter()
        state = self.store.state_key()
        results: dict[str, FileResult] = {}
        todo = []
        keys = {rel: self._cache_key(session, rel, state) for rel in _its_files(session, targets)}
        for rel, key in keys.items():
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                results[rel] = cached
            else:
                todo.append(rel)
        try:
            if todo:
                # A configured server's first start is waited for in full (a cold start is no
                # fault); a stand-in's only until the call's deadline.
                await session.ensure_started(deadline, patient=session.name in self.sessions)
                # Every document the server holds must match the store, not only the targets:
                # an open file with stale text (a candidate taken back) would skew the others.
                # Only files of its own languages: a server given another language's file may
                # fail on it (tsc --lsp exits on a .py file).
                overlays = _its_files(session, [d.path for d in self.store.overlays()])
                wanted = session.held_paths() + overlays + todo
                session.sync(list(dict.fromkeys(wanted)), touch=self._touch_set(session, todo))
                live = [rel for rel in todo if session.holds(rel) is not None]
                for result in await _all(session.diagnostics(rel, deadline) for rel in live):
                    results[result.path] = result
                    self._cache[keys[result.path]] = result
                while len(self._cache) > MAX_CACHED_RESULTS:
                    self._cache.popitem(last=False)
                session.trim(MAX_OPEN_DOCUMENTS, {d.path for d in self.store.overlays()} | set(todo))
        except ServerError as exc:
            if isinstance(exc, ServerCrashed) and session.client is not None:
                exc = await session.client.crash_report()
                session.supervisor.crashed(exc.reason, exc.stderr)
            elif isinstance(exc, RequestTimeout):
                session.supervisor.missed_deadline(exc.reason)
            reason = _reason(exc)
            if not isinstance(exc, ServerUnavailable):  # that one is the supervisor's own word
                session.last_error = reason
            check.unknown.append(Unknown(session.name, reason))
        check.results[session.name] = results
        check.timings_ms[session.name] = (time.perf_counter() - started) * 1000

    def _touch_set(self, session: ServerSession, todo: list[str]) -> set[str]:
        """Files a push-only type checker or linter must re-publish although their text is
        unchanged: their diagnostics may depend on an edited import or configuration file, and
        only a new version proves it (its last push of the old version is stale)."""
        caps = session.capabilities
        if caps is None or caps.pull_diagnostics or not {"types", "lint"} & set(session.spec.checks):
            return set()
        # By text, not version: a text taken back and laid again is not re-sent by `sync`.
        return {rel for rel in todo if session.held_text(rel) == self.store.get(rel).text}


async def _first_start(session: ServerSession) -> None:
    """Start ``session``. A process that dies during its start-up gets one more try: it may
    be a transient (Biome's proxy was seen to exit right after answering ``initialize``,
    once, in a loaded test run). If the second try fails too, the first error is raised (it
    carries the stderr of the first death)."""
    try:
        await session.ensure_started()
    except ServerStartError as first:
        if not isinstance(first.__cause__, ServerCrashed):
            raise
        try:
            await session.ensure_started()
        except ServerError:
            raise first from first.__cause__


def _its_file(session: ServerSession, rel: str) -> bool:
    """Whether ``rel`` is in a language the server checks."""
    language = languages.of_path(rel)
    return language is not None and language.name in session.spec.languages


def _its_files(session: ServerSession, targets: list[str]) -> list[str]:
    """The targets in a language the server checks."""
    return [rel for rel in targets if _its_file(session, rel)]


async def _all(work: Iterable[Coroutine[Any, Any, FileResult]]) -> list[FileResult]:
    """Every result, or the first error once every wait has ended (each ends by the same
    deadline, or at once when the server dies): no wait is left running behind the call."""
    results = await asyncio.gather(*work, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [r for r in results if isinstance(r, FileResult)]


def _reason(exc: ServerError) -> str:
    reason = exc.reason
    tail = exc.stderr.strip().splitlines()[-3:] if exc.stderr else []
    if tail:
        reason += " (stderr: " + " | ".join(tail) + ")"
    return reason
