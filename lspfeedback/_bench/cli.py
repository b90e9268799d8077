"""``lspfeedback bench``: warm lspfeedback vs the cold tools it replaces, on real projects."""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from lspfeedback._bench import output, workloads
from lspfeedback._bench.cells import FLOOR_ROUNDS, Rounds
from lspfeedback._bench.runner import Bench, WorkloadResult

OPTIONAL_BACKENDS = ("basedpyright", "ty", "pyrefly", "jedi")
SECTIONS = ("loop", "typescript")
"""Sections `--only` can run alone; a full run runs 'loop' after the workloads and keeps
the 'typescript' section of an earlier run in the page and the JSON file."""


def add_command(sub: Any) -> None:
    bench = sub.add_parser(
        "bench", help="measure edit-to-feedback latency, warm vs the cold CLIs",
        description="Warm lspfeedback verify() beside the cold CLIs (pyright --outputjson, "
        "ruff check) on the same states, on real projects downloaded from PyPI sdists and "
        "synthetic ones. Prints a table; --json and --plot write the raw samples and a PNG.",
    )
    bench.add_argument("--quick", action="store_true",
                       help="a few-minute smoke run: a 100-module synthetic project with every "
                       "cell at 4 samples, scaling to 1,000 modules (with --fidelity: one small "
                       "project's first 10 steps); its figures say they are quick")
    bench.add_argument("--json", type=Path, metavar="OUT", help="write every sample as JSON")
    bench.add_argument("--plot", type=Path, metavar="OUT.png", help="write the plot")
    bench.add_argument("--project", action="append", metavar="NAME==VERSION",
                       help=f"a PyPI project (default: {' '.join(workloads.DEFAULT_PROJECTS)}; "
                       "with --fidelity, a NAME among its histories)")
    bench.add_argument("--root", type=Path, action="append", help="a local project instead")
    bench.add_argument("--synth", type=int, action="append", metavar="N",
                       help="synthetic sizes of the scaling section (default: 100 1000 5000 "
                       "20000 50000; none with --project or --root)")
    bench.add_argument("--pairs", type=int, default=None,
                       help=f"mistake+fix pairs per workload (default {PAIRS}: 20 samples a cell)")
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--backends", nargs="*", default=None,
                       help=f"other servers to measure alone (default: {' '.join(OPTIONAL_BACKENDS)} "
                       "on the first project)")
    bench.add_argument("--no-cold", action="store_true", help="skip the cold CLI runs")
    bench.add_argument("--markdown", type=Path, metavar="OUT.md",
                       help="write a results page (docs/benchmarks.md) from this run")
    bench.add_argument("--fidelity", action="store_true",
                       help="warm equals cold over real history: replay consecutive PyPI "
                       "releases of small projects as overlays on one warm verifier "
                       "(pyright+ruff, then ty+ruff) and run the cold CLIs after every step; "
                       "with --markdown, replaces only the fidelity section of the page, with "
                       "--json, only the 'fidelity' key of the file (--quick: one project, "
                       "10 steps)")
    bench.add_argument("--only", choices=SECTIONS, metavar="SECTION",
                       help="run one section alone: 'loop' is the iteration latency of the "
                       "generate -> check -> regenerate loop (lspfeedback.loop) with a scripted "
                       "model, warm lspfeedback vs the cold CLIs as the critic, on the first "
                       "project (httpx), K=1 and K=4 candidates per round; 'typescript' is "
                       "TypeScript 7 + Biome warm vs the cold CLIs and the floor on "
                       "fixtures/web and zod (npm pack; --quick: fixtures/web, 2 pairs; --pairs "
                       "N mistake+fix pairs per edited file, default 10); with --markdown and "
                       "--json, each replaces only its section / its key")
    bench.add_argument("--loop-episodes", type=int, default=None, metavar="N",
                       help="loop section: episodes per critic and K (default 20, 2 with --quick)")
    bench.add_argument("--loop-k", type=int, nargs="+", default=None, metavar="K",
                       help="loop section: candidates per round (default 1 4, 1 2 with --quick)")
    bench.add_argument("--no-loop", action="store_true",
                       help="skip the loop section of a full run")


PAIRS = 10
"""Mistake + fix pairs per workload in a full run: 20 samples per cell."""
QUICK_PAIRS = 2
CORPUS = 5
"""Mistakes per kind in the mutation corpus every tier verifies (30 in all)."""
QUICK_SIZES = (100, 1000)


