"""The measurements: warm `verify()` per edit beside the cold CLIs on the same state.

Per workload, in one run on one machine:
- the combined verdict (pyright + ruff) per edit: latency, per-server time, importers
  checked, status, and whether it equals what ``pyright --outputjson`` and ``ruff check``
  report on a fresh run of the same files (a mismatch is a bug; unknown is counted apart);
- the cold CLIs' time on the same state (what a CI job runs: the whole package);
- each other server alone on the same edits (basedpyright, ty, pyrefly, jedi);
- the interleaved cells of `lspfeedback._bench.cells`: the floor (a raw JSON-RPC client and
  the library, one server, the same single-file edits, edit by edit), the multi-file cell,
  the tiers beside their cold CI equivalents and what each tier catches;
- candidates on replicas, and the daemon: its HTTP round trip, in-process and the whole
  ``lspfeedback verify --patch -`` process through it, interleaved;
- server start-up to first diagnostics and peak RSS (VmHWM) of every server process.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from lspfeedback._bench import cells
from lspfeedback._bench.cells import Tier
from lspfeedback._bench.edit_scripts import EditStep, make_script
from lspfeedback._bench.stats import summary as stats
from lspfeedback._bench.workloads import Workload
from lspfeedback._cold import comparable, pyright, ruff
from lspfeedback._engine import AsyncVerifier
from lspfeedback._report import Report

COMBINED = ("pyright", "ruff")
TIMEOUT = 120.0
"""Generous: a benchmark measures, it does not judge; an unknown is still counted."""

Progress = Callable[[str], None]


@dataclass
class Sample:
    """One edit: the warm numbers, the cold numbers and whether they agree."""

    workload: str
    backend: str
    step: int
    kind: str
    path: str
    warm_ms: float
    status: str
    checked: int
    server_ms: dict[str, float] = field(default_factory=dict)
    cold_ms: dict[str, float] = field(default_factory=dict)
    match: bool | None = None
    """Warm equals cold for the checked files (None: not compared)."""
    unknown: list[str] = field(default_factory=list)
    degraded: list[str] = field(default_factory=list)
    """Configured servers a stand-in answered for (`Report.degraded`)."""
    pulls: dict[str, int] | None = None
    """``textDocument/diagnostic`` requests per server for this verify (None: not counted)."""


@dataclass
class BackendStats:
    backend: str
    startup_ms: float | None
    peak_rss_mb: dict[str, float]


@dataclass
class WorkloadResult:
    workload: str
    files: int
    samples: list[Sample] = field(default_factory=list)
    backends: list[BackendStats] = field(default_factory=list)
    candidates: dict[str, Any] | None = None
    daemon: dict[str, list[Any]] | None = None
    cells: dict[str, Any] = field(default_factory=dict)
    """``tiers``, ``floor`` (server -> cell), ``multi``: see `lspfeedback._bench.cells`."""
    notes: list[str] = field(default_factory=list)
    """Cells that could not run, and why."""
    elapsed_s: dict[str, float] = field(default_factory=dict)
    """Seconds each part of the workload took (start-ups, warm-ups and cold runs included)."""

    def summary(self) -> dict[str, Any]:
        combined = [s for s in self.samples if s.backend == "+".join(COMBINED)]
        warm = [s.warm_ms for s in combined if s.status != "unknown"]
        cold = [sum(s.cold_ms.values()) for s in combined if s.cold_ms]
        out: dict[str, Any] = {
            "files": self.files,
            "edits": len(combined),
            "mismatches": sum(s.match is False for s in combined),
            "unknown": sum(s.status == "unknown" for s in combined),
            "degraded": sum(bool(s.degraded) for s in combined),
            "warm": stats(warm),
            "cold": stats(cold),
            "speedup": round(statistics.median(cold) / statistics.median(warm), 1)
            if warm and cold else None,
            "dependents_checked": stats([float(s.checked - 1) for s in combined]),
            "pulls_per_verify": stats([float(sum(s.pulls.values())) for s in combined
                                       if s.pulls is not None]),
            "checked_files": stats([float(s.checked) for s in combined]),
            "backends": {},
        }
        for backend in sorted({s.backend for s in self.samples}):
            mine = [s for s in self.samples if s.backend == backend]
            out["backends"][backend] = {
                "warm": stats([s.warm_ms for s in mine if s.status != "unknown"]),
                "unknown": sum(s.status == "unknown" for s in mine),
            }
        out["floor"] = {name: cell["summary"] for name, cell in self.cells.get("floor", {}).items()}
        if "multi" in self.cells:
            out["multi"] = {k: v for k, v in self.cells["multi"].items() if k != "pairs"}
        if "tiers" in self.cells:
            out["tiers"] = self.cells["tiers"]["summary"]
            out["catches"] = self.cells["tiers"]["catches"]
            out["tiers_skipped"] = self.cells["tiers"]["skipped"]
        if "corpus" in self.cells:
            out["catches"] = self.cells["corpus"]["catches"]
            out["corpus"] = self.cells["corpus"]["summary"]
        out["startup_ms"] = {b.backend: b.startup_ms for b in self.backends}
        out["peak_rss_mb"] = {b.backend: b.peak_rss_mb for b in self.backends}
        if self.candidates:
            out["candidates"] = self.candidates
        if self.daemon:
            out["daemon"] = {k: stats(v) for k, v in self.daemon.items() if k != "exit_codes"}
            out["daemon_exit_codes"] = sorted(set(self.daemon.get("exit_codes", [])))
        out["notes"] = list(self.notes)
        out["elapsed_s"] = dict(self.elapsed_s)
        return out


class Bench:
    """Runs one workload; ``progress`` is called with a line of text per unit of work."""

    def __init__(self, workload: Workload, *, pairs: int, seed: int, backends: Sequence[str],
                 floor: Sequence[str], cold: bool = True, candidates: int = 0,
                 daemon: bool = False, tiers: Sequence[Tier] = (), multi: bool = False,
                 corpus: int = 0, memory: bool = False, tiers_cold: bool = True,
                 floor_rounds: cells.Rounds = cells.FLOOR_ROUNDS,
                 progress: Progress | None = None) -> None:
        self.w = workload
        self.seed, self.pairs = seed, pairs
        self.backends = list(backends)
        self.floor_servers = list(floor)
        self.cold = cold
        self.candidates = int(candidates)
        """Batches of 8 candidates (0: none)."""
        self.daemon = daemon
        self.tiers = list(tiers)
        self.tiers_cold = tiers_cold
        """Run the tiers' cold CLIs beside them on every step."""
        self.multi = multi
        self.floor_rounds = floor_rounds
        """How many times over the floor and multi-file cells run their script (`cells.Rounds`)."""
        self.corpus = corpus
        self.memory = memory
        """Start-up, leaf edits and RSS with the library in a process of its own (the
        scaling section's child, `lspfeedback._bench.scaling`)."""
        """Mistakes per kind in the mutation corpus every (non-progressive) tier verifies."""
        self.progress = progress or (lambda _: None)
        # Every state is made unique with a trailing comment: a fix restores the original
        # text exactly, and the engine would answer a state it has seen from its cache; the
        # benchmark measures the servers' work, not cache hits.
        self.raw_script = make_script(workload.root, workload.edit_files, seed, pairs)
        self.script = [
            replace(step, new_text=f"{step.new_text}\n# lspfeedback bench edit {number}\n")
            for number, step in enumerate(self.raw_script, 1)
        ]
        self.result = WorkloadResult(workload.name, workload.files)

    async def run(self) -> WorkloadResult:
        with tempfile.TemporaryDirectory(prefix="lspfeedback-bench-") as tmp:
            work = Path(tmp) / "work"
            shutil.copytree(self.w.root, work, symlinks=True)
            await self._timed("pyright+ruff vs cold", self._combined(work, Path(tmp) / "cold"))
            for backend in self.backends:
                await self._timed(backend, self._alone(work, backend))
            if self.tiers:
                await self._timed("tiers", self._cell("tiers", cells.tiers_cell(
                    work, Path(tmp) / "cold-tiers", self.w.package, self.raw_script, self.tiers,
                    cold=self.cold and self.tiers_cold, progress=self.progress)))
            if self.corpus and self.tiers:
                from lspfeedback._bench.edit_scripts import KINDS

                corpus = make_script(self.w.root, self.w.edit_files, self.seed + 1,
                                     self.corpus * len(KINDS))
                await self._timed("corpus", self._cell("corpus", cells.tiers_cell(
                    work, Path(tmp) / "cold-corpus", self.w.package, corpus,
                    [t for t in self.tiers if not t.progressive], cold=False,
                    progress=self.progress)))
            for name in self.floor_servers:
                await self._timed(f"floor {name}", self._cell(name, cells.floor_cell(
                    work, name, self.raw_script, progress=self.progress,
                    rounds=self.floor_rounds), "floor"))
            if self.multi:
                widely = self.w.edit_files[0]
                steps = make_script(self.w.root, [widely], self.seed, self.pairs)
                await self._timed("multi-file", self._cell("multi", cells.multi_cell(
                    work, widely, steps, progress=self.progress, rounds=self.floor_rounds)))
            if self.memory:
                await self._timed("library process", self._memory(work))
            if self.candidates:
                await self._timed("candidates", self._candidates(work))
            if self.daemon:
                await self._timed("daemon", self._daemon(work))
        return self.result

    async def _memory(self, work: Path) -> None:
        from lspfeedback._bench import scaling

        # A leaf (`pick_edit_files`: imported by nothing), one the edit script found mistakes
        # in first (so the child's own script has some).
        leaves = [s.path for s in self.script if s.path in self.w.edit_files[2:]]
        leaf = [*leaves, *self.w.edit_files[2:], self.script[-1].path][0]
        await self._cell("memory", asyncio.to_thread(
            scaling.run_size, work, leaf, COMBINED, len(self.script), self.seed,
            progress=lambda line: self.progress(f"{self.w.name} library process: {line}")))

    async def _timed(self, name: str, work: Any) -> None:
        started = time.perf_counter()
        try:
            await work
        finally:
            self.result.elapsed_s[name] = round(time.perf_counter() - started, 1)

    # ---- combined verdict, warm vs cold ------------------------------------------------------

    async def _combined(self, work: Path, cold_root: Path) -> None:
        backend = "+".join(COMBINED)
        shutil.copytree(work, cold_root, symlinks=True)
        started = time.perf_counter()
        async with self._started(AsyncVerifier(work, servers=COMBINED, timeout=TIMEOUT,
                                               replicas=1, watch=False)) as v:
            await v.diagnostics([self.script[0].path])
            startup = (time.perf_counter() - started) * 1000
            await self._warm_up(v)
            for number, step in enumerate(self.script, 1):
                before = cells.session_pulls(v)
                report = await v.verify({step.path: step.new_text})
                sample = self._sample(backend, number, step, report)
                after = cells.session_pulls(v)
                if before is not None and after is not None:
                    sample.pulls = {k: after[k] - before.get(k, 0) for k in after}
                if self.cold:
                    (cold_root / step.path).write_bytes(step.new_text.encode("utf-8"))
                    self._compare_cold(cold_root, report, sample, v.python)
                self.result.samples.append(sample)
                self.progress(f"{self.w.name} {backend} {number}/{len(self.script)} "
                              f"{step.kind}: {report.elapsed_ms:.0f} ms")
            self.result.backends.append(BackendStats(backend, startup, _peak_rss(v)))

    def _started(self, v: AsyncVerifier) -> AsyncVerifier:
        """``v``, its servers' ``$/progress`` shown as progress lines while they start."""
        from lspfeedback._bench.scaling import attach_progress

        attach_progress(list(v._primary.sessions.values()),  # pyright: ignore[reportPrivateUsage]
                        lambda line: self.progress(f"{self.w.name} start-up: {line}"))
        return v

    async def _warm_up(self, v: AsyncVerifier) -> None:
        """One unmeasured edit of each edited file (and back), as an agent's first would be."""
        for path in dict.fromkeys(step.path for step in self.script):
            text = (v.root / path).read_bytes().decode("utf-8")
            await v.verify({path: text + "\n# warm-up\n"})
            await v.verify({path: text})
        await v.discard()

    def _compare_cold(self, cold_root: Path, report: Report, sample: Sample,
                      python: str | None) -> None:
        # What CI runs: the whole package (plus any checked importer outside it, e.g. tests).
        # Compared on the files the warm report checked.
        prefix = "" if self.w.package == "." else self.w.package.rstrip("/") + "/"
        outside = [f for f in report.checked_files if not f.startswith(prefix)]
        targets = [self.w.package, *outside]
        runs = {"pyright": pyright(cold_root, targets, python), "ruff": ruff(cold_root, targets)}
        sample.cold_ms = {name: run.elapsed_ms for name, run in runs.items()}
        if report.status == "unknown":
            return
        checked = set(report.checked_files)
        sample.match = all(
            comparable(report.diagnostics, name)
            == comparable([d for d in run.diagnostics if d.path in checked], name)
            for name, run in runs.items()
        )

    def _sample(self, backend: str, number: int, step: EditStep, report: Report) -> Sample:
        return Sample(
            workload=self.w.name, backend=backend, step=number, kind=step.kind, path=step.path,
            warm_ms=report.elapsed_ms, status=report.status, checked=len(report.checked_files),
            server_ms=dict(report.timings_ms), unknown=[str(u) for u in report.unknown],
            degraded=[str(d) for d in report.degraded],
        )

    # ---- other servers alone -----------------------------------------------------------------

    async def _alone(self, work: Path, backend: str) -> None:
        started = time.perf_counter()
        try:
            async with self._started(AsyncVerifier(work, servers=(backend,), timeout=TIMEOUT,
                                                   replicas=1, watch=False)) as v:
                await v.diagnostics([self.script[0].path])
                startup = (time.perf_counter() - started) * 1000
                await self._warm_up(v)
                for number, step in enumerate(self.script, 1):
                    report = await v.verify({step.path: step.new_text})
                    self.result.samples.append(self._sample(backend, number, step, report))
                    self.progress(f"{self.w.name} {backend} {number}/{len(self.script)}: "
                                  f"{report.elapsed_ms:.0f} ms")
                self.result.backends.append(BackendStats(backend, startup, _peak_rss(v)))
        except Exception as exc:  # noqa: BLE001 - an optional server missing is a note, not a crash
            self.progress(f"{self.w.name} {backend}: skipped ({exc})")

    # ---- the interleaved cells (lspfeedback._bench.cells) -------------------------------------

    async def _cell(self, name: str, work: Any, group: str | None = None) -> None:
        """Run one cell; one that cannot run (a server not installed, a server that failed)
        is a note in the results, not the end of the run."""
        try:
            result = await work
        except Exception as exc:  # noqa: BLE001 - recorded in the results and the page
            note = f"{group + ' ' if group else ''}{name}: not measured ({type(exc).__name__}: {exc})"
            self.result.notes.append(note[:400])
            self.progress(f"{self.w.name} {note[:60]}")
            return
        if group is None:
            self.result.cells[name] = result
        else:
            self.result.cells.setdefault(group, {})[name] = result

    # ---- candidates on replicas --------------------------------------------------------------

    async def _candidates(self, work: Path) -> None:
        """``self.candidates`` batches of 8 candidates on 2 replicas, each batch interleaved
        with 8 single speculative verifies of its own candidates (other states): the ratio
        of the medians says how close the replicas come to running N/2 singles' time."""
        mistakes = [s for s in self.script if s.kind != "fix"][:8]
        while len(mistakes) < 8:
            mistakes += mistakes[: 8 - len(mistakes)]

        def batch(label: str) -> list[dict[str, str]]:
            # A unique comment per phase and candidate: no state is answered from the cache.
            return [{s.path: f"{s.new_text}# {label} {i}\n"} for i, s in enumerate(mistakes)]

        from lspfeedback._bench.scaling import tree_cpu_s

        totals: list[float] = []
        singles: list[float] = []
        # CPU seconds of this process and every server below it, and wall seconds, per side:
        # how many cores one verify keeps busy says what 2 replicas can gain on this machine.
        cpu = {"batch": 0.0, "singles": 0.0}
        wall = {"batch": 0.0, "singles": 0.0}
        async with AsyncVerifier(work, servers=COMBINED, timeout=TIMEOUT, replicas=2,
                                 watch=False) as v:
            await v.verify_candidates(batch("warm-up"))  # starts and warms both replicas
            for number in range(self.candidates):
                for side in cells.rotation(("batch", "singles"), number):
                    cpu_before, wall_before = tree_cpu_s(os.getpid()), time.perf_counter()
                    if side == "batch":
                        started = time.perf_counter()
                        await v.verify_candidates(batch(f"candidates {number}"))
                        totals.append((time.perf_counter() - started) * 1000)
                    else:
                        for c in batch(f"single {number}"):
                            singles.append((await v.verify_speculative(c)).elapsed_ms)
                    cpu[side] += tree_cpu_s(os.getpid()) - cpu_before
                    wall[side] += time.perf_counter() - wall_before
                self.progress(f"{self.w.name} candidates batch {number + 1}/{self.candidates}: "
                              f"{totals[-1]:.0f} ms")
        single = statistics.median(singles)
        total = statistics.median(totals)
        self.result.candidates = {
            "candidates": len(mistakes), "replicas": 2, "batches": len(totals),
            "total": stats(totals), "single": stats(singles),
            "total_ms": round(total, 1), "single_p50_ms": round(single, 1),
            "ratio_to_n_over_replicas": round(total / (single * len(mistakes) / 2), 2),
            "cores": os.cpu_count(),
            "cores_busy": {side: round(cpu[side] / wall[side], 2) if wall[side] else None
                           for side in cpu},
            "cpu_per_candidate_s": {side: round(cpu[side] / (len(mistakes) * len(totals)), 3)
                                    if totals else None for side in cpu},
        }


    # ---- the daemon's round trip --------------------------------------------------------------

    async def _daemon(self, work: Path) -> None:
        """The same speculative verifies through the HTTP daemon (`AsyncClient`), in-process,
        and as a whole ``lspfeedback verify --patch -`` process (through the daemon: a unified
        diff on stdin), rotated per edit so that all three see the same machine load."""
        import difflib

        from lspfeedback._daemon.client import AsyncClient
        from lspfeedback._daemon.state import state_path

        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-P", "-m", "lspfeedback", "serve", "--root", str(work), "--port", "0",
            "--server", "pyright", "--server", "ruff",
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        out: dict[str, list[Any]] = {"daemon": [], "in_process": [], "cli": [], "exit_codes": []}

        def diff(path: str, text: str) -> str:
            old = (work / path).read_bytes().decode("utf-8")
            return "".join(difflib.unified_diff(old.splitlines(keepends=True),
                                                text.splitlines(keepends=True),
                                                f"a/{path}", f"b/{path}"))

        # The installed command, as an agent runs it (python -P -m lspfeedback without one).
        script = Path(sys.executable).with_name("lspfeedback")
        command = [str(script)] if script.is_file() else [sys.executable, "-P", "-m", "lspfeedback"]

        async def cli(path: str, text: str) -> float:
            started = time.perf_counter()
            child = await asyncio.create_subprocess_exec(
                *command, "verify", "--root", str(work), "--patch", "-",
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL, cwd=work)
            await child.communicate(diff(path, text).encode("utf-8"))
            out["exit_codes"].append(child.returncode if child.returncode is not None else -1)
            return (time.perf_counter() - started) * 1000

        try:
            async with AsyncVerifier(work, servers=COMBINED, timeout=TIMEOUT, replicas=1,
                                     watch=False) as v:
                await _wait_for_state(state_path(work), proc)
                async with AsyncClient(root=work, timeout=TIMEOUT) as client:
                    for path, text in [(s.path, s.new_text) for s in self.script[:2]]:
                        # Warm-up, unmeasured, with states of its own (no cache hits later).
                        await client.verify({path: text + "# warm-up daemon\n"})
                        await v.verify_speculative({path: text + "# warm-up in-process\n"})
                        await cli(path, text + "# warm-up cli\n")
                    out["exit_codes"].clear()
                    for number, s in enumerate(self.script):
                        for side in cells.rotation(("daemon", "in_process", "cli"), number):
                            text = f"{s.new_text}# {side}\n"  # every side its own state
                            started = time.perf_counter()
                            if side == "daemon":
                                await client.verify({s.path: text})
                            elif side == "in_process":
                                await v.verify_speculative({s.path: text})
                            else:
                                out["cli"].append(await cli(s.path, text))
                                continue
                            out[side].append((time.perf_counter() - started) * 1000)
                        self.progress(f"{self.w.name} daemon {number + 1}/{len(self.script)}")
        finally:
            proc.terminate()
            await proc.wait()
        self.result.daemon = out


