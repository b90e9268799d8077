"""lspfeedback as a Model Context Protocol server, for agents that speak MCP.

    lspfeedback mcp --root PATH [--server S]... [--timeout SECONDS] [--replicas N]

needs the ``mcp`` extra (``pip install 'lspfeedback[mcp]'``) and serves over stdio. One warm
`AsyncVerifier` for the root is the server's lifespan state: its language servers start
before the first request is answered and stop when the client disconnects (or on SIGTERM /
SIGINT), so no language server outlives the MCP server. From Python: `create_server` builds
the server (for any MCP transport, or the SDK's in-memory client), `serve_stdio` serves one
over stdio, and `run` does both as the command does.

Tools: ``verify``, ``check_files``, ``verify_candidates``, ``commit``, ``discard`` and
``diagnostics``. Each
returns the library's JSON (`Report.to_dict`, `CandidateReport.to_dict`) as structured
content, described by an output schema, and the report's text (one line per diagnostic) as
content. A bad edit (`EditError`, `PathOutsideWorkspace`, any `LspFeedbackError`) comes back
as a tool error carrying the library's message; a server that cannot answer is a report with
status ``"unknown"``, as everywhere in lspfeedback.

The progressive verdict: when the caller of ``verify`` gave a progress token
(``_meta.progressToken``), the tool sends the preview (the fast servers' report, ruff and ty,
as text starting with "preview") in a ``notifications/progress`` (progress 1 of 2) as soon as
it is there, and returns the final report as its result; without a token it answers as
before. A preview is never the result. Tools run one at a time on the verifier (a lock), so
a speculative progressive check, which lays its edit and takes it back around the engine's
own lock, is never seen by another call.

This module is ``lspfeedback.mcp``; ``import mcp`` below is the MCP SDK (imports are absolute).
"""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import sys
import weakref
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import anyio
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field

from lspfeedback import __version__
from lspfeedback._daemon.progressive import speculative_progressive
from lspfeedback._engine import AsyncVerifier
from lspfeedback._exceptions import LspFeedbackError
from lspfeedback._options import VerifierOptions
from lspfeedback._report import CandidateReport, Report
from lspfeedback._schema import CandidateModel, ReportModel

__all__ = ["LogLevel", "create_server", "run", "serve_stdio"]

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
"""What the MCP server logs on stderr (stdout is the protocol channel)."""
VerifierContext = Context[AsyncVerifier, Any]
"""What a tool receives: the request context, whose lifespan state is the warm verifier."""


# ---- output schemas: the library's to_dict() shapes (lspfeedback._schema) -------------------

class _Out(BaseModel):
    """A tool's output schema: exact (``additionalProperties: false``), each field described
    by its docstring."""

    model_config: ClassVar[ConfigDict] = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class CandidatesOut(_Out):
    """The candidates, best first."""

    candidates: list[CandidateModel]


class NotCheckedModel(_Out):
    """A file given to check_files that no server checks."""

    path: str
    reason: str


class _CheckOut(ReportModel):
    """The report of check_files, and what its `introduced` compares with. (Private: the
    public API does not carry the report models' pydantic internals.)"""

    model_config: ClassVar[ConfigDict] = ConfigDict(
        extra="forbid", use_attribute_docstrings=True, title="CheckOut")

    baseline: Literal["daemon", "git", "none"]
    """"daemon": this server's last known text of every file; "git": the git index (a file
    git does not know is new: compared with its absence); "none": the files' absence."""
    baseline_detail: str
    """The baseline in words (new files, no git repository, ...)."""
    not_checked: list[NotCheckedModel]
    """Files given that no server checks (not Python): nothing is said about them."""


class PathsOut(_Out):
    """The files the call acted on."""

    paths: list[str]


# ---- tools ----------------------------------------------------------------------------------
# Each tool's docstring is its description for the model: it says what to pass and how to
# read the answer, since that is all an agent sees.

ChangesArg = Annotated[
    dict[str, str] | str,
    Field(description=(
        "The edit. Either a JSON object mapping file paths (relative to the workspace root) "
        "to their complete new text, or a string holding a unified diff (git style, several "
        "files allowed) or search/replace blocks: a file path on its own line, then "
        "'<<<<<<< SEARCH', the current lines, '=======', the new lines, '>>>>>>> REPLACE'."
    )),
]


