"""The reverse import graph, from ``ruff analyze graph`` (ruff resolves the imports, we don't).

The graph is read from the primary replica's shadow root, where overlays are real files, so
imports that exist only in overlays are in it and those an overlay removed are not. It is
kept current incrementally: a changed Python file has its own imports re-read
(``ruff analyze graph FILE...``, milliseconds); a created or deleted module, or a changed
configuration file, can change how any import resolves, so the whole graph is read again on
the next use. A module an edit creates has no importers in the graph yet (their imports did
not resolve): files that name it are found by text (`importers_of_new`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lsprotocol import types

from lspfeedback._deadline import Deadline
from lspfeedback._lsp.writer import batch_of
from lspfeedback._sandbox import Sandbox

if TYPE_CHECKING:
    from lspfeedback.languages.base import ImportGraphProvider

log = logging.getLogger(__name__)

PYTHON_SUFFIXES = (".py", ".pyi")
_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+\S+[ \t]+)?import\b(?:[ \t]*\([^)]*\)|.*)",
                     re.MULTILINE)
"""An import statement, a parenthesized name list included (over-approximate: a line that
merely starts with ``import`` in a string counts too, which only costs a ruff run)."""


def import_statements(text: str) -> frozenset[str]:
    """What `_IMPORT` finds in ``text``, spaces normalised. The pattern is tried only at the
    start of the lines that hold the word: scanning every line with it took 0.4 ms of the
    event loop for a 44 KB module, on each edit."""
    found: set[str] = set()
    resume = search = 0  # where the scan resumes after a match; where the next word is sought
    while (word := text.find("import", search)) != -1:
        search = word + len("import")
        start = text.rfind("\n", 0, word) + 1
        if start < resume:
            continue  # a line start inside the last match: the scan never tries it
        match = _IMPORT.match(text, start)
        if match is not None:  # every match starts a line holding the word
            found.add(" ".join(match.group(0).split()))
            resume = search = match.end()
    return frozenset(found)


CONFIG_FILES = frozenset({"pyproject.toml", "ruff.toml", ".ruff.toml", "pyrightconfig.json",
                          "setup.cfg"})
"""Files whose change may change how imports resolve: the graph is read again."""


@dataclass(frozen=True)
class Plan:
    """What one check covers: the changed files, the files to check, the importers cut."""

    changed: list[str]
    targets: list[str]
    omitted: int
    notes: tuple[str, ...] = ()
    """Why the check covers less than it could (the bound, a failed import graph)."""
    graph_error: bool = False
    """An import graph could not be read: importers were not checked."""

    @property
    def complete(self) -> bool:
        """Every importer is among the targets and the graph could be read."""
        return self.omitted == 0 and not self.graph_error


GRAPH_TIMEOUT = 30.0
"""Seconds a call waits for the graph at most (less when its deadline is nearer); also the
bound of one partial ``ruff analyze graph`` run."""
MAX_WALKS = 256
"""`ImportGraph.dependents` answers kept at most (all dropped when it is full)."""
FULL_READ_TIMEOUT = 600.0
"""Seconds a whole read of the graph may take (it runs in the background: 13 s measured for
50,000 modules on a loaded 2-core machine); then its process group is killed."""


class ImportGraph:
    """Who imports whom in one (shadow) root. ``dependents`` are walked breadth first."""

    def __init__(self, root: Path, ruff: str, timeout: float = GRAPH_TIMEOUT,
                 sandbox: Sandbox | None = None) -> None:
        self.root = root
        self.ruff = ruff
        self.sandbox = sandbox or Sandbox(None)
        """Where ruff runs: in the servers' sandbox (it reads the untrusted tree)."""
        self.timeout = timeout
        """Deadline of one ``ruff analyze graph`` run (seconds): then its process group is
        killed and `error` says so."""
        self._imports: dict[str, list[str]] | None = None
        """file -> the files it imports."""
        self._importers: dict[str, set[str]] = {}
        """file -> the files that import it (the reverse of ``_imports``)."""
        self._walks: dict[tuple[tuple[str, ...], int, tuple[str, ...]],
                          tuple[list[str], int]] = {}
        """`dependents` answers since the edges last changed: an agent edits the same files
        again and again, and a walk from a widely imported module visits thousands."""
        self._dirty: set[str] = set()
        self._signatures: dict[str, frozenset[str]] = {}
        """file -> its import statements when its edges were last read: an edit that leaves
        them alone cannot change the graph, and needs no ruff run."""
        self.error: str | None = None
        self._update_error: str | None = None
        """The `error` a failed re-read of edges set: the next one that succeeds clears it."""
        self.full_reads = 0
        """Whole reads started."""
        self.partial_reads = 0
        self._full: asyncio.Task[None] | None = None
        """The whole read under way, if any: it outlives the call that started it."""
        self._partial: tuple[asyncio.Future[None], list[str]] | None = None
        """The background re-read of changed files' edges, if one was started and not yet
        collected, and the batch it is reading."""
        self._reading_since = 0.0

    def __repr__(self) -> str:
        size = "not loaded" if self._imports is None else f"{len(self._imports)} files"
        return f"<ImportGraph {self.root} {size} dirty={len(self._dirty)}>"

    def invalidate(self) -> None:
        """Read the whole graph again on the next use."""
        self._imports = None
        self._walks.clear()
        self._dirty.clear()
        self._signatures.clear()
        if self._partial is not None:
            self._partial[0].cancel()
            self._partial = None
        if self._full is not None:  # it may have read the state before: start it again
            self._full.cancel()
            self._full = None

    def prefetch(self) -> None:
        """Start reading the whole graph in the background, if it is not read yet (the
        engine does at start-up, so that the first call finds it)."""
        if self._imports is None and self._full is None:
            self._full = asyncio.ensure_future(self._read_whole())

    async def close(self) -> None:
        """Stop the reads under way (their ruff is killed)."""
        if self._partial is not None:
            partial = self._partial[0]
            self._partial = None
            partial.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await partial
        if self._full is not None:
            self._full.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._full
            self._full = None

    async def _read_whole(self) -> None:
        self._reading_since = asyncio.get_running_loop().time()
        self._dirty.clear()  # what changes from now on is read again after this read
        this = asyncio.current_task()
        self.full_reads += 1
        try:
            imports = await self._run_ruff([], FULL_READ_TIMEOUT)
        finally:
            if self._full is this:  # not replaced by `invalidate` meanwhile
                self._full = None
        if self.error is not None:
            return  # no graph: read it again on the next use, do not keep an empty one
        importers: dict[str, set[str]] = {}
        for source, targets in imports.items():
            for target in targets:
                importers.setdefault(target, set()).add(source)
        self._imports, self._importers = imports, importers
        self._walks.clear()
        # Import statements are read lazily (`_imports_changed`): reading every file here
        # cost 4.6 s of the event loop's time at 50,000 modules.
        self._signatures = {}

    def note(self, changes: Sequence[tuple[str, types.FileChangeType]]) -> None:
        """Files changed in the root: keep the graph current (see the module docstring)."""
        for rel, kind in changes:
            name = rel.rsplit("/", 1)[-1]
            if name in CONFIG_FILES:
                self.invalidate()
                return
            if not rel.endswith(PYTHON_SUFFIXES):
                continue
            if kind == types.FileChangeType.Changed:
                self._dirty.add(rel)
            else:
                self.invalidate()
                return
        self._refresh_soon()

    def _refresh_soon(self) -> None:
        """Re-read the edges out of the changed files in the background, now: the call that
        changed them is checking meanwhile, and the next call finds them read."""
        if self._partial is not None and self._partial[0].done():
            self._collect(self._partial)
        if not self._dirty or self._imports is None or self._partial is not None:
            return  # nothing to read, a whole read will, or the read under way goes on
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: the next `load` reads them
        reading: list[str] = []
        self._partial = (asyncio.ensure_future(self._refresh_dirty(reading)), reading)

    async def _refresh_dirty(self, reading: list[str]) -> None:
        """Read the edges of the changed files until none is left (``reading``: the batch
        under way). A batch that fails is put back, and the loop ends (`error` says why)."""
        # Spawning ruff blocks the event loop for 1.4-8 ms: not before the messages of the
        # step that noted the change (its didChange and pulls) have left (docs/servers.md).
        await batch_of(asyncio.get_running_loop()).step_written()
        while self._dirty:
            batch = [rel for rel in sorted(self._dirty) if self._imports_changed(rel)]
            self._dirty.clear()
            if not batch:
                return
            reading[:] = batch
            if not await self._read_batch(batch, GRAPH_TIMEOUT):
                return
            reading.clear()

    async def load(self, defer: Iterable[str] = ()) -> dict[str, set[str]]:
        """file -> its importers, current, except for the edges out of the files of
        ``defer``: those are re-read in the background (the next `load` waits for them)."""
        later = set(defer)
        if self._partial is not None:
            task, reading = self._partial
            if task.done() or not {*reading, *self._dirty} <= later:
                await self._settle_partial()
        if self._imports is None:
            self.prefetch()
            reading = self._full
            assert reading is not None
            try:  # the read goes on past this call's wait: the next call finds it
                await asyncio.wait_for(asyncio.shield(reading), self.timeout)
            except TimeoutError:
                since = asyncio.get_running_loop().time() - self._reading_since
                self.error = (f"the import graph is still being read ({since:.1f} s so far, in "
                              "the background; the next call uses it)")
                return {}
            if self._imports is None:
                return {}  # the read failed: `error` says why
        if self._dirty and self._partial is None:
            now = [rel for rel in sorted(self._dirty - later) if self._imports_changed(rel)]
            self._dirty &= later  # left to the background read started below
            if now:
                await self._read_batch(now)
            self._refresh_soon()
        return self._importers

    async def _read_batch(self, batch: list[str], timeout: float | None = None) -> bool:
        """`_read_edges`; if it is cancelled or raises, its files are read again later (and
        an exception becomes `error`, so that the plans say importers were not checked).
        A file noted again while ruff read it is read again too: ruff may have read it in a
        state it has left since. Returns whether it read them."""
        try:
            await self._read_edges(batch, timeout)
        except Exception as exc:  # noqa: BLE001 - a graph that cannot be read is a note
            self._read_later(batch)
            self.error = self._update_error = f"the import graph could not be updated: {exc}"
            log.warning("import graph of %s: %s", self.root, exc)
            return False
        except BaseException:
            self._read_later(batch)
            raise
        self._read_later([rel for rel in batch if rel in self._dirty])
        if self.error is not None and self.error is self._update_error and not self._dirty:
            self.error = None  # what the failed update missed is read now
        return True

    def _read_later(self, files: Iterable[str]) -> None:
        for rel in files:
            self._signatures.pop(rel, None)
            self._dirty.add(rel)

    async def _settle_partial(self) -> None:
        """Wait for the background re-read of edges (its ruff runs are bounded by
        `GRAPH_TIMEOUT`; when one fails, `error` says why, as for any partial read)."""
        partial = self._partial
        assert partial is not None
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.shield(partial[0])
        this = asyncio.current_task()
        if this is not None and this.cancelling():
            raise asyncio.CancelledError  # this call is cancelled: the read goes on
        if self._partial is partial:  # not replaced by `invalidate` or `close` meanwhile
            self._collect(partial)

    def _collect(self, partial: tuple[asyncio.Future[None], list[str]]) -> None:
        """Forget the finished background read; if it was stopped before it read its files
        (its event loop ended, or `close`), they are read by the next `load`."""
        self._partial = None
        task, files = partial
        if task.cancelled():
            self._read_later(files)

    async def _read_edges(self, dirty: list[str], timeout: float | None = None) -> None:
        """Read the edges out of ``dirty`` again (one partial ``ruff analyze graph``)."""
        present = [rel for rel in dirty if (self.root / rel).is_file()]
        fresh = await self._run_ruff(present, timeout) if present else {}
        self.partial_reads += 1
        imports = self._imports
        if imports is None:
            return  # invalidated meanwhile: the whole read will have them
        self._walks.clear()
        for rel in dirty:
            for target in imports.pop(rel, []):
                self._importers.get(target, set()).discard(rel)
            targets = fresh.get(rel)
            if targets is not None:
                imports[rel] = targets
                for target in targets:
                    self._importers.setdefault(target, set()).add(rel)

    def _signature(self, rel: str) -> frozenset[str] | None:
        try:
            text = (self.root / rel).read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
        return import_statements(text)

    def _imports_changed(self, rel: str) -> bool:
        """Whether ``rel``'s import statements may differ from when its edges were read (a
        file whose statements were never read counts as changed: one partial read, once)."""
        signature = self._signature(rel)
        if signature is None:
            return True
        same = self._signatures.get(rel) == signature
        self._signatures[rel] = signature
        return not same

    async def _run_ruff(self, files: list[str],
                        timeout: float | None = None) -> dict[str, list[str]]:
        """``ruff analyze graph`` on ``files`` (none: the whole root), within ``timeout``
        (default `timeout`).

        It runs in a session of its own, so that on the deadline (or a cancellation) the
        whole process group is killed; `error` says why when there is no graph.
        """
        try:
            argv = [self.ruff, "analyze", "graph", "--direction", "dependencies", "--preview",
                    *files]
            proc = await asyncio.create_subprocess_exec(
                *self.sandbox.wrap(argv, {}, "ruff-graph"),
                cwd=self.root,
                env=self.sandbox.environment({}),
                preexec_fn=self.sandbox.preexec,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
        except OSError as exc:
            self.error = f"cannot run ruff analyze graph: {exc}"
            return {}
        finished = False
        bound = self.timeout if timeout is None else timeout
        try:
            out, err = await asyncio.wait_for(proc.communicate(), bound)
            finished = True
        except TimeoutError:
            self.error = (f"ruff analyze graph did not finish within {bound:g} s "
                          "(killed; a file it reads may block, e.g. a named pipe)")
            return {}
        finally:
            if not finished:  # the deadline, or a cancellation: nothing of it may survive
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), 5)
        if proc.returncode != 0:
            self.error = f"ruff analyze graph failed: {err.decode(errors='replace').strip()}"
            return {}
        try:
            raw: dict[str, list[str]] = json.loads(out or b"{}")
        except ValueError as exc:
            self.error = f"ruff analyze graph printed no graph: {exc}"
            return {}
        if not files:
            # Only a whole read makes the graph whole again: after a failed one, the edges a
            # partial read adds leave the rest missing.
            self.error = None
        if os.sep == "/":  # ruff prints the platform's paths: posix ones need no parsing
            return raw
        return {_posix(k): [_posix(v) for v in vs] for k, vs in raw.items()}

    async def dependents(self, changed: Iterable[str], limit: int,
                         also: Iterable[str] = ()) -> tuple[list[str], int]:
        """Files that import ``changed`` directly or through others, nearest first; ``also``
        are direct importers known otherwise (of modules the graph cannot know yet).

        Returns at most ``limit`` of them and how many more there were.
        """
        changed, also = list(changed), tuple(also)
        # A changed file's own edges (what it imports) never decide who imports it: the walk
        # starts at it, so it is seen before any edge out of it could lead back to it. Its
        # re-read is left to the background, for the calls after this one.
        importers = await self.load(defer=changed)
        if importers is not self._importers:  # no graph (yet): `error` says why
            return nearest_importers(importers, changed, limit, also)
        key = (tuple(changed), limit, also)
        walk = self._walks.get(key)
        if walk is None:
            if len(self._walks) >= MAX_WALKS:
                self._walks.clear()
            walk = self._walks[key] = nearest_importers(importers, changed, limit, also)
        found, cut = walk
        return list(found), cut

    async def importers_of_new(self, created: Sequence[str]) -> list[str]:
        """Python files that name a module of ``created`` (files an edit creates): their
        imports of it did not resolve before, so the graph does not list them. Found by the
        module's last name in the text, an over-approximation (more files checked, never
        fewer)."""
        names = {_module_name(rel) for rel in created if rel.endswith(PYTHON_SUFFIXES)}
        names.discard("")
        if not names:
            return []
        await self.load()
        pattern = re.compile(r"\b(" + "|".join(sorted(map(re.escape, names))) + r")\b")
        found = []
        for rel in sorted(self._imports or {}):
            if rel in created:
                continue
            try:
                text = (self.root / rel).read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if pattern.search(text):
                found.append(rel)
        return found