async def _wait_for_state(path: Path, proc: asyncio.subprocess.Process, timeout: float = 120) -> None:
    """The daemon writes its state file once it listens; there is no event to wait on from
    another process, so poll for it (bounded), and fail at once if the daemon exited."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.returncode is not None or time.monotonic() > deadline:
            err = (await proc.stderr.read()).decode() if proc.stderr else ""
            raise RuntimeError(f"the daemon did not start: {err[-2000:]}")
        try:
            await asyncio.wait_for(proc.wait(), 0.05)
        except TimeoutError:
            pass


def _peak_rss(v: AsyncVerifier) -> dict[str, float]:
    """VmHWM (peak resident set) of each server process and its children (a sandboxed
    server's pid is its sandbox's), in MiB."""
    from lspfeedback._bench.scaling import tree_rss_mib

    out: dict[str, float] = {}
    for server in v.status().servers:
        if server.pid is not None:
            value = tree_rss_mib(server.pid)
            if value is not None:
                out[server.name] = value
    return out


def run_workload(workload: Workload, **kwargs: Any) -> WorkloadResult:
    return asyncio.run(Bench(workload, **kwargs).run())


def sample_dicts(result: WorkloadResult) -> list[dict[str, Any]]:
    return [asdict(s) for s in result.samples]