async def verify(
    ctx: VerifierContext,
    changes: ChangesArg,
    speculative: Annotated[bool, Field(description=(
        "true (default): check the edit and take it back. false: keep it in memory so that "
        "later calls build on it; commit writes it to disk, discard drops it."
    ))] = True,
) -> Annotated[CallToolResult, ReportModel]:
    """Type-check and lint an edit with warm language servers (pyright and ruff by default)
    without writing it to disk, and get the diagnostics it causes in the edited files and in
    the files that import them.

    Call it before writing an edit: `ok` false means the edit introduced an error, and
    `introduced` says where (often in another file that calls what you changed). `status` is
    "clean", "errors" or "unknown" (a server could not answer in time: not clean). `resolved`
    lists what the edit fixed, `diagnostics` everything current in `checked_files`. Lines and
    columns are 1-based. An edit that does not apply (search text not found, ambiguous, a
    path outside the workspace) is an error naming the file and showing the closest text;
    nothing is changed then. With a progress token, a preview from the fast servers comes
    first as a progress notification; the result is always the final report.
    """
    verifier = ctx.request_context.lifespan_context
    with _library_errors():
        async with _exclusive(verifier):
            if _progress_requested(ctx):
                report = await _progressively(ctx, verifier, changes, speculative)
            elif speculative:
                report = await verifier.verify_speculative(changes)
            else:
                report = await verifier.verify(changes)
    return _report_result(report)


def _progress_requested(ctx: VerifierContext) -> bool:
    meta = ctx.request_context.meta
    return bool(meta) and meta.get("progress_token") is not None  # type: ignore[union-attr]


async def _progressively(ctx: VerifierContext, verifier: AsyncVerifier,
                         changes: dict[str, str] | str, speculative: bool) -> Report:
    """The final report; the preview goes out as a progress notification before it."""
    reports = (speculative_progressive(verifier, changes) if speculative
               else verifier.verify_progressive(changes))
    async with contextlib.aclosing(reports):
        async for report in reports:
            if report.final:
                return report
            await ctx.report_progress(1, 2, str(report))
    raise ToolError("the check ended after its preview, without a final report: nothing is "
                    "vouched for; call verify again")


_LOCKS: weakref.WeakKeyDictionary[AsyncVerifier, anyio.Lock] = weakref.WeakKeyDictionary()


def _exclusive(verifier: AsyncVerifier) -> anyio.Lock:
    """One tool at a time on ``verifier`` (see the module docstring)."""
    return _LOCKS.setdefault(verifier, anyio.Lock())


async def check_files(
    ctx: VerifierContext,
    paths: Annotated[list[str], Field(description=(
        "Files you already wrote to disk with your own tools, relative to the workspace root."
    ))],
) -> Annotated[CallToolResult, _CheckOut]:
    """Check files already written to disk: what did the writes break? Reports the type and
    lint errors the files' current text introduced, in them and in the files that import them,
    compared with the state before the writes: this server's last known text of each file when
    it has seen them all (from an earlier check_files), else the git index (a new file is
    compared with its absence). `baseline` says which.

    `ok` false means an error was introduced; `introduced` says where (often in another file
    that uses what you changed). Errors that were there before are not introduced (they are in
    `diagnostics`). `status` "unknown" means a server could not answer: not clean. Files that
    no server checks (not Python) are listed in `not_checked`. Nothing is written.
    """
    from lspfeedback._check import CheckUsageError, Memory, check_with, relative_paths

    verifier = ctx.request_context.lifespan_context
    rels, outside = relative_paths(verifier.root, paths, verifier.root)
    if outside:
        raise ToolError(f"outside the workspace {verifier.root}: {', '.join(outside)}; pass paths "
                        "relative to the workspace root")
    with _library_errors():
        try:
            async with _exclusive(verifier):
                outcome = await check_with(verifier, rels, _MEMORY.setdefault(verifier, Memory()))
        except CheckUsageError as exc:
            raise ToolError(str(exc)) from exc
    data = outcome.to_dict()
    for key in ("via", "check_notes"):
        data.pop(key)
    text = str(outcome.report) + f"\n  baseline: {outcome.baseline_detail}" + "".join(
        f"\n  not checked: {p} ({why})" for p, why in outcome.not_checked)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