def plan(args: argparse.Namespace) -> list[tuple[workloads.Workload, dict[str, Any]]]:
    """Which workloads, each with its settings (the first project gets every cell)."""
    from lspfeedback._bench.cells import FIRST_VERDICT_TIERS, FLOOR_SERVERS, TIERS

    out: list[tuple[workloads.Workload, dict[str, Any]]] = []
    if args.quick:
        w = workloads.synthetic(100, args.seed)
        return [(w, {"pairs": args.pairs or QUICK_PAIRS, "backends": args.backends or [],
                     "floor": ["ruff", "ty"], "floor_rounds": Rounds(1, 1), "tiers": TIERS,
                     "multi": True,
                     "candidates": 1, "daemon": True, "corpus": 1, "memory": True})]
    roots = args.root or []
    projects = args.project or ([] if roots else list(workloads.DEFAULT_PROJECTS))
    for i, requirement in enumerate(projects):
        w = workloads.real_project(requirement)
        first = i == 0
        out.append((w, {
            "pairs": args.pairs or PAIRS,
            "backends": (list(OPTIONAL_BACKENDS) if args.backends is None else args.backends) if first else [],
            "floor": list(FLOOR_SERVERS) if first else [],
            # The larger projects: the fast tier and the progressive verdict, without the cold
            # CLIs per step (pyright takes 16 s a run on django; the main cell has them).
            "tiers": TIERS if first else FIRST_VERDICT_TIERS,
            "tiers_cold": first,
            "multi": first,
            "candidates": (args.pairs or PAIRS) * 2 if first else 0,
            "daemon": first,
            "corpus": CORPUS if first else 0,
            "memory": True,
        }))
    for root in roots:
        out.append((workloads.local(root), {"pairs": args.pairs or PAIRS, "backends": args.backends or [],
                                            "floor": [], "candidates": 0}))
    return out


def scaling_sizes(args: argparse.Namespace) -> list[int]:
    """The synthetic sizes of the scaling section (none with --project/--root unless asked)."""
    from lspfeedback._bench import scaling

    if args.synth is not None:
        return list(args.synth)
    if args.quick:
        return list(QUICK_SIZES)
    return [] if args.root or args.project else list(scaling.SIZES)


def run_scaling(args: argparse.Namespace, progress: Progress) -> dict[str, Any] | None:
    from lspfeedback._bench import scaling

    sizes = scaling_sizes(args)
    if not sizes:
        return None
    task = progress.add_task("scaling", total=None)

    def tick(line: str) -> None:
        progress.update(task, description=line[:90])

    doc = scaling.run(sizes, edits=4 if args.quick else 2 * (args.pairs or PAIRS), seed=args.seed,
                      server_sets=(("ty", "ruff"),) if args.quick else scaling.SERVER_SETS,
                      cold=not args.no_cold, cold_runs=1 if args.quick else scaling.COLD_RUNS,
                      progress=tick)
    progress.update(task, description="scaling done", total=1, completed=1)
    return doc


def run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.fidelity:
        return run_fidelity(args, argv)
    if args.only == "loop":
        return run_loop_section(args, argv)
    if args.only == "typescript":
        return run_typescript_section(args, argv)
    import asyncio
    import time

    console = Console(stderr=True)
    work = plan(args)
    results: list[WorkloadResult] = []
    started = time.perf_counter()
    load_start = os.getloadavg()[0]
    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        for w, settings in work:
            task = progress.add_task(w.name, total=None)

            def tick(line: str, task: Any = task) -> None:
                progress.update(task, description=line[:90])

            bench = Bench(w, pairs=settings["pairs"], seed=args.seed, backends=settings["backends"],
                          floor=settings["floor"], cold=not args.no_cold,
                          candidates=settings.get("candidates", 0),
                          daemon=settings.get("daemon", False), tiers=settings.get("tiers", ()),
                          tiers_cold=settings.get("tiers_cold", True),
                          multi=settings.get("multi", False),
                          floor_rounds=settings.get("floor_rounds", FLOOR_ROUNDS),
                          corpus=settings.get("corpus", 0), memory=settings.get("memory", False),
                          progress=tick)
            results.append(asyncio.run(bench.run()))
            progress.update(task, description=f"{w.name} done", total=1, completed=1)
        scaling_doc = run_scaling(args, progress)
    doc = output.document(results, ["lspfeedback", *argv])
    doc["quick"] = bool(args.quick)
    doc["elapsed_s"] = round(time.perf_counter() - started, 1)
    doc["load_1min"] = {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)}
    if scaling_doc is not None:
        doc["scaling"] = scaling_doc
    output.table(doc, Console(width=max(140, Console().width)))
    if args.json:
        # A fidelity (or, with --no-loop, a loop) result in the file is another phase's: keep it.
        old = _read_json(args.json)
        keys = (FIDELITY_KEY, TS_KEY, LOOP_KEY) if args.no_loop else (FIDELITY_KEY, TS_KEY)
        output.write_json({**doc, **{k: old[k] for k in keys if k in old}}, args.json)
        console.print(f"wrote {args.json}")
    if args.plot:
        output.plot(doc, args.plot)
        console.print(f"wrote {args.plot}")
    if args.markdown:
        plot_name = None
        if args.plot:
            plot_name = os.path.relpath(args.plot.resolve(), args.markdown.resolve().parent)
        page = output.markdown(doc, plot_name)
        old = args.markdown.read_text() if args.markdown.exists() else ""
        args.markdown.write_text(keep_sections(page, old, keep_loop=args.no_loop))
        console.print(f"wrote {args.markdown}")
    mismatches = sum(w["summary"]["mismatches"] for w in doc["workloads"].values())
    if mismatches:
        console.print(f"[red]{mismatches} warm/cold mismatches[/]")
    loop_status = 0 if args.no_loop else run_loop_section(args, argv)
    return 1 if mismatches else loop_status