def _module_name(rel: str) -> str:
    """The name an import uses for the module at ``rel`` (a package's folder name for an
    ``__init__``)."""
    parts = Path(rel).with_suffix("").parts
    if parts and parts[-1] == "__init__":
        parts = parts[:-1]
    return parts[-1] if parts else ""


def nearest_importers(importers: Mapping[str, Iterable[str]], changed: Iterable[str],
                      limit: int, also: Iterable[str] = ()) -> tuple[list[str], int]:
    """Breadth first over ``importers`` (file -> the files importing it) from ``changed``:
    the importers, nearest first (``also`` first of all: direct importers known otherwise),
    at most ``limit``, and how many more there were. Every language's graph walks so."""
    start = list(dict.fromkeys(changed))
    seen = set(start)
    order: list[str] = []
    queue = deque(start)
    for extra in also:
        if extra not in seen:
            seen.add(extra)
            order.append(extra)
            queue.append(extra)
    while queue:
        for importer in sorted(importers.get(queue.popleft(), ())):
            if importer not in seen:
                seen.add(importer)
                order.append(importer)
                queue.append(importer)
    return order[:limit], max(0, len(order) - limit)


def _posix(path: str) -> str:
    return Path(path).as_posix()


async def plan(graphs: Mapping[str, ImportGraphProvider], changed: list[str], limit: int,
               created: Sequence[str] = ()) -> Plan:
    """Check the changed files and up to ``limit`` of their importers, nearest first.

    ``graphs`` are the import graphs by language (see `lspfeedback.languages`); each file's
    importers come from its language's graph. ``created`` are the changed files the change
    creates: files naming them are importers. Files of a language without a graph here (no
    configured server checks it) are not targets.
    """
    from lspfeedback import languages  # languages.python builds on this module

    dependents: list[str] = []
    omitted = 0
    notes = []
    for name, graph in graphs.items():
        mine = [rel for rel in changed if _language_name(languages.of_path(rel)) == name]
        if not mine:
            continue
        born = [rel for rel in created if rel in mine]
        also = await graph.importers_of_new(born) if born else []
        found, cut = await graph.dependents(mine, limit, also)
        dependents += found
        omitted += cut
        if graph.error:
            notes.append(f"importers not checked: {graph.error}")
    # A file of a language no configured server checks is no target: listed, it would read as
    # checked and clean.
    targets = [p for p in changed + dependents
               if _language_name(languages.of_path(p)) in graphs]
    if omitted:
        notes.insert(0, f"{omitted} more importers not checked (max_dependents={limit})")
    return Plan(changed, list(dict.fromkeys(targets)), omitted, tuple(notes),
                graph_error=any(n.startswith("importers not checked:") for n in notes))


