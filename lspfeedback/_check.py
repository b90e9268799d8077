"""``lspfeedback check PATH...``: "I wrote these files; what did I break?"

The files are on disk already (the agent wrote them). What they introduced is measured against
the state before the writes, the *baseline*:

- ``daemon``: the daemon's last known text of each file (what it saw at its last operation),
  when a daemon runs for the root and has seen every file (what `check` handed it, and the
  texts, are in ``ROOT/.lspfeedback/check-known.json``, tied to that daemon's token). A file
  whose last check introduced an error keeps that check's baseline (it is *pinned*) until a
  check of it introduces none: an edit that does not fix an error, or checking it again,
  never turns the error into "there before";
- ``git``: the git index (``HEAD`` unless something was staged); a file git does not know is
  new: its baseline is its absence;
- ``none``: every file compared with its absence (everything in it counts).

``auto`` (the default) is ``daemon`` when it knows every file, else ``git``. Through a daemon,
the ``daemon`` baseline is one check of the paths (``verify([paths])``); a pinned, ``git`` or
``none`` baseline is a short-lived session: the baseline texts, then the texts on disk, then a
discard.
In-process it is `Verifier.verify_speculative` with the baseline as ``base``. Either way the
importers of the files are checked too, and the report says which baseline it used.

The daemon path imports only the standard library and lspfeedback's small modules (no httpx,
no engine, no lsprotocol): a warm ``check`` is a ~60 ms check plus Python's start-up.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from lspfeedback._daemon.state import STATE_DIR, DaemonInfo
from lspfeedback._report import Diagnostic, Report

if TYPE_CHECKING:
    from lspfeedback._engine import AsyncVerifier

Baseline = Literal["auto", "daemon", "git", "none"]
LANGUAGE_SUFFIXES = {
    "python": (".py", ".pyi"),
    "typescript": (".ts", ".mts", ".cts", ".tsx", ".js", ".mjs", ".cjs", ".jsx"),
}
"""`lspfeedback.languages`' suffixes, and below its servers' languages, restated here (a test
pins both to the registries, which import lsprotocol: the warm path does not)."""
SERVER_LANGUAGES = {
    "basedpyright": ("python",), "biome": ("typescript",), "jedi": ("python",),
    "pyrefly": ("python",), "pyright": ("python",), "ruff": ("python",), "ty": ("python",),
    "typescript": ("typescript",),
}
SOURCE_SUFFIXES = tuple(s for suffixes in LANGUAGE_SUFFIXES.values() for s in suffixes)
"""Files some language claims; others are never sent to a server."""


def checked_by(rel: str, servers: Iterable[str]) -> bool:
    """Whether one of ``servers`` checks the file at ``rel`` (by its language). A server this
    module does not know is taken to check it (the report's ``checked_files`` decide then)."""
    language = next((name for name, suffixes in LANGUAGE_SUFFIXES.items()
                     if rel.endswith(suffixes)), None)
    return language is not None and any(
        language in SERVER_LANGUAGES.get(server, (language,)) for server in servers)
KNOWN_FILE = "check-known.json"
GIT_TIMEOUT = 30.0
NOT_SOURCE = "no server checks this kind of file"
EXCLUDED = "excluded by [tool.lspfeedback] exclude"


MAX_FILE_BYTES = 50 * 2**20
"""The document store's own bound on a source file (`_documents`)."""


class CheckUsageError(ValueError):
    """A check that cannot be run as asked (a path outside the root, a missing file, ...)."""


@dataclass(frozen=True)
class CheckRequest:
    """What to check and how (the command line's and the hook's arguments, resolved)."""

    root: Path
    paths: tuple[str, ...]
    """Root-relative posix paths of the written files (Python or not)."""
    servers: tuple[str, ...] | None = None
    timeout: float = 10.0
    max_dependents: int = 100
    python: str | None = None
    trust_workspace: bool = False
    baseline: Baseline = "auto"
    use_daemon: bool = True
    start_daemon: bool = True
    exclude: tuple[str, ...] = ()
    excluded: frozenset[str] = frozenset()
    """Paths among ``paths`` that the configuration excludes."""


@dataclass(frozen=True)
class CheckOutcome:
    """A check's report, and what it rests on."""

    report: Report
    baseline: str
    """``daemon``, ``git``, ``none``: what ``introduced`` compares with."""
    baseline_detail: str
    not_checked: tuple[tuple[str, str], ...] = ()
    """(path, why) of the given files no server checked."""
    via: str = "in-process"
    notes: tuple[str, ...] = field(default=())

    @property
    def checked(self) -> bool:
        return bool(self.report.checked_files)

    def failing(self, fail_on: str = "introduced") -> tuple[Diagnostic, ...]:
        """The errors that make the exit status 1."""
        if fail_on == "any":
            return tuple(d for d in self.report.diagnostics if d.severity == "error")
        return tuple(d for d in (*self.report.introduced, *self.report.external_introduced)
                     if d.severity == "error")

    def to_dict(self) -> dict[str, Any]:
        return {**self.report.to_dict(), "baseline": self.baseline,
                "baseline_detail": self.baseline_detail, "via": self.via,
                "not_checked": [{"path": p, "reason": r} for p, r in self.not_checked],
                "check_notes": list(self.notes)}


# ---- paths ----------------------------------------------------------------------------------

def relative_paths(root: Path, paths: Iterable[str], cwd: Path) -> tuple[list[str], list[str]]:
    """Root-relative posix paths of ``paths`` (relative to ``cwd`` or absolute), and those
    outside the root."""
    real_root = root.resolve()
    inside, outside = [], []
    for raw in paths:
        full = Path(os.path.abspath(cwd / raw))
        try:
            rel = full.resolve().relative_to(real_root)
        except ValueError:
            try:  # a symlink inside the root to elsewhere stays the path the user named
                rel = full.relative_to(real_root)
            except ValueError:
                outside.append(raw)
                continue
        inside.append(rel.as_posix())
    return list(dict.fromkeys(inside)), outside


# ---- baselines ------------------------------------------------------------------------------

def git_texts(root: Path, rels: Sequence[str]) -> dict[str, str | None] | None:
    """Each path's text in the git index (None: not in it, a new file); None when ``root`` is
    not in a git work tree. One ``git cat-file --batch``; no hook, filter or fsmonitor runs."""
    import subprocess

    request = "".join(f":./{rel}\n" for rel in rels).encode()
    try:
        proc = subprocess.run(["git", "-c", "core.fsmonitor=false", "cat-file", "--batch"],
                              input=request, cwd=root, capture_output=True, timeout=GIT_TIMEOUT,
                              check=False, env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    out, pos, texts = proc.stdout, 0, {}
    for rel in rels:
        end = out.index(b"\n", pos)
        header = out[pos:end].split()
        pos = end + 1
        if len(header) == 3 and header[1] == b"blob":
            size = int(header[2])
            texts[rel] = out[pos:pos + size].decode("utf-8", errors="replace")
            pos += size + 1
        else:  # "<name> missing": not in the index
            texts[rel] = None
    return texts


def disk_texts(root: Path, rels: Sequence[str]) -> dict[str, str | None]:
    """Each path's text on disk (None: it does not exist, it was deleted)."""
    import stat

    texts: dict[str, str | None] = {}
    for rel in rels:
        path = root / rel
        try:
            info = path.stat()  # before opening: a FIFO or a device would block the read
        except FileNotFoundError:
            texts[rel] = None
            continue
        if not stat.S_ISREG(info.st_mode):
            raise CheckUsageError(f"{rel} is not a regular file (a pipe, a device or a folder); "
                                  "name the source files to check")
        if info.st_size > MAX_FILE_BYTES:
            raise CheckUsageError(f"{rel} is {info.st_size:,} bytes, over the "
                                  f"{MAX_FILE_BYTES // 2**20} MiB a source file may have")
        try:
            texts[rel] = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CheckUsageError(f"{rel} is not UTF-8 text ({exc.reason} at byte "
                                  f"{exc.start}); lspfeedback checks UTF-8 sources") from None
    return texts


def _daemon_id(info: DaemonInfo) -> str:
    return f"{info.pid}:{hashlib.sha256(info.token.encode()).hexdigest()[:16]}"


@dataclass
class Memory:
    """What `check` remembers between calls for one daemon (or one MCP server).

    ``known``: files it handed the daemon (their last known text is the daemon's). ``seen``:
    the text of each written file at its last check. ``pinned``: for a file whose last check
    introduced an error, the baseline that check used, kept until a check of the file
    introduces none: an edit that does not fix the error does not make it "not introduced".
    """

    known: set[str] = field(default_factory=set)
    seen: dict[str, str | None] = field(default_factory=dict)
    pinned: dict[str, str | None] = field(default_factory=dict)

    def learn(self, rels: Sequence[str], disk: Mapping[str, str | None],
              base: Mapping[str, str | None], failed: bool, checked: Iterable[str]) -> None:
        """After a check of ``rels`` against ``base``: pin or unpin, and note what was seen."""
        for rel in rels:
            if failed:
                self.pinned.setdefault(rel, base.get(rel))
            else:
                self.pinned.pop(rel, None)
            self.seen[rel] = disk.get(rel)
        self.known.update(rels, checked)


def load_memory(root: Path, info: DaemonInfo) -> Memory:
    """The `Memory` of the daemon ``info`` describes (empty for another daemon)."""
    try:
        data = json.loads((root / STATE_DIR / KNOWN_FILE).read_text(encoding="utf-8"))
        if data.get("daemon") == _daemon_id(info):
            return Memory(set(data.get("files", [])), dict(data.get("seen", {})),
                          dict(data.get("pinned", {})))
    except (OSError, ValueError, AttributeError, TypeError):
        pass
    return Memory()


def save_memory(root: Path, info: DaemonInfo, memory: Memory) -> None:
    """Write ``memory`` atomically. Losing a race with another check only means a file is taken
    as unknown again (its baseline is git's then) or a pin is lost."""
    folder = root / STATE_DIR
    tmp = folder / f".known-{os.getpid()}-{id(memory)}.json"
    record = {"daemon": _daemon_id(info), "files": sorted(memory.known),
              "seen": memory.seen, "pinned": memory.pinned}
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(record, out)
        os.replace(tmp, folder / KNOWN_FILE)
    except OSError:
        tmp.unlink(missing_ok=True)


def _introduced_errors(report: Report) -> bool:
    return any(d.severity == "error" for d in (*report.introduced, *report.external_introduced))


def _pinned_base(root: Path, rels: Sequence[str], memory: Memory) -> tuple[dict[str, str | None],
                                                                          str]:
    """The baseline when some of ``rels`` are pinned: the pin, else the text last seen, else
    git's."""
    missing = [rel for rel in rels if rel not in memory.pinned and rel not in memory.seen]
    git = _git_base(root, missing)[0] if missing else {}
    base = {rel: memory.pinned[rel] if rel in memory.pinned
            else memory.seen[rel] if rel in memory.seen else git.get(rel) for rel in rels}
    pins = [rel for rel in rels if rel in memory.pinned]
    return base, ("the text before the last check that introduced an error, kept until a "
                  f"check passes: {', '.join(pins)}")


def _git_base(root: Path, rels: Sequence[str]) -> tuple[dict[str, str | None], str]:
    texts = git_texts(root, rels)
    if texts is None:
        return dict.fromkeys(rels), "no git repository: compared with the files' absence"
    new = [rel for rel, text in texts.items() if text is None]
    return texts, "git index" + (f" (new files: {', '.join(new)})" if new else "")


# ---- running a check ------------------------------------------------------------------------

def run_check(request: CheckRequest) -> CheckOutcome:
    """Check ``request.paths``; see the module docstring for the baseline and the paths."""
    root = request.root
    not_checked = [(p, EXCLUDED) for p in request.paths if p in request.excluded]
    not_checked += [(p, NOT_SOURCE) for p in request.paths
                    if p not in request.excluded and not p.endswith(SOURCE_SUFFIXES)]
    skipped = {p for p, _ in not_checked}
    rels = [p for p in request.paths if p not in skipped]
    disk = disk_texts(root, rels)
    missing = [rel for rel, text in disk.items() if text is None]
    if not rels:
        return CheckOutcome(Report(status="unknown", notes=("nothing was checked",)), "none",
                            "nothing to compare", tuple(not_checked))
    if missing:  # a mistyped path must not start a daemon: refuse it first
        _refuse_unknown_missing(missing, dict.fromkeys(missing) if request.baseline == "none"
                                else _git_base(root, missing)[0])
    notes: list[str] = []
    if request.use_daemon:
        outcome = _through_daemon(request, rels, disk, missing, notes)
        if outcome is not None:
            return replace(outcome, not_checked=_unchecked(not_checked, rels, outcome.report,
                                                           missing), notes=tuple(notes))
    if request.baseline == "daemon":
        why = "; ".join(notes) or "--no-daemon was given"
        raise CheckUsageError(f"--baseline daemon needs a daemon ({why}); use --baseline git")
    base, detail = _base_for(request.baseline, root, rels)
    _refuse_unknown_missing(missing, base)
    report = _in_process(request, disk, base)
    return CheckOutcome(report, "none" if request.baseline == "none" else "git", detail,
                        _unchecked(not_checked, rels, report, missing), "in-process",
                        tuple(notes))


def _unchecked(skipped: Sequence[tuple[str, str]], sent: Sequence[str], report: Report,
               missing: Sequence[str] = ()) -> tuple[tuple[str, str], ...]:
    """The files given that nobody checked: those never sent, and those sent that are not in
    the report's ``checked_files`` (see `vouched`). A deleted file is in neither, and is not
    "not checked": its importers were."""
    checked = set(report.checked_files)
    return (*skipped, *((rel, NOT_SOURCE) for rel in sent
                        if rel not in checked and rel not in missing))


def vouched(report: Report, servers: Iterable[str]) -> Report:
    """``report`` with the files no server of ``servers`` checks taken out of its
    ``checked_files`` (a report may list a file of a language none of them checks, with no
    diagnostics: that is not clean, it is not checked)."""
    names = list(servers)
    kept = tuple(rel for rel in report.checked_files if checked_by(rel, names))
    if kept == report.checked_files:
        return report
    status = report.status if kept or report.status == "unknown" else "unknown"
    return replace(report, checked_files=kept, status=status)


def _mode(baseline: Baseline, rels: Sequence[str], known: set[str], missing: Sequence[str],
          notes: list[str]) -> Baseline:
    """The baseline to use: ``daemon`` (for ``auto``) when it knows every file, else ``git``.

    A file deleted on disk is compared with git's text: re-reading a deleted path
    (``verify([path])``) does not check its importers, so the daemon's own baseline would
    miss what the deletion broke."""
    if baseline == "auto":
        return "daemon" if all(rel in known for rel in rels) and not missing else "git"
    if baseline == "daemon" and missing:
        notes.append(f"deleted, so compared with git's text: {', '.join(missing)}")
        return "git"
    return baseline


def _base_for(mode: Baseline, root: Path, rels: Sequence[str]
              ) -> tuple[dict[str, str | None], str]:
    if mode == "none":
        return dict.fromkeys(rels), "none: compared with the files' absence"
    return _git_base(root, rels)


def _refuse_unknown_missing(missing: Sequence[str], base: Mapping[str, str | None]) -> None:
    """A path that is not on disk is a deletion only if it existed before."""
    unknown = [rel for rel in missing if base.get(rel) is None]
    if unknown:
        raise CheckUsageError(f"no such file: {', '.join(unknown)} (and not in the baseline, so "
                              "not a deletion either)")


def _through_daemon(request: CheckRequest, rels: list[str], disk: dict[str, str | None],
                    missing: list[str], notes: list[str]) -> CheckOutcome | None:
    """The outcome through the root's daemon (started if needed); None: check in-process."""
    from lspfeedback._daemon.background import ensure_daemon, running
    from lspfeedback._exceptions import DaemonError

    root = request.root
    wait = max(60.0, request.timeout * 6)  # a check queues behind the daemon's other requests
    try:
        found = running(root, wait)
        if found is not None:
            (wire, health), started = found, False
        elif request.start_daemon and _daemon_extra_installed():
            wire, health, started = ensure_daemon(root, _serve_args(request), timeout=wait)
        else:
            notes.append("no daemon runs for the root" + (
                "" if _daemon_extra_installed() else " (the daemon extra is not installed)")
                + "; checked in-process")
            return None
    except DaemonError as exc:
        notes.append(f"could not use a daemon ({exc}); checked in-process")
        return None
    with contextlib.closing(wire):
        servers = sorted(health.get("servers", {}))  # type: ignore[call-overload]
        if request.servers and sorted(set(request.servers)) != servers:
            notes.append(f"the daemon runs {', '.join(servers)}, not "
                         f"{', '.join(sorted(set(request.servers)))}; checked in-process")
            return None
        via = f"the daemon at {wire.info.endpoint}" + (" (started now)" if started else "")
        memory = load_memory(root, wire.info)
        mode = _mode(request.baseline, rels, memory.known, missing, notes)
        if mode == "daemon" and not any(rel in memory.pinned for rel in rels):
            first = [rel for rel in rels if rel not in memory.known]
            detail = "the daemon's last known text"
            if first:
                detail += f" (first seen now, compared with nothing: {', '.join(first)})"
            report = Report.from_dict(wire.verify(rels))
            base = {rel: memory.seen.get(rel) for rel in rels}
            if _introduced_errors(report) and any(rel not in memory.seen for rel in rels):
                base.update(_git_base(root, [r for r in rels if r not in memory.seen])[0])
        else:
            if mode == "daemon":
                base, detail = _pinned_base(root, rels, memory)
            else:
                base, detail = _base_for(mode, root, rels)
            _refuse_unknown_missing(missing, base)
            session = f"check-{os.getpid()}-{os.urandom(4).hex()}"
            try:
                wire.verify(dict(base), session=session)
                report = Report.from_dict(wire.verify(dict(disk), session=session))
            finally:
                wire.discard(session)
        if mode != "none":
            memory.learn(rels, disk, base, _introduced_errors(report), report.checked_files)
        else:
            memory.known.update(rels, report.checked_files)
        save_memory(root, wire.info, memory)
        return CheckOutcome(vouched(report, servers), mode, detail, via=via)


def _daemon_extra_installed() -> bool:
    import importlib.util

    return all(importlib.util.find_spec(name) is not None for name in ("fastapi", "uvicorn"))


def _serve_args(request: CheckRequest) -> list[str]:
    from lspfeedback._daemon.background import IDLE_TIMEOUT

    args = ["--timeout", str(request.timeout), "--max-dependents", str(request.max_dependents),
            "--idle-timeout", str(IDLE_TIMEOUT)]
    for server in request.servers or ():
        args += ["--server", server]
    if request.python is not None:
        args += ["--python", request.python]
    if request.trust_workspace:
        args.append("--trust-workspace")
    return args


def _in_process(request: CheckRequest, disk: dict[str, str | None],
                base: dict[str, str | None]) -> Report:
    from lspfeedback._options import DEFAULT_SERVERS, VerifierOptions
    from lspfeedback._verifier import Verifier

    options = VerifierOptions(servers=request.servers or DEFAULT_SERVERS, timeout=request.timeout,
                              max_dependents=request.max_dependents, watch=False, replicas=1,
                              python=request.python, trust_workspace=request.trust_workspace)
    with Verifier(request.root, options) as verifier:
        report = verifier.verify_speculative(dict(disk), base=base)
    return vouched(report, options.server_names)


async def check_with(verifier: AsyncVerifier, rels: Sequence[str], memory: Memory,
                     baseline: Baseline = "auto") -> CheckOutcome:
    """`run_check` on a warm `AsyncVerifier` (the MCP server's), with its `Memory`."""
    root = verifier.root
    not_checked = [(p, NOT_SOURCE) for p in rels if not p.endswith(SOURCE_SUFFIXES)]
    rels = [p for p in rels if p.endswith(SOURCE_SUFFIXES)]
    if not rels:
        return CheckOutcome(Report(status="unknown", notes=("nothing was checked",)), "none",
                            "nothing to compare", tuple(not_checked), "the MCP server")
    held = sorted(set(rels) & set(verifier.overlays))
    if held:
        # An uncommitted edit from `verify` (an overlay) wins over the disk: the check would
        # judge it, not the file written, and say so only as a conflict.
        raise CheckUsageError(f"{', '.join(held)}: an edit checked with verify is still held "
                              "in memory (not committed); commit or discard it first, so that "
                              "check_files judges the file as written")
    disk = disk_texts(root, rels)
    missing = [rel for rel, text in disk.items() if text is None]
    mode = _mode(baseline, rels, memory.known, missing, [])
    if mode == "daemon" and not any(rel in memory.pinned for rel in rels):
        detail = "the server's last known text"
        report = await verifier.verify(list(rels))
        base = {rel: memory.seen.get(rel) for rel in rels}
    else:
        base, detail = (_pinned_base(root, rels, memory) if mode == "daemon"
                        else _base_for(mode, root, rels))
        _refuse_unknown_missing(missing, base)
        report = await verifier.verify_speculative(dict(disk), base=base)
    memory.learn(rels, disk, base, _introduced_errors(report), report.checked_files)
    report = vouched(report, verifier.options.server_names)
    return CheckOutcome(report, mode, detail, _unchecked(not_checked, rels, report, missing),
                        "the MCP server")


# ---- output ---------------------------------------------------------------------------------

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NOISE = re.compile(r"[`'\"“”‘’.:;,()\[\]]")


def _same_message(message: str) -> str:
    """A message reduced to what two servers saying the same thing have in common."""
    text = message.lower().removeprefix("syntaxerror:")
    text = _ARTICLES.sub(" ", _NOISE.sub(" ", text))
    return " ".join(text.split())


def merged(diagnostics: Iterable[Diagnostic]) -> list[tuple[Diagnostic, tuple[str, ...]]]:
    """The diagnostics with those several servers report alike (same path, range and an
    equivalent message) shown once: each with the tags (``source code``) of all its reporters."""
    order: dict[tuple[object, ...], tuple[Diagnostic, list[str]]] = {}
    rank = {"error": 0, "warning": 1, "information": 2, "hint": 3}
    for d in diagnostics:
        key = (d.path, d.line, d.column, d.end_line, d.end_column, _same_message(d.message))
        tag = f"{d.source} {d.code}" if d.code else d.source
        if key not in order:
            order[key] = (d, [tag])
            continue
        first, tags = order[key]
        if tag not in tags:
            tags.append(tag)
        if rank[d.severity] < rank[first.severity]:
            order[key] = (d, tags)
    return [(d, tuple(tags)) for d, tags in order.values()]


def format_lines(diagnostics: Iterable[Diagnostic], prefix: str = "") -> list[str]:
    """One line per diagnostic, duplicates across servers merged (see `merged`)."""
    lines = []
    for d, tags in merged(diagnostics):
        message = re.sub(r"\s*[\r\n]+\s*", " ", d.message)
        lines.append(f"{prefix}{d.path}:{d.line}:{d.column}: {d.severity}: {message} "
                     f"[{', '.join(tags)}]")
    return lines


def text_lines(outcome: CheckOutcome, fail_on: str = "introduced", *,
               brief: bool = False) -> tuple[list[str], str]:
    """What ``check`` prints: the lines (introduced first), and the one-line summary (with
    ``brief``, for a model to read: without the timing and the daemon's address)."""
    report = outcome.report
    lines = format_lines(report.introduced)
    lines += format_lines(report.external_introduced, "external: ")
    if fail_on == "any":
        introduced = set(report.introduced)
        lines += format_lines(d for d in report.diagnostics
                              if d.severity == "error" and d not in introduced)
    lines += [f"unknown: {u}" for u in report.unknown]
    if report.external_changes:
        lines.append(f"note: also changed on disk since the last check: "
                     f"{', '.join(report.external_changes)}")
    lines += [f"not checked: {path} ({why})" for path, why in outcome.not_checked]
    lines += [f"note: {n}" for n in (*report.notes, *outcome.notes)
              if n != "nothing was checked"]
    if not report.complete and outcome.checked:
        lines.append(f"note: incomplete: {report.incompleteness()}")
    return lines, _summary(outcome, fail_on, brief)


def _summary(outcome: CheckOutcome, fail_on: str, brief: bool = False) -> str:
    report = outcome.report
    if not report.checked_files:
        return "lspfeedback check: nothing was checked (" + (
            ", ".join(p for p, _ in outcome.not_checked) or "no files") + ")"
    if report.status == "unknown":
        head = "unknown: a server did not answer, nothing is vouched for"
    else:
        errors = len(merged(outcome.failing(fail_on)))
        warnings = len(merged(d for d in report.introduced if d.severity == "warning"))
        noun = "error" if errors == 1 else "errors"
        what = noun if fail_on == "any" else f"{noun} introduced"
        head = (f"{errors} {what}" if errors else f"no {what}") + (
            f", {warnings} warning{'s' if warnings != 1 else ''} introduced" if warnings else "")
    where = f"lspfeedback check: {head} in {len(report.checked_files)} files"
    if brief:
        return f"{where} (the file and its importers)"
    return (f"{where} (baseline: {outcome.baseline_detail}; {report.elapsed_ms:.0f} ms, "
            f"{outcome.via})")