def keep_sections(page: str, old: str, *, keep_loop: bool) -> str:
    """``page`` (this run's) with the sections of ``old`` that other commands write put back:
    fidelity, TypeScript, those of `KEPT_SECTIONS`, and the loop's when it is not rerun."""
    kept = [(START, END), (TS_START, TS_END), *KEPT_SECTIONS]
    if keep_loop:
        kept.append((LOOP_START, LOOP_END))
    for first, last in kept:
        section = _between_markers(old, first, last)
        if section is not None:
            page = _replace_section(page, section, first, last)
    return _keep_hand_written(page, old, kept)


_MARKER = re.compile(r"<!-- ([\w-]+):(start|end) -->")


def _keep_hand_written(page: str, old: str, kept: Sequence[tuple[str, str]]) -> str:
    """``page`` with what was written by hand in ``old`` put back: each ``## `` section of
    ``old`` outside the marked sections (``<!-- NAME:start -->`` ... ``<!-- NAME:end -->``)
    whose heading ``page`` does not have and `output.markdown` does not write (placed before
    the first marked section), and the text right after a kept section's end marker (after it
    again). A run regenerates its own sections; it never drops someone's notes."""
    if not old.strip():
        return page
    headings = {line for line in page.splitlines() if line.startswith("## ")}
    headings |= set(output.OWN_HEADINGS)
    ends = {b for _, b in kept}
    blocks: list[tuple[str | None, list[str]]] = [(None, [])]  # (the end it follows, lines)
    inside: str | None = None
    for line in old.splitlines():
        match = _MARKER.fullmatch(line.strip())
        if inside is not None:
            if match and match.group(1) == inside and match.group(2) == "end":
                inside = None
                blocks.append((line.strip(), []))
            continue
        if match and match.group(2) == "start":
            inside = match.group(1)
        elif line.startswith("## "):
            blocks.append((None, [line]))
        else:
            blocks[-1][1].append(line)
    loose, tails = [], []
    for after, lines in blocks[1:]:
        text = "\n".join(lines).strip("\n")
        if not text.strip():
            continue
        if after is None:
            if lines[0] not in headings:
                loose.append(text)
        elif after in ends:
            tails.append((after, text))
    for end, text in tails:
        at = page.find(end)
        if at >= 0 and text not in page:
            at += len(end)
            page = page[:at] + "\n\n" + text + page[at:]
    if loose:
        starts = [page.find(a) for a, _ in kept if page.find(a) >= 0]
        at = min(starts) if starts else len(page)
        insert = "\n\n".join(loose) + "\n\n"
        page = page[:at].rstrip("\n") + "\n\n" + insert + page[at:]
    return page


# ---- the loop section ------------------------------------------------------------------------

LOOP_KEY = "loop"
LOOP_START, LOOP_END = "<!-- loop:start -->", "<!-- loop:end -->"
KEPT_SECTIONS = (("<!-- chaos:start -->", "<!-- chaos:end -->"),
                 ("<!-- check-wall:start -->", "<!-- check-wall:end -->"),
                 ("<!-- fleet:start -->", "<!-- fleet:end -->"))
