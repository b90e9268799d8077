"""`Verifier`: the synchronous face of `AsyncVerifier`, on one private event-loop thread.

There is exactly one implementation (the async one); every sync method submits the matching
coroutine to the loop thread and waits for it.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import (
    AsyncIterator,
    Collection,
    Coroutine,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Self, TypeVar, Unpack

from lspfeedback._engine import AsyncVerifier
from lspfeedback._exceptions import VerifierClosed
from lspfeedback._options import DEFAULT_SERVERS, OptionFields, VerifierOptions
from lspfeedback._report import CandidateReport, Fix, Report
from lspfeedback._status import VerifierStatus
from lspfeedback.edits import Changes
from lspfeedback.servers import ServerSpec

T = TypeVar("T")


class _LoopThread:
    """A daemon thread running an asyncio loop, and a way to run coroutines on it."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(self.loop)
            self.loop.call_soon(ready.set)
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name=name, daemon=True)
        self.thread.start()
        ready.wait()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result()

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=10)
        if not self.loop.is_running():
            self.loop.close()


class Verifier:
    """Warm language servers for one workspace; `verify` an edit, get a `Report`.

    Use it as a context manager (servers start on entry and stop on exit)::

        with Verifier("path/to/repo") as v:
            report = v.verify({"pkg/mod.py": new_text})

    Configure it with a `VerifierOptions` (``options``) and/or its fields as keywords
    (``Verifier(root, servers=["ty", "ruff"], timeout=5)``); keywords win. After `close`,
    every operation raises `VerifierClosed`.
    """

    def __init__(self, root: str | os.PathLike[str], options: VerifierOptions | None = None,
                 **fields: Unpack[OptionFields]) -> None:
        self._closed = False
        self._loop = _LoopThread(f"lspfeedback:{Path(root).name}")
        try:
            self._async = self._loop.run(_make(root, options, fields))
        except BaseException:
            self._loop.stop()
            raise

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncVerifier", "Verifier", 1)

    @property
    def root(self) -> Path:
        """The workspace root, resolved."""
        return self._async.root

    @property
    def options(self) -> VerifierOptions:
        """The options this verifier runs with."""
        return self._async.options

    @property
    def python(self) -> str | None:
        """The interpreter the servers may run (None: the project's environment is read from
        its files, never run; see `VerifierOptions.python` and ``trust_workspace``)."""
        return self._async.python

    def status(self) -> VerifierStatus:
        """Each server's state, restarts and last error, and the replicas in use."""
        return self._async.status()

    @property
    def overlays(self) -> dict[str, str | None]:
        """The in-memory edits not yet committed: path -> text, or None for a deletion."""
        return self._async.overlays

    @property
    def engine(self) -> AsyncVerifier:
        """The async core (for inspection; call its coroutines only through this object)."""
        return self._async

    def start(self) -> None:
        """Start every server of the primary replica now (and the disk watcher).

        Raises `ServerNotFound` or `ServerStartError` for the first server that fails.
        """
        self._run(self._async.start())

    def reset(self, server: str | None = None) -> None:
        """Forget the past crashes of ``server`` (default: every server), in every replica: a
        server given up on after a crash loop is started again now, a backed-off restart
        happens at once. Raises `UnknownServer` for a name that is not configured."""
        self._run(self._async.reset(server))

    def wait_settled(self, timeout: float) -> VerifierStatus:
        """Wait until no server of the primary replica is starting, restarting or being
        probed (restarts run in the background), or ``timeout`` seconds; returns the status."""
        return self._run(self._async.wait_settled(timeout))

    def verify(self, changes: Changes) -> Report:
        """Apply ``changes`` and return the diagnostics they cause, here and in importers.

        ``changes`` is one of: a mapping path -> full new text (None deletes); an iterable of
        paths that changed on disk ("re-read them"); a unified diff or search/replace blocks
        (a `str`); an LSP ``WorkspaceEdit`` (object or JSON) or a mapping path -> list of
        ``TextEdit``. Edits stay in-memory overlays until `commit` or `discard`. Raises
        `PathOutsideWorkspace` or `EditError` (`EditApplyError` says where) before changing
        anything, and `VerifierClosed` after `close`. The servers' quick fixes for what the
        edit introduced are in `Report.fixes` (see `apply_fixes`).
        """
        return self._run(self._async.verify(changes))

    def verify_progressive(self, changes: Changes) -> Iterator[Report]:
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
        stream = self._async.verify_progressive(changes)
        try:
            while True:
                try:
                    yield self._run(_next(stream))
                except StopAsyncIteration:
                    return
        finally:
            if not self._closed:
                self._loop.run(stream.aclose())

    def verify_candidates(
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
        return self._run(self._async.verify_candidates(candidates, base=base, confirm=confirm))

    def verify_speculative(
        self, changes: Changes, *, base: Mapping[str, str | None] | None = None
    ) -> Report:
        """Like `verify`, but nothing is left behind: the edit is checked and taken back.

        With ``base``, the edit applies to (and is compared with) that overlay set laid over
        the current state. This is what the daemon serves to many agents at once.
        """
        return self._run(self._async.verify_speculative(changes, base=base))

    def apply(self, candidate: CandidateReport | Changes) -> list[str]:
        """Make a candidate (a `CandidateReport` or any edit) the current overlay, unchecked.

        Returns the paths it changed. The next `verify` reports against this state.
        """
        return self._run(self._async.apply(candidate))

    def apply_fixes(self, fixes: Report | Fix | Iterable[Fix], *,
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
        return self._run(self._async.apply_fixes(fixes, only=only))

    def diagnostics(self, paths: Iterable[str | os.PathLike[str]]) -> Report:
        """Current diagnostics of ``paths`` (no change, no importers)."""
        return self._run(self._async.diagnostics(paths))

    def commit(self, changes: Changes | None = None) -> list[str]:
        """Write every overlay to disk atomically (deletions delete); returns the paths.

        With ``changes`` (any edit `verify` accepts), they are laid over the overlays first,
        in the same step: what the daemon uses to commit one session's edits.
        """
        return self._run(self._async.commit(changes))

    def discard(self) -> list[str]:
        """Drop every overlay; servers see the disk again. Returns the paths dropped."""
        return self._run(self._async.discard())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        if self._closed:
            coro.close()
            raise VerifierClosed("this Verifier")
        return self._loop.run(coro)

    def close(self) -> None:
        """Stop every server and the loop thread. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._loop.run(self._async.close())
        finally:
            self._loop.stop()

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def _next(stream: AsyncIterator[T]) -> T:
    return await anext(stream)


async def _make(root: str | os.PathLike[str], options: VerifierOptions | None,
                fields: OptionFields) -> AsyncVerifier:
    # Built on the loop thread so that its asyncio primitives belong to that loop.
    return AsyncVerifier(root, options, **fields)


_shared: dict[tuple[Path, tuple[str | ServerSpec, ...]], Verifier] = {}
_shared_lock = threading.Lock()


def verify(
    root: str | os.PathLike[str],
    changes: Changes,
    servers: Sequence[str | ServerSpec] | None = None,
) -> Report:
    """Verify ``changes`` in ``root`` with a warm `Verifier` kept for the life of the process.

    The first call for a root starts its servers; later calls reuse them. Overlays persist
    between calls like on a `Verifier`.
    """
    key = (Path(root).resolve(), tuple(servers or DEFAULT_SERVERS))
    with _shared_lock:
        verifier = _shared.get(key)
        if verifier is None:
            verifier = Verifier(root, servers=key[1])
            _shared[key] = verifier
    return verifier.verify(changes)


@atexit.register
def _close_shared() -> None:
    with _shared_lock:
        for verifier in _shared.values():
            verifier.close()
        _shared.clear()
