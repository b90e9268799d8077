"""``lspfeedback bench``: warm lspfeedback vs the cold tools it replaces, on real projects."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lspfeedback._bench import output, workloads
from lspfeedback._bench.runner import Bench, WorkloadResult

OPTIONAL_BACKENDS = ("basedpyright", "ty", "pyrefly", "jedi")


def add_command(sub: Any) -> None:
    bench = sub.add_parser(
        "bench", help="measure edit-to-feedback latency, warm vs the cold CLIs",
        description="Warm lspfeedback verify() beside the cold CLIs (pyright --outputjson, "
        "ruff check) on the same states, on real projects downloaded from PyPI sdists and "
        "synthetic ones. Prints a table; --json and --plot write the raw samples and a PNG.",
    )
    bench.add_argument("--quick", action="store_true",
                       help="a one-minute smoke run: a 100-module synthetic project only")
    bench.add_argument("--json", type=Path, metavar="OUT", help="write every sample as JSON")
    bench.add_argument("--plot", type=Path, metavar="OUT.png", help="write the plot")
    bench.add_argument("--project", action="append", metavar="NAME==VERSION",
                       help=f"a PyPI project (default: {' '.join(workloads.DEFAULT_PROJECTS)})")
    bench.add_argument("--root", type=Path, action="append", help="a local project instead")
    bench.add_argument("--synth", type=int, action="append", metavar="N",
                       help="synthetic project sizes (default: 100 1000 5000)")
    bench.add_argument("--pairs", type=int, default=None,
                       help="mistake+fix pairs per workload (default 4, 2 on the largest)")
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--backends", nargs="*", default=None,
                       help=f"other servers to measure alone (default: {' '.join(OPTIONAL_BACKENDS)} "
                       "on the first project)")
    bench.add_argument("--no-cold", action="store_true", help="skip the cold CLI runs")
    bench.add_argument("--markdown", type=Path, metavar="OUT.md",
                       help="write a results page (docs/benchmarks.md) from this run")


def plan(args: argparse.Namespace) -> list[tuple[workloads.Workload, dict[str, Any]]]:
    """Which workloads, each with its settings."""
    out: list[tuple[workloads.Workload, dict[str, Any]]] = []
    if args.quick:
        w = workloads.synthetic(100, args.seed)
        return [(w, {"pairs": args.pairs or 2, "backends": args.backends or [],
                     "floor": ["ruff"], "candidates": False})]
    roots = args.root or []
    projects = args.project or ([] if roots else list(workloads.DEFAULT_PROJECTS))
    for i, requirement in enumerate(projects):
        w = workloads.real_project(requirement)
        first = i == 0
        out.append((w, {
            "pairs": args.pairs or (2 if w.files > 500 else 4),
            "backends": (list(OPTIONAL_BACKENDS) if args.backends is None else args.backends) if first else [],
            "floor": ["pyright", "ruff"] if first else [],
            "candidates": first,
            "daemon": first,
        }))
    for root in roots:
        out.append((workloads.local(root), {"pairs": args.pairs or 4, "backends": args.backends or [],
                                            "floor": [], "candidates": False}))
    sizes = args.synth if args.synth is not None else ([] if roots or args.project else list(workloads.SYNTH_SIZES))
    for size in sizes:
        out.append((workloads.synthetic(size, args.seed),
                    {"pairs": args.pairs or (1 if size >= 5000 else 2), "backends": [],
                     "floor": [], "candidates": False}))
    return out


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    console = Console(stderr=True)
    work = plan(args)
    results: list[WorkloadResult] = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        for w, settings in work:
            pairs = settings["pairs"]
            steps = 2 * pairs * (1 + len(settings["backends"]) + len(settings["floor"]))
            task = progress.add_task(w.name, total=steps + (1 if settings["candidates"] else 0))

            def tick(line: str, task: Any = task) -> None:
                progress.update(task, advance=1, description=line[:70])

            bench = Bench(w, pairs=pairs, seed=args.seed, backends=settings["backends"],
                          floor=settings["floor"], cold=not args.no_cold,
                          candidates=settings["candidates"],
                          daemon=settings.get("daemon", False), progress=tick)
            import asyncio

            results.append(asyncio.run(bench.run()))
            progress.update(task, completed=steps, description=f"{w.name} done")
    doc = output.document(results, ["lspfeedback", *argv])
    output.table(doc, Console(width=max(140, Console().width)))
    if args.json:
        output.write_json(doc, args.json)
        console.print(f"wrote {args.json}")
    if args.plot:
        output.plot(doc, args.plot)
        console.print(f"wrote {args.plot}")
    if args.markdown:
        plot_name = None
        if args.plot:
            plot_name = os.path.relpath(args.plot.resolve(), args.markdown.resolve().parent)
        args.markdown.write_text(output.markdown(doc, plot_name))
        console.print(f"wrote {args.markdown}")
    mismatches = sum(w["summary"]["mismatches"] for w in doc["workloads"].values())
    if mismatches:
        console.print(f"[red]{mismatches} warm/cold mismatches[/]")
    return 1 if mismatches else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(0)
