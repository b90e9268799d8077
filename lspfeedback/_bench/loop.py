"""``bench --only loop``: the iteration latency of `lspfeedback.loop`, warm critic vs cold CLIs.

A scripted model answers instantly, so what is measured is the critic's share of each
iteration of the generate → check → regenerate loop. Every episode is one task on a real
project (httpx's source from PyPI by default): a module-level function that other modules
call gets a new required keyword-only parameter in round 1 (its callers break: every
candidate is wrong), and in round 2 an edit on top of the kept one gives it a default (one
candidate right, the others another required parameter). Parameter names carry the
episode's number, so no state repeats and no cache can answer.

The two critics run the same `run_loop` (the same parsing, ranking and feedback): the warm
one over a `Verifier` (pyright + ruff server), the cold one over `ColdCritic`, which runs
``pyright --outputjson`` and ``ruff check`` on a copy of the state, on the same files a warm
check covers (the edited file and its importers, transitively, at most 100), against a
baseline of the start state computed once per target file (as the warm critic's baseline is
cached). K candidates run on ``min(K, cores)`` copies at once. The critics take turns round
by round (a baton passed between two threads, no sleeps): warm round 1, cold round 1, warm
round 2, ... Per round we record the round's wall time minus its generate call (which holds
only the wait for the baton): checking, parsing and writing the feedback.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import statistics
import tempfile
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from lspfeedback import _cold
from lspfeedback._bench.stats import summary
from lspfeedback._bench.workloads import Workload
from lspfeedback._report import CandidateReport, Diagnostic, Report, status_of
from lspfeedback._verifier import Verifier
from lspfeedback.edits import Changes
from lspfeedback.loop import Feedback, LoopResult, run_loop
from lspfeedback.servers import get

CRITICS = ("warm", "cold")
DEFAULT_KS = (1, 4)
MAX_DEPENDENTS = 100
"""The importer bound of both critics (the verifier's default)."""


# ---- the tasks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A module-level function some other module calls, and where its parameter list ends."""

    path: str
    name: str
    first_line: int
    """1-based line of the ``def``."""
    insert_line: int
    """1-based line where the new parameter goes (the last parameter's, or the def's)."""
    insert_col: int
    """0-based column on that line (character offset) where the text goes."""
    lead: str
    """``", *, "`` after a last parameter, ``"*, "`` in an empty parameter list."""


def find_targets(root: Path, package: str, limit: int = 40) -> list[Target]:
    """Plain module-level functions (no decorators, ``*args``, keyword-only parameters or
    ``**kwargs``) that another module of the package imports by name and calls."""
    files = sorted(p.relative_to(root).as_posix() for p in (root / package).rglob("*.py"))
    texts = {f: (root / f).read_text(encoding="utf-8") for f in files}
    trees: dict[str, ast.Module] = {}
    for path in files:
        try:
            trees[path] = ast.parse(texts[path])
        except SyntaxError:
            continue
    imported = {path: {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                       for a in n.names} for path, tree in trees.items()}
    found: list[Target] = []
    for path, tree in trees.items():
        lines = texts[path].splitlines()
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or node.decorator_list or \
                    node.name.startswith("__") or getattr(node, "type_params", None):
                continue
            a = node.args
            if a.vararg or a.kwarg or a.kwonlyargs:
                continue
            use = re.compile(rf"\b{re.escape(node.name)}\(")
            if not any(node.name in names and use.search(texts[f])
                       for f, names in imported.items() if f != path):
                continue
            params = [*a.posonlyargs, *a.args]
            if params:
                last: ast.AST = a.defaults[-1] if a.defaults else params[-1]
                end_line, end_col = last.end_lineno, last.end_col_offset
                if end_line is None or end_col is None:
                    continue
                col = len(lines[end_line - 1].encode("utf-8")[:end_col].decode("utf-8"))
                found.append(Target(path, node.name, node.lineno, end_line, col, ", *, "))
            else:
                line = lines[node.lineno - 1]
                at = line.find(f"{node.name}(")
                if at < 0:
                    continue
                found.append(Target(path, node.name, node.lineno, node.lineno,
                                    at + len(node.name) + 1, "*, "))
            if len(found) >= limit:
                return found
    return found


class ScriptedModel:
    """Answers instantly with SEARCH/REPLACE blocks: round 1 adds a required keyword-only
    parameter ``lf{episode}c{i}: int`` (each candidate its own name), round 2 edits the kept
    one on top: candidate ``good`` gives it a default, the others rename it (still required).

    ``before_round`` is called at the start of each round (the baton)."""

    def __init__(self, root: Path, target: Target, episode: int, k: int,
                 before_round: Callable[[int], None]) -> None:
        self.text = (root / target.path).read_text(encoding="utf-8")
        self.target = target
        self.episode = episode
        self.k = k
        self.good = episode % k
        self.before_round = before_round
        self._calls: Counter[int] = Counter()
        self._made: dict[str, str] = {}
        """Edit -> the parameter it adds (to find the kept one from the feedback)."""

    def __call__(self, task: str, feedback: Feedback | None) -> Changes:
        number = 1 if feedback is None else feedback.round + 1
        index = self._calls[number]
        self._calls[number] += 1
        if index == 0:
            self.before_round(number)
        if feedback is None:
            return self._add(f"lf{self.episode}c{index}: int")
        kept = self._made.get(feedback.edit) if isinstance(feedback.edit, str) else None
        if kept is None:
            raise RuntimeError(f"episode {self.episode}: no kept edit to build on")
        if index == self.good:
            return self._block(kept, f"{kept} = {self.episode}")
        return self._block(kept, kept.replace(": int", f"x{index}: int"))

    def _add(self, param: str) -> str:
        t = self.target
        lines = self.text.splitlines(keepends=True)
        old = "".join(lines[t.first_line - 1:t.insert_line])
        line = lines[t.insert_line - 1]
        new_line = line[:t.insert_col] + t.lead + param + line[t.insert_col:]
        new = "".join(lines[t.first_line - 1:t.insert_line - 1]) + new_line
        edit = _search_replace(t.path, old, new)
        self._made[edit] = param
        return edit

    def _block(self, kept: str, replacement: str) -> str:
        t = self.target
        lines = self.text.splitlines(keepends=True)
        line = lines[t.insert_line - 1]
        old_line = line[:t.insert_col] + t.lead + kept + line[t.insert_col:]
        new_line = line[:t.insert_col] + t.lead + replacement + line[t.insert_col:]
        return _search_replace(t.path, old_line, new_line)


def _search_replace(path: str, old: str, new: str) -> str:
    old = old if old.endswith("\n") else old + "\n"
    new = new if new.endswith("\n") else new + "\n"
    return f"{path}\n<<<<<<< SEARCH\n{old}=======\n{new}>>>>>>> REPLACE\n"


# ---- the cold critic ----------------------------------------------------------------------------


class ColdCritic:
    """What `run_loop` needs of a verifier (``root``, ``overlays``, ``verify_candidates``,
    ``apply``), answered by the cold CLIs on copies of the project."""

    def __init__(self, root: Path, package: str, copies: int, work: Path) -> None:
        self.root = root
        self.overlays: dict[str, str | None] = {}
        self._package = package
        self._copies: deque[Path] = deque()
        for i in range(copies):
            copy = work / f"copy{i}"
            shutil.copytree(root, copy, symlinks=True,
                            ignore=shutil.ignore_patterns(".git", "__pycache__", ".*cache"))
            self._copies.append(copy)
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=copies)
        self._dependents = _dependents(root)
        self._baselines: dict[tuple[str, ...], tuple[Diagnostic, ...]] = {}

    def close(self) -> None:
        self._pool.shutdown()

    def files_for(self, paths: Sequence[str]) -> list[str]:
        """The edited files and their importers, breadth first, at most `MAX_DEPENDENTS`."""
        seen = list(dict.fromkeys(paths))
        queue = deque(seen)
        importers: list[str] = []
        while queue and len(importers) < MAX_DEPENDENTS:
            for dep in self._dependents.get(queue.popleft(), ()):
                if dep not in seen and len(importers) < MAX_DEPENDENTS:
                    seen.append(dep)
                    importers.append(dep)
                    queue.append(dep)
        return seen

    def baseline(self, files: Sequence[str]) -> tuple[Diagnostic, ...]:
        """The cold diagnostics of the start state on ``files`` (once per file set)."""
        key = tuple(files)
        if key not in self._baselines:
            self._baselines[key] = _check(self.root, files)[0]
        return self._baselines[key]

    def verify_candidates(self, candidates: Sequence[Mapping[str, str | None]]
                          ) -> list[CandidateReport]:
        reports = list(self._pool.map(self._one, candidates))
        base_texts = {p: (self.root / p).read_text(encoding="utf-8")
                      for c in candidates for p in c}
        out = [CandidateReport(i, 0, r, dict(c), _changed_lines(c, base_texts))
               for i, (r, c) in enumerate(zip(reports, candidates, strict=True))]
        out.sort(key=CandidateReport.rank_key)
        return [CandidateReport(c.index, rank, c.report, c.changes, c.changed_lines)
                for rank, c in enumerate(out, 1)]

    def apply(self, changes: Mapping[str, str | None]) -> list[str]:
        return list(changes)

    def _one(self, changes: Mapping[str, str | None]) -> Report:
        started = time.perf_counter()
        files = self.files_for(list(changes))
        before = self.baseline(files)
        with self._lock:
            copy = self._copies.popleft()
        try:
            for rel, text in changes.items():
                if text is not None:
                    (copy / rel).write_text(text, encoding="utf-8")
            after, timings = _check(copy, files)
        finally:
            for rel in changes:
                shutil.copy2(self.root / rel, copy / rel)
            with self._lock:
                self._copies.append(copy)
        return Report(status=status_of(after, ()), diagnostics=after,
                      introduced=_introduced(before, after), checked_files=tuple(files),
                      changed_files=tuple(changes), timings_ms=timings,
                      elapsed_ms=(time.perf_counter() - started) * 1000)


