"""The reverse import graph, from ``ruff analyze graph`` (ruff resolves the imports, we don't).

The graph is read from the disk and cached until `ImportGraph.invalidate`; overlays' own new
imports are not in it (an edited file is always checked itself, so only an overlay that starts
importing another edited file is missed as a dependent).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PYTHON_SUFFIXES = (".py", ".pyi")


@dataclass(frozen=True)
class Plan:
    """What one check covers: the changed files, the files to check, the importers cut."""

    changed: list[str]
    targets: list[str]
    omitted: int
    notes: tuple[str, ...] = ()
    """Why the check covers less than it could (the bound, a failed import graph)."""


class ImportGraph:
    """Who imports whom in one workspace. ``dependents`` are walked breadth first."""

    def __init__(self, root: Path, ruff: str) -> None:
        self.root = root
        self.ruff = ruff
        self._dependents: dict[str, list[str]] | None = None
        self.error: str | None = None

    def __repr__(self) -> str:
        size = "not loaded" if self._dependents is None else f"{len(self._dependents)} files"
        return f"<ImportGraph {self.root} {size}>"

    def invalidate(self) -> None:
        self._dependents = None

    async def load(self) -> dict[str, list[str]]:
        if self._dependents is None:
            self._dependents = await self._run_ruff()
        return self._dependents

    async def _run_ruff(self) -> dict[str, list[str]]:
        try:
            proc = await asyncio.create_subprocess_exec(
                self.ruff, "analyze", "graph", "--direction", "dependents", "--preview",
                cwd=self.root,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await proc.communicate()
        except OSError as exc:
            self.error = f"cannot run ruff analyze graph: {exc}"
            return {}
        if proc.returncode != 0:
            self.error = f"ruff analyze graph failed: {err.decode(errors='replace').strip()}"
            return {}
        self.error = None
        raw: dict[str, list[str]] = json.loads(out or b"{}")
        return {_posix(k): [_posix(v) for v in vs] for k, vs in raw.items()}

    async def dependents(self, changed: Iterable[str], limit: int) -> tuple[list[str], int]:
        """Files that import ``changed`` directly or through others, nearest first.

        Returns at most ``limit`` of them and how many more there were.
        """
        graph = await self.load()
        start = list(dict.fromkeys(changed))
        seen = set(start)
        order: list[str] = []
        queue = deque(start)
        while queue:
            for importer in sorted(graph.get(queue.popleft(), ())):
                if importer not in seen:
                    seen.add(importer)
                    order.append(importer)
                    queue.append(importer)
        return order[:limit], max(0, len(order) - limit)


def _posix(path: str) -> str:
    return Path(path).as_posix()


async def plan(graph: ImportGraph, changed: list[str], limit: int) -> Plan:
    """Check the changed files and up to ``limit`` of their importers, nearest first."""
    dependents, omitted = await graph.dependents(changed, limit)
    targets = [p for p in changed + dependents if p.endswith(PYTHON_SUFFIXES)]
    notes = []
    if omitted:
        notes.append(f"{omitted} more importers not checked (max_dependents={limit})")
    if graph.error:
        notes.append(f"importers not checked: {graph.error}")
    return Plan(changed, list(dict.fromkeys(targets)), omitted, tuple(notes))
