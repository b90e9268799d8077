"""The daemon's command-line subcommands, and finding a running daemon for ``verify``.

    lspfeedback serve [--root R] [--server S]... [--host 127.0.0.1] [--port N | --socket PATH]
    lspfeedback status [--root R] [--json]        exit 0 running, 1 not running
    lspfeedback stop [--root R]                   SIGTERM, then wait until it has exited
                                                  (exit 3 when it does not answer or stay up)

FastAPI, uvicorn and pydantic (the ``daemon`` extra) are imported only by ``serve``, which says
what to install when they are missing: ``verify``, ``status`` and ``stop`` need only the core.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lspfeedback._config import find_root
from lspfeedback._daemon.background import IDLE_TIMEOUT, watch_idle
from lspfeedback._daemon.client import Client
from lspfeedback._daemon.security import DEFAULT_MAX_BODY, is_loopback
from lspfeedback._daemon.state import DaemonInfo, read_state, state_path
from lspfeedback._exceptions import DaemonError
from lspfeedback._extras import missing_extra
from lspfeedback._options import DEFAULT_SERVERS, VerifierOptions, add_trust_arguments

COMMANDS = ("serve", "status", "stop")
EXIT_UNKNOWN = 3
"""`stop` could not tell or do what was asked (the CLI's exit status for "unknown")."""
ROOT_HELP = ("workspace root (default: the nearest directory at or above the current one with "
             "pyproject.toml or .git)")
STOP_TIMEOUT = 30.0
_DEFAULTS = VerifierOptions()
"""Seconds `stop` waits for the daemon to exit (it stops its servers with their own grace)."""


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``serve``, ``status`` and ``stop`` on the main parser's subparsers."""
    serve = sub.add_parser(
        "serve", help="run the verify daemon: one warm workspace shared over HTTP",
        description="Serve ROOT over HTTP until SIGTERM or Ctrl-C. Writes the URL and a token "
        "to ROOT/.lspfeedback/daemon.json (mode 0600), where clients find them.",
    )
    serve.add_argument("--root", default=None, help=ROOT_HELP)
    serve.add_argument("--server", action="append", dest="servers", metavar="S",
                       help="a server to use; repeat for several "
                       f"(default: {' '.join(DEFAULT_SERVERS)})")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1; anything else is reachable by "
                       "other machines, with only the token to protect it)")
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--port", type=int, default=0, help="TCP port (default 0: a free one)")
    where.add_argument("--socket", metavar="PATH",
                       help="listen on a Unix socket (mode 0600) instead")
    serve.add_argument("--timeout", type=float, default=None,
                       help=f"seconds per server to answer (default {_DEFAULTS.timeout:g})")
    serve.add_argument("--max-dependents", type=int, default=None,
                       help=f"importers to check at most (default {_DEFAULTS.max_dependents})")
    serve.add_argument("--replicas", type=int, default=None,
                       help="warm server sets for candidates (default: by cores and memory)")
    add_trust_arguments(serve)
    # Where a background start (`lspfeedback check`) waits for the ready line: not for users.
    serve.add_argument("--ready-fd", type=int, default=None, help=argparse.SUPPRESS)
    # The start lock it inherited from that caller, released once ready.
    serve.add_argument("--lock-fd", type=int, default=None, help=argparse.SUPPRESS)
    serve.add_argument("--idle-timeout", type=float, default=None, metavar="SECONDS",
                       help="stop after this long without a request (health checks do not "
                       "count; default: never; a daemon started by `check` uses "
                       f"{IDLE_TIMEOUT:g})")
    serve.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY, metavar="BYTES",
                       help=f"largest request body accepted (default {DEFAULT_MAX_BODY})")
    status = sub.add_parser("status", help="show the daemon running for a root, if any",
                            description="Exit 0 if a daemon answers for ROOT, 1 if not.")
    status.add_argument("--root", default=None, help=ROOT_HELP)
    status.add_argument("--json", action="store_true", help="print its health as JSON")
    stop = sub.add_parser("stop", help="stop the daemon running for a root (its servers too)")
    stop.add_argument("--root", default=None, help=ROOT_HELP)


def run(args: argparse.Namespace) -> int | None:
    """Run a daemon command; None when ``args.command`` is not one of them."""
    if args.command in COMMANDS and args.root is None:
        args.root = str(find_root())
    if args.command == "serve":
        return _serve(args)
    if args.command == "status":
        return _status(args)
    if args.command == "stop":
        return _stop(args)
    return None


def find_daemon(root: str | os.PathLike[str],
                servers: Sequence[str] | None = None) -> tuple[Client | None, str]:
    """A client for the daemon serving ``root`` if one answers (and runs ``servers``, when
    given), and a sentence saying what was found (for ``--verbose``)."""
    try:
        info = read_state(root)
        if info is None:
            return None, f"no daemon for {Path(root).resolve()}; checking in-process"
        client = Client(root)
    except DaemonError as exc:
        return None, f"{exc}; checking in-process"
    try:
        health = client.health()
    except DaemonError as exc:
        client.close()
        return None, (f"the daemon in {state_path(root)} does not answer ({exc.error or type(exc).__name__}); "
                      "checking in-process")
    running = sorted(health.get("servers", {}))
    if servers and sorted(set(servers)) != running:
        client.close()
        return None, (f"the daemon at {info.endpoint} runs {', '.join(running)}, not "
                      f"{', '.join(sorted(set(servers)))}; checking in-process")
    return client, f"using the daemon at {info.endpoint} (pid {info.pid})"


