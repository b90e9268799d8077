"""``lspfeedback fleet run``: a codemod over many repositories on a Ray fleet, to JSONL.

Also runnable alone: ``python -m lspfeedback.fleet.cli run REPO... --codemod SPEC``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_UNKNOWN = 0, 1, 2, 3


def add_command(sub: Any) -> None:
    """Add ``fleet`` (with its ``run`` subcommand) to the ``lspfeedback`` subparsers."""
    fleet = sub.add_parser("fleet", help="check a codemod across many repositories on Ray",
                           description="Warm verifiers on Ray actors: a codemod's candidate "
                           "edits checked per repository, the best kept. See docs/fleet.md.")
    fleet_sub = fleet.add_subparsers(dest="fleet_command", required=True)
    run_ = fleet_sub.add_parser(
        "run", help="run a codemod over repositories, one JSONL record per repository",
        description="Ask the codemod for each repository's candidate edits, check them on warm "
        "servers on Ray actors, rank them, and write one JSONL record per repository (winner, "
        "its report, every candidate's summary, timings, errors) as each finishes. Nothing is "
        "written to the repositories unless --apply. Exit 0 when every repository is ok (or "
        "had nothing to change), 1 when one is not, 3 when one could not be checked.")
    run_.add_argument("repos", nargs="*", metavar="REPO", help="repository paths")
    run_.add_argument("--repos-from", type=Path, metavar="FILE",
                      help="also the repositories listed in FILE, one path per line")
    run_.add_argument("--codemod", required=True, metavar="SPEC",
                      help="'package.module:function', 'file.py:function' (called as "
                      "function(repo_path) -> list of candidate edits), or a directory of "
                      "patches (DIR/<repo name>/* per repository, else DIR/* for all)")
    run_.add_argument("--out", type=Path, default=Path("fleet.jsonl"),
                      help="the JSONL file (default fleet.jsonl)")
    run_.add_argument("--resume", action="store_true",
                      help="skip the repositories --out already has a record for; append")
    run_.add_argument("--retry-unknown", action="store_true",
                      help="with --resume: check again those recorded as unknown")
    run_.add_argument("--overwrite", action="store_true",
                      help="start --out afresh although it holds records")
    run_.add_argument("--apply", action="store_true",
                      help="commit each ok winner to a new branch in a new git worktree (the "
                      "checked-out tree is never touched)")
    run_.add_argument("--branch", default=None,
                      help="the branch name for --apply (default lspfeedback/fleet-<UTC time>)")
    run_.add_argument("--worktrees", type=Path, default=None,
                      help="where --apply puts worktrees (default: the cache)")
    run_.add_argument("--address", default=None,
                      help="a Ray cluster ('auto', 'ray://HOST:10001'; default $RAY_ADDRESS, "
                      "else a local Ray)")
    run_.add_argument("--server", action="append", dest="servers", metavar="S",
                      help="a language server (repeatable; default pyright and ruff)")
    run_.add_argument("--actors", type=int, default=None,
                      help="actors (default: what the cluster's memory and CPUs hold)")
    run_.add_argument("--max-warm", type=int, default=2,
                      help="repositories kept warm per actor, least recently used evicted")
    run_.add_argument("--replicas", type=int, default=1,
                      help="warm server sets per repository (candidates run in parallel)")
    run_.add_argument("--actor-cpus", type=float, default=1.0, help="CPUs per actor")
    run_.add_argument("--per-repo-gib", type=float, default=None,
                      help="memory per warm repository (default: from the servers' table)")
    run_.add_argument("--retries", type=int, default=2,
                      help="times a repository is sent again after its actor died")
    run_.add_argument("--timeout", type=float, default=30.0,
                      help="seconds per check of the candidates (the verifier's timeout)")
    run_.add_argument("--repo-timeout", type=float, default=600.0,
                      help="seconds a repository may take, start-up included")
    run_.add_argument("--num-cpus", type=int, default=None,
                      help="CPUs of a local Ray (default: all)")
    run_.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """Run ``lspfeedback fleet run``; returns the exit status."""
    from rich.console import Console

    from lspfeedback._options import VerifierOptions
    from lspfeedback.fleet import (
        ApplyRequest,
        CodemodError,
        Fleet,
        JsonlWriter,
        done_repos,
        load_codemod,
        read_results,
    )

    console = Console(stderr=True)
    repos = list(args.repos)
    if args.repos_from:
        repos += [line.strip() for line in args.repos_from.read_text().splitlines()
                  if line.strip() and not line.lstrip().startswith("#")]
    missing = [r for r in repos if not Path(r).is_dir()]
    if not repos or missing:
        problem = f"not a directory: {missing[0]}" if missing else "no repository given"
        console.print(f"lspfeedback fleet run: {problem}")
        return EXIT_USAGE
    try:
        codemod = load_codemod(args.codemod)
    except CodemodError as error:
        console.print(f"lspfeedback fleet run: {error}")
        return EXIT_USAGE
    earlier = read_results(args.out) if args.out.exists() else []
    if earlier and not (args.resume or args.overwrite):
        console.print(f"lspfeedback fleet run: {args.out} holds {len(earlier)} records: "
                      "--resume to continue that run, --overwrite to start again")
        return EXIT_USAGE
    skip = done_repos(earlier, retry_unknown=args.retry_unknown) if args.resume else set()
    apply = None
    if args.apply:
        branch = args.branch or time.strftime("lspfeedback/fleet-%Y%m%d-%H%M%S", time.gmtime())
        apply = ApplyRequest(branch, f"lspfeedback fleet: {args.codemod}",
                             str(args.worktrees.resolve()) if args.worktrees else None)
    fleet = Fleet(servers=tuple(args.servers or ("pyright", "ruff")),
                  options=VerifierOptions(watch=False, timeout=args.timeout),
                  actors=args.actors, max_warm=args.max_warm, replicas=args.replicas,
                  actor_cpus=args.actor_cpus, per_repo_gib=args.per_repo_gib,
                  retries=args.retries, repo_timeout=args.repo_timeout,
                  address=args.address or os.environ.get("RAY_ADDRESS"),
                  ray_init={"num_cpus": args.num_cpus} if args.num_cpus else None)
    counts: Counter[str] = Counter()
    todo = len({str(Path(r).resolve()) for r in repos} - skip)
    with JsonlWriter(args.out, append=args.resume) as out, fleet, _progress(
            console, todo, args.quiet) as progress:
        task = progress.add_task("starting", total=todo, counts="")
        try:
            for result in fleet.run(repos, codemod, skip=skip, apply=apply):
                out.write(result)
                counts[result.status] += 1
                progress.update(task, advance=1, description=Path(result.repo).name[:30],
                                counts=_counts(counts))
                if result.status not in ("ok", "no_change"):
                    progress.console.print(f"  {result}"[:300])
        except KeyboardInterrupt:
            console.print(f"interrupted: {out.written} records in {args.out}; run again with "
                          "--resume to continue")
            return 130
    console.print(f"{sum(counts.values())} repositories ({len(skip)} skipped, done before): "
                  f"{_counts(counts)}; records in {args.out}")
    if counts["unknown"]:
        return EXIT_UNKNOWN
    return EXIT_ERRORS if counts["errors"] else EXIT_OK


def _counts(counts: Counter[str]) -> str:
    return ", ".join(f"{counts[s]} {s}" for s in ("ok", "errors", "unknown", "no_change")
                     if counts[s])


def _progress(console: Any, total: int, quiet: bool) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(TextColumn("{task.description:<30}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[counts]}"), TimeElapsedColumn(), console=console,
                    disable=quiet, transient=False)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m lspfeedback.fleet.cli run ...``: the ``fleet`` command alone."""
    parser = argparse.ArgumentParser(prog="lspfeedback")
    add_command(parser.add_subparsers(dest="command", required=True))
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(["fleet", *args_list])
    return run(args, ["fleet", *args_list])


if __name__ == "__main__":
    sys.exit(main())
