"""Starting a daemon in the background, as ``dmypy run`` does, so that the next call is warm.

``lspfeedback check`` calls `ensure_daemon`: it finds the daemon of the root from its state file
(and makes sure it answers), or starts ``lspfeedback serve --root ROOT`` detached (its own
session, stdin closed, stdout and stderr appended to ``ROOT/.lspfeedback/daemon.log``) and waits,
with a deadline, for the line the daemon writes on a pipe once its servers are warm and its
state file is written. A lock file keeps two callers from starting two daemons for one root:
the starting daemon holds it (inherited) until it is ready, so that even a caller that gave up
waiting (a hook's bound) makes the next one wait for that daemon instead of starting another.
Stop it with ``lspfeedback stop --root ROOT``. Standard library only (the warm path imports it).
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lspfeedback._daemon.state import LOG_FILE, DaemonInfo, read_state, state_dir
from lspfeedback._daemon.wire import Wire
from lspfeedback._exceptions import DaemonError, DaemonTimeout

IDLE_TIMEOUT = 1800.0
"""Seconds without a request after which a daemon started by `check` stops itself (its
language servers hold hundreds of megabytes; the next check starts a new one)."""
START_TIMEOUT = 120.0
"""Seconds a new daemon gets to start its servers (pyright on a large project takes a while)."""
LOCK_FILE = "start.lock"


def running(root: str | os.PathLike[str], timeout: float) -> tuple[Wire, dict[str, object]] | None:
    """A connection to the daemon of ``root`` and its health, if one answers; else None."""
    info = read_state(root)
    if info is None:
        return None
    wire = Wire(info, timeout)
    try:
        health = wire.health()
    except DaemonError:
        wire.close()
        return None
    return wire, health


def ensure_daemon(root: str | os.PathLike[str], serve_args: Sequence[str], *,
                  timeout: float, start_timeout: float = START_TIMEOUT
                  ) -> tuple[Wire, dict[str, object], bool]:
    """The daemon of ``root`` (started with ``serve_args`` if none answers), its health, and
    whether this call started it. Raises `DaemonError` (with the end of its log) when it
    would not start, `DaemonTimeout` when it was not ready within ``start_timeout``."""
    found = running(root, timeout)
    if found is not None:
        return (*found, False)
    folder = state_dir(root)
    with open(folder / LOCK_FILE, "a+b") as lock:
        # Held while starting: a second caller waits here, then finds the first one's daemon.
        # The holder's own wait has a deadline, so this one is bounded too.
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = running(root, timeout)
        if found is not None:
            return (*found, False)
        info = _start(Path(root).resolve(), folder, serve_args, start_timeout, lock.fileno())
        wire = Wire(info, timeout)
        return wire, wire.health(), True


def _start(root: Path, folder: Path, serve_args: Sequence[str], deadline_s: float,
           lock_fd: int) -> DaemonInfo:
    import subprocess  # here: the warm path (a daemon that runs) does not pay for it

    log_path = folder / LOG_FILE
    read_end, write_end = os.pipe()
    # The daemon inherits the lock and lets it go once ready (or by dying): a caller that gives
    # up waiting (a hook's bound) leaves the lock held, so the next one waits for this daemon
    # instead of starting a second.
    # -P: the workspace (the cwd) is never put on sys.path: a `fastapi.py` there must not run.
    command = [sys.executable, "-P", "-m", "lspfeedback", "serve", "--root", str(root),
               "--port", "0", "--ready-fd", str(write_end), "--lock-fd", str(lock_fd), *serve_args]
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=fd, stderr=fd,
                                pass_fds=(write_end, lock_fd), start_new_session=True, cwd=root)
    finally:
        os.close(fd)
        os.close(write_end)
    try:
        line = _read_line(read_end, deadline_s)
    finally:
        os.close(read_end)
    if line is None:
        os.kill(proc.pid, signal.SIGTERM)  # ours, and not ready: do not leave it half-started
        proc.wait(timeout=30)
        raise DaemonTimeout(f"the daemon for {root} was not ready within {deadline_s:g} s; "
                            f"see {log_path}")
    info = read_state(root)
    if not line or info is None or info.pid != proc.pid:
        code = proc.wait(timeout=30) if not line else None
        raise DaemonError(f"the daemon for {root} did not start (exit status {code}): "
                          f"{_tail(log_path)}")
    proc.returncode = 0  # detached on purpose: it outlives this process (see `lspfeedback stop`)
    return info


def _read_line(fd: int, deadline_s: float) -> str | None:
    """The first line written on ``fd``; "" at end of file (the writer died); None past the
    deadline."""
    deadline = time.monotonic() + deadline_s
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0:
            return None
        readable, _, _ = select.select([fd], [], [], left)
        if not readable:
            return None
        chunk = os.read(fd, 4096)
        if not chunk:
            return ""
        data += chunk
    return data.decode(errors="replace").splitlines()[0]


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


_QUIET_ROUTES = ('route="/v1/health"', 'route="/metrics"')
"""Requests that are not use: health checks (``status``, this watch) and metrics scrapes."""


def watch_idle(info: DaemonInfo, idle_s: float, stop: Callable[[], None]) -> threading.Thread:
    """Call ``stop`` once the daemon ``info`` describes has had no request (other than health
    and metrics) and none in flight for ``idle_s`` seconds; a daemon thread, reading the
    daemon's own ``/metrics`` and ``/v1/health`` a few times per period. It ends quietly when
    the daemon no longer answers (it is stopping)."""

    def run() -> None:
        wire = Wire(info, timeout=30.0)
        ticker = threading.Event()  # never set: its wait is the period between two looks
        last, since = None, time.monotonic()
        while not ticker.wait(max(0.2, min(60.0, idle_s / 4))):
            try:
                seen = (_requests(wire.raw("GET", "/metrics")), wire.health().get("in_flight"))
            except DaemonError:
                return
            now = time.monotonic()
            if seen != last or seen[1]:
                last, since = seen, now
            elif now - since >= idle_s:
                stop()
                return

    thread = threading.Thread(target=run, name="lspfeedback-idle-watch", daemon=True)
    thread.start()
    return thread


def _requests(metrics: bytes) -> int:
    """Requests served so far, health checks and metrics scrapes left out."""
    total = 0
    for line in metrics.decode(errors="replace").splitlines():
        if line.startswith("lspfeedback_requests_total{") and not any(
                quiet in line for quiet in _QUIET_ROUTES):
            total += int(float(line.rsplit(" ", 1)[1]))
    return total
