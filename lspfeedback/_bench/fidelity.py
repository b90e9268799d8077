"""``lspfeedback bench --fidelity``: warm equals cold over real history.

In the spirit of mypy's ``misc/incremental_checker.py``: real projects' consecutive releases
(PyPI sdists, downloaded at run time into the benchmark's cache) are diffed file by file into
steps of 1-3 files that add, modify, delete and rename modules. One warm `AsyncVerifier`
(``watch=False``, one replica) is started on the oldest release and every step is verified as
an overlay on top of the previous ones (nothing is ever committed). After each step the state
(the base tree with ``v.overlays`` applied as files) is materialized in a temporary directory
and the cold CLIs run there; the warm diagnostics of the checked files must equal theirs.

Per step it records:

- **mismatch**: for some server, the warm rows of the checked files differ from the cold
  CLI's (`_cold.comparable`: place, code, message and, but for ruff, severity; for ty place
  and code only, as its server and CLI word some messages differently);
- **state drift**: ``v.overlays`` applied to the base is not the state the history says;
- **introduced errors**: error-severity diagnostics the cold runs of this state have and
  those of the previous state have not (matched with the engine's own rule, `_delta.compare`,
  applied to the cold runs), in the checked files; **found** when `report.introduced` has
  them; **false ok** when ``report.ok`` although there is at least one;
- errors the cold runs say the step introduced in files the warm report did not check.

Two cold runs per state: the CLIs on the report's checked files that still exist (in the
report's order) are the reference warm must equal, as in tests/test_overlays.py; the CLIs on
the whole package (what CI runs) give the introduced errors, from one state to the next with
the same file list. They are kept apart because pyright's CLI itself is order-dependent: on
click 7.1's ``types.py`` it reports a second ``reportArgumentType`` (the same union, its
members in another order) when given the checked files that it does not report when given
the package.
"""

from __future__ import annotations

import asyncio
import difflib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

from lspfeedback._bench.stats import summary as stats
from lspfeedback._bench.workloads import _unpack, cache_dir
from lspfeedback._cold import ColdRun, cold_check, comparable
from lspfeedback._delta import compare
from lspfeedback._engine import AsyncVerifier
from lspfeedback._report import Diagnostic, Report

PAIRS: tuple[tuple[str, ...], ...] = (("pyright", "ruff"), ("ty", "ruff"))
TIMEOUT = 120.0
"""Generous: the benchmark judges equality, not speed; an unknown is counted apart."""
RENAME_RATIO = 0.8
"""A deleted and an added file whose texts are at least this similar (difflib) are a rename."""
STEP_SIZES = (1, 2, 1, 3, 1, 1)
"""Files per step, cycled: 1.5 on average."""
DETAILS = 5
"""Differing rows kept per server and side for the report."""
RUFF_ERRORS = frozenset({"F821", "E902"})
"""The rules ruff's server calls errors (F821 measured: "Undefined name"); its CLI calls every
violation an error and `_cold.ruff` every one a warning, so the cold side is given the
server's severities before errors are counted (the comparison ignores ruff's severity)."""

Kind = Literal["add", "modify", "delete", "rename"]
Progress = Callable[[str], None]


@dataclass(frozen=True)
class Project:
    """A PyPI project, its import package's folder and the consecutive releases replayed."""

    name: str
    package: str
    versions: tuple[str, ...]


def _versions(text: str) -> tuple[str, ...]:
    return tuple(text.split())


