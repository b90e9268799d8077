"""The cold baseline: the CLI tools a CI job would run, on the files as they are on disk.

Used by the demo and the benchmark for timing, and by the tests to check that warm equals
cold. Diagnostics come back in the library's own shape (1-based, code-point columns).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lspfeedback._lsp.positions import split_lines, to_code_points
from lspfeedback._report import Diagnostic, Severity
from lspfeedback._sandbox import sandbox_for
from lspfeedback.servers import get


@dataclass(frozen=True)
class ColdRun:
    """One CLI run: what it reported and how long it took, start to exit."""

    tool: str
    diagnostics: tuple[Diagnostic, ...]
    elapsed_ms: float


def pyright(root: Path, files: Sequence[str] = (), python: str | None = None) -> ColdRun:
    """``pyright --outputjson`` on ``files`` (relative to ``root``), or on the whole project."""
    exe = get("pyright").executable("pyright")
    args = [exe, "--outputjson", "--pythonpath", python or sys.executable, *files]
    env = {**os.environ, "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"}
    out, elapsed = _run(args, root, env)
    data = json.loads(out)
    diagnostics = []
    texts: dict[str, list[str]] = {}
    for item in data.get("generalDiagnostics", []):
        rel = Path(item["file"]).resolve().relative_to(root.resolve()).as_posix()
        lines = texts.setdefault(rel, split_lines((root / rel).read_text(encoding="utf-8")))
        start, end = item["range"]["start"], item["range"]["end"]
        diagnostics.append(Diagnostic(
            path=rel,
            line=start["line"] + 1,
            column=_col(lines, start["line"], start["character"]) + 1,
            end_line=end["line"] + 1,
            end_column=_col(lines, end["line"], end["character"]) + 1,
            severity=_severity(item["severity"]),
            message=item["message"],
            source="pyright",
            code=item.get("rule"),
        ))
    return ColdRun("pyright", tuple(sorted(diagnostics)), elapsed)


def ruff(root: Path, files: Sequence[str] = ()) -> ColdRun:
    """``ruff check --output-format json`` on ``files`` (relative to ``root``) or the project.

    It never writes: ``--no-fix`` (a project whose config says ``fix = true`` would otherwise
    have its files rewritten, and the findings fixed away unreported) and ``--no-cache``.
    Explicit ``files`` get ``--force-exclude``, so that the project's excludes apply to them
    as they do to ``ruff check .``. Severity is not compared with the server's: the CLI calls
    every violation an error.
    """
    exe = get("ruff").executable("ruff")
    args = [exe, "check", "--output-format", "json", "--no-cache", "--no-fix", "--exit-zero"]
    if files:
        args += ["--force-exclude", *files]
    out, elapsed = _run(args, root, dict(os.environ))
    diagnostics = []
    for item in json.loads(out):
        rel = Path(item["filename"]).resolve().relative_to(root.resolve()).as_posix()
        code = item.get("code")
        diagnostics.append(Diagnostic(
            path=rel,
            line=item["location"]["row"],
            column=item["location"]["column"],
            end_line=item["end_location"]["row"],
            end_column=item["end_location"]["column"],
            severity="error" if code is None else "warning",
            message=item["message"],
            source="ruff",
            code=code,
        ))
    return ColdRun("ruff", tuple(sorted(diagnostics)), elapsed)


TY_SEVERITY: dict[str, Severity] = {"info": "information", "minor": "warning", "major": "error",
                                     "critical": "error", "blocker": "error"}
"""ty's GitLab Code Quality severities, back to its own (info, warning, error)."""


