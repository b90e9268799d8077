"""What the daemon's routes share: the warm engine, the named sessions, the counters.

`Daemon` owns one `AsyncVerifier` for the life of the app (started in the lifespan, closed at
shutdown) and the sessions' overlays, which never enter the engine's own state: they are laid
over the shared base for one request at a time. Every engine operation runs under the
daemon's own lock (``exclusive``), which a progressive verify holds from laying its edit to
taking it back. Answers are serialised here, once, to JSON bytes (`report_json`): the routes
send them as they are, without validating them again against the response models.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import lspfeedback
from lspfeedback._daemon.metrics import Metrics
from lspfeedback._daemon.progressive import ReportStream, speculative_progressive
from lspfeedback._daemon.security import DEFAULT_MAX_BODY, LOOPBACK_NAMES
from lspfeedback._daemon.state import DaemonInfo, remove_state, write_state
from lspfeedback._engine import AsyncVerifier
from lspfeedback._exceptions import (
    EditApplyError,
    EditError,
    LspFeedbackError,
    PathOutsideWorkspace,
    ServerError,
    WorkspaceError,
)
from lspfeedback._options import VerifierOptions
from lspfeedback._report import CandidateReport, Diagnostic, Fix, Report
from lspfeedback.edits import Changes

T = TypeVar("T")


@dataclass
class DaemonSettings:
    """Everything `create_app` needs; `lspfeedback._daemon.server.serve` fills it in."""

    root: Path
    token: str
    options: VerifierOptions = field(default_factory=VerifierOptions)
    """How the engine runs (servers, timeouts, bounds, replicas)."""
    max_body: int = DEFAULT_MAX_BODY
    url: str | None = None
    socket: str | None = None
    host_names: frozenset[str] = LOOPBACK_NAMES
    port: int | None = None
    write_state: bool = True
    """Write ROOT/.lspfeedback/daemon.json once the servers are warm (and remove it at the end)."""
    announce: Callable[[DaemonInfo], None] | None = None
    """Called with the `DaemonInfo` once the daemon is ready (``serve`` prints the URL)."""

    def __repr__(self) -> str:  # never the token
        return f"<DaemonSettings {self.root} {self.url or self.socket}>"


@dataclass
class Session:
    """One agent's overlays (path -> text, or None for a deletion), kept across its requests."""

    name: str
    overlays: dict[str, str | None] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0
    """Requests holding or waiting for the lock: an empty session is forgotten at zero."""

    def __repr__(self) -> str:
        return f"<Session {self.name} overlays={sorted(self.overlays)}>"