PROJECTS: tuple[Project, ...] = (
    Project("click", "click", _versions(
        "7.0 7.1 7.1.1 7.1.2 8.0.0 8.0.1 8.0.2 8.0.3 8.0.4 8.1.0 8.1.1 8.1.2 8.1.3 8.1.4 8.1.5 "
        "8.1.6 8.1.7 8.1.8 8.2.0 8.2.1 8.3.0 8.3.1 8.3.2 8.3.3 8.4.0 8.4.1 8.4.2 8.5.0 8.5.1")),
    Project("attrs", "attr", _versions(
        "19.1.0 19.2.0 19.3.0 20.1.0 20.2.0 20.3.0 21.1.0 21.2.0 21.3.0 21.4.0 22.1.0 22.2.0 "
        "23.1.0 23.2.0 24.1.0 24.2.0 24.3.0 25.1.0 25.2.0 25.3.0 25.4.0 26.1.0")),
    Project("packaging", "packaging", _versions(
        "19.0 19.1 19.2 20.0 20.1 20.2 20.3 20.4 20.5 20.7 20.8 20.9 21.0 21.1 21.2 21.3 22.0 "
        "23.0 23.1 23.2 24.0 24.1 24.2 25.0 26.0 26.1 26.2 26.3 26.4")),
    # Not past 3.11: from 3.12 to 3.17 pyright takes 35-40 s on idna's uts46data.py (cold, and
    # 40-74 s warm after an edit of it), measured.
    Project("idna", "idna", _versions("2.8 2.9 2.10 3.0 3.1 3.2 3.3 3.4 3.5 3.6 3.7 3.8 3.9 3.10 3.11")),
    Project("pluggy", "pluggy", _versions(
        "0.12.0 0.13.0 0.13.1 1.0.0 1.1.0 1.2.0 1.3.0 1.4.0 1.5.0 1.6.0 1.7.0")),
    Project("itsdangerous", "itsdangerous", _versions("2.0.0 2.0.1 2.1.0 2.1.1 2.1.2 2.2.0")),
    Project("markupsafe", "markupsafe", _versions(
        "2.0.0 2.0.1 2.1.0 2.1.1 2.1.2 2.1.3 2.1.4 2.1.5 3.0.0 3.0.1 3.0.2 3.0.3 3.0.4")),
)
"""Small, pure-Python, typed-ish projects whose cold pyright run takes 1-5 s (measured), with
enough consecutive releases for 500+ steps. Renames are rare in real history: attrs 19.3.0
and pluggy 1.0.0 have them (3 in all)."""

QUICK: tuple[Project, ...] = (PROJECTS[5],)
"""``--quick``: itsdangerous, whose cold pyright run takes under a second."""


# ---- history ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One file of a step: ``path`` is the file's new path (the deleted one for a delete),
    ``old_path`` the file a rename moves, ``text`` the new text (None for a delete)."""

    kind: Kind
    path: str
    text: str | None
    old_path: str | None = None

    def edit(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        if self.old_path is not None:
            out[self.old_path] = None
        out[self.path] = self.text
        return out


@dataclass(frozen=True)
class Step:
    """Some files of one release-to-release diff, verified as one edit."""

    release: str
    """``OLD->NEW``."""
    number: int
    """1-based across the whole history."""
    changes: tuple[Change, ...]

    def edit(self) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for change in self.changes:
            out.update(change.edit())
        return out


def diff_releases(old: Mapping[str, str], new: Mapping[str, str]) -> list[Change]:
    """The file-by-file changes from ``old`` to ``new`` (path -> text), renames detected by
    identical or similar text (difflib ratio >= `RENAME_RATIO`), sorted by path."""
    deleted = sorted(set(old) - set(new))
    added = sorted(set(new) - set(old))
    changes = [Change("modify", p, new[p]) for p in sorted(set(old) & set(new)) if old[p] != new[p]]
    pairs: list[tuple[float, str, str]] = []
    for gone in deleted:
        a = old[gone].splitlines()
        for born in added:
            if old[gone] == new[born]:
                pairs.append((1.0, gone, born))
                continue
            matcher = difflib.SequenceMatcher(None, a, new[born].splitlines(), autojunk=False)
            if matcher.real_quick_ratio() >= RENAME_RATIO and matcher.quick_ratio() >= RENAME_RATIO:
                ratio = matcher.ratio()
                if ratio >= RENAME_RATIO:
                    pairs.append((ratio, gone, born))
    moved: set[str] = set()
    for _, gone, born in sorted(pairs, key=lambda t: (-t[0], t[1], t[2])):
        if gone in moved or born in moved:
            continue
        moved |= {gone, born}
        changes.append(Change("rename", born, new[born], old_path=gone))
    changes += [Change("delete", p, None) for p in deleted if p not in moved]
    changes += [Change("add", p, new[p]) for p in added if p not in moved]
    return sorted(changes, key=lambda c: (c.path, c.old_path or ""))


def history_steps(releases: Sequence[tuple[str, Mapping[str, str]]],
                  sizes: Sequence[int] = STEP_SIZES) -> list[Step]:
    """Steps of ``sizes[i % len(sizes)]`` files through consecutive ``(version, files)``; a
    step never spans two releases, so the state after a release's last step is that release."""
    steps: list[Step] = []
    turn = 0
    for (old_version, old), (new_version, new) in pairwise(releases):
        changes = diff_releases(old, new)
        at = 0
        while at < len(changes):
            size = sizes[turn % len(sizes)]
            turn += 1
            steps.append(Step(f"{old_version}->{new_version}", len(steps) + 1,
                              tuple(changes[at:at + size])))
            at += size
    return steps