def ty(root: Path, files: Sequence[str] = ()) -> ColdRun:
    """``ty check --output-format gitlab`` on ``files`` (relative to ``root``) or the project.

    The GitLab format is ty's machine-readable one with positions: 1-based lines and
    code-point columns, the library's own shape. It never writes: no ``--fix``,
    ``--add-ignore`` or ``--update-baseline``. The interpreter is found the way the ty server
    finds it (same environment, same working directory), so no ``--python`` is passed. The
    message is the description without its ``rule: `` prefix; it is worded differently from
    the server's for some rules (compare place and code).
    """
    exe = get("ty").executable("ty")
    args = [exe, "check", "--output-format", "gitlab", "--exit-zero", "--no-progress",
            "--color", "never", *files]
    out, elapsed = _run(args, root, dict(os.environ))
    diagnostics = []
    for item in json.loads(out):
        code = item.get("check_name")
        where = item["location"]
        if not where.get("path"):
            raise RuntimeError(f"ty check failed: {item.get('description')}")
        rel = (root / where["path"]).resolve().relative_to(root.resolve()).as_posix()
        begin, end = where["positions"]["begin"], where["positions"]["end"]
        message = item.get("description", "")
        if code and message.startswith(f"{code}: "):
            message = message[len(code) + 2:]
        diagnostics.append(Diagnostic(
            path=rel,
            line=begin["line"],
            column=begin["column"],
            end_line=end["line"],
            end_column=end["column"],
            severity=TY_SEVERITY.get(item.get("severity", ""), "error"),
            message=message,
            source="ty",
            code=code,
        ))
    return ColdRun("ty", tuple(sorted(diagnostics)), elapsed)


_TSC_LINE = re.compile(r"^(?P<path>.+?)\((?P<line>\d+),(?P<col>\d+)\): "
                       r"(?P<severity>error|warning|message) TS(?P<code>\d+): (?P<message>.*)$")
"""One diagnostic of ``tsc --pretty false``: ``path(line,col): error TS2322: message``; the
lines after it that start with blanks continue its message."""


def typescript(root: Path, files: Sequence[str] = (), project: str = "tsconfig.json") -> ColdRun:
    """``tsc --noEmit --pretty false -p <project>``: the whole project is checked (tsc takes no
    file list with ``-p``); with ``files``, only their diagnostics are kept.

    Lines are 1-based and columns 1-based UTF-16 units (converted to code points here). The
    CLI prints no end position: `comparable` leaves ends out for this source. ``--noEmit``
    writes nothing. A diagnostic without a file (a broken tsconfig) raises `RuntimeError`:
    a cold baseline that checked nothing must not read as clean.
    """
    from lspfeedback.servers.typescript import tsc_executable

    args = [tsc_executable(), "--noEmit", "--pretty", "false", "-p", project]
    out, elapsed = _run(args, root, dict(os.environ), allow_empty=True)
    wanted = set(files)
    texts: dict[str, list[str]] = {}
    found: list[dict[str, str]] = []
    for line in out.splitlines():
        match = _TSC_LINE.match(line)
        if match is not None:
            found.append(match.groupdict())
        elif line.startswith(" ") and found:
            found[-1]["message"] += "\n" + line
        elif line.strip():
            raise RuntimeError(f"tsc reported a problem outside any file: {line}")
    diagnostics = []
    for item in found:
        rel = (root / item["path"]).resolve().relative_to(root.resolve()).as_posix()
        if wanted and rel not in wanted:
            continue
        lines = texts.setdefault(rel, split_lines((root / rel).read_text(encoding="utf-8")))
        line_no = int(item["line"]) - 1
        column = _col(lines, line_no, int(item["col"]) - 1) + 1
        severity: Severity = {"error": "error", "warning": "warning"}.get(
            item["severity"], "information")  # type: ignore[assignment]
        diagnostics.append(Diagnostic(
            path=rel, line=line_no + 1, column=column, end_line=line_no + 1,
            end_column=column, severity=severity, message=item["message"],
            source="typescript", code=item["code"]))
    return ColdRun("typescript", tuple(sorted(diagnostics)), elapsed)


BIOME_SEVERITY: dict[str, Severity] = {"fatal": "error", "error": "error",
                                       "warning": "warning", "information": "information",
                                       "info": "information", "hint": "hint"}


