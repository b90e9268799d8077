"""The verify engine: `AsyncVerifier`, the async core that everything else wraps.

Rules (see docs/design.md): one verify at a time per workspace (a lock); every wait ends at a
deadline in a typed outcome; a server that cannot answer for the current version makes the
report ``unknown``, never ``clean``; results are cached by (server, path) for the store
generation they were computed at, which is what makes baselines lazy and cheap.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Union

from lspfeedback import servers as registry
from lspfeedback._exceptions import EditError, RequestTimeout, ServerCrashed, ServerError
from lspfeedback.delta import compare
from lspfeedback.documents import DocumentStore
from lspfeedback.imports import PYTHON_SUFFIXES, ImportGraph
from lspfeedback.report import Diagnostic, Report, Unknown, status_of
from lspfeedback.servers.base import ServerContext, ServerSpec
from lspfeedback.session import FileResult, ServerSession

DEFAULT_SERVERS = ("pyright", "ruff")
DEFAULT_TIMEOUT = 10.0
"""Seconds a server gets to answer for the current version before the report says unknown."""
DEFAULT_STARTUP_TIMEOUT = 60.0
DEFAULT_MAX_DEPENDENTS = 20

Changes = Union[Mapping[str, str], Iterable[Union[str, "os.PathLike[str]"]]]
"""Either ``{path: full new text}`` (in-memory overlays) or paths that changed on disk."""

_Results = dict[str, dict[str, FileResult]]  # server -> path -> result


@dataclass
class _Check:
    results: _Results
    unknown: list[Unknown]
    timings_ms: dict[str, float]


def default_python(root: Path) -> str:
    """The project's own virtualenv interpreter if it has one, else the running one."""
    for name in (".venv", "venv"):
        candidate = root / name / "bin" / "python"
        if candidate.exists():
            return str(candidate)
    return sys.executable


