"""The fleet benchmark: one codemod that needs checking over 20+ synthetic and 3 real
repositories, four ways, on this machine.

The codemod is `lspfeedback.fleet.examples.add_flag` (a required keyword-only parameter on the
most called function, three candidates per repository: right, callers forgotten, wrong type).

- **cold CI loop**: per candidate, a fresh copy of the repository with the candidate written,
  then ``pyright --outputjson`` and ``ruff check`` on the whole project (what a CI job per
  candidate does), sequentially; a candidate passes when it adds no error to the base state's
  (computed once per repository, not timed);
- **direct**: the same work as the fleet, in one process, no Ray: the fleet's own
  `VerifierHost` (warm servers started per repository, the candidates checked, then closed);
- **fleet, 1 actor**: the same through Ray (its overhead over direct);
- **fleet, 2 actors**: what the fleet gives on this 2-core machine.

``python -m lspfeedback._bench.fleet [--quick] [--markdown docs/benchmarks.md]`` writes its
section of the page between ``<!-- fleet:start -->`` and ``<!-- fleet:end -->`` (appended if
absent; the rest of the page is left as it is).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lspfeedback import _cold
from lspfeedback._bench import workloads
from lspfeedback._options import VerifierOptions
from lspfeedback._shadow import cache_dir
from lspfeedback.fleet._actor import VerifierHost, _children
from lspfeedback.fleet.examples import add_flag

REAL = ("httpx==0.28.1", "click==8.1.7", "packaging==24.2")
SERVERS = ("pyright", "ruff")
START, END = "<!-- fleet:start -->", "<!-- fleet:end -->"
PREFIX = {"cold": "cold", "direct": "direct", "fleet1": "fleet, 1 actor (",
          "fleet2": "fleet, 2 actors (Ray)"}


@dataclass
class Mode:
    """One way of doing the whole job: its wall time and per-repository results."""

    name: str
    wall_s: float
    winners: dict[str, int | None]
    per_repo_ms: list[float] = field(default_factory=list)
    statuses: dict[str, str] = field(default_factory=dict)
    startup_s: float = 0.0
    """Ray and the actors (fleet modes), not in ``wall_s``."""
    rss_mb: list[float] = field(default_factory=list)
    work_ms: list[float] = field(default_factory=list)
    """Per repository, the checking itself (servers' start + the candidates' checks)."""
    load: float = 0.0
    """The machine's 1-minute load average when the mode ended (2 cores: above 2 is others'
    work competing)."""

    @property
    def per_minute(self) -> float:
        return 60 * len(self.winners) / self.wall_s if self.wall_s else 0.0


def synthetic_repos(count: int, modules: int = 40) -> list[Path]:
    """``count`` synthetic projects (fixtures/synth.py, seeds 0..count-1), made once."""
    synth = workloads._synth_module()
    out = []
    for seed in range(count):
        root = cache_dir() / "fleet-bench" / f"synth{modules}-{seed:02d}"
        if not (root / ".complete").exists():
            shutil.rmtree(root, ignore_errors=True)
            synth.generate(root, modules, seed)
            (root / ".complete").write_text("ok")
        out.append(root)
    return out


def real_repos(requirements: Sequence[str]) -> list[Path]:
    """The PyPI sdists, downloaded into the cache once (`workloads.real_project`)."""
    return [workloads.real_project(r).root for r in requirements]


# ---- the four ways ---------------------------------------------------------------------------

def cold_loop(repos: Sequence[Path]) -> Mode:
    """pyright + ruff CLIs per candidate, sequentially, on a fresh copy each."""
    winners: dict[str, int | None] = {}
    per_repo: list[float] = []
    wall = 0.0
    for repo in repos:
        base = _errors(repo)
        began = time.perf_counter()
        ranked = []
        for index, candidate in enumerate(add_flag(repo)):
            with tempfile.TemporaryDirectory(prefix="lspf-cold-") as tmp:
                copy = Path(tmp) / repo.name
                shutil.copytree(repo, copy, ignore=shutil.ignore_patterns(".git"))
                for rel, text in candidate.items():
                    (copy / rel).write_text(text, encoding="utf-8")
                added = sum((_errors(copy) - base).values())
            lines = sum(len(t.splitlines()) for t in candidate.values())
            ranked.append((added > 0, added, lines, index))
        spent = time.perf_counter() - began
        wall += spent
        per_repo.append(spent * 1000)
        best = min(ranked)
        winners[str(repo)] = best[3] if not best[0] else None
    return Mode("cold CI loop (pyright + ruff CLIs per candidate)", wall, winners, per_repo)


def _errors(root: Path) -> Counter[tuple[str, str, str | None, str]]:
    found: Counter[tuple[str, str, str | None, str]] = Counter()
    for run in (_cold.pyright(root), _cold.ruff(root)):
        for d in run.diagnostics:
            if d.severity == "error":  # what makes a verify not ok (ruff lint is a warning)
                found[(d.path, d.source, d.code, d.message)] += 1
    return found


def direct(repos: Sequence[Path], timeout: float) -> Mode:
    """The fleet's work in this process, one repository after another, no Ray."""
    async def go() -> Mode:
        host = VerifierHost(0, _options(timeout), max_warm=1)
        winners: dict[str, int | None] = {}
        statuses, per_repo, rss, work = {}, [], [], []
        began = time.perf_counter()
        for repo in repos:
            t = time.perf_counter()
            answer = await host.check(str(repo), add_flag(repo))
            per_repo.append((time.perf_counter() - t) * 1000)
            timings = answer.result.timings_ms
            work.append(timings.get("start", 0.0) + timings.get("check", 0.0))
            rss.append((_children()[1] or 0) / 2**20)
            winners[str(repo)] = answer.result.winner if answer.result.ok else None
            statuses[str(repo)] = answer.result.status
        wall = time.perf_counter() - began
        await host.close()
        return Mode("direct (VerifierHost in one process, no Ray)", wall, winners, per_repo,
                    statuses, rss_mb=rss, work_ms=work)

    return asyncio.run(go())


