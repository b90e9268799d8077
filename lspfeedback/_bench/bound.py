"""What the importer bound costs: one edit of a widely imported module, checked with
``max_dependents`` of several sizes, per server pair, interleaved edit by edit.

    python -m lspfeedback._bench.bound ROOT PATH [--edits 20] [--bounds 0,20,100,400]

Every edit is a new state (a new line appended to PATH, so no result comes from the cache);
for each edit every bound is run on every server pair in turn before the next edit. The
numbers choose the default ``max_dependents`` (docs/benchmarks.md, "The importer bound").
"""

from __future__ import annotations

import argparse
import asyncio
import json
from collections import defaultdict
from pathlib import Path

from lspfeedback._bench.stats import percentile
from lspfeedback._engine import AsyncVerifier

PAIRS = (("pyright", "ruff"), ("ty", "ruff"))


async def measure(root: Path, path: str, edits: int, bounds: list[int]) -> list[dict[str, object]]:
    """Rows: server pair, bound, importers checked, p50 and p95 ms over ``edits`` edits."""
    samples: dict[tuple[str, int], list[float]] = defaultdict(list)
    checked: dict[tuple[str, int], int] = {}
    verifiers = [AsyncVerifier(root, servers=pair, replicas=1, watch=False, timeout=300,
                               max_dependents=max(bounds)) for pair in PAIRS]
    try:
        for v in verifiers:
            await v.start()
            await v.verify_speculative({path: (root / path).read_text() + "\n_warm = 0\n"})
        base = (root / path).read_text()
        for number in range(edits):
            for bound in bounds:
                for pair, v in zip(PAIRS, verifiers, strict=True):
                    # The bound is read per call: change it between calls on the warm engine.
                    v.options = v.options.replace(max_dependents=bound)
                    text = f"{base}\n_bench_{number}_{bound} = {number}\n"
                    report = await v.verify_speculative({path: text})
                    key = ("+".join(pair), bound)
                    samples[key].append(report.elapsed_ms)
                    checked[key] = len(report.checked_files)
    finally:
        await asyncio.gather(*(v.close() for v in verifiers))
    return [{"servers": servers, "bound": bound, "checked_files": checked[(servers, bound)],
             "p50_ms": round(percentile(values, 50), 1), "p95_ms": round(percentile(values, 95), 1),
             "samples": len(values)}
            for (servers, bound), values in sorted(samples.items())]


def main(argv: list[str] | None = None) -> int:
    """Print one JSON row per (server pair, bound)."""
    parser = argparse.ArgumentParser(prog="python -m lspfeedback._bench.bound")
    parser.add_argument("root", type=Path)
    parser.add_argument("path")
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--bounds", default="0,20,100,400")
    args = parser.parse_args(argv)
    bounds = [int(b) for b in args.bounds.split(",")]
    for row in asyncio.run(measure(args.root.resolve(), args.path, args.edits, bounds)):
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