def _check(root: Path, files: Sequence[str]) -> tuple[tuple[Diagnostic, ...], dict[str, float]]:
    runs = _cold.cold_check(root, files, ("pyright", "ruff"))
    return (tuple(sorted(d for r in runs.values() for d in r.diagnostics)),
            {name: r.elapsed_ms for name, r in runs.items()})


def _introduced(before: Sequence[Diagnostic], after: Sequence[Diagnostic]) -> tuple[Diagnostic, ...]:
    """After minus before, by (path, source, code, severity, message): the scripted edits
    insert within a line, so no diagnostic moves to another line."""
    def key(d: Diagnostic) -> tuple[object, ...]:
        return (d.path, d.source, d.code, d.severity, d.message)
    left = Counter(key(d) for d in before)
    out: list[Diagnostic] = []
    for d in after:
        if left[key(d)]:
            left[key(d)] -= 1
        else:
            out.append(d)
    return tuple(out)


def _changed_lines(changes: Mapping[str, str | None], base: Mapping[str, str]) -> int:
    total = 0
    for rel, text in changes.items():
        old = base.get(rel, "").splitlines()
        new = (text or "").splitlines()
        total += sum(a != b for a, b in zip(old, new, strict=False)) + abs(len(old) - len(new))
    return total


def _dependents(root: Path) -> dict[str, list[str]]:
    """Module -> its importers, over the whole root (tests import the package too), as the
    verifier's own graph is read."""
    import json
    import subprocess

    ruff = get("ruff").executable("ruff")
    proc = subprocess.run([ruff, "analyze", "graph", "--direction", "dependents", "--preview",
                           "."], cwd=root, capture_output=True, text=True, check=True,
                          timeout=60)
    graph: dict[str, list[str]] = json.loads(proc.stdout or "{}")
    return {k: sorted(v) for k, v in graph.items()}