class ImportGraphs:
    """The import graph of every language the servers check, all read in one root (the
    primary replica's shadow root, where its servers look)."""

    def __init__(self, names: Iterable[str], root: Path, sandbox: Sandbox) -> None:
        from lspfeedback import languages  # languages.python builds on this module

        self.by_language: dict[str, ImportGraphProvider] = {
            name: languages.get(name).import_graph(root, sandbox) for name in names}

    def __repr__(self) -> str:
        return f"<ImportGraphs {', '.join(self.by_language)}>"

    def checks(self, rel: str) -> bool:
        """Whether ``rel`` is of a language some configured server checks."""
        from lspfeedback import languages

        return _language_name(languages.of_path(rel)) in self.by_language

    def note(self, changes: Sequence[tuple[str, types.FileChangeType]]) -> None:
        """Files changed in the root: every graph keeps itself current."""
        for graph in self.by_language.values():
            graph.note(changes)

    def prefetch(self) -> None:
        """Start reading every graph in the background (at start-up: the first call then
        finds them read)."""
        for graph in self.by_language.values():
            graph.prefetch()

    async def close(self) -> None:
        """Stop the reads under way."""
        for graph in self.by_language.values():
            await graph.close()

    async def plan(self, changed: list[str], limit: int, created: Sequence[str] = (),
                   deadline: Deadline | None = None) -> Plan:
        """`plan` over these graphs. Reading a graph is part of the call: with a
        ``deadline`` it gets half of what is left of it (at most `GRAPH_TIMEOUT`), so that
        the edited files are still checked when the graph is late."""
        if deadline is not None:
            for graph in self.by_language.values():
                graph.timeout = min(GRAPH_TIMEOUT, max(0.1, deadline.remaining() / 2))
        return await plan(self.by_language, changed, limit, created)


def _language_name(language: object) -> str | None:
    return getattr(language, "name", None)