def python_files(root: Path) -> dict[str, str]:
    """Every ``.py``/``.pyi`` file under ``root`` (posix path relative to it -> text)."""
    out: dict[str, str] = {}
    for path in sorted(root.rglob("*.py*")):
        if path.suffix in (".py", ".pyi") and path.is_file():
            out[path.relative_to(root).as_posix()] = path.read_bytes().decode("utf-8")
    return out


# ---- releases from PyPI ----------------------------------------------------------------------


def release_dir(project: Project, version: str, cache: Path | None = None) -> Path:
    """The import package's folder of ``project==version`` from its sdist, unpacked once
    into the benchmark's cache (``projects/NAME-VERSION``, as `workloads.real_project`)."""
    cache = cache or cache_dir()
    target = cache / "projects" / f"{project.name}-{version}"
    if not (target / ".complete").exists():
        if target.exists():
            shutil.rmtree(target)
        downloads = cache / "sdists"
        downloads.mkdir(parents=True, exist_ok=True)
        _unpack(_download(project.name, version, downloads), target)
        (target / ".complete").write_text(f"{project.name}=={version}")
    children = [p for p in target.iterdir() if p.is_dir()]
    top = children[0] if len(children) == 1 else target
    for candidate in (top / project.package, top / "src" / project.package):
        if (candidate / "__init__.py").exists():
            return candidate
    raise RuntimeError(f"no package folder {project.package!r} in {top}")


def _download(name: str, version: str, dest: Path) -> Path:
    """The sdist of exactly ``name==version`` (``1.1`` is not ``1.10``), downloaded once."""
    normal = re.sub(r"[-_.]+", "_", name).lower()
    wanted = {f"{normal}_{version}{ext}" for ext in (".tar.gz", ".tgz", ".zip", ".tar.bz2")}

    def find() -> Path | None:
        for existing in sorted(dest.iterdir()):
            if existing.name.lower().replace("-", "_") in wanted:
                return existing
        return None

    found = find()
    if found is None:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--no-binary", ":all:", "-d", str(dest), f"{name}=={version}"],
                       check=True, capture_output=True)
        found = find()
    if found is None:
        raise RuntimeError(f"pip download {name}=={version} left no sdist in {dest}")
    return found


@dataclass(frozen=True)
class History:
    """A project's releases as steps: ``package`` is its import package's folder as the oldest
    release has it (in the cache); the steps' paths start with the package's name."""

    project: str
    package: Path
    releases: tuple[str, ...]
    steps: tuple[Step, ...]
    files: int
    """Python files in the oldest release."""


def project_history(project: Project, cache: Path | None = None,
                    limit: int | None = None) -> History:
    """Download (once) and diff ``project``'s releases; at most ``limit`` steps."""
    folders: list[tuple[str, Path]] = []
    for version in project.versions:
        folders.append((version, release_dir(project, version, cache)))
        if limit is not None and len(local_history(project.name, folders).steps) >= limit:
            break
    return local_history(project.name, folders, limit)


def local_history(name: str, releases: Sequence[tuple[str, Path]],
                  limit: int | None = None) -> History:
    """The history of package folders on disk, ``(version, folder)`` oldest first (all
    folders have the package's name); at most ``limit`` steps."""
    if not releases:
        raise ValueError(f"{name}: no releases")
    package = releases[0][1]
    texts = [(version, {f"{folder.name}/{rel}": text for rel, text in python_files(folder).items()})
             for version, folder in releases]
    steps = history_steps(texts)[:limit]
    return History(name, package, tuple(v for v, _ in releases), tuple(steps), len(texts[0][1]))


# ---- replay ----------------------------------------------------------------------------------


Row = tuple[object, ...]


def rows(diagnostics: Iterable[Diagnostic], server: str) -> list[Row]:
    """What warm and cold must agree on for ``server``: `_cold.comparable`, but for ty only
    place and code (its server and CLI word some messages differently)."""
    out = comparable(list(diagnostics), server)
    if server == "ty":
        out = sorted((r[:6] for r in out), key=repr)
    return out


