"""`Verifier`: the synchronous face of `AsyncVerifier`, on one private event-loop thread.

There is exactly one implementation (the async one); every sync method submits the matching
coroutine to the loop thread and waits for it.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from collections.abc import Coroutine, Iterable, Mapping, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any, Self, TypeVar

from lspfeedback._engine import (
    DEFAULT_MAX_DEPENDENTS,
    DEFAULT_SERVERS,
    DEFAULT_STARTUP_TIMEOUT,
    DEFAULT_TIMEOUT,
    AsyncVerifier,
    Changes,
)
from lspfeedback._report import CandidateReport, Report
from lspfeedback.servers.base import ServerSpec

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

    Arguments are those of `AsyncVerifier`.
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
        self._loop = _LoopThread(f"lspfeedback:{Path(root).name}")
        try:
            self._async = self._loop.run(_make(
                root, servers, timeout, max_dependents=max_dependents, python=python,
                startup_timeout=startup_timeout, include_hints=include_hints,
                replicas=replicas, watch=watch,
            ))
        except BaseException:
            self._loop.stop()
            raise
        self._closed = False

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncVerifier", "Verifier", 1)

    @property
    def root(self) -> Path:
        return self._async.root

    @property
    def overlays(self) -> dict[str, str | None]:
        """The in-memory edits not yet committed: path -> text, or None for a deletion."""
        return self._async.overlays

    @property
    def engine(self) -> AsyncVerifier:
        """The async core (for inspection; call its coroutines only through this object)."""
        return self._async

    def start(self) -> None:
        """Start every server now; see `AsyncVerifier.start`."""
        self._loop.run(self._async.start())

    def verify(self, changes: Changes) -> Report:
        """See `AsyncVerifier.verify`."""
        return self._loop.run(self._async.verify(changes))

    def verify_candidates(
        self, candidates: Sequence[Changes], *, base: Mapping[str, str | None] | None = None
    ) -> list[CandidateReport]:
        """See `AsyncVerifier.verify_candidates`."""
        return self._loop.run(self._async.verify_candidates(candidates, base=base))

    def verify_speculative(
        self, changes: Changes, *, base: Mapping[str, str | None] | None = None
    ) -> Report:
        """See `AsyncVerifier.verify_speculative`."""
        return self._loop.run(self._async.verify_speculative(changes, base=base))

    def apply(self, candidate: CandidateReport | Changes) -> list[str]:
        """See `AsyncVerifier.apply`."""
        return self._loop.run(self._async.apply(candidate))

    def diagnostics(self, paths: Iterable[str | os.PathLike[str]]) -> Report:
        """See `AsyncVerifier.diagnostics`."""
        return self._loop.run(self._async.diagnostics(paths))

    def commit(self, changes: Changes | None = None) -> list[str]:
        """See `AsyncVerifier.commit`."""
        return self._loop.run(self._async.commit(changes))

    def discard(self) -> list[str]:
        """See `AsyncVerifier.discard`."""
        return self._loop.run(self._async.discard())

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


async def _make(root: str | os.PathLike[str], servers: Sequence[str | ServerSpec], timeout: float,
                **kwargs: Any) -> AsyncVerifier:
    # Built on the loop thread so that its asyncio primitives belong to that loop.
    return AsyncVerifier(root, servers, timeout, **kwargs)


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
            verifier = Verifier(root, key[1])
            _shared[key] = verifier
    return verifier.verify(changes)


@atexit.register
def _close_shared() -> None:
    with _shared_lock:
        for verifier in _shared.values():
            verifier.close()
        _shared.clear()
