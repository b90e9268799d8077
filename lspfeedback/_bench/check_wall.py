"""Whole-process wall time of ``lspfeedback check`` through a warm daemon (issue 13's goal:
≤ 150 ms p50 on fixtures/shop), beside ``python -c pass`` in the same run.

Every sample writes a new text of ``shop/pricing.py`` (a real check of it and its importers,
no cache hit), then times the whole ``lspfeedback check`` process; the interpreter's own start
is timed in turn with it, sample by sample, so both see the same load.

    python -m lspfeedback._bench.check_wall [--samples 20] [--markdown OUT]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from lspfeedback._bench.stats import summary

SHOP = Path(__file__).resolve().parents[2] / "fixtures" / "shop"


def _timed(argv: list[str], cwd: Path) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, check=False)
    return (time.perf_counter() - started) * 1000, done.returncode


def measure(samples: int = 20) -> dict[str, Any]:
    """p50/p95 of both sides, the load average, and the exit codes seen."""
    lspfeedback = [sys.executable, "-P", "-m", "lspfeedback"]
    with tempfile.TemporaryDirectory(prefix="lspfeedback-wall-") as tmp:
        root = Path(tmp) / "shop"
        shutil.copytree(SHOP, root)
        subprocess.run(["git", "init", "-q"], cwd=root, check=True)
        subprocess.run(["git", "add", "-A"], cwd=root, check=True)
        subprocess.run(["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "0"],
                       cwd=root, check=True)
        target = root / "shop" / "pricing.py"
        original = target.read_text()
        check, bare, codes = [], [], []
        try:
            for sample in range(samples + 1):  # the first starts the daemon: not counted
                target.write_text(f"{original}\nVALUE_{sample} = {sample}\n")
                ms, code = _timed([*lspfeedback, "check", "shop/pricing.py"], root)
                python_ms, _ = _timed([sys.executable, "-c", "pass"], root)
                if sample:
                    check.append(ms)
                    bare.append(python_ms)
                    codes.append(code)
        finally:
            subprocess.run([*lspfeedback, "stop", "--root", str(root)], cwd=root,
                           capture_output=True, check=False)
    return {"check": summary(check), "python": summary(bare), "exit_codes": sorted(set(codes)),
            "load": round(os.getloadavg()[0], 1), "samples": samples,
            "date": time.strftime("%Y-%m-%d")}


def markdown(doc: dict[str, Any]) -> str:
    """The section of docs/benchmarks.md."""
    c, p = doc["check"], doc["python"]
    return "\n".join([
        "<!-- check-wall:start -->",
        "## `lspfeedback check` through a warm daemon: whole-process wall time",
        "",
        (f"`python -m lspfeedback._bench.check_wall` on {doc['date']}: fixtures/shop in a git "
        "repository, a background daemon started by the first (uncounted) call, then "
        f"{doc['samples']} samples, each writing a new text of `shop/pricing.py` and timing the "
        "whole `lspfeedback check shop/pricing.py` process (a real check of the file and its "
        "importers), interleaved with `python -c pass`. Load average at the end: "
        f"{doc['load']} (2 cores, shared). Exit codes seen: {doc['exit_codes']}."),
        "",
        "| process | p50 ms | p95 ms | max ms |",
        "|---|---:|---:|---:|",
        f"| `lspfeedback check` (warm daemon) | {c['p50']:.0f} | {c['p95']:.0f} | {c['max']:.0f} |",
        f"| `python -c pass` | {p['p50']:.0f} | {p['p95']:.0f} | {p['max']:.0f} |",
        "",
        "The goal is ≤ 150 ms p50.",
        "<!-- check-wall:end -->",
        "",
    ])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Wall time of lspfeedback check, warm daemon.")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--markdown", type=Path, help="write the docs section here")
    args = parser.parse_args(argv)
    doc = measure(args.samples)
    text = markdown(doc)
    if args.markdown:
        args.markdown.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
