"""What the sandbox costs: server start-up and per-``verify`` latency, sandboxed against not,
interleaved edit by edit on warm verifiers, every state new.

    python -m lspfeedback._bench.sandbox ROOT PATH [--edits 20] [--starts 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections import defaultdict
from pathlib import Path

from lspfeedback._bench.stats import percentile
from lspfeedback._engine import AsyncVerifier
from lspfeedback._sandbox import SandboxMode

MODES: tuple[SandboxMode, ...] = ("auto", "off")
SERVERS = ("pyright", "ruff", "ty")


async def measure(root: Path, path: str, edits: int, starts: int) -> list[dict[str, object]]:
    """Rows: (what, server or pair, mode) -> p50/p95 ms and the sample count."""
    samples: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for _ in range(starts):
        for server in SERVERS:
            for mode in MODES:
                v = AsyncVerifier(root, servers=[server], sandbox=mode, watch=False, replicas=1)
                started = time.perf_counter()
                await v.start()
                await v.diagnostics([path])
                samples[("start to first diagnostics", server, mode)].append(
                    (time.perf_counter() - started) * 1000)
                await v.close()
    verifiers = {mode: AsyncVerifier(root, servers=["pyright", "ruff"], sandbox=mode,
                                     watch=False, replicas=1) for mode in MODES}
    try:
        for v in verifiers.values():
            await v.start()
        base = (root / path).read_text()
        for number in range(edits):
            for mode, v in verifiers.items():
                report = await v.verify({path: f"{base}\n_sandbox_{mode}_{number} = {number}\n"})
                samples[("verify", "pyright+ruff", mode)].append(report.elapsed_ms)
    finally:
        await asyncio.gather(*(v.close() for v in verifiers.values()))
    return [{"what": what, "servers": servers, "sandbox": mode,
             "p50_ms": round(percentile(values, 50), 1), "p95_ms": round(percentile(values, 95), 1),
             "samples": len(values)} for (what, servers, mode), values in sorted(samples.items())]


def main(argv: list[str] | None = None) -> int:
    """Print one JSON row per measurement."""
    parser = argparse.ArgumentParser(prog="python -m lspfeedback._bench.sandbox")
    parser.add_argument("root", type=Path)
    parser.add_argument("path")
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--starts", type=int, default=5)
    args = parser.parse_args(argv)
    for row in asyncio.run(measure(args.root.resolve(), args.path, args.edits, args.starts)):
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
