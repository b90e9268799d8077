"""The ``lspfeedback`` command.

    lspfeedback verify [--root R] [--server S]... [--json] PATH...
    lspfeedback verify [--root R] --patch FILE|-          (a unified diff or search/replace blocks)
    lspfeedback candidates [--root R] [--json] DIR_OR_FILES...
    lspfeedback servers
    lspfeedback serve | status | stop [--root R]          (the verify daemon: docs/daemon.md)
    lspfeedback mcp --root R [--server S]...              (an MCP server over stdio)

``verify PATH...`` checks the files as they are on disk, plus the files that import them;
``verify --patch`` checks an edit in memory without writing it. Exit status: 0 clean,
1 errors, 2 unknown or a usage error. ``candidates`` ranks several edits (one per file).
``verify`` uses the daemon running for the root, if one answers, instead of starting servers.

Only the core dependencies are imported here: ``serve`` imports the daemon (the ``daemon``
extra) and ``mcp`` the MCP server (the ``mcp`` extra) when they run, and say what to install
when the extra is missing.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from lspfeedback import servers as registry
from lspfeedback._bench import cli as bench_cli
from lspfeedback._daemon import commands as daemon_commands
from lspfeedback._exceptions import LspFeedbackError, ServerError
from lspfeedback._extras import missing_extra
from lspfeedback._options import DEFAULT_SERVERS, VerifierOptions, add_trust_arguments
from lspfeedback._report import Report
from lspfeedback._sandbox import sandbox_for
from lspfeedback._verifier import Verifier
from lspfeedback.edits import Changes

EXIT_CLEAN, EXIT_ERRORS, EXIT_UNKNOWN = 0, 1, 2
_DEFAULTS = VerifierOptions()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lspfeedback",
        description="Type-check and lint feedback from warm language servers.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    verify = sub.add_parser(
        "verify",
        help="check files as they are on disk, and the files that import them",
        description="Check PATHs as they are on disk, plus their importers. "
        "Exit 0 clean, 1 errors, 2 unknown or usage error.",
    )
    verify.add_argument("paths", nargs="*", metavar="PATH")
    verify.add_argument("--patch", "--diff", dest="patch", metavar="FILE",
                        help="check this edit (unified diff or search/replace blocks; - for stdin) "
                        "in memory instead of files on disk")
    _common(verify)
    verify.add_argument("--fail-on", choices=("error", "warning"), default="error",
                        help="lowest severity that makes the exit status 1 (default: error)")
    verify.add_argument("--no-daemon", action="store_true",
                        help="check in-process even when a daemon is running for the root")
    verify.add_argument("--verbose", "-v", action="store_true",
                        help="say on stderr whether a daemon was used")
    candidates = sub.add_parser(
        "candidates", help="rank several candidate edits (one diff or search/replace file each)",
        description="Check each candidate edit against the same state and rank them, best "
        "first. A directory stands for the files in it. Exit 0 if the best one is ok.",
    )
    candidates.add_argument("sources", nargs="+", metavar="DIR_OR_FILE")
    candidates.add_argument("--replicas", type=int, default=None,
                            help="warm server sets to use in parallel (default: by cores and memory)")
    _common(candidates)
    sub.add_parser("servers", help="list the known language servers and whether they are installed")
    bench_cli.add_command(sub)
    daemon_commands.add_commands(sub)
    _add_mcp(sub)
    return parser


_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _add_mcp(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    mcp = sub.add_parser(
        "mcp", help="serve the verify tools to an MCP client over stdio (the mcp extra)",
        description="Serve verify, verify_candidates, commit, discard and diagnostics over the "
        "Model Context Protocol on stdin/stdout, with warm servers for ROOT, until the client "
        "disconnects. Needs: pip install 'lspfeedback[mcp]'.",
    )
    mcp.add_argument("--root", default=".", type=_directory,
                     help="the workspace root (default: current directory)")
    mcp.add_argument("--server", action="append", dest="servers", metavar="S",
                     help=f"a server to use; repeat for several (default: {' '.join(DEFAULT_SERVERS)})")
    mcp.add_argument("--timeout", type=float, default=_DEFAULTS.timeout,
                     help=f"seconds per server to answer (default {_DEFAULTS.timeout:g})")
    mcp.add_argument("--replicas", type=int, default=None,
                     help="warm server sets for verify_candidates (default: by cores and memory)")
    mcp.add_argument("--log-level", default="WARNING", choices=_LOG_LEVELS,
                     help="what the MCP server logs on stderr (default: WARNING)")
    add_trust_arguments(mcp)


def _directory(value: str) -> str:
    if not Path(value).is_dir():
        raise argparse.ArgumentTypeError(f"{value!r} is not a directory (give the workspace root)")
    return value


def _common(command: argparse.ArgumentParser) -> None:
    command.add_argument("--root", default=".", help="workspace root (default: current directory)")
    command.add_argument(
        "--server", action="append", dest="servers", metavar="S",
        help=f"a server to use; repeat for several (default: {' '.join(DEFAULT_SERVERS)}; "
        f"known: {' '.join(registry.available())})",
    )
    command.add_argument("--json", action="store_true", help="print JSON")
    command.add_argument("--timeout", type=float, default=_DEFAULTS.timeout,
                         help=f"seconds per server to answer (default {_DEFAULTS.timeout:g})")
    command.add_argument("--max-dependents", type=int, default=_DEFAULTS.max_dependents,
                         help=f"importers to check at most (default {_DEFAULTS.max_dependents})")
    add_trust_arguments(command)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    try:
        code = daemon_commands.run(args)
        if code is not None:
            return code
        if args.command == "servers":
            return _servers()
        if args.command == "bench":
            return bench_cli.run(args, argv)
        if args.command == "candidates":
            return _candidates(args)
        if args.command == "mcp":
            return _mcp(args)
        return _verify(args)
    except (LspFeedbackError, ValueError) as exc:  # ValueError: an option out of range
        print(f"lspfeedback: error: {exc}", file=sys.stderr)
        return EXIT_UNKNOWN


def _options(args: argparse.Namespace) -> VerifierOptions:
    """The verifier options the command line asked for (a one-shot run needs no watcher)."""
    return VerifierOptions(servers=tuple(args.servers or DEFAULT_SERVERS), timeout=args.timeout,
                           max_dependents=args.max_dependents, watch=False,
                           replicas=getattr(args, "replicas", None), python=args.python,
                           trust_workspace=args.trust_workspace)


def _mcp(args: argparse.Namespace) -> int:
    # An unknown server or a bad number fails here, in one line, before anything starts.
    options = VerifierOptions(servers=tuple(args.servers or DEFAULT_SERVERS),
                              timeout=args.timeout, replicas=args.replicas, python=args.python,
                              trust_workspace=args.trust_workspace)
    try:
        from lspfeedback import mcp as mcp_server  # the MCP SDK: only here
    except ModuleNotFoundError as exc:
        return missing_extra(exc, "the mcp command", "mcp")
    return mcp_server.run(args.root, options, log_level=args.log_level)


def _read_source(name: str) -> str:
    if name == "-":
        return sys.stdin.read()
    return Path(name).read_text(encoding="utf-8")


def _verify(args: argparse.Namespace) -> int:
    if bool(args.paths) == bool(args.patch):
        print("lspfeedback: error: give PATHs or --patch, not both or neither", file=sys.stderr)
        return EXIT_UNKNOWN
    changes: Changes
    if args.patch:
        changes = _read_source(args.patch)
    else:
        # Paths on the command line are relative to where the user is, not to the root.
        changes = [os.path.abspath(p) for p in args.paths]
        missing = [p for p in args.paths if not Path(p).is_file()]
        if missing:
            print(f"lspfeedback: error: no such file: {', '.join(missing)}", file=sys.stderr)
            return EXIT_UNKNOWN
    report = _verify_with_daemon(args, changes)
    if report is None:
        with Verifier(args.root, _options(args)) as verifier:
            report = verifier.verify(changes)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        _print_text(report)
    return exit_status(report, args.fail_on)


def _verify_with_daemon(args: argparse.Namespace, changes: Changes) -> Report | None:
    """The report from the daemon running for the root; None when there is none to use."""
    if args.no_daemon:
        return None
    client, why = daemon_commands.find_daemon(args.root, args.servers)
    if args.verbose:
        print(f"lspfeedback: {why}", file=sys.stderr)
    if client is None:
        return None
    with client:
        return client.verify(changes)


def _candidates(args: argparse.Namespace) -> int:
    files: list[Path] = []
    for source in args.sources:
        path = Path(source)
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            print(f"lspfeedback: error: no such file or directory: {source}", file=sys.stderr)
            return EXIT_UNKNOWN
    edits = [p.read_text(encoding="utf-8") for p in files]
    with Verifier(args.root, _options(args)) as verifier:
        ranked = verifier.verify_candidates(edits)
    if args.json:
        print(json.dumps([{**c.to_dict(), "source": str(files[c.index])} for c in ranked], indent=2))
    else:
        for c in ranked:
            r = c.report
            errors = sum(d.severity == "error" for d in r.introduced)
            print(f"#{c.rank} {files[c.index]}: {r.status}, {errors} errors introduced, "
                  f"{len(r.introduced) - errors} other, {c.changed_lines} lines changed")
            for d in r.introduced:
                print(f"    + {d}")
    best = ranked[0].report if ranked else None
    return EXIT_CLEAN if best is not None and best.ok else (
        EXIT_UNKNOWN if best is None or best.status == "unknown" else EXIT_ERRORS)


def exit_status(report: Report, fail_on: str = "error") -> int:
    if report.status == "unknown":
        return EXIT_UNKNOWN
    failing = ("error",) if fail_on == "error" else ("error", "warning")
    return EXIT_ERRORS if any(d.severity in failing for d in report.diagnostics) else EXIT_CLEAN


def _print_text(report: Report) -> None:
    for diagnostic in report.diagnostics:
        print(diagnostic)
    for unknown in report.unknown:
        print(f"unknown: {unknown}")
    for note in report.notes:
        print(f"note: {note}")
    counts = {s: sum(d.severity == s for d in report.diagnostics) for s in ("error", "warning")}
    timings = ", ".join(f"{k} {v:.0f} ms" for k, v in report.timings_ms.items())
    print(
        f"{report.status}: {counts['error']} errors, {counts['warning']} warnings in "
        f"{len(report.checked_files)} files ({report.elapsed_ms:.0f} ms: {timings})",
        file=sys.stderr,
    )


def _servers() -> int:
    for name, spec in registry.available().items():
        try:
            command = " ".join(spec.command(_dummy_context()))
            state = f"installed: {command}"
        except ServerError as exc:
            state = f"missing: {exc.reason}"
        print(f"{name:10} {spec.summary} [{', '.join(spec.checks)}]\n{'':10} {state}")
    sandbox = sandbox_for("auto")
    print(f"sandbox    {'bubblewrap: ' + str(sandbox.bwrap) if sandbox.active else sandbox.notice}")
    return EXIT_CLEAN


def _dummy_context() -> registry.ServerContext:
    return registry.ServerContext(root=Path.cwd(), python=sys.executable)


if __name__ == "__main__":
    sys.exit(main())
