"""Following the disk with watchfiles: files changed by someone else (the agent's own writes,
``git checkout``, a formatter) reach the engine without a restart.

The watcher is a hint, not the proof of freshness: before every check the engine also re-reads
the documents it knows by content (`DocumentStore.rescan`), which is exact and has no
latency. The watcher adds what a rescan cannot see: files no server has open (an imported
module, a config file), for which the servers get ``workspace/didChangeWatchedFiles``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from watchfiles import Change, DefaultFilter, awatch

from lspfeedback import languages

log = logging.getLogger(__name__)

WATCHED_SUFFIXES = (*languages.suffixes(), ".toml", ".json", ".jsonc", ".cfg", ".ini")
"""Sources of every language, and the config files the servers read."""

IGNORED_DIRS = (".lspfeedback",)


class _SourceFilter(DefaultFilter):
    """watchfiles' default ignores (.git, .venv, __pycache__, ...) plus ours, sources only."""

    def __init__(self) -> None:
        super().__init__(ignore_dirs=(*DefaultFilter.ignore_dirs, *IGNORED_DIRS))

    def __call__(self, change: Change, path: str) -> bool:
        return path.endswith(WATCHED_SUFFIXES) and super().__call__(change, path)


class DiskWatcher:
    """Calls ``on_change(paths)`` with root-relative posix paths changed on disk."""

    def __init__(self, root: Path, on_change: Callable[[list[str]], Awaitable[None]]) -> None:
        self.root = root
        self._on_change = on_change
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.error: str | None = None

    def __repr__(self) -> str:
        state = "running" if self._task and not self._task.done() else "stopped"
        return f"<DiskWatcher {self.root} {state}>"

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self._task, 5)
            self._task = None

    async def _run(self) -> None:
        try:
            # A short debounce: changes are batched for 50 ms, not the 1.6 s default.
            async for changes in awatch(self.root, watch_filter=_SourceFilter(),
                                        stop_event=self._stop, debounce=50, step=10):
                rels = sorted({self._relative(path) for _, path in changes} - {""})
                if rels:
                    await self._on_change(rels)
        except Exception as exc:  # noqa: BLE001 - a dead watcher must not take the engine down
            self.error = f"disk watcher stopped: {exc}"
            log.warning(self.error)

    def _relative(self, path: str) -> str:
        try:
            return Path(path).resolve().relative_to(self.root).as_posix()
        except ValueError:
            return ""