"""Sections of docs/benchmarks.md that `python -m lspfeedback._bench.chaos`,
`..._bench.check_wall` and `..._bench.fleet` write: a full run keeps them."""


def loop_workload(args: argparse.Namespace) -> workloads.Workload:
    """The loop section's project: synth-100 with --quick, else the first --project or
    --root, else the first default project (httpx)."""
    if args.quick:
        return workloads.synthetic(100, args.seed)
    if args.project:
        return workloads.real_project(args.project[0])
    if args.root:
        return workloads.local(args.root[0])
    return workloads.real_project(workloads.DEFAULT_PROJECTS[0])


def run_loop_section(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """The loop section: run it, print its table, write its JSON key and Markdown section."""
    from lspfeedback._bench import loop

    console = Console(stderr=True)
    w = loop_workload(args)
    ks = tuple(args.loop_k or ((1, 2) if args.quick else loop.DEFAULT_KS))
    episodes = args.loop_episodes or (2 if args.quick else 20)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        critics = 1 if args.no_cold else 2
        task = progress.add_task(f"loop {w.name}", total=critics * len(ks) * (episodes + 1))

        def tick(line: str) -> None:
            progress.update(task, advance=1, description=line[:70])

        doc = loop.run(w, episodes=episodes, ks=ks, cold=not args.no_cold, progress=tick)
    command = " ".join(["lspfeedback", *argv])
    versions = output.versions()
    doc = {"command": command, "machine": output.machine(),
           "versions": {k: v for k, v in versions.items() if k in ("lspfeedback", "pyright", "ruff")},
           **doc}
    loop_table(doc, Console(width=max(140, Console().width)))
    if args.json:
        data = _read_json(args.json)
        data[LOOP_KEY] = doc
        output.write_json(data, args.json)
        console.print(f"wrote the {LOOP_KEY!r} key of {args.json}")
    if args.markdown:
        old = args.markdown.read_text() if args.markdown.exists() else ""
        section = "\n".join([LOOP_START, "## The generate -> check -> regenerate loop", "",
                             loop.markdown(doc, command, versions, doc["machine"]["cpus"]).rstrip(),
                             LOOP_END]) + "\n"
        args.markdown.write_text(_replace_section(old, section, LOOP_START, LOOP_END))
        console.print(f"wrote the loop section of {args.markdown}")
    return 0


def loop_table(doc: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    from lspfeedback._bench import loop

    table = Table(title=f"loop iteration latency on {doc['workload']}: the critic's share of a "
                  "round (scripted model, instant), warm lspfeedback vs cold CLIs (ms)")
    for column in loop.COLUMNS:
        table.add_column(column, justify="left" if column in ("critic", "ok in") else "right")
    for row in loop.rows(doc):
        table.add_row(*row)
    console.print(table)
    agree = doc["agreement"]
    console.print(f"both critics ok in the same round: {agree['same']} episodes, "
                  f"different: {agree['different']}")


# ---- the TypeScript section ------------------------------------------------------------------

TS_KEY = "typescript"
TS_START, TS_END = "<!-- typescript:start -->", "<!-- typescript:end -->"


def run_typescript_section(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``--only typescript`` (lspfeedback._bench.typescript): its tables, its JSON key and
    its Markdown section."""
    from lspfeedback._bench import typescript

    console = Console(stderr=True)
    projects = [typescript.fixture_web()]
    if not args.quick:
        projects.append(typescript.npm_project())
    pairs = args.pairs or (2 if args.quick else typescript.PAIRS)
    doc = typescript.run(projects, pairs, args.seed, progress=console.print)
    command = " ".join(["lspfeedback", *argv])
    doc = {"command": command, **doc}
    typescript.table(doc, Console(width=max(160, Console().width)))
    if args.json:
        data = _read_json(args.json)
        data[TS_KEY] = doc
        output.write_json(data, args.json)
        console.print(f"wrote the {TS_KEY!r} key of {args.json}")
    if args.markdown:
        old = args.markdown.read_text() if args.markdown.exists() else ""
        args.markdown.write_text(_replace_section(old, typescript.markdown(doc, command),
                                                  TS_START, TS_END))
        console.print(f"wrote the TypeScript section of {args.markdown}")
    bad = typescript.mismatches(doc)
    for s in bad[:20]:
        console.print(f"[red]{s['project']} {s['side']} step {s['step']} ({s['kind']}): "
                      f"{s['differences']}[/]")
    if bad:
        console.print(f"[red]{len(bad)} warm/cold mismatches[/]")
    return 1 if bad else 0


# ---- --fidelity ------------------------------------------------------------------------------

FIDELITY_KEY = "fidelity"
START, END = "<!-- fidelity:start -->", "<!-- fidelity:end -->"


def run_fidelity(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``bench --fidelity``: every history on pyright+ruff and ty+ruff, a table, and the
    fidelity parts of the JSON and Markdown files."""
    import time

    from lspfeedback._bench import fidelity

    console = Console(stderr=True)
    started = time.perf_counter()
    projects = None
    if args.project:
        wanted = {p.partition("==")[0] for p in args.project}
        projects = [p for p in fidelity.PROJECTS if p.name in wanted]
        unknown = wanted - {p.name for p in projects}
        if unknown:
            console.print(f"[red]no history for {sorted(unknown)}; known: "
                          f"{' '.join(p.name for p in fidelity.PROJECTS)}[/]")
            return 2
    work = fidelity.histories(projects, quick=args.quick, progress=console.print)
    total = sum(len(h.steps) for h in work) * len(fidelity.PAIRS)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, transient=False) as progress:
        task = progress.add_task("fidelity", total=total)

        def tick(line: str) -> None:
            progress.update(task, advance=1, description=line[:70])

        doc = fidelity.run(work, quick=args.quick, progress=tick)
        if work:
            doc["mutations"] = fidelity.mutation_recall(
                work[0], 1 if args.quick else fidelity.MUTATIONS_PER_KIND, args.seed, tick)
    doc = {"command": " ".join(["lspfeedback", *argv]), "machine": output.machine(),
           "versions": {k: v for k, v in output.versions().items()
                        if k in ("lspfeedback", "pyright", "ruff", "ty")},
           **doc, "elapsed_s": round(time.perf_counter() - started, 1)}
    fidelity_table(doc, Console(width=max(170, Console().width)))
    if args.json:
        data = _read_json(args.json)
        data[FIDELITY_KEY] = doc
        output.write_json(data, args.json)
        console.print(f"wrote the {FIDELITY_KEY!r} key of {args.json}")
    if args.markdown:
        old = args.markdown.read_text() if args.markdown.exists() else ""
        args.markdown.write_text(_replace_section(old, fidelity_markdown(doc)))
        console.print(f"wrote the fidelity section of {args.markdown}")
    bad = fidelity.failures(doc)
    for r in doc["results"]:
        if r["error"]:
            console.print(f"[red]{r['project']} {r['servers']} stopped early: {r['error']}[/]")
    for m in doc["mismatches"][:20]:
        console.print(f"[red]{m['project']} {m['servers']} step {m['step']} ({m['release']}) "
                      f"{m['files']}: {m['rows'] or m['notes'] or m['unknown']}[/]")
    if bad:
        console.print(f"[red]{bad} steps where warm did not equal cold[/]")
    return 1 if bad else 0


COLUMNS = ("project", "releases", "files", "servers", "steps", "M/A/D/R", "mismatches",
           "unknown", "false ok", "errors found", "recall", "warm p50", "cold p50")


def _rows(doc: dict[str, Any]) -> list[list[str]]:
    out = []
    for r in doc["results"]:
        c = r["file_changes"]
        out.append([r["project"], f"{r['releases']} ({r['release_count']})", str(r["files"]),
                    r["servers"], str(r["steps"]),
                    "/".join(str(c.get(k, 0)) for k in ("modify", "add", "delete", "rename")),
                    str(r["mismatching_steps"] + r["state_drift_steps"]), str(r["unknown_steps"]),
                    str(r["false_ok"]), f"{r['found']}/{r['introduced_errors']}",
                    _recall(r["recall"]), output._ms(r["warm"]["p50"]), output._ms(r["cold"]["p50"])])
    for pair, t in doc["totals"].items():
        out.append(["all", "", "", pair, str(t["steps"]), "",
                    str(t["mismatching_steps"] + t["state_drift_steps"]), str(t["unknown_steps"]),
                    str(t["false_ok"]), f"{t['found']}/{t['introduced_errors']}",
                    _recall(t["recall"]), output._ms(t["warm"]["p50"]), output._ms(t["cold"]["p50"])])
    return out


def _recall(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def fidelity_table(doc: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    table = Table(title="warm equals cold over real history: consecutive releases replayed as "
                  "overlays, cold CLIs after every step (ms)")
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("project", "releases", "servers")
                         else "right")
    for row in _rows(doc):
        table.add_row(*row)
    console.print(table)


def fidelity_markdown(doc: dict[str, Any]) -> str:
    """The fidelity section of docs/benchmarks.md, markers included."""
    v = doc["versions"]
    lines = [
        START,
        "## Warm equals cold over real history",
        "",
        ("Consecutive releases of small real projects (PyPI sdists, downloaded at run time) are "
         "diffed file by file into steps of 1-3 files that modify, add, delete and rename "
         "modules (a rename: identical or near-identical text, difflib ratio >= 0.8). One warm "
         "verifier per project and server pair starts on the oldest release's package folder; "
         "every step is `verify()`ed on top of the previous ones (overlays accumulate, nothing "
         "is committed). After each step the state (the base with `v.overlays` applied) is "
         "written to a temporary directory and the cold CLIs run there on the report's checked "
         "files that still exist: the warm diagnostics of the checked files must equal theirs. "
         "They also run on the whole package of every state, for the errors each step "
         "introduced (pyright's CLI is order-dependent: given click 7.1's checked files it "
         "reports a second `reportArgumentType` in `types.py`, the same union with its members "
         "in another order, that it does not report given the package)."),
        "",
        (f"- Versions: pyright {v.get('pyright')}, ruff {v.get('ruff')}, ty {v.get('ty')}; "
         f"{doc['machine']['cpus']} cores; run time {_duration(doc['elapsed_s'])}"),
        f"- Command: `{doc['command']}`",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
    ]
    for row in _rows(doc):
        if row[0] == "all":
            row = [f"**{cell}**" if cell else "" for cell in row]
        lines.append("| " + " | ".join(row) + " |")
    lines += [
        "",
        ("- `releases`: the first and last release replayed (how many); `files`: Python files "
         "in the oldest; `M/A/D/R`: files modified, added, deleted and renamed by the steps."),
        ("- `mismatches`: steps where, for some server, the warm rows of the checked files "
         "differ from its cold CLI's (`pyright --outputjson`, `ruff check`, `ty check "
         "--output-format gitlab`) on place, code and message (and severity, but for ruff); "
         "**for ty on place (path, line, column, end) and code only**, as ty's server and CLI "
         "word some messages differently. Also counted: steps where `v.overlays` applied to "
         "the base was not the state the history says. It must be 0."),
        ("- `false ok`: `report.ok` although the cold runs on the package show an error-severity "
         "diagnostic in a checked file that those of the previous state did not have (matched "
         "as `introduced` is: same source, code, severity and message on the line the edit maps "
         "it to; ruff's F821 counts as an error, as its server says). `errors found`: of those "
         "errors, how many `report.introduced` has / all; recall is their ratio."),
        ("- `warm p50`: ms of `verify()` of a step; `cold p50`: ms of the cold CLIs of the pair "
         "on the checked files of that state, one after the other."),
    ]
    lines.append("- Errors the package runs say a step introduced in files the report did not "
                 "check (an importer missed): " + ", ".join(
                     f"{t['introduced_unchecked']} ({pair})" for pair, t in doc["totals"].items())
                 + ".")
    lines += [f"- **{r['project']} {r['servers']} stopped early**: {r['error']}"
              for r in doc["results"] if r["error"]]
    if doc.get("mutations"):
        from lspfeedback._bench.fidelity import mutation_markdown

        lines += mutation_markdown(doc["mutations"])
    lines += [
        END,
    ]
    return "\n".join(lines) + "\n"


def _duration(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 120 else f"{seconds:.0f} s"


def _between_markers(text: str, first: str = START, last: str = END) -> str | None:
    start, end = text.find(first), text.find(last)
    if start < 0 or end < start:
        return None
    return text[start:end + len(last)] + "\n"


def _replace_section(text: str, section: str, first: str = START, last: str = END) -> str:
    """``text`` with the part between the markers (the fidelity section's by default; markers
    included) replaced by ``section``; appended at the end when the markers are not there."""
    start, end = text.find(first), text.find(last)
    if start < 0 or end < start:
        return text.rstrip("\n") + "\n\n" + section if text.strip() else section
    tail = text[end + len(last):]
    return text[:start] + section.rstrip("\n") + tail if tail else text[:start] + section


def _read_json(path: Path) -> dict[str, Any]:
    import json

    if not path.exists():
        return {}
    data = json.loads(path.read_text() or "{}")
    return data if isinstance(data, dict) else {}


if __name__ == "__main__":  # pragma: no cover
    sys.exit(0)