class ApiError(Exception):
    """An error answer: ``status`` and the JSON body ``{"error": kind, "message": ...}``."""

    def __init__(self, status: int, kind: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": kind, "message": message, **extra}


class Daemon:
    """What the routes share: the engine, the sessions, the counters."""

    def __init__(self, settings: DaemonSettings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.sessions: dict[str, Session] = {}
        self.stopping = asyncio.Event()
        self.in_flight = 0
        self.started = time.monotonic()
        self.startup_error: BaseException | None = None
        self.info: DaemonInfo | None = None
        self.exclusive = asyncio.Lock()
        """Held by every engine operation: a progressive verify lays its edit in the engine
        and takes it back after, and nothing else may run in between."""
        self._engine: AsyncVerifier | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return (f"<Daemon {self.settings.root} engine={self._engine!r} "
                f"sessions={len(self.sessions)} in_flight={self.in_flight}>")

    @property
    def engine(self) -> AsyncVerifier:
        if self._engine is None:
            raise ApiError(503, "NotReady", "the daemon's servers are not started")
        return self._engine

    # ---- lifecycle (the FastAPI lifespan) --------------------------------------------------

    async def open(self) -> None:
        """Start the engine's servers, then tell the world (state file, announce)."""
        s = self.settings
        self._loop = asyncio.get_running_loop()
        engine: AsyncVerifier | None = None
        try:
            engine = AsyncVerifier(s.root, s.options)
            await engine.start()
        except BaseException as exc:
            self.startup_error = exc
            if engine is not None:
                await engine.close()
            raise
        self._engine = engine
        self.started = time.monotonic()
        self.info = DaemonInfo(root=str(engine.root), token=s.token, pid=os.getpid(),
                               version=lspfeedback.__version__, url=s.url, socket=s.socket)
        if s.write_state:
            write_state(self.info)
        if s.announce is not None:
            s.announce(self.info)

    async def close(self) -> None:
        """Forget the state file first (no new client finds us), then stop every server."""
        self.stopping.set()
        if self.info is not None and self.settings.write_state:
            remove_state(self.info)
        if self.settings.socket is not None and not self.settings.socket.startswith("@"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.settings.socket)  # an abstract socket has no file
        if self._engine is not None:
            await self._engine.close()

    def request_stop(self) -> None:
        """Called from uvicorn's signal handler: answer requests in flight with 503 now."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self.stopping.set)

    # ---- running engine operations ---------------------------------------------------------

    async def run(self, work: Coroutine[Any, Any, T]) -> T:
        """Await ``work`` unless the daemon starts stopping first: then cancel it (speculative
        work puts the base back as it unwinds) and answer 503 instead of holding the
        shutdown for as long as a server takes to time out."""
        if self.stopping.is_set():
            work.close()
            raise _shutting_down()
        self.in_flight += 1
        task = asyncio.ensure_future(self._exclusively(work))
        stop = asyncio.ensure_future(self.stopping.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            self.in_flight -= 1
            stop.cancel()
        if not task.done():
            task.cancel()
            await asyncio.wait({task})
            raise _shutting_down()
        return task.result()

    async def _exclusively(self, work: Coroutine[Any, Any, T]) -> T:
        try:
            async with self.exclusive:
                return await work
        finally:
            work.close()  # never awaited if cancelled while waiting: no warning

    def progressive(self, changes: Changes, session: str | None) -> ReportStream:
        """A progressive verify of ``changes`` (speculative, or in ``session``, which keeps
        the edit once the final report is there), running in a task of its own."""
        if self.stopping.is_set():
            raise _shutting_down()
        if isinstance(changes, list) and session is not None:
            raise ApiError(400, "InvalidRequest", LIST_WITH_SESSION)
        return ReportStream(self._progressive(changes, session), stopping=self.stopping,
                            stopped=_shutting_down)

    async def _progressive(self, changes: Changes, name: str | None) -> AsyncIterator[Report]:
        engine = self.engine
        self.in_flight += 1
        try:
            if name is None:
                async with self.exclusive:
                    async for report in speculative_progressive(engine, changes):
                        yield report
                return
            async with self.session(name, create=True) as session:

                def keep(overlays: dict[str, str | None]) -> None:
                    session.overlays.clear()
                    session.overlays.update(overlays)

                async with self.exclusive:
                    async for report in speculative_progressive(
                            engine, changes, base=dict(session.overlays), on_final=keep):
                        yield report
        finally:
            self.in_flight -= 1

    @asynccontextmanager
    async def session(self, name: str, *, create: bool) -> AsyncIterator[Session]:
        """The session ``name``, held for this request (one request per session at a time).

        A session left without overlays (its first edit was refused, say) is forgotten.
        """
        session = self.sessions.get(name)
        if session is None:
            if not create:
                raise ApiError(404, "UnknownSession", f"there is no session {name!r}")
            session = self.sessions[name] = Session(name)
        session.users += 1
        try:
            async with session.lock:
                yield session
        finally:
            session.users -= 1
            if not session.users and not session.overlays and self.sessions.get(name) is session:
                del self.sessions[name]

    def reply(self, report: Report) -> bytes:
        """The JSON answer for ``report`` (counted in the metrics)."""
        self.metrics.observe_report(report)
        return report_json(report)

    def reply_candidates(self, ranked: Iterable[CandidateReport]) -> bytes:
        """The JSON answer for ranked candidates (each counted in the metrics)."""
        items = []
        for candidate in ranked:
            self.metrics.observe_report(candidate.report)
            items.append(candidate_dict(candidate))
        return dumps(items)

    # ---- introspection ---------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        status = self.engine.status()
        servers = {s.name: {"state": s.state, "restarts": s.restarts, "pid": s.pid,
                            "last_error": s.last_error, "gave_up": s.gave_up,
                            "stand_in": s.stand_in, "progress": s.progress}
                   for s in status.servers}
        return {
            "status": "stopping" if self.stopping.is_set() else "ok",
            "version": lspfeedback.__version__,
            "root": status.root,
            "pid": os.getpid(),
            "uptime_s": round(time.monotonic() - self.started, 3),
            "servers": servers,
            "replicas": {"started": status.replicas_started, "max": status.replicas_max},
            "sessions": len(self.sessions),
            "overlays": status.overlays,
            "in_flight": self.in_flight,
        }

    def render_metrics(self) -> str:
        restarts = [(r.name, s.name, s.restarts, s.gave_up)
                    for r in self.engine.status().replicas for s in r.servers]
        return self.metrics.render(restarts=restarts, sessions=len(self.sessions),
                                   in_flight=self.in_flight, uptime=time.monotonic() - self.started)


LIST_WITH_SESSION = ("a list of paths re-reads files from the shared disk; it cannot be "
                     "combined with a session")

_DIAGNOSTIC_FIELDS = tuple(field.name for field in dataclasses.fields(Diagnostic))
_DIAGNOSTIC_LISTS = ("diagnostics", "introduced", "resolved", "external_introduced")


def dumps(payload: Any) -> bytes:
    """Compact JSON, as the daemon sends it."""
    return json.dumps(payload, separators=(",", ":")).encode()


def _diagnostic(d: Diagnostic) -> dict[str, Any]:
    return {name: getattr(d, name) for name in _DIAGNOSTIC_FIELDS}


def _fix(fix: Fix) -> dict[str, Any]:
    """Exactly `Fix.to_dict()`."""
    return {"title": fix.title, "server": fix.server, "diagnostic": _diagnostic(fix.diagnostic),
            "changes": dict(fix.changes), "bases": dict(fix.bases), "preferred": fix.preferred}


def report_dict(report: Report) -> dict[str, Any]:
    """Exactly `Report.to_dict()` (a test pins it), without `dataclasses.asdict` for each
    diagnostic (and fix), which is most of its cost on a report with hundreds of them."""
    out = dataclasses.replace(report, fixes=(), **{key: () for key in _DIAGNOSTIC_LISTS}
                              ).to_dict()
    for key in _DIAGNOSTIC_LISTS:
        out[key] = [_diagnostic(d) for d in getattr(report, key)]
    out["fixes"] = [_fix(fix) for fix in report.fixes]
    out["ok"] = report.ok
    return out


def report_json(report: Report) -> bytes:
    """``report`` as the daemon's JSON answer (`Report.from_dict` reads it back)."""
    return dumps(report_dict(report))


def candidate_dict(candidate: CandidateReport) -> dict[str, Any]:
    """Exactly `CandidateReport.to_dict()`, with `report_dict` for its report."""
    return {**dataclasses.replace(candidate, report=Report(status=candidate.report.status)
                                  ).to_dict(), "report": report_dict(candidate.report)}


def _shutting_down() -> ApiError:
    return ApiError(503, "ShuttingDown",
                    "the daemon is shutting down; the request was not completed")


def error_for(exc: LspFeedbackError) -> ApiError:
    """The answer for an error the library raised on purpose."""
    kind = type(exc).__name__
    if isinstance(exc, PathOutsideWorkspace):
        return ApiError(400, kind, str(exc), path=exc.path, root=exc.root)
    if isinstance(exc, EditApplyError):
        return ApiError(400, kind, str(exc), path=exc.path, problem=exc.problem, **exc.fields())
    if isinstance(exc, EditError | WorkspaceError):
        extra = {k: getattr(exc, k) for k in ("path", "block", "closest", "closest_line")
                 if getattr(exc, k, None) is not None}
        return ApiError(400, kind, str(exc), **extra)
    if isinstance(exc, ServerError):
        return ApiError(503, kind, str(exc), server=exc.server)
    return ApiError(500, kind, str(exc))