_MEMORY: weakref.WeakKeyDictionary[AsyncVerifier, Any] = weakref.WeakKeyDictionary()
"""Per verifier: what check_files remembers (`lspfeedback._check.Memory`: the files handed to
it, what they were, the baselines pinned by a failing check)."""


async def verify_candidates(
    ctx: VerifierContext,
    candidates: Annotated[list[dict[str, str] | str], Field(description=(
        "Alternative edits, each in the same form as `changes` of verify (an object path -> "
        "full new text, or a unified diff or search/replace blocks as a string)."
    ))],
    confirm: Annotated[int | None, Field(ge=1, description=(
        "Rank every candidate with the fast servers (ruff, ty) only, then confirm the best "
        "with every server, in rank order until one confirmed is ok, at most this many. A "
        "report that was not confirmed has final false. Default: every server checks every "
        "candidate."
    ))] = None,
) -> Annotated[CallToolResult, CandidatesOut]:
    """Check several alternative edits against the same starting state and rank them, best
    first, to choose one before writing it. Nothing is kept.

    Ranking: known status first, then no introduced errors, fewest introduced errors, fewest
    introduced warnings, smallest change. Each result has `index` (its position in your
    list, from 0), `rank` (1 is best), `changes` (as path -> full new text) and `report` (as
    from verify: `ok`, `status`, `introduced`, ...). To keep the winner, call verify with the
    same candidate and speculative=false, then commit; or write it yourself. If any
    candidate does not apply, the call is an error and none is checked.
    """
    verifier = ctx.request_context.lifespan_context
    with _library_errors():
        async with _exclusive(verifier):
            ranked = await verifier.verify_candidates(candidates, confirm=confirm)
    return CallToolResult(
        content=[TextContent(type="text", text=_candidates_text(ranked))],
        structured_content={"candidates": [c.to_dict() for c in ranked]},
    )


async def commit(ctx: VerifierContext) -> Annotated[CallToolResult, PathsOut]:
    """Write every edit kept by verify with speculative=false to disk (each file atomically;
    deleted files are deleted) and return the paths written. Speculative checks (the default)
    keep nothing, so there is nothing to commit after them."""
    verifier = ctx.request_context.lifespan_context
    with _library_errors():
        async with _exclusive(verifier):
            paths = await verifier.commit()
    return _paths_result(paths, "committed", "nothing to commit: no edit is kept")


async def discard(ctx: VerifierContext) -> Annotated[CallToolResult, PathsOut]:
    """Drop every edit kept by verify with speculative=false, without writing anything, and
    return the paths dropped. The servers see the files on disk again."""
    verifier = ctx.request_context.lifespan_context
    with _library_errors():
        async with _exclusive(verifier):
            paths = await verifier.discard()
    return _paths_result(paths, "discarded", "nothing to discard: no edit is kept")


async def diagnostics(
    ctx: VerifierContext,
    paths: Annotated[list[str], Field(description=(
        "Files to check, relative to the workspace root."
    ))],
) -> Annotated[CallToolResult, ReportModel]:
    """The current type-check and lint diagnostics of some files as they are now: on disk,
    with any edit kept by verify (speculative=false) over them. Use it after writing files
    with your own tools. Nothing is changed and importers are not checked, so `introduced`
    and `resolved` are empty; read `diagnostics` and `status`."""
    verifier = ctx.request_context.lifespan_context
    with _library_errors():
        async with _exclusive(verifier):
            report = await verifier.diagnostics(paths)
    return _report_result(report)


_READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False)
"""The files on disk are the environment: only commit writes to it."""

TOOLS: tuple[tuple[Callable[..., Any], str, ToolAnnotations], ...] = (
    (verify, "Check an edit", _READ_ONLY),
    (check_files, "Check files already written", _READ_ONLY),
    (verify_candidates, "Rank alternative edits", _READ_ONLY),
    (commit, "Write kept edits to disk", ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=True, open_world_hint=False)),
    (discard, "Drop kept edits", _READ_ONLY),
    (diagnostics, "Current diagnostics", _READ_ONLY),
)
"""The tools `create_server` registers: each function (its docstring is the description the
model reads), its title and its hints."""


@contextmanager
def _library_errors() -> Iterator[None]:
    """Turn the library's deliberate errors into tool errors carrying its message (which
    says which file and shows the closest text), for the model to read and correct."""
    try:
        yield
    except LspFeedbackError as exc:
        raise ToolError(str(exc)) from exc