def differing_rows(warm: Sequence[Diagnostic], cold: Sequence[Diagnostic],
                   servers: Sequence[str]) -> dict[str, dict[str, list[Row]]]:
    """Per server whose rows differ: the rows only warm has and those only cold has (the
    first `DETAILS` of each). Empty: warm equals cold."""
    out: dict[str, dict[str, list[Row]]] = {}
    for server in servers:
        w, c = Counter(rows(warm, server)), Counter(rows(cold, server))
        if w != c:
            out[server] = {"warm_only": sorted((w - c).elements(), key=repr)[:DETAILS],
                           "cold_only": sorted((c - w).elements(), key=repr)[:DETAILS]}
    return out


@dataclass
class StepResult:
    """One step: what warm said, what cold said, and whether they agree."""

    step: int
    release: str
    files: list[str]
    kinds: list[str]
    status: str
    ok: bool
    warm_ms: float
    cold_ms: float
    """The cold CLIs on the checked files (the reference warm is compared with)."""
    cold_package_ms: float
    """The cold CLIs on the whole package (the introduced errors are computed from these)."""
    checked: int
    mismatch: bool
    state_drift: bool
    introduced_errors: int
    """Error-severity diagnostics the cold runs say this step introduced in checked files."""
    found: int
    """Of those, how many ``report.introduced`` has."""
    false_ok: bool
    spurious: int
    """Errors ``report.introduced`` has that the cold runs say were not introduced."""
    introduced_unchecked: int
    """Errors the cold runs say this step introduced in files the report did not check."""
    rows: dict[str, dict[str, list[Row]]] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class ReplayResult:
    """One project's history replayed on one server set."""

    project: str
    servers: tuple[str, ...]
    releases: list[str]
    files: int
    steps: list[StepResult] = field(default_factory=list)
    startup_ms: float = 0.0
    elapsed_s: float = 0.0
    error: str | None = None
    """Why the replay stopped early (an exception from the verifier or a CLI), if it did."""

    def summary(self) -> dict[str, Any]:
        kinds = Counter(k for s in self.steps for k in s.kinds)
        introduced = sum(s.introduced_errors for s in self.steps)
        found = sum(s.found for s in self.steps)
        known = [s for s in self.steps if s.status != "unknown"]
        return {
            "project": self.project,
            "servers": "+".join(self.servers),
            "releases": f"{self.releases[0]}..{self.releases[-1]}" if self.releases else "",
            "release_count": len(self.releases),
            "files": self.files,
            "steps": len(self.steps),
            "file_changes": dict(sorted(kinds.items())),
            "mismatching_steps": sum(s.mismatch for s in self.steps),
            "state_drift_steps": sum(s.state_drift for s in self.steps),
            "unknown_steps": len(self.steps) - len(known),
            "false_ok": sum(s.false_ok for s in self.steps),
            "introduced_errors": introduced,
            "found": found,
            "recall": round(found / introduced, 4) if introduced else None,
            "spurious_introduced": sum(s.spurious for s in self.steps),
            "introduced_unchecked": sum(s.introduced_unchecked for s in self.steps),
            "steps_with_errors_introduced": sum(s.introduced_errors > 0 for s in self.steps),
            "warm": stats([s.warm_ms for s in known]),
            "cold": stats([s.cold_ms for s in self.steps]),
            "cold_package": stats([s.cold_package_ms for s in self.steps]),
            "startup_ms": round(self.startup_ms, 1),
            "elapsed_s": round(self.elapsed_s, 1),
            "error": self.error,
        }

    def mismatches(self) -> list[dict[str, Any]]:
        """The steps that went wrong, precisely: which step, which files, which rows."""
        return [{"project": self.project, "servers": "+".join(self.servers), "step": s.step,
                 "release": s.release, "files": s.files, "kinds": s.kinds, "status": s.status,
                 "state_drift": s.state_drift, "false_ok": s.false_ok,
                 "rows": {k: {side: [list(r) for r in v] for side, v in d.items()}
                          for k, d in s.rows.items()},
                 "unknown": s.unknown, "notes": s.notes}
                for s in self.steps if s.mismatch or s.state_drift or s.false_ok
                or s.status == "unknown"]