# ---- the run ------------------------------------------------------------------------------------


class Baton:
    """Two threads take turns: `wait` blocks (on a condition, no polling) until it is
    ``me``'s turn or the other one is done; `give` hands the turn over."""

    def __init__(self, first: str, second: str) -> None:
        self._cond = threading.Condition()
        self._turn = first
        self._other = {first: second, second: first}
        self._done: set[str] = set()

    def wait(self, me: str) -> None:
        with self._cond:
            self._cond.wait_for(lambda: self._turn == me or self._other[me] in self._done)

    def give(self, me: str) -> None:
        with self._cond:
            if self._turn == me:
                self._turn = self._other[me]
            self._cond.notify_all()

    def finish(self, me: str) -> None:
        with self._cond:
            self._done.add(me)
            self._turn = self._other[me]
            self._cond.notify_all()


@dataclass
class Episode:
    critic: str
    k: int
    episode: int
    target: str
    rounds: list[dict[str, float]]
    ok_round: int | None
    warmup: bool

    def to_dict(self) -> dict[str, Any]:
        return {"critic": self.critic, "k": self.k, "episode": self.episode,
                "target": self.target, "rounds": self.rounds, "ok_round": self.ok_round,
                "warmup": self.warmup}


def run(workload: Workload, *, episodes: int = 20, ks: Sequence[int] = DEFAULT_KS,
        warmup: int = 1, cold: bool = True, rounds: int = 3,
        progress: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """Every K in ``ks``: ``warmup`` + ``episodes`` episodes per critic, critics taking turns
    round by round. Returns the section's document (summaries and every episode)."""
    started = time.perf_counter()
    targets = find_targets(workload.root, workload.package)
    if not targets:
        raise RuntimeError(f"no module-level function called from another module in "
                           f"{workload.name}")
    results: list[Episode] = []
    numbers = iter(range(1, 1_000_000))
    with tempfile.TemporaryDirectory(prefix="lspfeedback-loop-") as tmp:
        copies = max(1, min(max(ks), os.cpu_count() or 1))
        critic = ColdCritic(workload.root, workload.package, copies, Path(tmp)) if cold else None
        try:
            with Verifier(workload.root, timeout=60.0) as verifier:
                for k in ks:
                    plan = [(next(numbers), targets[i % len(targets)], i < warmup)
                            for i in range(warmup + episodes)]
                    if critic is not None:  # the cold baselines: not part of any iteration
                        for _, target, _ in plan:
                            critic.baseline(critic.files_for([target.path]))
                    results += _pair(verifier, critic, workload.root, plan, k, rounds, progress)
        finally:
            if critic is not None:
                critic.close()
    return document(workload, results, ks, time.perf_counter() - started)


def _pair(verifier: Verifier, critic: ColdCritic | None, root: Path,
          plan: Sequence[tuple[int, Target, bool]], k: int, rounds: int,
          progress: Callable[[str], None]) -> list[Episode]:
    """Both critics over ``plan``, in two threads taking turns round by round."""
    judges: dict[str, Verifier] = {"warm": verifier}
    if critic is not None:
        judges["cold"] = cast(Verifier, critic)  # duck-typed: what run_loop uses of one
    baton = Baton("warm", "cold")
    out: dict[str, list[Episode]] = {name: [] for name in judges}
    errors: list[BaseException] = []

    def drive(name: str) -> None:
        try:
            for number, target, warm_up in plan:
                model = ScriptedModel(root, target, number, k, lambda _r: _turn(baton, name))
                result = run_loop(judges[name], f"episode {number}", model, rounds=rounds,
                                  candidates=k, apply=False)
                out[name].append(_episode(name, k, number, target, result, warm_up))
                progress(f"loop K={k} {name} episode {number}: {len(result.rounds)} rounds, "
                         f"ok={result.ok}")
        except BaseException as error:  # noqa: BLE001 - re-raised by the caller, after both end
            errors.append(error)
        finally:
            baton.finish(name)

    if len(judges) == 1:
        baton.finish("cold")
    threads = [threading.Thread(target=drive, args=(name,), name=f"loop-{name}")
               for name in judges]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return [e for name in judges for e in out[name]]


def _turn(baton: Baton, me: str) -> None:
    """At the start of each round: hand the turn over (the other critic's round), then wait."""
    baton.give(me)
    baton.wait(me)


def _episode(critic: str, k: int, number: int, target: Target, result: LoopResult,
             warmup: bool) -> Episode:
    rounds = []
    for r in result.rounds:
        report = r.best.report if r.best is not None else None
        rounds.append({"critic_ms": round(r.elapsed_ms - r.generate_ms, 3),
                       "verify_ms": round(r.verify_ms, 3),
                       "checked_files": len(report.checked_files) if report else 0,
                       "ok": r.ok})
    ok_round = len(result.rounds) if result.ok else None
    return Episode(critic, k, number, f"{target.path}:{target.name}", rounds, ok_round, warmup)


def document(workload: Workload, episodes: Sequence[Episode], ks: Sequence[int],
             elapsed_s: float) -> dict[str, Any]:
    """Per (critic, K): the per-round and to-first-ok summaries, and how often ok came when."""
    cells: dict[str, Any] = {}
    measured = [e for e in episodes if not e.warmup]
    for k in ks:
        for critic in CRITICS:
            mine = [e for e in measured if e.k == k and e.critic == critic]
            if not mine:
                continue
            per_round = [r["critic_ms"] for e in mine for r in e.rounds]
            to_ok = [sum(r["critic_ms"] for r in e.rounds) for e in mine if e.ok_round]
            cells[f"{critic} K={k}"] = {
                "critic": critic, "k": k, "episodes": len(mine),
                "per_round": summary(per_round), "to_first_ok": summary(to_ok),
                "ok_rounds": dict(Counter(str(e.ok_round) for e in mine)),
                "checked_files": statistics.median(
                    [r["checked_files"] for e in mine for r in e.rounds] or [0]),
            }
    agree = _agreement(measured)
    return {"workload": workload.name, "files": workload.files, "cells": cells,
            "agreement": agree, "elapsed_s": round(elapsed_s, 1),
            "episodes": [e.to_dict() for e in episodes]}


def _agreement(episodes: Sequence[Episode]) -> dict[str, int]:
    """Episodes where both critics ended ok in the same round, and where they did not."""
    by = {(e.k, e.episode, e.critic): e.ok_round for e in episodes}
    pairs = [(by[(k, n, "warm")], by.get((k, n, "cold"), "-")) for (k, n, c) in by if c == "warm"]
    return {"same": sum(w == c for w, c in pairs if c != "-"),
            "different": sum(w != c for w, c in pairs if c != "-")}


# ---- output -------------------------------------------------------------------------------------


def rows(doc: Mapping[str, Any]) -> list[list[str]]:
    """Table rows: critic, K, episodes, per-round p50/p95, to-first-ok p50/p95, ok rounds."""
    from lspfeedback._bench.output import _ms

    out = []
    for cell in doc["cells"].values():
        pr, ok = cell["per_round"], cell["to_first_ok"]
        oks = ", ".join(f"{n}x round {r}" if r != "None" else f"{n}x never"
                        for r, n in sorted(cell["ok_rounds"].items()))
        out.append([cell["critic"], str(cell["k"]), str(cell["episodes"]),
                    f"{pr['n']}", _ms(pr["p50"]), _ms(pr["p95"]),
                    f"{ok['n']}", _ms(ok["p50"]), _ms(ok["p95"]), oks,
                    f"{cell['checked_files']:g}"])
    return out


COLUMNS = ("critic", "K", "episodes", "rounds", "round p50", "round p95", "ok'd", "to ok p50",
           "to ok p95", "ok in", "files checked")


def markdown(doc: Mapping[str, Any], command: str, versions: Mapping[str, str],
             cpus: int | None) -> str:
    """The loop section (a Markdown table and what it measures)."""
    lines = [
        (f"Workload: {doc['workload']} ({doc['files']} files); pyright "
         f"{versions.get('pyright')}, ruff {versions.get('ruff')}; {cpus} cores; run time "
         f"{doc['elapsed_s']:.0f} s; command: `{command}`."),
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---|" * len(COLUMNS),
        *("| " + " | ".join(row) + " |" for row in rows(doc)),
        "",
        (f"Both critics ended ok in the same round in {doc['agreement']['same']} episodes, in "
         f"different rounds in {doc['agreement']['different']}."),
    ]
    return "\n".join(lines) + "\n"