class AsyncVerifier:
    """Warm language servers for one workspace, and `verify` on top of them.

    ``servers`` are registry names (see `lspfeedback.servers.available`) or `ServerSpec`
    objects. ``timeout`` bounds the wait for fresh diagnostics in one call, per server.
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
    ) -> None:
        self.store = DocumentStore(root)
        self.root = self.store.root
        self.timeout = timeout
        self.max_dependents = max_dependents
        specs = [s if isinstance(s, ServerSpec) else registry.get(s) for s in servers]
        if not specs:
            raise ValueError("at least one server is needed")
        self.context = ServerContext(root=self.root, python=python or default_python(self.root))
        self.sessions = {
            spec.name: ServerSession(
                spec, self.context, self.store,
                startup_timeout=startup_timeout, include_hints=include_hints,
            )
            for spec in specs
        }
        self.graph = ImportGraph(self.root, registry.get("ruff").executable("ruff"))
        self._cache: dict[tuple[str, str], tuple[int, FileResult]] = {}
        self._lock = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        states = ", ".join(f"{s.name}:{s.state}" for s in self.sessions.values())
        return f"<AsyncVerifier {self.root} [{states}] overlays={len(self.store.overlays())}>"

    @property
    def overlays(self) -> dict[str, str]:
        """The in-memory edits not yet committed, by path."""
        return {d.path: d.text for d in self.store.overlays()}

    # ---- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start every server now (they would otherwise start on first use).

        Raises `ServerNotFound` or `ServerStartError` for the first that fails.
        """
        results = await asyncio.gather(
            *(s.ensure_started() for s in self.sessions.values()), return_exceptions=True
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def close(self) -> None:
        """Stop every server: shutdown, exit, then kill what is left. Overlays are dropped."""
        self._closed = True
        await asyncio.gather(*(s.stop() for s in self.sessions.values()))

    async def __aenter__(self) -> AsyncVerifier:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # ---- the public operations -------------------------------------------------------------

    async def verify(self, changes: Changes) -> Report:
        """Apply ``changes`` and return the diagnostics they cause, here and in importers.

        ``changes`` is a mapping of path → full new text (kept as an in-memory overlay until
        `commit` or `discard`) or an iterable of paths that changed on disk. Raises
        `PathOutsideWorkspace` or `EditError` before changing anything.
        """
        if self._closed:
            raise EditError("this verifier is closed")
        started = time.perf_counter()
        async with self._lock:
            texts, paths = self._parse(changes)
            changed = list(texts) if texts is not None else paths
            # Never seen before and changed on disk: its earlier state is unknown, so the
            # baseline is empty and everything current counts as introduced (never hidden).
            first_sight = texts is None and any(not self.store.known(p) for p in changed)
            old_texts = {p: self.store.get(p).text for p in changed}
            targets, omitted = await self._targets(changed)
            before = _Check({}, [], {}) if first_sight else await self._check(targets)
            if texts is not None:
                for rel, text in texts.items():
                    self.store.set_overlay(rel, text)
            else:
                reloaded = [rel for rel in changed if self.store.reload(rel)]
                if reloaded:
                    self.graph.invalidate()
                    self._tell_watched(reloaded)
            after = await self._check(targets)
            return self._report(changed, targets, omitted, old_texts, before, after, started)

    async def diagnostics(self, paths: Iterable[str | os.PathLike[str]]) -> Report:
        """Current diagnostics of ``paths`` (no change, no importers)."""
        started = time.perf_counter()
        async with self._lock:
            rels = [self.store.relpath(p) for p in paths]
            check = await self._check(rels)
            texts = {rel: self.store.get(rel).text for rel in rels}
            return self._report([], rels, 0, texts, check, check, started)

    async def commit(self) -> list[str]:
        """Write every overlay to disk atomically; returns the paths written."""
        async with self._lock:
            written = self.store.write_overlays()
            if written:
                self.graph.invalidate()
                self._tell_watched(written)
            return written

    async def discard(self) -> list[str]:
        """Drop every overlay; servers see the disk again. Returns the paths dropped."""
        async with self._lock:
            dropped = [d.path for d in self.store.overlays()]
            for rel in dropped:
                self.store.drop_overlay(rel)
            for session in self.sessions.values():
                if session.state == "running":
                    session.sync([rel for rel in dropped if session.holds(rel) is not None])
            return dropped

    # ---- internals -------------------------------------------------------------------------

    def _parse(self, changes: Changes) -> tuple[dict[str, str] | None, list[str]]:
        """Validate every path and text before anything is touched."""
        if isinstance(changes, (str, bytes, os.PathLike)):
            raise EditError("pass a mapping {path: text} or a list of paths, not a single string")
        if isinstance(changes, Mapping):
            texts: dict[str, str] = {}
            for path, text in changes.items():
                if not isinstance(text, str):
                    raise EditError(f"new text for {path!r} must be str, not {type(text).__name__}")
                texts[self.store.relpath(path)] = text
            return texts, []
        paths = [self.store.relpath(p) for p in changes]
        return None, list(dict.fromkeys(paths))

    async def _targets(self, changed: list[str]) -> tuple[list[str], int]:
        dependents, omitted = await self.graph.dependents(changed, self.max_dependents)
        targets = [p for p in changed + dependents if p.endswith(PYTHON_SUFFIXES)]
        return list(dict.fromkeys(targets)), omitted

    def _tell_watched(self, rels: list[str]) -> None:
        for session in self.sessions.values():
            if session.state == "running":
                session.did_change_watched_files(rels)

    async def _check(self, targets: list[str]) -> _Check:
        check = _Check({}, [], {})
        await asyncio.gather(*(self._check_one(s, targets, check) for s in self.sessions.values()))
        return check

    async def _check_one(self, session: ServerSession, targets: list[str], check: _Check) -> None:
        started = time.perf_counter()
        generation = self.store.generation
        results: dict[str, FileResult] = {}
        todo = []
        for rel in targets:
            cached = self._cache.get((session.name, rel))
            if cached is not None and cached[0] == generation:
                results[rel] = cached[1]
            else:
                todo.append(rel)
        try:
            if todo:
                await session.ensure_started()
                wanted = [d.path for d in self.store.overlays()] + todo
                touch = self._touch_set(session, todo)
                session.sync(list(dict.fromkeys(wanted)), touch=touch)
                live = [rel for rel in todo if session.holds(rel) is not None]
                fresh = await asyncio.gather(*(session.diagnostics(rel, self.timeout) for rel in live))
                for result in fresh:
                    results[result.path] = result
                    self._cache[(session.name, result.path)] = (generation, result)
        except (RequestTimeout, ServerCrashed, ServerError) as exc:
            check.unknown.append(Unknown(session.name, _reason(exc)))
        check.results[session.name] = results
        check.timings_ms[session.name] = (time.perf_counter() - started) * 1000

    def _touch_set(self, session: ServerSession, todo: list[str]) -> set[str]:
        """Files a push-only type checker must re-publish although their text is unchanged:
        their diagnostics may depend on an edited import, and only a new version proves it."""
        caps = session.capabilities
        if caps is None or caps.pull_diagnostics or "types" not in session.spec.checks:
            return set()
        return {rel for rel in todo if session.holds(rel) == self.store.get(rel).version}

    def _report(
        self,
        changed: list[str],
        targets: list[str],
        omitted: int,
        old_texts: dict[str, str],
        before: _Check,
        after: _Check,
        started: float,
    ) -> Report:
        new_texts = {rel: self.store.get(rel).text for rel in targets}
        old = {rel: old_texts.get(rel, new_texts[rel]) for rel in targets}
        current = _flatten(after.results)
        previous = _flatten(before.results)
        introduced, resolved = compare(previous, current, old, new_texts)
        unknown = list(after.unknown) + [
            Unknown(u.server, f"baseline: {u.reason}") for u in before.unknown
        ]
        notes = []
        if omitted:
            notes.append(f"{omitted} more importers not checked (max_dependents={self.max_dependents})")
        if self.graph.error:
            notes.append(f"importers not checked: {self.graph.error}")
        versions = {rel: self.store.get(rel).version for rel in targets}
        return Report(
            status=status_of(current, unknown),
            diagnostics=tuple(current),
            introduced=tuple(sorted(introduced)),
            resolved=tuple(sorted(resolved)),
            checked_files=tuple(targets),
            changed_files=tuple(changed),
            versions=versions,
            elapsed_ms=(time.perf_counter() - started) * 1000,
            timings_ms=dict(after.timings_ms),
            unknown=tuple(unknown),
            dependents_omitted=omitted,
            notes=tuple(notes),
        )


def _flatten(results: _Results) -> list[Diagnostic]:
    return sorted(d for per_file in results.values() for r in per_file.values() for d in r.diagnostics)


def _reason(exc: ServerError) -> str:
    reason = exc.reason
    tail = exc.stderr.strip().splitlines()[-3:] if exc.stderr else []
    if tail:
        reason += " (stderr: " + " | ".join(tail) + ")"
    return reason