def materialize(base: Path, overlays: Mapping[str, str | None], into: Path) -> Path:
    """``base`` with ``overlays`` applied, as files: what the cold CLIs check."""
    shutil.copytree(base, into, symlinks=True)
    for rel, text in overlays.items():
        target = into / rel
        if text is None:
            target.unlink(missing_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(text.encode("utf-8"))
    return into


def cold_runs(root: Path, files: Sequence[str], servers: Sequence[str],
              python: str | None) -> tuple[list[Diagnostic], float]:
    """Every diagnostic the cold CLIs of ``servers`` report on ``files`` (none: nothing is
    run, an empty list of paths would mean the whole project), and their time in ms."""
    if not files:
        return [], 0.0
    runs: dict[str, ColdRun] = cold_check(root, files, servers, python)
    missing = set(servers) - set(runs)
    if missing:
        raise RuntimeError(f"no cold CLI for {sorted(missing)}")
    return ([replace(d, severity="error") if d.source == "ruff" and d.code in RUFF_ERRORS else d
             for run in runs.values() for d in run.diagnostics],
            sum(run.elapsed_ms for run in runs.values()))


def _key(d: Diagnostic) -> Row:
    return tuple(rows([d], d.source)[0])


@dataclass(frozen=True)
class ColdState:
    """One state as the cold CLIs see it."""

    checked: Sequence[Diagnostic]
    """On the report's checked files that exist: the reference."""
    package: Sequence[Diagnostic]
    """On the whole package: for the errors a step introduced."""
    texts: Mapping[str, str]
    """Every Python file of the state (the line maps of `_delta.compare`)."""


def judge(step: Step, report: Report, servers: Sequence[str], before: ColdState,
          after: ColdState) -> StepResult:
    """Compare one step's warm report with the cold runs of the states before and after it."""
    checked = set(report.checked_files)
    differing = {} if report.status == "unknown" else differing_rows(
        report.diagnostics, [d for d in after.checked if d.path in checked], servers)
    introduced, _ = compare(list(before.package), list(after.package), before.texts,
                            after.texts)
    errors = [d for d in introduced if d.severity == "error" and d.path in checked]
    unchecked = [d for d in introduced if d.severity == "error" and d.path not in checked]
    warm_errors = Counter(_key(d) for d in report.introduced if d.severity == "error")
    cold_errors = Counter(_key(d) for d in errors)
    found = sum((cold_errors & warm_errors).values())
    return StepResult(
        step=step.number, release=step.release,
        files=[f"{c.old_path} -> {c.path}" if c.old_path else c.path for c in step.changes],
        kinds=[c.kind for c in step.changes], status=report.status, ok=report.ok,
        warm_ms=round(report.elapsed_ms, 2), cold_ms=0.0, cold_package_ms=0.0,
        checked=len(checked), mismatch=bool(differing), state_drift=False,
        introduced_errors=len(errors), found=found, false_ok=report.ok and bool(errors),
        spurious=sum((warm_errors - cold_errors).values()),
        introduced_unchecked=len(unchecked), rows=differing,
        unknown=[str(u) for u in report.unknown],
    )


async def replay(project: str, base: Path, steps: Sequence[Step], servers: Sequence[str], *,
                 releases: Sequence[str] = (), files: int | None = None,
                 python: str | None = None, timeout: float = TIMEOUT,
                 progress: Progress | None = None,
                 alter_state: Callable[[Step, Path], None] | None = None) -> ReplayResult:
    """Replay ``steps`` as accumulating overlays on one warm verifier over a copy of ``base``
    (the folder holding the package, as the oldest release has it), judging each against
    the cold CLIs on the materialized state.

    ``alter_state`` (for tests) may change a step's materialized state before the cold CLIs
    run: a state warm was not given, which the comparison must catch."""
    say = progress or (lambda _: None)
    started = time.perf_counter()
    servers = tuple(servers)
    result = ReplayResult(project, servers, list(releases),
                          files if files is not None else len(python_files(base)))
    with tempfile.TemporaryDirectory(prefix="lspfeedback-fidelity-") as tmp:
        work = Path(tmp) / "work" / base.name
        shutil.copytree(base, work, symlinks=True)
        expected = python_files(work)
        try:
            async with AsyncVerifier(work, servers=servers, timeout=timeout, replicas=1,
                                     watch=False, python=python) as v:
                result.startup_ms = (time.perf_counter() - started) * 1000
                package, _ = await asyncio.to_thread(cold_runs, work, ["."], servers, v.python)
                before = ColdState((), package, dict(expected))
                for step in steps:
                    report = await v.verify(step.edit())
                    for rel, text in step.edit().items():
                        if text is None:
                            expected.pop(rel, None)
                        else:
                            expected[rel] = text
                    state = materialize(work, v.overlays, Path(tmp) / f"state-{step.number}")
                    texts_after = python_files(state)
                    if alter_state is not None:
                        alter_state(step, state)
                    existing = [f for f in report.checked_files if (state / f).is_file()]
                    checked, cold_ms = await asyncio.to_thread(cold_runs, state, existing,
                                                               servers, v.python)
                    package, package_ms = await asyncio.to_thread(cold_runs, state, ["."],
                                                                  servers, v.python)
                    after = ColdState(checked, package, texts_after)
                    judged = judge(step, report, servers, before, after)
                    judged.cold_ms, judged.cold_package_ms = round(cold_ms, 2), round(package_ms, 2)
                    if texts_after != expected:
                        judged.state_drift = True
                        wrong = sorted(p for p in set(texts_after) | set(expected)
                                       if texts_after.get(p) != expected.get(p))
                        judged.notes.append(f"v.overlays differ from the history in {wrong[:DETAILS]}")
                    if report.conflicts:
                        judged.notes.append(f"conflicts: {list(report.conflicts)}")
                    result.steps.append(judged)
                    shutil.rmtree(state)
                    before = after
                    flag = " MISMATCH" if judged.mismatch or judged.state_drift else ""
                    say(f"{project} {'+'.join(servers)} step {step.number}/{len(steps)} "
                        f"{report.status} {report.elapsed_ms:.0f} ms{flag}")
        except Exception as exc:  # noqa: BLE001 - recorded with the steps done, and counted
            result.error = f"after {len(result.steps)} steps: {exc!r}"[:2000]
            say(f"{project} {'+'.join(servers)} stopped: {result.error}")
    result.elapsed_s = time.perf_counter() - started
    return result


# ---- the phase -------------------------------------------------------------------------------


def histories(projects: Sequence[Project] | None = None, *, quick: bool = False,
              limit: int | None = None, progress: Progress | None = None) -> list[History]:
    """The histories to replay: `PROJECTS`, or with ``quick`` one small project's first
    ``limit`` (10) steps."""
    say = progress or (lambda _: None)
    chosen = list(projects or (QUICK if quick else PROJECTS))
    if quick:
        chosen, limit = chosen[:1], limit or 10
    out = []
    for project in chosen:
        say(f"{project.name}: {len(project.versions)} releases (downloaded once into the cache)")
        out.append(project_history(project, limit=limit))
    return out


def run(work: Sequence[History], pairs: Sequence[tuple[str, ...]] = PAIRS, *,
        quick: bool = False, progress: Progress | None = None,
        alter_state: Callable[[Step, Path], None] | None = None) -> dict[str, Any]:
    """Every history on every server pair; the JSON-ready result (see `document`)."""
    results: list[ReplayResult] = []
    started = time.perf_counter()
    for history in work:
        with tempfile.TemporaryDirectory(prefix="lspfeedback-fidelity-base-") as tmp:
            # The workspace holds the package folder only (no tests, setup files or config).
            base = Path(tmp) / history.project
            shutil.copytree(history.package, base / history.package.name, symlinks=True)
            for servers in pairs:
                results.append(asyncio.run(replay(
                    history.project, base, history.steps, servers, releases=history.releases,
                    files=history.files, progress=progress, alter_state=alter_state)))
    return document(results, time.perf_counter() - started, quick)


def document(results: Sequence[ReplayResult], elapsed_s: float, quick: bool) -> dict[str, Any]:
    summaries = [r.summary() for r in results]
    totals: dict[str, dict[str, Any]] = {}
    for pair in dict.fromkeys(s["servers"] for s in summaries):
        mine = [r for r in results if "+".join(r.servers) == pair]
        steps = [s for r in mine for s in r.steps]
        introduced = sum(s.introduced_errors for s in steps)
        found = sum(s.found for s in steps)
        totals[pair] = {
            "projects": len(mine), "steps": len(steps),
            "mismatching_steps": sum(s.mismatch for s in steps),
            "state_drift_steps": sum(s.state_drift for s in steps),
            "unknown_steps": sum(s.status == "unknown" for s in steps),
            "false_ok": sum(s.false_ok for s in steps),
            "introduced_errors": introduced, "found": found,
            "recall": round(found / introduced, 4) if introduced else None,
            "spurious_introduced": sum(s.spurious for s in steps),
            "introduced_unchecked": sum(s.introduced_unchecked for s in steps),
            "warm": stats([s.warm_ms for s in steps if s.status != "unknown"]),
            "cold": stats([s.cold_ms for s in steps]),
            "cold_package": stats([s.cold_package_ms for s in steps]),
            "errors": [r.error for r in mine if r.error],
        }
    return {
        "quick": quick,
        "elapsed_s": round(elapsed_s, 1),
        "results": summaries,
        "totals": totals,
        "mismatches": [m for r in results for m in r.mismatches()],
        "steps": {f"{r.project} {'+'.join(r.servers)}": [_compact(s) for s in r.steps]
                  for r in results},
    }


def _compact(step: StepResult) -> dict[str, Any]:
    """A step for the JSON file, without its empty lists and dicts."""
    return {k: v for k, v in asdict(step).items() if v != [] and v != {}}


def failures(doc: Mapping[str, Any]) -> int:
    """Steps that must not happen (a mismatch, state drift or a false ``ok``), and replays
    that stopped early."""
    return (sum(1 for steps in doc["steps"].values() for s in steps
                if s["mismatch"] or s["state_drift"] or s["false_ok"])
            + sum(1 for r in doc["results"] if r["error"]))


# ---- ty vs pyright on the same mutation corpus -----------------------------------------------

MUTATIONS_PER_KIND = 5


def mutation_recall(history: History, per_kind: int = MUTATIONS_PER_KIND, seed: int = 0,
                    progress: Progress | None = None) -> dict[str, Any]:
    """The mistakes of `lspfeedback._bench.edit_scripts` (``per_kind`` of each kind, each
    followed by its fix) in the most imported modules and leaves of ``history``'s oldest
    release, every step verified by ty+ruff and by pyright+ruff in turn: per mistake kind,
    how many each flagged and which introduced lines only one of them found
    (`lspfeedback._bench.cells.catches`)."""
    from lspfeedback._bench import cells
    from lspfeedback._bench.edit_scripts import KINDS, make_script
    from lspfeedback._bench.workloads import pick_edit_files

    tiers = [t for t in cells.TIERS if t.name in ("ty+ruff", "pyright+ruff")]
    with tempfile.TemporaryDirectory(prefix="lspfeedback-fidelity-mutations-") as tmp:
        root = Path(tmp) / history.project
        shutil.copytree(history.package, root / history.package.name, symlinks=True)
        package = history.package.name
        files = pick_edit_files(root, package, widely=2, leaves=2)
        steps = make_script(root, files, seed, per_kind * len(KINDS))
        cell = asyncio.run(cells.tiers_cell(root, Path(tmp) / "cold", package, steps, tiers,
                                            cold=False, progress=progress))
    return {"project": history.project, "release": history.releases[0] if history.releases else "",
            "files": list(files), "steps": len(steps), "catches": cell["catches"],
            "summary": cell["summary"], "skipped": cell["skipped"]}


def mutation_markdown(m: Mapping[str, Any]) -> list[str]:
    """The per-kind table of `mutation_recall`, for the fidelity section."""
    catches = m["catches"]
    if not catches:
        return []
    tiers = list(next(iter(catches.values()))["flagged"])
    columns = ["mistake kind", "mistakes", *(f"flagged by {t}" for t in tiers),
               *(f"lines only {t}" for t in tiers)]
    lines = [
        "", "### ty vs pyright on the same mutation corpus", "",
        (f"{m['project']} {m['release']} (its most imported modules and some leaves, "
         f"`workloads.pick_edit_files`: {', '.join(f'`{f}`' for f in m['files'])}): "
         f"{m['steps']} steps, mistakes of every "
         "kind each followed by its fix, every step verified by both pairs in turn, every "
         "state new. `flagged`: mistakes whose report introduced a diagnostic (the recall of "
         "each pair: every mistake is a real one); `lines only`: introduced (path, line) pairs "
         "the other pair did not report."), "",
        "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
    ]
    for kind in sorted(catches, key=lambda k: (k == "all", k)):
        r = catches[kind]
        lines.append("| " + " | ".join([kind, str(r["mistakes"]),
                                        *(f"{r['flagged'][t]} ({r['recall'][t]:.0%})" for t in tiers),
                                        *(str(r["only"][t]) for t in tiers)]) + " |")
    warm = m["summary"]
    lines += ["", "Warm p50 on these steps: " + ", ".join(
        f"{t} {row['warm']['p50']} ms" for t, row in warm.items()) + "."]
    return lines