def biome(root: Path, files: Sequence[str] = ()) -> ColdRun:
    """``biome lint --reporter=json`` on ``files`` (relative to ``root``) or the project.

    Lines and columns are 1-based code points, the library's shape. ``lint`` without
    ``--write`` never writes; ``--no-errors-on-unmatched`` lets the project's
    ``files.includes`` leave out a named file without failing the run.
    """
    from lspfeedback.servers.biome import biome_executable

    args = [biome_executable(), "lint", "--reporter=json", "--colors=off",
            "--no-errors-on-unmatched", "--max-diagnostics=none", *files]
    out, elapsed = _run(args, root, dict(os.environ))
    data = json.loads(out)
    diagnostics = []
    for item in data.get("diagnostics", []):
        where = item.get("location") or {}
        if not where.get("path") or where.get("start") is None:
            raise RuntimeError(f"biome reported a problem outside any file: {item}")
        rel = (root / where["path"]).resolve().relative_to(root.resolve()).as_posix()
        start, end = where["start"], where.get("end") or where["start"]
        diagnostics.append(Diagnostic(
            path=rel, line=start["line"], column=start["column"], end_line=end["line"],
            end_column=end["column"],
            severity=BIOME_SEVERITY.get(item.get("severity", ""), "error"),
            message=item.get("message", ""), source="biome", code=item.get("category")))
    return ColdRun("biome", tuple(sorted(diagnostics)), elapsed)


def _run(args: list[str], cwd: Path, env: dict[str, str],
         allow_empty: bool = False) -> tuple[str, float]:
    # The same sandbox as the servers (the tree is as untrusted for a CLI); killing bwrap on
    # the deadline ends everything in it (--die-with-parent, its own pid namespace).
    sandbox = sandbox_for("auto")
    extra = {k: v for k, v in env.items() if os.environ.get(k) != v}
    started = time.perf_counter()
    proc = subprocess.run(sandbox.wrap(args, extra, "cold"), cwd=cwd,
                          env=sandbox.environment(extra), capture_output=True, text=True,
                          check=False, timeout=600,  # s: a cold run that hangs fails
                          preexec_fn=sandbox.preexec)
    elapsed = (time.perf_counter() - started) * 1000
    if not proc.stdout.strip() and not (allow_empty and proc.returncode == 0):
        raise RuntimeError(f"{args[0]} printed nothing (exit {proc.returncode}): {proc.stderr}")
    return proc.stdout, elapsed


def _col(lines: list[str], line: int, character: int) -> int:
    # The pyright CLI counts UTF-16 code units, like its language server.
    return to_code_points(lines[line] if line < len(lines) else "", character, "utf-16")


def _severity(value: str) -> Severity:
    return value if value in ("error", "warning", "information", "hint") else "error"  # type: ignore[return-value]


def comparable(diagnostics: Sequence[Diagnostic], source: str) -> list[tuple[object, ...]]:
    """What warm and cold must agree on for ``source``: place, code, and the message's first
    line (ruff's server appends a ``help:`` line that its CLI keeps in a separate field).
    Severity too, except for ruff, whose CLI calls every violation an error. For
    ``typescript`` the start only: ``tsc`` prints no end position."""
    rows = []
    for d in diagnostics:
        if d.source != source:
            continue
        # tsc prints no end position: its rows compare where diagnostics start.
        end = () if source == "typescript" else (d.end_line, d.end_column)
        row: tuple[object, ...] = (d.path, d.line, d.column, *end, d.code,
                                   d.message.split("\n")[0].strip())
        if source != "ruff":
            row += (d.severity,)
        rows.append(row)
    return sorted(rows, key=repr)


def cold_check(root: Path, files: Sequence[str], servers: Sequence[str],
               python: str | None = None) -> dict[str, ColdRun]:
    """Run the CLI of every server in ``servers`` that has one, on ``files``."""
    runs: dict[str, ColdRun] = {}
    if "pyright" in servers:
        runs["pyright"] = pyright(root, files, python)
    if "ruff" in servers:
        runs["ruff"] = ruff(root, files)
    if "ty" in servers:
        runs["ty"] = ty(root, files)
    if "typescript" in servers:
        runs["typescript"] = typescript(root, files)
    if "biome" in servers:
        runs["biome"] = biome(root, files)
    return runs