def _serve(args: argparse.Namespace) -> int:
    from lspfeedback._cli import settings  # flags, then [tool.lspfeedback], then defaults

    s = settings(args)
    # An unknown name or a bad number fails here, in one line, before anything starts.
    options = VerifierOptions(servers=tuple(s.servers or DEFAULT_SERVERS),
                              timeout=s.timeout, max_dependents=s.max_dependents,
                              replicas=args.replicas, python=s.python,
                              trust_workspace=s.trust_workspace)
    try:
        from lspfeedback._daemon.server import serve  # FastAPI, uvicorn, pydantic: only here
    except ModuleNotFoundError as exc:
        return missing_extra(exc, "serve", "daemon")
    if args.socket is None and not is_loopback(args.host):
        print(f"lspfeedback: warning: {args.host} is not a loopback address: other machines can "
              "reach the daemon, and only the token (sent in clear text) protects it",
              file=sys.stderr)
    try:
        return serve(
            args.root, options, host=args.host, port=args.port, socket_path=args.socket,
            max_body=args.max_body,
            announce=_announcer(args.ready_fd, args.lock_fd, args.idle_timeout),
        )
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its clean shutdown
        return 130


def _announcer(ready_fd: int | None, lock_fd: int | None,
               idle_timeout: float | None = None) -> Callable[[DaemonInfo], None]:
    """Print the ready line; also write it on ``ready_fd`` (then closed) when one is given, let
    the start lock (``lock_fd``) go, and start the idle watch when asked for one."""

    def announce(info: DaemonInfo) -> None:
        line = f"lspfeedback daemon for {info.root} at {info.endpoint} (pid {info.pid})"
        print(line, flush=True)
        if ready_fd is not None:
            with contextlib.suppress(OSError), os.fdopen(ready_fd, "w") as ready:
                ready.write(line + "\n")
        if lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(lock_fd)
        if idle_timeout is not None:
            # SIGTERM to itself: the shutdown every other stop goes through (servers stopped,
            # the state file removed).
            watch_idle(info, idle_timeout, lambda: os.kill(os.getpid(), signal.SIGTERM))

    return announce


def _status(args: argparse.Namespace) -> int:
    client, why = find_daemon(args.root)
    if client is None:
        if args.json:
            print(json.dumps({"running": False, "reason": why}, indent=2))
        else:
            print(why.removesuffix("; checking in-process"))
        return 1
    with client:
        health = client.health()
    if args.json:
        print(json.dumps({"running": True, "endpoint": client.endpoint, "socket": client.socket,
                          **health}, indent=2))
        return 0
    servers = "".join(f"\n    {_server_line(name, s)}" for name, s in health["servers"].items())
    local = f" (local socket {client.socket})" if client.socket and client.url else ""
    print(f"running at {client.endpoint}{local}, pid {health['pid']}, "
          f"lspfeedback {health['version']}, "
          f"up {health['uptime_s']:.0f} s\n  root: {health['root']}\n  servers:{servers}\n"
          f"  replicas: {health['replicas']['started']} of {health['replicas']['max']}, "
          f"sessions: {health['sessions']}, requests in flight: {health['in_flight']}")
    return 0


def _server_line(name: str, s: dict[str, object]) -> str:
    """One server of ``status``: its state, pid, restarts, give-ups and last error."""
    role = " (stand-in)" if s.get("stand_in") else ""
    line = f"{name}{role}: {s['state']} (pid {s['pid']}, {s['restarts']} restarts"
    line += f", gave up {s['gave_up']}x)" if s.get("gave_up") else ")"
    line += f" {s['progress']}" if s.get("progress") else ""
    return line + (f"; last error: {s['last_error']}" if s.get("last_error") else "")


def _stop(args: argparse.Namespace) -> int:
    info = read_state(args.root)
    if info is None:
        print(f"no daemon is running for {Path(args.root).resolve()}")
        return 0
    try:
        with Client(args.root, timeout=10.0) as client:
            pid = int(client.health()["pid"])
    except DaemonError as exc:
        if _alive(info.pid):
            # The pid may belong to another process by now: never signal what did not answer.
            print(f"lspfeedback: error: the daemon of {info.endpoint} (pid {info.pid}) does not "
                  f"answer ({exc.error or type(exc).__name__}); not stopping anything", file=sys.stderr)
            return EXIT_UNKNOWN
        state_path(args.root).unlink(missing_ok=True)
        print(f"no daemon is running for {info.root} (removed a stale state file)")
        return 0
    os.kill(pid, signal.SIGTERM)
    if not _wait_gone(pid, STOP_TIMEOUT):
        print(f"lspfeedback: error: the daemon (pid {pid}) is still running after "
              f"{STOP_TIMEOUT:g} s", file=sys.stderr)
        return EXIT_UNKNOWN
    print(f"stopped the daemon for {info.root} (pid {pid})")
    return 0


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    """Wait for a process that is not our child to exit: on a pidfd where there is one."""
    if hasattr(os, "pidfd_open"):
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            return True
        try:
            readable, _, _ = select.select([fd], [], [], timeout)
            return bool(readable)
        finally:
            os.close(fd)
    # macOS has no pidfd and a non-child cannot be waited for: poll, briefly.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        with contextlib.suppress(InterruptedError):
            select.select([], [], [], 0.05)
    return not _alive(pid)
