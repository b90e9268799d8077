"""The ``lspfeedback`` command.

    lspfeedback check PATH... [--baseline auto|daemon|git|none] [--fail-on introduced|any]
    lspfeedback verify [--root R] [--server S]... [--json] PATH...
    lspfeedback verify [--root R] --patch FILE|-          (a unified diff or search/replace blocks)
    lspfeedback verify --progressive ...                  (a preview first, then the final report)
    lspfeedback candidates [--root R] [--json] DIR_OR_FILES...
    lspfeedback hook claude-code                          (a Claude Code PostToolUse hook)
    lspfeedback servers
    lspfeedback serve | status | stop [--root R]          (the verify daemon: docs/daemon.md)
    lspfeedback mcp [--root R] [--server S]...            (an MCP server over stdio)
    lspfeedback fleet run REPO... --codemod SPEC          (many repositories on Ray: docs/fleet.md)
    lspfeedback --version

``check PATH...`` says what files already written introduced, against the state before the
writes (see `lspfeedback._check`); ``verify PATH...`` checks files as they are on disk against
what the verifier saw before, plus the files that import them; ``verify --patch`` checks an edit
in memory without writing it; ``verify --progressive`` prints a preview from the fast servers
(ruff, ty) before the final report (with ``--json``, one JSON object per line, the last with
``"final": true``). ``candidates`` ranks several edits (one per file).

Exit status, for every command (``hook`` keeps Claude Code's own contract, see `_hook`):
0 clean, 1 errors, 2 usage error, 3 unknown (a server did not answer, nothing could be checked,
or the servers could not run), 4 an edit that does not apply.

Without ``--root`` the root is found upwards from the first path (or the current directory):
the nearest directory holding ``pyproject.toml`` or ``.git``. Its ``[tool.lspfeedback]`` table
(`lspfeedback._config`) gives defaults; flags win. The parser of ``check`` and ``hook`` is
built alone and imports only small modules, so that a check through a warm daemon starts fast;
``serve`` imports the daemon (the ``daemon`` extra) and ``mcp`` the MCP server (the ``mcp``
extra) when they run, and say what to install when the extra is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lspfeedback import __version__
from lspfeedback._config import (
    DEFAULT_MAX_DEPENDENTS,
    DEFAULT_TIMEOUT,
    Config,
    ConfigError,
    find_root,
    load_config,
)
from lspfeedback._exceptions import EditError, LspFeedbackError, PathOutsideWorkspace

if TYPE_CHECKING:
    from lspfeedback._check import CheckOutcome
    from lspfeedback._daemon.wire import Wire
    from lspfeedback._options import VerifierOptions
    from lspfeedback._report import Report

EXIT_CLEAN, EXIT_ERRORS, EXIT_USAGE, EXIT_UNKNOWN, EXIT_EDIT = 0, 1, 2, 3, 4
EXIT_STATUS_HELP = ("exit status: 0 clean, 1 errors, 2 usage error, 3 unknown (a server did not "
                    "answer, or nothing could be checked), 4 an edit that does not apply")
DEFAULT_SERVER_NAMES = ("pyright", "ruff")
"""`lspfeedback._options.DEFAULT_SERVERS` (a test pins them equal: this module stays light)."""
LIGHT_COMMANDS = ("check", "hook", "verify")
"""Commands whose parser is built alone, without importing the engine or the registry."""
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ROOT_HELP = ("workspace root (default: the nearest directory at or above the first path, or the "
             "current directory, with pyproject.toml or .git)")


def _parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser; with ``only``, a parser holding just that (light) command."""
    parser = argparse.ArgumentParser(
        prog="lspfeedback",
        description="Type-check and lint feedback from warm language servers.",
        epilog=EXIT_STATUS_HELP,
    )
    parser.add_argument("--version", action="version", version=f"lspfeedback {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    if only in LIGHT_COMMANDS:
        # Without the registry: --server's help does not list every known server here.
        _add_check(sub, ())
        _add_verify(sub, ())
        from lspfeedback import _hook

        _hook.add_command(sub)
        return parser
    from lspfeedback import _hook
    from lspfeedback import servers as registry
    from lspfeedback._bench import cli as bench_cli
    from lspfeedback._daemon import commands as daemon_commands

    known = tuple(registry.available())
    _add_check(sub, known)
    _add_verify(sub, known)
    candidates = sub.add_parser(
        "candidates", help="rank several candidate edits (one diff or search/replace file each)",
        description="Check each candidate edit against the same state and rank them, best "
        "first. A directory stands for the files in it. Exit 0 if the best one is ok, 1 if it "
        "is not, 3 if its status is unknown (or, with --confirm, if every server has not "
        "confirmed it).", epilog=EXIT_STATUS_HELP,
    )
    candidates.add_argument("sources", nargs="+", metavar="DIR_OR_FILE")
    candidates.add_argument("--replicas", type=int, default=None,
                            help="warm server sets to use in parallel (default: by cores and memory)")
    candidates.add_argument("--confirm", type=int, default=None, metavar="K",
                            help="rank on the fast servers (ruff, ty) only, then confirm the best "
                            "with every server, at most K, until one confirmed is ok")
    _common(candidates, known)
    _hook.add_command(sub)
    sub.add_parser("servers", help="list the known language servers and whether they are installed")
    bench_cli.add_command(sub)
    daemon_commands.add_commands(sub)
    _add_mcp(sub)
    try:
        from lspfeedback.fleet import cli as fleet_cli  # Ray itself only when a fleet starts
    except ModuleNotFoundError:  # a partial install: every other command still runs
        pass
    else:
        fleet_cli.add_command(sub)
    return parser


def _add_check(sub: argparse._SubParsersAction[argparse.ArgumentParser],
               known: Sequence[str]) -> None:
    check = sub.add_parser(
        "check", help="files already written: what did the writes introduce?",
        description="Check PATHs as they are on disk, and the files that import them, against "
        "the state before they were written: the daemon's last known text when a daemon runs "
        "and has seen every file, else git's index (a file git does not know is new). Starts a "
        "daemon for the root in the background when none runs (--no-daemon: in-process), so "
        "that the next call is warm. Exit 0 when no error was introduced, 1 when one was, 3 "
        "when a server did not answer; a file no server checks is listed as not checked.",
        epilog=EXIT_STATUS_HELP,
    )
    check.add_argument("paths", nargs="+", metavar="PATH")
    check.add_argument("--baseline", choices=("auto", "daemon", "git", "none"), default="auto",
                       help="what 'introduced' compares with (default auto: daemon if it knows "
                       "every file, else git; none: the files' absence)")
    check.add_argument("--fail-on", choices=("introduced", "any"), default="introduced",
                       help="exit 1 for introduced errors only (default), or for any error in "
                       "the checked files")
    check.add_argument("--no-daemon", action="store_true",
                       help="check in-process: neither use nor start a daemon")
    _common(check, known)


def _add_verify(sub: argparse._SubParsersAction[argparse.ArgumentParser],
                known: Sequence[str]) -> None:
    verify = sub.add_parser(
        "verify",
        help="check files as they are on disk, and the files that import them",
        description="Check PATHs as they are on disk, plus their importers, against what the "
        "verifier saw before (a file seen for the first time has no earlier state: everything "
        "in it counts; use check for files you just wrote). --patch checks an edit in memory.",
        epilog=EXIT_STATUS_HELP,
    )
    verify.add_argument("paths", nargs="*", metavar="PATH")
    verify.add_argument("--patch", "--diff", dest="patch", metavar="FILE",
                        help="check this edit (unified diff or search/replace blocks; - for stdin) "
                        "in memory instead of files on disk")
    _common(verify, known)
    verify.add_argument("--fail-on", choices=("error", "warning"), default="error",
                        help="lowest severity that makes the exit status 1 (default: error)")
    verify.add_argument("--no-daemon", action="store_true",
                        help="check in-process even when a daemon is running for the root")
    verify.add_argument("--progressive", action="store_true",
                        help="print a preview as soon as the fast servers (ruff, ty) have "
                        "answered, then the final report (--json: one object per line, the "
                        "last with \"final\": true); the exit status is the final report's")


def _add_mcp(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mcp = sub.add_parser(
        "mcp", help="serve the verify tools to an MCP client over stdio (the mcp extra)",
        description="Serve verify, check_files, verify_candidates, commit, discard and "
        "diagnostics over the Model Context Protocol on stdin/stdout, with warm servers for "
        "ROOT, until the client disconnects. Needs: pip install 'lspfeedback[mcp]'.",
    )
    mcp.add_argument("--root", default=None, type=_directory, help=ROOT_HELP)
    mcp.add_argument("--server", action="append", dest="servers", metavar="S",
                     help=f"a server to use; repeat for several (default: "
                     f"{' '.join(DEFAULT_SERVER_NAMES)})")
    mcp.add_argument("--timeout", type=float, default=None,
                     help=f"seconds per server to answer (default {DEFAULT_TIMEOUT:g})")
    mcp.add_argument("--max-dependents", type=int, default=None,
                     help=f"importers to check at most (default {DEFAULT_MAX_DEPENDENTS})")
    mcp.add_argument("--replicas", type=int, default=None,
                     help="warm server sets for verify_candidates (default: by cores and memory)")
    mcp.add_argument("--log-level", default="WARNING", choices=_LOG_LEVELS,
                     help="what the MCP server logs on stderr (default: WARNING)")
    _trust_arguments(mcp)


def _directory(value: str) -> str:
    if not Path(value).is_dir():
        raise argparse.ArgumentTypeError(f"{value!r} is not a directory (give the workspace root)")
    return value


def _common(command: argparse.ArgumentParser, known: Sequence[str]) -> None:
    command.add_argument("--root", default=None, help=ROOT_HELP)
    command.add_argument(
        "--server", action="append", dest="servers", metavar="S",
        help=f"a server to use; repeat for several (default: {' '.join(DEFAULT_SERVER_NAMES)}"
        + (f"; known: {' '.join(known)})" if known else "; see: lspfeedback servers)"),
    )
    command.add_argument("--json", action="store_true", help="print JSON")
    command.add_argument("--timeout", type=float, default=None,
                         help=f"seconds per server to answer (default {DEFAULT_TIMEOUT:g})")
    command.add_argument("--max-dependents", type=int, default=None,
                         help=f"importers to check at most (default {DEFAULT_MAX_DEPENDENTS})")
    command.add_argument("--verbose", "-v", action="store_true",
                         help="say on stderr how the check ran (daemon or in-process)")
    _trust_arguments(command)


def _trust_arguments(parser: argparse.ArgumentParser) -> None:
    """``--python`` and ``--trust-workspace`` (as `lspfeedback._options.add_trust_arguments`,
    whose import this module avoids)."""
    parser.add_argument("--python", metavar="PATH", default=None,
                        help="an interpreter you trust, run by the servers to learn the project's "
                        "search paths (default: the project's venv is read, never run)")
    parser.add_argument("--trust-workspace", action="store_true",
                        help="let the servers run the project's own .venv/bin/python (it, its "
                        ".pth files and sitecustomize are code from the workspace); also honours "
                        "[tool.lspfeedback] python")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    args = _parser(first if first in LIGHT_COMMANDS else None).parse_args(argv)
    if args.command == "hook":
        from lspfeedback import _hook

        return _hook.run(args)  # its own contract: it never raises, and exit 2 means "errors"
    try:
        return _run(args, argv)
    except (ConfigError, PathOutsideWorkspace) as exc:
        print(f"lspfeedback: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except EditError as exc:
        print(f"lspfeedback: error: {exc}", file=sys.stderr)
        return EXIT_EDIT
    except ValueError as exc:  # an option out of range, an unknown server (UnknownServer)
        print(f"lspfeedback: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LspFeedbackError as exc:  # servers missing or not starting, a daemon failing, ...
        print(f"lspfeedback: error: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN


def _run(args: argparse.Namespace, argv: list[str]) -> int:
    if args.command == "check":
        return _check(args)
    if args.command == "verify":
        return _verify(args)
    if args.command in ("serve", "status", "stop"):
        from lspfeedback._daemon import commands as daemon_commands

        return daemon_commands.run(args) or EXIT_CLEAN
    if args.command == "servers":
        return _servers()
    if args.command == "bench":
        from lspfeedback._bench import cli as bench_cli

        return bench_cli.run(args, argv)
    if args.command == "candidates":
        return _candidates(args)
    if args.command == "fleet":
        from lspfeedback.fleet import cli as fleet_cli

        return fleet_cli.run(args, argv)
    return _mcp(args)  # the parser knows no other command


# ---- settings: flags, then [tool.lspfeedback], then defaults ---------------------------------

@dataclass(frozen=True)
class Settings:
    root: Path
    config: Config
    servers: tuple[str, ...] | None
    timeout: float
    max_dependents: int
    python: str | None
    trust_workspace: bool


def settings(args: argparse.Namespace, paths: Sequence[str] = ()) -> Settings:
    """The root (``--root``, else found from ``paths`` or the current directory) and the
    options: command-line flags win over the root's ``[tool.lspfeedback]``."""
    root = Path(args.root) if args.root is not None else find_root(paths)
    if not root.is_dir():
        raise ValueError(f"workspace root {str(root)!r} is not a directory (give --root DIR)")
    config = load_config(root)
    python = args.python
    if python is None and config.python is not None:
        if args.trust_workspace:
            python = str(root / config.python) if not os.path.isabs(config.python) else config.python
        else:
            print(f"lspfeedback: note: {config.path}: [tool.lspfeedback] python is ignored without "
                  "--trust-workspace (the workspace chose that interpreter)", file=sys.stderr)
    servers = tuple(args.servers) if args.servers else config.servers
    timeout = args.timeout if args.timeout is not None else config.timeout
    bound = args.max_dependents if args.max_dependents is not None else config.max_dependents
    return Settings(root=root, config=config, servers=servers,
                    timeout=timeout if timeout is not None else DEFAULT_TIMEOUT,
                    max_dependents=bound if bound is not None else DEFAULT_MAX_DEPENDENTS,
                    python=python, trust_workspace=args.trust_workspace)


def _options(s: Settings, replicas: int | None = None, watch: bool = False) -> VerifierOptions:
    from lspfeedback._options import DEFAULT_SERVERS, VerifierOptions

    return VerifierOptions(servers=s.servers or DEFAULT_SERVERS, timeout=s.timeout,
                           max_dependents=s.max_dependents, watch=watch, replicas=replicas,
                           python=s.python, trust_workspace=s.trust_workspace)


# ---- check ----------------------------------------------------------------------------------

def _check(args: argparse.Namespace) -> int:
    from lspfeedback._check import CheckRequest, CheckUsageError, relative_paths, run_check

    s = settings(args, args.paths)
    rels, outside = relative_paths(s.root, args.paths, Path.cwd())
    if outside:
        print(f"lspfeedback: error: outside the workspace {s.root}: {', '.join(outside)} (check "
              "the files of one project at a time, or give --root)", file=sys.stderr)
        return EXIT_USAGE
    request = CheckRequest(
        root=s.root, paths=tuple(rels), servers=s.servers, timeout=s.timeout,
        max_dependents=s.max_dependents, python=s.python, trust_workspace=s.trust_workspace,
        baseline=args.baseline, use_daemon=not args.no_daemon, start_daemon=not args.no_daemon,
        exclude=s.config.exclude, excluded=frozenset(r for r in rels if s.config.excluded(r)))
    try:
        outcome = run_check(request)
    except CheckUsageError as exc:
        print(f"lspfeedback: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return print_check(outcome, args.fail_on, as_json=args.json, verbose=args.verbose)


def print_check(outcome: CheckOutcome, fail_on: str, *, as_json: bool,
                verbose: bool = False) -> int:
    """Print a `CheckOutcome` (text or JSON); return ``check``'s exit status."""
    from lspfeedback._check import text_lines

    if as_json:
        print(json.dumps(outcome.to_dict(), indent=2))
    else:
        lines, summary = text_lines(outcome, fail_on)
        for line in lines:
            print(line)
        print(summary, file=sys.stderr)
    if verbose:
        print(f"lspfeedback: checked {outcome.via}", file=sys.stderr)
    if not outcome.checked:
        return EXIT_CLEAN  # nothing it was given can be checked: nothing introduced either
    if outcome.report.status == "unknown":
        return EXIT_UNKNOWN
    return EXIT_ERRORS if outcome.failing(fail_on) else EXIT_CLEAN


# ---- mcp, verify, candidates -----------------------------------------------------------------

def _mcp(args: argparse.Namespace) -> int:
    s = settings(args)
    # An unknown server or a bad number fails here, in one line, before anything starts.
    options = _options(s, replicas=args.replicas, watch=True)
    try:
        from lspfeedback import mcp as mcp_server  # the MCP SDK: only here
    except ModuleNotFoundError as exc:
        from lspfeedback._extras import missing_extra

        return missing_extra(exc, "the mcp command", "mcp")
    return mcp_server.run(s.root, options, log_level=args.log_level)


def _read_source(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    return Path(name).read_text(encoding="utf-8")


def _verify(args: argparse.Namespace) -> int:
    from lspfeedback._check import EXCLUDED, NOT_SOURCE, SOURCE_SUFFIXES, relative_paths

    if bool(args.paths) == bool(args.patch):
        print("lspfeedback: error: give PATHs or --patch, not both or neither", file=sys.stderr)
        return EXIT_USAGE
    s = settings(args, args.paths)
    not_checked: list[tuple[str, str]] = []
    changes: str | list[str]
    if args.patch:
        changes = _read_source(args.patch)
    else:
        missing = [p for p in args.paths if not Path(p).is_file()]
        if missing:
            print(f"lspfeedback: error: no such file: {', '.join(missing)}", file=sys.stderr)
            return EXIT_USAGE
        rels, outside = relative_paths(s.root, args.paths, Path.cwd())
        if outside:  # said the way the engine says it
            raise PathOutsideWorkspace(outside[0], str(s.root.resolve()))
        not_checked = [(rel, EXCLUDED) for rel in rels if s.config.excluded(rel)]
        # Paths on the command line are relative to where the user is, not to the root.
        changes = [str(s.root / rel) for rel in rels if not s.config.excluded(rel)]
        if not any(p.endswith(SOURCE_SUFFIXES) for p in changes):  # no server checks any
            not_checked += [(Path(p).relative_to(s.root).as_posix(), NOT_SOURCE) for p in changes]
            _print_not_checked(not_checked, as_json=args.json)
            return EXIT_UNKNOWN
    reports = _verify_with_daemon(args, s, changes)
    if reports is None:
        reports = _verify_in_process(s, changes, progressive=args.progressive)
    status = EXIT_UNKNOWN
    for report in _to_the_end(reports):
        unchecked = list(not_checked)
        if not args.patch:
            checked = set(report.checked_files)
            unchecked += [(str(Path(p).relative_to(s.root).as_posix()), NOT_SOURCE)
                          for p in changes if isinstance(p, str) and
                          Path(p).relative_to(s.root).as_posix() not in checked]
        if args.json:
            print(json.dumps({**report.to_dict(),
                              "not_checked": [{"path": p, "reason": r} for p, r in unchecked]},
                             indent=None if args.progressive else 2), flush=True)
        elif not report.final:
            _print_preview(report)
        else:
            _print_text(report, unchecked)
        if report.final:
            status = exit_status(report, args.fail_on) if report.checked_files else EXIT_UNKNOWN
    return status


def _verify_in_process(s: Settings, changes: str | list[str], *,
                       progressive: bool) -> Iterator[Report]:
    from lspfeedback._check import vouched
    from lspfeedback._verifier import Verifier  # the engine: only when checking in-process

    options = _options(s)
    with Verifier(s.root, options) as verifier:
        if not progressive:
            yield vouched(verifier.verify(changes), options.server_names)
            return
        for report in verifier.verify_progressive(changes):
            yield vouched(report, options.server_names)


def _to_the_end(reports: Iterator[Report]) -> Iterator[Report]:
    """``reports``, ending with a final one: a stream that breaks after a preview ends with
    an ``unknown`` final report saying why (never with the preview, never silently)."""
    from lspfeedback._report import Report, Unknown

    preview: Report | None = None
    try:
        for report in reports:
            yield report
            if report.final:
                return
            preview = report
    except LspFeedbackError as exc:
        if preview is None:
            raise  # nothing was said yet: the usual error and exit status
        why = f"the check stopped after its preview: {exc}"
    else:
        if preview is None:
            return
        why = "the check ended after its preview, without a final report"
    yield Report(status="unknown", unknown=(Unknown("lspfeedback", why),), complete=False,
                 checked_files=preview.checked_files, changed_files=preview.changed_files,
                 notes=("the preview above is not the verdict: nothing is vouched for",))


def _print_preview(report: Report) -> None:
    """A preview, marked as one on every line: it is never the verdict."""
    from lspfeedback._check import format_lines

    servers = ", ".join(report.servers) or "the fast servers"
    print(f"preview from {servers} (not final; the thorough servers are still checking):",
          flush=True)
    for line in format_lines(report.diagnostics, "  "):
        print(line)
    for unknown in report.unknown:
        print(f"  unknown: {unknown}")
    errors = sum(d.severity == "error" for d in report.diagnostics)
    print(f"preview: {errors} errors in {len(report.checked_files)} files "
          f"({report.elapsed_ms:.0f} ms; not final)", file=sys.stderr, flush=True)


def _print_not_checked(not_checked: list[tuple[str, str]], *, as_json: bool) -> None:
    if as_json:
        print(json.dumps({"status": "unknown", "checked_files": [], "not_checked": [
            {"path": p, "reason": r} for p, r in not_checked]}, indent=2))
    else:
        for path, why in not_checked:
            print(f"not checked: {path} ({why})")
        print("nothing was checked", file=sys.stderr)


def _verify_with_daemon(args: argparse.Namespace, s: Settings,
                        changes: str | list[str]) -> Iterator[Report] | None:
    """The reports from the daemon running for the root (the final one, after a preview
    with ``--progressive``); None when there is none to use.

    Through the socket-level `Wire` (as ``check``), so that a verify through a warm daemon
    does not import the engine, httpx or lsprotocol."""
    if args.no_daemon:
        return None
    from lspfeedback._daemon.background import running
    from lspfeedback._daemon.state import read_state, state_path
    from lspfeedback._exceptions import DaemonError

    found = None
    try:
        info = read_state(s.root)
    except DaemonError as exc:
        info, why = None, f"{exc}; checking in-process"
    else:
        why = f"no daemon for {s.root.resolve()}; checking in-process"
    if info is not None:
        found = running(s.root, 120.0)
        why = f"the daemon in {state_path(s.root)} does not answer; checking in-process"
    if found is not None:
        wire, health = found
        servers = sorted(health.get("servers", {}))  # type: ignore[call-overload]
        if s.servers and sorted(set(s.servers)) != servers:
            wire.close()
            found, why = None, (f"the daemon at {wire.info.endpoint} runs {', '.join(servers)}, "
                                f"not {', '.join(sorted(set(s.servers)))}; checking in-process")
        else:
            why = f"using the daemon at {wire.info.endpoint} (pid {wire.info.pid})"
    if args.verbose:
        print(f"lspfeedback: {why}", file=sys.stderr)
    if found is None:
        return None
    wire, health = found
    servers = health.get("servers", {})
    names = list(servers) if isinstance(servers, dict) else []
    return _daemon_reports(wire, changes, names, progressive=args.progressive)


def _daemon_reports(wire: Wire, changes: str | list[str], servers: list[str], *,
                    progressive: bool) -> Iterator[Report]:
    from lspfeedback._check import vouched
    from lspfeedback._report import Report

    try:
        if not progressive:
            yield vouched(Report.from_dict(wire.verify(changes)), servers)
            return
        for data in wire.verify_progressive(changes):
            yield vouched(Report.from_dict(data), servers)
    finally:
        wire.close()


def _candidates(args: argparse.Namespace) -> int:
    from lspfeedback._verifier import Verifier

    files: list[Path] = []
    for source in args.sources:
        path = Path(source)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            print(f"lspfeedback: error: no such file or directory: {source}", file=sys.stderr)
            return EXIT_USAGE
    edits = [p.read_text(encoding="utf-8") for p in files]
    s = settings(args)
    with Verifier(s.root, _options(s, replicas=args.replicas)) as verifier:
        ranked = verifier.verify_candidates(edits, confirm=args.confirm)
    if args.json:
        print(json.dumps([{**c.to_dict(), "source": str(files[c.index])} for c in ranked], indent=2))
    else:
        for c in ranked:
            r = c.report
            errors = sum(d.severity == "error" for d in r.introduced)
            tier = "" if r.final else f" (not confirmed: {', '.join(r.servers)} only)"
            print(f"#{c.rank} {files[c.index]}: {r.status}{tier}, {errors} errors introduced, "
                  f"{len(r.introduced) - errors} other, {c.changed_lines} lines changed")
            for d in r.introduced:
                print(f"    + {d}")
    best = ranked[0].report if ranked else None
    if best is not None and best.ok and not best.final:
        # Only the fast servers vouched for it: no verdict (never a preview taken as final).
        print(f"lspfeedback: the best candidate was not confirmed by every server "
              f"(--confirm {args.confirm} reached none that is ok)", file=sys.stderr)
        return EXIT_UNKNOWN
    return EXIT_CLEAN if best is not None and best.ok else (
        EXIT_UNKNOWN if best is None or best.status == "unknown" else EXIT_ERRORS)


def exit_status(report: Report, fail_on: str = "error") -> int:
    if report.status == "unknown":
        return EXIT_UNKNOWN
    failing = ("error",) if fail_on == "error" else ("error", "warning")
    return EXIT_ERRORS if any(d.severity in failing for d in report.diagnostics) else EXIT_CLEAN


def _print_text(report: Report, not_checked: Sequence[tuple[str, str]] = ()) -> None:
    from lspfeedback._check import format_lines

    for line in format_lines(report.diagnostics):
        print(line)
    for unknown in report.unknown:
        print(f"unknown: {unknown}")
    for path, why in not_checked:
        print(f"not checked: {path} ({why})")
    for note in report.notes:
        print(f"note: {note}")
    counts = {s: sum(d.severity == s for d in report.diagnostics) for s in ("error", "warning")}
    timings = ", ".join(f"{k} {v:.0f} ms" for k, v in report.timings_ms.items())
    status = report.status if report.checked_files else "nothing was checked"
    print(
        f"{status}: {counts['error']} errors, {counts['warning']} warnings in "
        f"{len(report.checked_files)} files ({report.elapsed_ms:.0f} ms: {timings})",
        file=sys.stderr,
    )


def _servers() -> int:
    from lspfeedback import servers as registry
    from lspfeedback._exceptions import ServerError
    from lspfeedback._sandbox import sandbox_for

    # Listing installs nothing: a server that would install itself on first use is "missing",
    # with the command that installs it.
    os.environ["LSPFEEDBACK_NPM_INSTALL"] = "0"
    for name, spec in registry.available().items():
        try:
            command = " ".join(spec.command(registry.ServerContext(root=Path.cwd(),
                                                                   python=sys.executable)))
            state = f"installed: {command}"
        except ServerError as exc:
            state = f"missing: {exc.reason}"
        print(f"{name:10} {spec.summary} [{', '.join(spec.checks)}; "
              f"{', '.join(spec.languages)}]\n{'':10} {state}")
    sandbox = sandbox_for("auto")
    print(f"sandbox    {'bubblewrap: ' + str(sandbox.bwrap) if sandbox.active else sandbox.notice}")
    return EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