def _report_result(report: Report) -> CallToolResult:
    return CallToolResult(content=[TextContent(type="text", text=str(report))],
                          structured_content=report.to_dict())


def _candidates_text(ranked: Sequence[CandidateReport]) -> str:
    return "\n".join(str(c) for c in ranked) or "no candidates"


def _paths_result(paths: list[str], done: str, nothing: str) -> CallToolResult:
    text = f"{done} {len(paths)} files: {', '.join(paths)}" if paths else nothing
    return CallToolResult(content=[TextContent(type="text", text=text)],
                          structured_content={"paths": paths})


# ---- the server -----------------------------------------------------------------------------

def create_server(
    root: str | os.PathLike[str],
    options: VerifierOptions | None = None,
    *,
    log_level: LogLevel = "WARNING",
) -> MCPServer[AsyncVerifier]:
    """The MCP server for ``root``; nothing starts until it runs.

    Its lifespan creates one `AsyncVerifier` with ``options``, starts its servers before
    serving, and closes it when the connection ends. Use `serve_stdio` (or any MCP transport)
    to run it.
    """
    options = options or VerifierOptions()

    @asynccontextmanager
    async def lifespan(_: MCPServer[AsyncVerifier]) -> AsyncIterator[AsyncVerifier]:
        verifier = AsyncVerifier(root, options)
        try:
            await verifier.start()
            yield verifier
        finally:
            # Shielded: a cancelled server (a signal, the client gone) must still stop the
            # language servers, which live in their own process groups.
            with anyio.CancelScope(shield=True):
                await verifier.close()
            _end_process_if_signalled()

    names = ", ".join(options.server_names)
    server = MCPServer[AsyncVerifier](
        "lspfeedback",
        instructions=(
            f"lspfeedback keeps language servers ({names}) warm on the workspace "
            f"{Path(root).resolve()}. Before writing an edit, pass it to `verify` to see the "
            "type and lint errors it would introduce, in the edited file and in the files "
            "that import it, in milliseconds; `ok: false` means it breaks something. After "
            "writing files with your own tools, pass them to `check_files`. Paths are relative "
            "to the workspace root."
        ),
        version=__version__,
        lifespan=lifespan,
        log_level=log_level,
    )
    for fn, title, hints in TOOLS:
        server.add_tool(fn, title=title, description=inspect.cleandoc(fn.__doc__ or ""),
                        annotations=hints)
    return server


async def serve_stdio(server: MCPServer[Any]) -> None:
    """Serve ``server`` over stdin/stdout until the client closes stdin, or SIGTERM/SIGINT.

    A signal cancels the server instead of killing the process, so that its lifespan still
    stops the language servers (MCP clients send SIGTERM when a server is slow to exit);
    then the process ends by that signal.
    """
    async with anyio.create_task_group() as tg:

        async def stop_on_signal() -> None:
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    _received_signals.append(signum)
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(stop_on_signal)
        await server.run_stdio_async()
        tg.cancel_scope.cancel()


_received_signals: list[int] = []
"""Signals `serve_stdio` received. Signals belong to the process, hence module state."""


def _end_process_if_signalled() -> None:
    """After a signal, end the process by it once the language servers are stopped.

    Cancelling the server is not enough to exit: the MCP SDK reads stdin in a worker thread
    that cannot be cancelled, so the process would linger until stdin closes.
    """
    if _received_signals:
        signum = _received_signals[0]
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


def run(
    root: str | os.PathLike[str],
    options: VerifierOptions | None = None,
    *,
    log_level: LogLevel = "WARNING",
) -> int:
    """Serve ``root`` over stdio until the client disconnects or a signal ends it.

    What ``lspfeedback mcp`` runs. Returns 0 on a clean exit, 2 when the language servers
    could not start (each reason on one line of stderr; stdout is the protocol channel).
    """
    server = create_server(root, options, log_level=log_level)
    failed: list[BaseException] = []
    try:
        anyio.run(serve_stdio, server)
    except* LspFeedbackError as group:
        failed = _leaves(group)
    # A server that is not installed or would not start: one line each on stderr, not a
    # traceback through anyio's task groups.
    for exc in failed:
        print(f"lspfeedback mcp: error: {exc}", file=sys.stderr)
    return 2 if failed else 0


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for inner in exc.exceptions for leaf in _leaves(inner)]
    return [exc]
