"""What shadow roots cost: time to materialize, disk used, and the library's added work per
``verify`` (mirroring one overlay into the shadow and keeping the import graph current).

    python -m lspfeedback._bench.shadow [--edits N] ROOT...

The per-verify cost is measured without servers (they would add their own time, which the
other phases measure): each edit appends a line to a module (new text, imports unchanged),
then the shadow is synced and the graph brought up to date, exactly as a check does first.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from lspfeedback._bench.stats import percentile
from lspfeedback._imports import ImportGraph
from lspfeedback._options import VerifierOptions
from lspfeedback._workspace import Workspace
from lspfeedback.servers import ServerContext, get


@dataclass(frozen=True)
class ShadowCost:
    """One project's numbers."""

    project: str
    files: int
    materialize_ms_p50: float
    disk_kib: float
    """Bytes the shadow adds on disk (hard links and folders; copies when they were needed)."""
    per_verify_ms_p50: float
    per_verify_ms_p95: float
    edits: int


def disk_used(root: Path) -> int:
    """Bytes under ``root`` not shared with the workspace: folders, and files with one link."""
    total = 0
    for folder, dirs, files in os.walk(root):
        total += os.lstat(folder).st_blocks * 512
        for name in files:
            info = os.lstat(os.path.join(folder, name))
            if info.st_nlink == 1:
                total += info.st_blocks * 512
    return total


async def measure(root: Path, edits: int = 50, repeats: int = 3) -> ShadowCost:
    """Materialize ``root``'s shadow ``repeats`` times, then time ``edits`` overlay edits."""
    root = root.resolve()
    context = ServerContext(root=root, python="python")
    specs = VerifierOptions().specs
    timings = []
    for _ in range(repeats):
        ws = Workspace(root, specs, context, startup_timeout=60, include_hints=False)
        started = time.perf_counter()
        await ws.ensure_shadow()
        timings.append((time.perf_counter() - started) * 1000)
        await ws.close()
    ws = Workspace(root, specs, context, startup_timeout=60, include_hints=False)
    await ws.ensure_shadow()
    stats = ws.shadow.stats
    disk = disk_used(ws.shadow.root)
    graph = ImportGraph(ws.shadow.root, get("ruff").executable("ruff"))
    ws.on_shadow_change = graph.note
    await graph.load()
    modules = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.py")
                     if ".venv" not in p.parts)[:5]
    costs = []
    for number in range(edits):
        rel = modules[number % len(modules)]
        text = ws.store.get(rel).text
        ws.store.set_overlay(rel, f"{text}\n_lspfeedback_bench_{number} = {number}\n")
        started = time.perf_counter()
        ws.sync_shadow()
        await graph.load()
        costs.append((time.perf_counter() - started) * 1000)
    await ws.close()
    return ShadowCost(project=root.name, files=stats.files if stats else 0,
                      materialize_ms_p50=round(statistics.median(timings), 1),
                      disk_kib=round(disk / 1024, 1),
                      per_verify_ms_p50=round(percentile(costs, 50), 3),
                      per_verify_ms_p95=round(percentile(costs, 95), 3), edits=edits)


def main(argv: list[str] | None = None) -> int:
    """Print one JSON line per root."""
    import json

    parser = argparse.ArgumentParser(prog="python -m lspfeedback._bench.shadow")
    parser.add_argument("roots", nargs="+", type=Path)
    parser.add_argument("--edits", type=int, default=50)
    args = parser.parse_args(argv)
    for root in args.roots:
        print(json.dumps(asdict(asyncio.run(measure(root, args.edits)))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
