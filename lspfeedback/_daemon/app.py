"""The daemon's ASGI app: the JSON routes around a `Daemon`, and the checks in front of them.

Semantics (see docs/daemon.md): the engine's own state is the shared base, the disk plus
what was committed, and no request leaves an overlay in it. A verify without a session is
speculative (checked and taken back); a session's overlays live here, per session, and are
laid over the base for that session's requests only. The engine runs one operation at a
time (its lock), so two requests never mix their documents.

Answers are JSON bytes made once by `Daemon.reply` (no second validation against the response
models, which only describe them for ``/openapi.json``; a test pins that they agree).
``POST /v1/verify/progressive`` answers ``application/x-ndjson``: one report per line as each
tier of servers answers, the last one ``"final": true``; an error after the first line is a
line ``{"error": kind, "message": ..., "status": code}`` instead, never silence.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import lspfeedback
from lspfeedback._daemon.metrics import MetricsMiddleware
from lspfeedback._daemon.models import (
    MAX_DEPTH,
    CandidatesRequest,
    CommitResponse,
    DiscardResponse,
    ErrorResponse,
    HealthResponse,
    SessionRequest,
    VerifyRequest,
)
from lspfeedback._daemon.progressive import ReportStream
from lspfeedback._daemon.security import Guard
from lspfeedback._daemon.service import (
    LIST_WITH_SESSION,
    ApiError,
    Daemon,
    DaemonSettings,
    dumps,
    error_for,
)
from lspfeedback._exceptions import LspFeedbackError
from lspfeedback._report import Report
from lspfeedback._schema import CandidateModel, ReportModel


def get_daemon(request: Request) -> Daemon:
    return request.app.state.daemon


DaemonDep = Annotated[Daemon, Depends(get_daemon)]
ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (400, 401, 403, 404, 413, 422, 503)
}
NDJSON = "application/x-ndjson"


def _json(body: bytes) -> Response:
    """An answer already serialised (`Daemon.reply`): sent as it is."""
    return Response(body, media_type="application/json")


def create_app(settings: DaemonSettings) -> FastAPI:
    """The FastAPI app with its guard (Host/Origin, token, body size) and metrics around it."""
    daemon = Daemon(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await daemon.open()
        try:
            yield
        finally:
            await daemon.close()

    app = FastAPI(
        title="lspfeedback daemon", version=lspfeedback.__version__, lifespan=lifespan,
        docs_url=None, redoc_url=None,  # their pages load scripts from a CDN
        description="Type-check and lint feedback from warm language servers, shared by many "
        "agents. Every request needs 'Authorization: Bearer <token>' (see docs/daemon.md).",
    )
    app.state.daemon = daemon
    _add_routes(app)
    _add_error_handlers(app)
    # Added last = outermost: metrics see every request, refused ones included.
    app.add_middleware(Guard, token=settings.token, names=settings.host_names,
                       port=settings.port, max_body=settings.max_body)
    app.add_middleware(MetricsMiddleware, metrics=daemon.metrics)
    app.add_middleware(_CleanStartupError, daemon=daemon)
    return app


def _add_routes(app: FastAPI) -> None:
    @app.post("/v1/verify", response_model=ReportModel, responses=ERRORS)
    async def verify(body: VerifyRequest, daemon: DaemonDep) -> Response:
        """Check an edit and return its report. Speculative unless a session is named."""
        engine = daemon.engine
        if isinstance(body.changes, list):
            if body.session is not None:
                raise ApiError(400, "InvalidRequest", LIST_WITH_SESSION)
            report = await daemon.run(engine.verify(body.changes))
        elif body.session is None:
            report = await daemon.run(engine.verify_speculative(body.changes))
        else:
            async with daemon.session(body.session, create=True) as session:
                # verify_candidates gives the parsed change set back, which the session keeps.
                [result] = await daemon.run(
                    engine.verify_candidates([body.changes], base=dict(session.overlays)))
                session.overlays.update(result.changes)
                report = result.report
        return _json(daemon.reply(report))

    @app.post("/v1/verify/progressive", responses={
        **ERRORS, 200: {"content": {NDJSON: {"schema": {"$ref": "#/components/schemas/ReportModel"}}},
                        "description": "One report per line (NDJSON) as each tier of servers "
                        "answers; the last has final: true. An error after the first line is "
                        'a line {"error": kind, "message": ..., "status": code}.'}})
    async def verify_progressive(body: VerifyRequest, daemon: DaemonDep) -> StreamingResponse:
        """Check an edit as /v1/verify does, answered in tiers: a preview report (final:
        false) as soon as the fast servers (ruff, ty) have answered, then the final report
        (final: true) when every configured server has; just the final one when no server
        is slower. A preview is never the verdict: wait for the line with final: true."""
        stream = daemon.progressive(body.changes, body.session)
        try:
            first = await stream.next()  # an error before any report is an ordinary answer
        except BaseException:
            stream.cancel()
            raise
        if first is None:  # cannot happen: next() raises rather than end without a report
            raise ApiError(500, "InternalError", "the progressive verify gave no report")
        return StreamingResponse(_lines(daemon, stream, first), media_type=NDJSON,
                                 headers={"Cache-Control": "no-store"})

    @app.post("/v1/candidates", response_model=list[CandidateModel], responses=ERRORS)
    async def candidates(body: CandidatesRequest, daemon: DaemonDep) -> Response:
        """Check each candidate against the same base (a session's overlays if named); best
        first. Nothing is kept, not even in the session."""
        engine = daemon.engine
        if body.session is None or body.session not in daemon.sessions:
            ranked = await daemon.run(engine.verify_candidates(body.candidates,
                                                               confirm=body.confirm))
        else:
            async with daemon.session(body.session, create=False) as session:
                ranked = await daemon.run(engine.verify_candidates(
                    body.candidates, base=dict(session.overlays), confirm=body.confirm))
        return _json(daemon.reply_candidates(ranked))

    @app.post("/v1/commit", response_model=CommitResponse, responses=ERRORS)
    async def commit(body: SessionRequest, daemon: DaemonDep) -> dict[str, Any]:
        """Write the session's overlays to disk atomically, then forget the session."""
        async with daemon.session(body.session, create=False) as session:
            written = await daemon.run(daemon.engine.commit(dict(session.overlays)))
            session.overlays.clear()  # an empty session is forgotten
        return {"written": written}

    @app.post("/v1/discard", response_model=DiscardResponse, responses=ERRORS)
    async def discard(body: SessionRequest, daemon: DaemonDep) -> dict[str, Any]:
        """Drop the session's overlays (an unknown session has none)."""
        if body.session not in daemon.sessions:
            return {"discarded": []}
        async with daemon.session(body.session, create=False) as session:
            dropped = sorted(session.overlays)
            session.overlays.clear()  # an empty session is forgotten
        return {"discarded": dropped}

    @app.get("/v1/diagnostics", response_model=ReportModel, responses=ERRORS)
    async def diagnostics(
        daemon: DaemonDep,
        path: Annotated[list[str], Query(min_length=1, description="repeat for several")],
    ) -> Response:
        """Current diagnostics of the paths in the shared base (no change, no importers)."""
        return _json(daemon.reply(await daemon.run(daemon.engine.diagnostics(path))))

    @app.get("/v1/health", response_model=HealthResponse, responses=ERRORS)
    async def health(daemon: DaemonDep) -> dict[str, Any]:
        """The servers, sessions and uptime; answers while other requests run."""
        return daemon.health()

    @app.get("/metrics", response_class=PlainTextResponse, responses=ERRORS)
    async def metrics(daemon: DaemonDep) -> PlainTextResponse:
        """Prometheus text format."""
        return PlainTextResponse(daemon.render_metrics(),
                                 media_type="text/plain; version=0.0.4; charset=utf-8")


async def _lines(daemon: Daemon, stream: ReportStream, first: Report) -> AsyncIterator[bytes]:
    """The NDJSON body: each report as it comes, or an error line where the stream broke."""
    try:
        report: Report | None = first
        while report is not None:
            yield daemon.reply(report) + b"\n"
            try:
                report = await stream.next()
            except ApiError as exc:
                yield _error_line(exc)
                return
            except LspFeedbackError as exc:
                yield _error_line(error_for(exc))
                return
            except Exception as exc:  # noqa: BLE001 - an error line, never a cut-off stream
                yield _error_line(ApiError(500, "InternalError", f"{type(exc).__name__}: {exc}"))
                return
    finally:
        stream.cancel()  # a reader gone mid-stream: stop the work (it takes the edit back)


def _error_line(error: ApiError) -> bytes:
    return dumps({**error.body, "status": error.status}) + b"\n"


def _add_error_handlers(app: FastAPI) -> None:
    def answer(error: ApiError) -> JSONResponse:
        return JSONResponse(error.body, status_code=error.status)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return answer(exc)

    @app.exception_handler(LspFeedbackError)
    async def library_error(_: Request, exc: LspFeedbackError) -> JSONResponse:
        return answer(error_for(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                             for e in exc.errors())
        return answer(ApiError(422, "InvalidRequest", problems or "invalid request"))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if (unreadable := _unreadable_body(exc)) is not None:
            return answer(ApiError(422, "InvalidRequest", unreadable))
        kind = {404: "NotFound", 405: "MethodNotAllowed"}.get(exc.status_code, "HTTPError")
        return answer(ApiError(exc.status_code, kind, str(exc.detail)))

    @app.exception_handler(Exception)
    async def internal(_: Request, exc: Exception) -> JSONResponse:
        return answer(ApiError(500, "InternalError", f"{type(exc).__name__}: {exc}"))


def _unreadable_body(exc: StarletteHTTPException) -> str | None:
    """Why the body could not be parsed as JSON, if that is what ``exc`` says.

    FastAPI answers 422 for a body with a JSON syntax error, but a bare 400 when json.loads
    fails otherwise: a body nested too deeply for the parser (RecursionError; 200 KB of
    ``[`` are enough) or one not in UTF-8. Both are bodies of the wrong shape: 422.
    """
    cause = exc.__cause__
    if exc.status_code != 400:
        return None
    if isinstance(cause, RecursionError):
        return f"the JSON body nests too deeply to parse (edits nest at most {MAX_DEPTH} levels)"
    if isinstance(cause, ValueError):  # UnicodeDecodeError among them
        return f"the body is not JSON: {cause}"
    return None


class _CleanStartupError:
    """Lets a failed start (a server not installed, say) end with its one-line message
    instead of the traceback Starlette puts in the lifespan's failure message."""

    def __init__(self, app: ASGIApp, *, daemon: Daemon) -> None:
        self.app = app
        self.daemon = daemon

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_clean(message: Message) -> None:
            error = self.daemon.startup_error
            if message["type"] == "lifespan.startup.failed" and isinstance(error, LspFeedbackError):
                message = {**message, "message": f"lspfeedback: error: {error}"}
            await send(message)

        await self.app(scope, receive, send_clean)
