"""The benchmark's interleaved cells: sides compared edit by edit on the same states.

Every cell runs its sides one after the other on each step, the order rotated step by step
(`rotation`), so that every side sees the same machine load; every step's text ends with its
own number, so every state is new and no cache answers. The cells:

- **floor** (`floor_cell`): one server, single-file edits. The library (``max_dependents=0``)
  against the raw JSON-RPC client of `lspfeedback._bench.floor`, kept open, sending the same
  ``didChange`` and waiting for the same fresh answer (a pull's, or the push of the version
  sent). Pulls per verify are counted on both sides (the library's from its session's
  counter, when the session has one).
- **multi-file** (`multi_cell`): ty + ruff, an edit of a widely imported module checked with
  its nearest importers; the raw clients (one per server) open the same files and pull every
  one of them after each change, pipelined, both servers at once, as the library does.
- **tiers** (`tiers_cell`): the server sets an agent can choose (``ty+ruff``,
  ``pyright+ruff``, ``pyrefly``, and ``pyright+ruff`` progressively: the fast tier's preview
  first), each beside its cold CI equivalent on the same state; with every mistake's report
  per tier, what each tier catches (`catches`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from lspfeedback._bench.edit_scripts import FIX, EditStep
from lspfeedback._bench.floor import RawClient
from lspfeedback._bench.stats import median_interval
from lspfeedback._bench.stats import summary as stats
from lspfeedback._engine import AsyncVerifier
from lspfeedback._report import Report
from lspfeedback.servers import get as get_server

T = TypeVar("T")
TIMEOUT = 120.0
Progress = Callable[[str], None]

FLOOR_SERVERS = ("pyright", "ruff", "ty", "pyrefly")
MULTI_SERVERS = ("ty", "ruff")
MULTI_IMPORTERS = 20


@dataclass(frozen=True)
class Rounds:
    """How many times over a floor cell runs its edit script (every state still new): at
    least ``least``; then on until the paired difference's 95 % interval is at most
    ``width_ms`` wide, or ``most`` rounds. A server whose own time varies by hundreds of ms
    between edits of one module (pyright: 156-579 ms on httpx's ``_models.py``) needs
    hundreds of pairs before the median of a difference of a few ms is told from noise (and
    may never get there: it then runs ``most``); a steady one is done at ``least``. Stopping
    on the interval's width, never on its value, leaves the median unbiased; stopping only
    after a multiple of the number of sides keeps every step's side order balanced (see
    `round_order`), as ``least`` and ``most``, multiples of 2 and 3, do."""

    least: int = 6
    most: int = 18
    width_ms: float = 3.0

    def __post_init__(self) -> None:
        if not 1 <= self.least <= self.most:
            raise ValueError(f"rounds: need 1 <= least <= most, not {self.least}, {self.most}")

    def enough(self, done: int, paired: Sequence[float], sides: int = 1) -> bool:
        """After ``done`` rounds with these paired differences, of a cell of ``sides`` sides:
        stop? Before ``most``, only after a multiple of ``sides`` rounds."""
        if done >= self.most:
            return True
        if done < self.least or done % sides:
            return False
        bounds = median_interval(paired)
        return bounds is not None and bounds[1] - bounds[0] <= self.width_ms


FLOOR_ROUNDS = Rounds()


def rotation(sides: Sequence[T], step: int) -> list[T]:
    """The order the sides run in at ``step`` (0-based): rotated by one each step, so each
    side runs first, second, ... equally often."""
    n = len(sides)
    return [sides[(step + k) % n] for k in range(n)] if n else []


def round_order(sides: Sequence[T], index: int, per_round: int) -> list[T]:
    """The sides' order at ``index`` of a script of ``per_round`` steps run round after round:
    step ``s`` of round ``r`` is rotated by ``s + r``, so within a round the sides take turns
    first, and over ``len(sides)`` rounds every step has run in every position once (a plain
    rotation by ``index`` gives a step the same order every round when ``per_round`` is a
    multiple of the number of sides)."""
    return rotation(sides, index % per_round + index // per_round)


def _scheduled(script: Sequence[EditStep], rounds: Rounds, tag: str, sides: Sequence[T],
              pairs: Sequence[Pair]) -> Iterator[tuple[int, EditStep, list[T]]]:
    """``(index, step, side order)`` for each step to run: ``script`` round after round, every
    state new (`unique_states`), each step's sides in `round_order`, until ``rounds`` has
    enough of ``pairs`` (the cell's pairs so far, which the caller appends to)."""
    per_round = len(script)
    for index, step in enumerate(unique_states(list(script) * rounds.most, tag)):
        if index % per_round == 0 and rounds.enough(index // per_round, _paired(pairs),
                                                    len(sides)):
            return
        yield index, step, round_order(sides, index, per_round)


def unique_states(steps: Sequence[EditStep], tag: str) -> list[EditStep]:
    """``steps`` with a comment carrying ``tag`` and the step number appended: no two steps
    (and no step and the original text) are the same state."""
    from dataclasses import replace

    return [replace(s, new_text=f"{s.new_text}\n# lspfeedback bench {tag} {n}\n")
            for n, s in enumerate(steps, 1)]


def session_pulls(v: AsyncVerifier) -> dict[str, int] | None:
    """Pulls each server's session has sent so far (``ServerSession.pulls``, or its client's),
    None when the sessions do not count them."""
    out: dict[str, int] = {}
    for session in v._primary.sessions.values():  # pyright: ignore[reportPrivateUsage]
        count = getattr(session, "pulls", None)
        if count is None:
            count = getattr(getattr(session, "client", None), "pulls", None)
        if not isinstance(count, int):
            return None
        out[session.name] = count
    return out


def _delta(after: Mapping[str, int] | None, before: Mapping[str, int] | None) -> int | None:
    if after is None or before is None:
        return None
    return sum(after.values()) - sum(before.values())


async def _warm(v: AsyncVerifier, paths: Sequence[str]) -> None:
    """One unmeasured edit of each file and back, as an agent's first would be."""
    await v.diagnostics(list(paths))
    for path in dict.fromkeys(paths):
        text = (v.root / path).read_bytes().decode("utf-8")
        await v.verify({path: text + "\n# warm-up\n"})
        await v.verify({path: text})
    await v.discard()


@dataclass
class Pair:
    """One step of a two-sided cell: the raw client's and the library's numbers."""

    step: int
    kind: str
    path: str
    raw_ms: float
    library_ms: float
    raw_first: bool
    raw_pulls: int | None = None
    library_pulls: int | None = None
    status: str = ""
    checked: int = 0
    default_ms: float | None = None
    """The library as configured by default (quick fixes asked), where measured."""
    raw_cpu_ms: float | None = None
    """CPU time of this process's thread (the event loop) while the raw client's side ran."""
    library_cpu_ms: float | None = None
    """The same while the library's side ran: its own work, the servers' excluded."""


class _CpuClock:
    """CPU time of the calling thread, in ms, from one `lap` to the next: what the event
    loop spent on one side of a step (the servers run in processes of their own)."""

    def __init__(self) -> None:
        self._at = time.thread_time()

    def lap(self) -> float:
        now = time.thread_time()
        spent, self._at = (now - self._at) * 1000, now
        return round(spent, 3)


def _paired(pairs: Sequence[Pair]) -> list[float]:
    """Each answered step's own difference, library - raw (ms)."""
    return [p.library_ms - p.raw_ms for p in pairs if p.status != "unknown"]


def summarize_pairs(pairs: Sequence[Pair]) -> dict[str, Any]:
    """p50/p95 of each side, the added median, pulls per verify, and how the order went.

    ``added_paired_p50_ms`` is the median of the steps' own differences (library - raw on
    the same state): robust where the edits' times cluster apart (a small file and a large
    one), where the difference of the two medians can land between the clusters;
    ``added_paired_interval_ms`` its 95 % bootstrap interval. ``added_cpu_paired_p50_ms``:
    the same for the event loop's CPU time per side (`_CpuClock`), which the servers' own
    variance does not reach. ``added_paired_by_path``: the paired median and interval of
    each edited file's steps alone (a module the server takes 300 ms on varies far more than
    one it takes 20 ms on)."""
    raw = [p.raw_ms for p in pairs]
    lib = [p.library_ms for p in pairs if p.status != "unknown"]
    paired = _paired(pairs)
    cpu = [p.library_cpu_ms - p.raw_cpu_ms for p in pairs if p.status != "unknown"
           and p.library_cpu_ms is not None and p.raw_cpu_ms is not None]
    raw_s, lib_s = stats(raw), stats(lib)
    rp = [p.raw_pulls for p in pairs if p.raw_pulls is not None]
    lp = [p.library_pulls for p in pairs if p.library_pulls is not None]
    return {
        "samples": len(pairs), "raw": raw_s, "library": lib_s,
        "added_p50_ms": round(lib_s["p50"] - raw_s["p50"], 2)  # type: ignore[operator]
        if raw_s["p50"] is not None and lib_s["p50"] is not None else None,
        "added_paired_p50_ms": stats(paired)["p50"],
        "added_paired_interval_ms": median_interval(paired),
        "added_cpu_paired_p50_ms": stats(cpu)["p50"],
        "added_cpu_paired_interval_ms": median_interval(cpu),
        "added_paired_by_path": {
            path: {"samples": len(mine), "p50": stats(mine)["p50"],
                   "interval": median_interval(mine)}
            for path in dict.fromkeys(p.path for p in pairs)
            if (mine := _paired([p for p in pairs if p.path == path]))},
        "raw_pulls_per_edit": round(sum(rp) / len(rp), 2) if rp else None,
        "library_pulls_per_verify": round(sum(lp) / len(lp), 2) if lp else None,
        "raw_first": sum(p.raw_first for p in pairs),
        "unknown": sum(p.status == "unknown" for p in pairs),
        "checked_p50": stats([float(p.checked) for p in pairs])["p50"],
        "default": stats([p.default_ms for p in pairs
                          if p.default_ms is not None and p.status != "unknown"]),
    }


async def floor_cell(work: Path, server: str, steps: Sequence[EditStep],
                     progress: Progress | None = None,
                     rounds: Rounds = FLOOR_ROUNDS) -> dict[str, Any]:
    """The raw client and the library (one server, ``max_dependents=0``) on the same
    single-file edits (``steps`` as many times over as ``rounds`` asks), interleaved; the
    summary and every pair.

    The same work on both sides: the raw client pulls the state before the edit where the
    library needs it as a baseline (`RawClient.change` ``baseline``), and the library asks
    for no quick fixes (``quick_fixes=False``). A third side, the library as configured by
    default (quick fixes asked), shows what they cost."""
    say = progress or (lambda _: None)
    paths = list(dict.fromkeys(s.path for s in steps))
    pairs: list[Pair] = []
    async with contextlib.AsyncExitStack() as stack:
        v = await stack.enter_async_context(AsyncVerifier(
            work, servers=(server,), timeout=TIMEOUT, max_dependents=0, replicas=1,
            watch=False, quick_fixes=False))
        await _warm(v, paths)
        default = await stack.enter_async_context(AsyncVerifier(
            work, servers=(server,), timeout=TIMEOUT, max_dependents=0, replicas=1,
            watch=False))
        await _warm(default, paths)
        raw = RawClient(server, work, paths, TIMEOUT, python=v.python)
        stack.push_async_callback(raw.close)
        await raw.start()
        for path in paths:  # unmeasured, as the verifier's warm-up
            text = (work / path).read_bytes().decode("utf-8")
            await raw.change(path, text + "\n# warm-up\n")
            await raw.change(path, text)
        most = len(steps) * rounds.most
        for index, step, order in _scheduled(steps, rounds, f"floor {server}",
                                            ("raw", "library", "default"), pairs):
            raw_ms = lib_ms = default_ms = raw_cpu = lib_cpu = 0.0
            raw_pulls: int | None = None
            lib_pulls: int | None = None
            report: Report | None = None
            clock = _CpuClock()
            for side in order:
                if side == "raw":
                    before_raw = raw.pulls
                    raw_ms = await raw.change(step.path, step.new_text, baseline=True)
                    raw_cpu = clock.lap()
                    raw_pulls = raw.pulls - before_raw if raw.pull else 0
                elif side == "default":
                    default_ms = (await default.verify({step.path: step.new_text})).elapsed_ms
                    clock.lap()
                else:
                    before = session_pulls(v)
                    report = await v.verify({step.path: step.new_text})
                    lib_cpu = clock.lap()
                    lib_ms = report.elapsed_ms
                    lib_pulls = _delta(session_pulls(v), before)
                clock.lap()  # what the side's bookkeeping here took counts for neither
            assert report is not None
            pairs.append(Pair(index + 1, step.kind, step.path, raw_ms, lib_ms,
                              order[0] == "raw", raw_pulls, lib_pulls, report.status,
                              len(report.checked_files), default_ms, raw_cpu, lib_cpu))
            say(f"floor {server} {index + 1} (of up to {most}): raw {raw_ms:.0f} ms, "
                f"library {lib_ms:.0f} ms, with quick fixes {default_ms:.0f} ms")
    return {"server": server, "mode": "pull" if raw.pull else "push",
            "rounds": len(pairs) // max(len(steps), 1),
            "summary": summarize_pairs(pairs), "pairs": [asdict(p) for p in pairs]}


async def multi_cell(work: Path, path: str, steps: Sequence[EditStep],
                     servers: Sequence[str] = MULTI_SERVERS, importers: int = MULTI_IMPORTERS,
                     progress: Progress | None = None,
                     rounds: Rounds = FLOOR_ROUNDS) -> dict[str, Any]:
    """An edit of ``path`` checked with its ``importers`` nearest importers: the library
    (``servers``, ``max_dependents=importers``, no quick fixes) against one raw client per
    server that pulls the same files after each change (and before it, where the library
    needs a baseline: see `floor_cell`)."""
    say = progress or (lambda _: None)
    steps = [s for s in steps if s.path == path]
    pairs: list[Pair] = []
    async with contextlib.AsyncExitStack() as stack:
        v = await stack.enter_async_context(AsyncVerifier(
            work, servers=tuple(servers), timeout=TIMEOUT, max_dependents=importers,
            replicas=1, watch=False, quick_fixes=False))
        await _warm(v, [path])
        text = (work / path).read_bytes().decode("utf-8")
        probe = await v.verify_speculative({path: text + "\n# which files\n"})
        files = [path, *(f for f in probe.checked_files if f != path)]
        clients = [RawClient(name, work, files, TIMEOUT, python=v.python) for name in servers]
        # A per-file linter's importers are not pulled again by the library (their lint
        # cannot change): the raw client does the same work.
        also = {name: [] if get_server(name).file_local else files for name in servers}
        for client in clients:
            stack.push_async_callback(client.close)
        await asyncio.gather(*(c.start() for c in clients))
        for warm_text in (text + "\n# warm-up\n", text):
            await asyncio.gather(*(c.change(path, warm_text, files) for c in clients))
        most = len(steps) * rounds.most
        for index, step, order in _scheduled(steps, rounds, "multi", ("raw", "library"), pairs):
            raw_ms = lib_ms = 0.0
            raw_pulls = 0
            lib_pulls: int | None = None
            report: Report | None = None
            raw_cpu = lib_cpu = 0.0
            clock = _CpuClock()
            for side in order:
                if side == "raw":
                    before_raw = sum(c.pulls for c in clients)
                    started = time.perf_counter()
                    await asyncio.gather(*(c.change(path, step.new_text, also[c.name],
                                                    baseline=True) for c in clients))
                    raw_ms = (time.perf_counter() - started) * 1000
                    raw_cpu = clock.lap()
                    raw_pulls = sum(c.pulls for c in clients) - before_raw
                else:
                    before = session_pulls(v)
                    report = await v.verify({path: step.new_text})
                    lib_cpu = clock.lap()
                    lib_ms = report.elapsed_ms
                    lib_pulls = _delta(session_pulls(v), before)
                clock.lap()
            assert report is not None
            pairs.append(Pair(index + 1, step.kind, path, raw_ms, lib_ms, order[0] == "raw",
                              raw_pulls, lib_pulls, report.status, len(report.checked_files),
                              raw_cpu_ms=raw_cpu, library_cpu_ms=lib_cpu))
            say(f"multi-file {'+'.join(servers)} {index + 1} (of up to {most}): "
                f"raw {raw_ms:.0f} ms, library {lib_ms:.0f} ms")
    return {"servers": "+".join(servers), "path": path, "files": len(files),
            "rounds": len(pairs) // max(len(steps), 1),
            "summary": summarize_pairs(pairs), "pairs": [asdict(p) for p in pairs]}


# ---- tiers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tier:
    """A server set an agent can run, and the cold CLIs a CI job runs for the same checks."""

    name: str
    servers: tuple[str, ...]
    cold: tuple[str, ...]
    progressive: bool = False


TIERS = (
    Tier("ty+ruff", ("ty", "ruff"), ("ty", "ruff")),
    Tier("pyright+ruff", ("pyright", "ruff"), ("pyright", "ruff")),
    Tier("pyrefly", ("pyrefly",), ("pyrefly",)),
    Tier("pyright+ruff, preview", ("pyright", "ruff"), ("pyright", "ruff"), progressive=True),
)
FIRST_VERDICT_TIERS = (TIERS[0], TIERS[3])
"""The fast tier and the progressive verdict: what the larger projects measure."""


def cold_time(tool: str, root: Path, targets: Sequence[str], python: str | None) -> float:
    """Milliseconds of one cold CLI run of ``tool`` on ``targets`` (what CI runs)."""
    from lspfeedback import _cold
    from lspfeedback.servers import get

    if tool == "pyright":
        return _cold.pyright(root, list(targets), python).elapsed_ms
    if tool == "ruff":
        return _cold.ruff(root, list(targets)).elapsed_ms
    if tool == "ty":
        return _cold.ty(root, list(targets)).elapsed_ms
    if tool == "pyrefly":
        exe = get("pyrefly").executable("pyrefly")
        started = time.perf_counter()
        subprocess.run([exe, "check", *targets], cwd=root, capture_output=True, check=False,
                       env={**os.environ})
        return (time.perf_counter() - started) * 1000
    raise ValueError(f"no cold CLI for {tool}")


@dataclass
class TierSample:
    tier: str
    step: int
    kind: str
    path: str
    order: int
    warm_ms: float | None
    first_ms: float | None = None
    """Progressive tiers: ms to the first report (the preview), measured by the caller."""
    preview_ok: bool | None = None
    ok: bool | None = None
    status: str = ""
    cold_ms: dict[str, float] = field(default_factory=dict)
    introduced: list[tuple[str, int, str]] = field(default_factory=list)
    """Introduced diagnostics: (path, line, source code)."""


def catches(samples: Sequence[Mapping[str, Any]], tiers: Sequence[str]) -> dict[str, Any]:
    """Per mistake kind, how many of the mistakes each tier flagged (some diagnostic
    introduced) and which introduced lines only one of two tiers found: the same mutation
    corpus for every tier. Rows keyed by kind, plus ``all``."""
    by_step: dict[tuple[int, str], dict[str, Mapping[str, Any]]] = {}
    for s in samples:
        if s["kind"] == FIX or s["tier"] not in tiers:
            continue
        by_step.setdefault((s["step"], s["kind"]), {})[s["tier"]] = s
    out: dict[str, Any] = {}
    for (_, kind), per_tier in sorted(by_step.items()):
        if any(t not in per_tier or per_tier[t]["status"] == "unknown" for t in tiers):
            continue
        for row in (kind, "all"):
            r = out.setdefault(row, {"mistakes": 0, "flagged": dict.fromkeys(tiers, 0),
                                     "lines": dict.fromkeys(tiers, 0), "only": dict.fromkeys(tiers, 0)})
            r["mistakes"] += 1
            lines = {t: {(p, line) for p, line, _ in per_tier[t]["introduced"]} for t in tiers}
            for t in tiers:
                r["flagged"][t] += bool(per_tier[t]["introduced"])
                r["lines"][t] += len(lines[t])
                others = set().union(*(lines[o] for o in tiers if o != t))
                r["only"][t] += len(lines[t] - others)
    for r in out.values():
        r["recall"] = {t: round(r["flagged"][t] / r["mistakes"], 3) if r["mistakes"] else None
                       for t in tiers}
    return out


async def tiers_cell(work: Path, cold_root: Path, package: str, steps: Sequence[EditStep],
                     tiers: Sequence[Tier] = TIERS, cold: bool = True,
                     progress: Progress | None = None) -> dict[str, Any]:
    """Every tier on every step, interleaved, each beside its cold CLIs on the same state."""
    say = progress or (lambda _: None)
    steps = unique_states(steps, "tiers")
    paths = list(dict.fromkeys(s.path for s in steps))
    samples: list[TierSample] = []
    skipped: dict[str, str] = {}
    shutil.copytree(work, cold_root, symlinks=True, dirs_exist_ok=True)
    async with contextlib.AsyncExitStack() as stack:
        live: dict[str, AsyncVerifier] = {}
        for tier in tiers:
            if tier.progressive and not hasattr(AsyncVerifier, "verify_progressive"):
                skipped[tier.name] = "AsyncVerifier.verify_progressive is not in this version"
                continue
            try:
                v = await stack.enter_async_context(AsyncVerifier(
                    work, servers=tier.servers, timeout=TIMEOUT, replicas=1, watch=False))
                await _warm(v, paths)
            except Exception as exc:  # noqa: BLE001 - a server not installed is a note
                skipped[tier.name] = f"{type(exc).__name__}: {exc}"[:300]
                continue
            live[tier.name] = v
            say(f"tiers: {tier.name} started")
        runnable = [t for t in tiers if t.name in live]
        python = next(iter(live.values())).python if live else None
        for index, step in enumerate(steps):
            (cold_root / step.path).write_bytes(step.new_text.encode("utf-8"))
            cold_ms: dict[str, float] = {}
            if cold:
                for tool in dict.fromkeys(t for tier in runnable for t in tier.cold):
                    cold_ms[tool] = await asyncio.to_thread(cold_time, tool, cold_root,
                                                            [package], python)
            for position, tier in enumerate(rotation(runnable, index)):
                v = live[tier.name]
                s = TierSample(tier.name, index + 1, step.kind, step.path, position, None,
                               cold_ms={k: round(cold_ms[k], 1) for k in tier.cold if k in cold_ms})
                if tier.progressive:
                    started = time.perf_counter()
                    report = None
                    async for r in v.verify_progressive({step.path: step.new_text}):  # type: ignore[attr-defined]
                        if s.first_ms is None:
                            s.first_ms = round((time.perf_counter() - started) * 1000, 2)
                            s.preview_ok = r.ok if not getattr(r, "final", True) else None
                        report = r
                    assert report is not None
                else:
                    report = await v.verify({step.path: step.new_text})
                s.warm_ms = round(report.elapsed_ms, 2)
                s.ok, s.status = report.ok, report.status
                s.introduced = [(d.path, d.line, f"{d.source} {d.code}") for d in report.introduced]
                samples.append(s)
            say(f"tiers {index + 1}/{len(steps)} {step.kind}")
    return {"tiers": [asdict(t) for t in tiers], "skipped": skipped,
            "summary": summarize_tiers([asdict(s) for s in samples]),
            "catches": catches([asdict(s) for s in samples],
                               [t.name for t in tiers if t.name in live and not t.progressive]),
            "samples": [asdict(s) for s in samples]}


def summarize_tiers(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per tier: warm p50/p95, cold p50/p95 (its CLIs summed per state), speedup of the
    medians; for a progressive tier, the first report's p50/p95 and how often the preview's
    verdict (ok or not) was the final's."""
    import statistics

    out: dict[str, Any] = {}
    for name in dict.fromkeys(s["tier"] for s in samples):
        mine = [s for s in samples if s["tier"] == name]
        warm = [s["warm_ms"] for s in mine if s["status"] != "unknown"]
        cold = [sum(s["cold_ms"].values()) for s in mine if s["cold_ms"]]
        row: dict[str, Any] = {
            "samples": len(mine), "warm": stats(warm), "cold": stats(cold),
            "speedup": round(statistics.median(cold) / statistics.median(warm), 1)
            if warm and cold else None,
            "unknown": sum(s["status"] == "unknown" for s in mine),
        }
        firsts = [s["first_ms"] for s in mine if s.get("first_ms") is not None]
        if firsts:
            row["first"] = stats(firsts)
            row["first_speedup"] = round(statistics.median(cold) / statistics.median(firsts), 1) \
                if cold else None
            judged = [s for s in mine if s.get("preview_ok") is not None]
            row["preview_agreed"] = sum(s["preview_ok"] == s["ok"] for s in judged)
            row["previews"] = len(judged)
        out[name] = row
    return out