def fleet(repos: Sequence[Path], actors: int, timeout: float) -> Mode:
    """`Fleet.run` with ``actors`` actors on a local Ray."""
    from lspfeedback.fleet import Fleet

    began = time.perf_counter()
    with Fleet(servers=SERVERS, options=_options(timeout), actors=actors, max_warm=1,
               actor_cpus=2 / actors, ray_init={"num_cpus": 2}) as f:
        f.info()  # the actors are up
        startup = time.perf_counter() - began
        began = time.perf_counter()
        results = list(f.run(repos, add_flag))
        wall = time.perf_counter() - began
    return Mode(f"fleet, {actors} actor{'s' if actors > 1 else ''} (Ray)", wall,
                {r.repo: r.winner if r.ok else None for r in results},
                [r.timings_ms.get("start", 0.0) + r.timings_ms.get("check", 0.0)
                 for r in results],
                {r.repo: r.status for r in results}, startup_s=startup,
                work_ms=[r.timings_ms.get("start", 0.0) + r.timings_ms.get("check", 0.0)
                         for r in results])


def warm_pass(repos: Sequence[Path], timeout: float) -> tuple[Mode, Mode]:
    """Two rounds over ``repos`` on 2 actors that keep them all warm: the first pays the
    servers' start, the second (other candidates: a codemod's next round, so nothing comes
    from the verifiers' caches) only the checks."""
    from lspfeedback.fleet import Fleet
    from lspfeedback.fleet.examples import AddRequiredParameter

    rounds = []
    with Fleet(servers=SERVERS, options=_options(timeout), actors=2,
               max_warm=(len(repos) + 1) // 2, actor_cpus=1, ray_init={"num_cpus": 2}) as f:
        f.info()
        for name, codemod in (("round 1", add_flag),
                              ("round 2, warm", AddRequiredParameter(parameter="traced"))):
            began = time.perf_counter()
            results = list(f.run(repos, codemod))
            wall = time.perf_counter() - began
            work = [r.timings_ms.get("start", 0.0) + r.timings_ms.get("check", 0.0)
                    for r in results]
            rounds.append(Mode(f"fleet, 2 actors, {len(repos)} repos kept warm: {name}", wall,
                               {r.repo: r.winner if r.ok else None for r in results}, work,
                               {r.repo: r.status for r in results}, work_ms=work))
    return rounds[0], rounds[1]


def _options(timeout: float) -> VerifierOptions:
    return VerifierOptions(servers=SERVERS, replicas=1, watch=False, timeout=timeout)


# ---- the page --------------------------------------------------------------------------------

def section(modes: list[Mode], repos: Sequence[Path], real: int, command: str) -> str:
    """The Markdown section, markers included."""
    warm = [m for m in modes if "kept warm" in m.name]
    modes = [m for m in modes if m not in warm]
    cold = next(m for m in modes if m.name.startswith("cold"))
    direct_mode = next((m for m in modes if m.name.startswith("direct")), None)
    rows = []
    for m in modes:
        agree = sum(m.winners.get(str(r)) == cold.winners.get(str(r)) for r in repos)
        p50 = statistics.median(m.per_repo_ms) if m.per_repo_ms else 0.0
        rows.append(f"| {m.name} | {len(m.winners)} | {m.wall_s:,.1f} | {m.per_minute:,.1f} | "
                    f"{p50:,.0f} | {agree}/{len(repos)} | {m.startup_s:,.1f} |")
    one = next((m for m in modes if m.name.startswith("fleet, 1")), None)
    overhead = ""
    if one and direct_mode:
        n = max(1, len(repos))
        gap = (one.wall_s * 1000 - sum(one.work_ms)) / n
        own = (direct_mode.wall_s * 1000 - sum(direct_mode.work_ms)) / n
        per = (one.wall_s - direct_mode.wall_s) / n * 1000
        overhead = (f"**Overhead over calling the verifiers directly.** With one actor, the "
                    f"wall time not spent checking (Ray's calls, the driver) is {gap:,.0f} ms "
                    f"per repository, against {own:,.0f} ms for the direct loop (there, the "
                    "codemod runs between checks; the fleet's driver runs it while the actor "
                    "checks the previous repository); wall against wall, 1 actor minus direct "
                    f"is {per:+,.0f} ms per repository ({one.wall_s / direct_mode.wall_s - 1:+.0%}"
                    "), which on a shared machine is mostly the noise between two runs. Per "
                    "repo p50 is the actor's own work (servers' start + checks) in every warm "
                    "mode, the candidates' CLI runs in the cold loop.")
    warm_text = ""
    if len(warm) == 2:
        warm_text = (f" **A second round, warm:** on {len(warm[0].winners)} synthetic "
                     f"repositories kept warm by 2 actors, round 1 (servers started) ran at "
                     f"{warm[0].per_minute:,.1f} repos/min (p50 "
                     f"{statistics.median(warm[0].work_ms):,.0f} ms of work per repository), "
                     f"round 2 (new candidates from another parameter name, same warm "
                     f"servers) at {warm[1].per_minute:,.1f} repos/min (p50 "
                     f"{statistics.median(warm[1].work_ms):,.0f} ms): "
                     f"{sum(s == 'ok' for s in warm[1].statuses.values())} of "
                     f"{len(warm[1].statuses)} ok.")
    rss = direct_mode.rss_mb if direct_mode else []
    memory = (f"Resident memory of one repository's warm servers (pyright + ruff, measured "
              f"after its check): median {statistics.median(rss):,.0f} MiB, max "
              f"{max(rss):,.0f} MiB." if rss else "")
    ok = sum(s == "ok" for s in (direct_mode.statuses.values() if direct_mode else ()))
    return "\n".join([
        START, "## The fleet: one codemod over many repositories", "",
        (f"`{command}` ({time.strftime('%Y-%m-%d', time.gmtime())}); "
        f"{len(repos) - real} synthetic repositories (fixtures/synth.py, 40 modules) and "
        f"{real} real ones ({', '.join(REAL[:real]) or 'none'}, PyPI sdists), three candidates "
        "each from `lspfeedback.fleet.examples:add_flag` (a required keyword-only parameter "
        "on the most called function: the right edit, one that forgets the callers, one "
        "that passes the wrong type). Servers: pyright + ruff, one replica, one repository "
        "warm per actor (each repository is visited once: every mode pays one cold start "
        "per repository). **The machine (2 cores) was shared with other agents' runs** "
        f"(load average {_loads(modes)} at the end of each mode): absolute times are noisy, "
        "the ratios less so."), "",
        ("| mode | repos | wall s | repos/min | per repo p50 ms | winner = cold's | "
         "start-up s |"), "|---|---|---|---|---|---|---|", *rows, "",
        (f"{ok} of {len(repos)} repositories had an ok winner (the right candidate); "
        "'winner = cold's' counts the repositories where the mode kept the same candidate "
        "as the cold loop (None when none passes). ") + overhead + " " + memory + warm_text,
        "",
        "What this means for 1,000 repositories is worked out in docs/fleet.md (sizing).",
        END, ""])


def _loads(modes: Sequence[Mode]) -> str:
    return " / ".join(f"{m.load:.1f}" for m in modes if m.load) or "not recorded"


def write_section(page: Path, text: str) -> None:
    """Replace the fleet section of ``page`` (or append it); the rest stays as it is."""
    old = page.read_text(encoding="utf-8") if page.exists() else ""
    if START in old and END in old:
        head, rest = old.split(START, 1)
        tail = rest.split(END, 1)[1].lstrip("\n")
        new = head + text + tail
    else:
        new = old.rstrip("\n") + ("\n\n" if old else "") + text
    page.write_text(new, encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lspfeedback._bench.fleet",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true",
                        help="4 synthetic repositories and httpx only (a few minutes)")
    parser.add_argument("--synth", type=int, default=None, help="synthetic repositories (20)")
    parser.add_argument("--markdown", type=Path, help="write the section into this page")
    parser.add_argument("--json", type=Path, help="write every mode's figures as JSON")
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--reuse", type=Path, metavar="JSON",
                        help="take the modes this earlier --json file has; run only the others")
    parser.add_argument("--skip", action="append", default=[],
                        choices=("cold", "direct", "fleet1", "fleet2", "warm"))
    args = parser.parse_args(argv)
    real = REAL[:1] if args.quick else REAL
    repos = synthetic_repos(args.synth or (4 if args.quick else 20)) + real_repos(real)
    print(f"{len(repos)} repositories", file=sys.stderr)
    runs = {"cold": lambda: cold_loop(repos), "direct": lambda: direct(repos, args.timeout),
            "fleet1": lambda: fleet(repos, 1, args.timeout),
            "fleet2": lambda: fleet(repos, 2, args.timeout)}
    earlier = [Mode(**m) for m in json.loads(args.reuse.read_text())] if args.reuse else []
    modes = []
    for key, run in runs.items():
        if key in args.skip and key != "cold":
            continue
        reused = [m for m in earlier if m.name.startswith(PREFIX[key])]
        mode = reused[0] if reused else run()
        mode.load = mode.load or os.getloadavg()[0]
        modes.append(mode)
        print(f"{mode.name}: {mode.wall_s:.1f} s, {mode.per_minute:.1f} repos/min", file=sys.stderr)
    reused = [m for m in earlier if "kept warm" in m.name]
    if reused:
        modes += reused
    elif "warm" not in args.skip:
        synth_only = [r for r in repos if r.name.startswith("synth")][:6]
        modes += warm_pass(synth_only, args.timeout)
        print(f"{modes[-1].name}: {modes[-1].per_minute:.1f} repos/min", file=sys.stderr)
    command = "python -m lspfeedback._bench.fleet" + (" --quick" if args.quick else "")
    text = section(modes, repos, len(real), command)
    print(text)
    if args.markdown:
        write_section(args.markdown, text)
    if args.json:
        args.json.write_text(json.dumps([asdict(m) for m in modes], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
