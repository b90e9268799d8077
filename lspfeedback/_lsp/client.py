"""A language-server client on pygls, with what pygls lacks wrapped around it.

pygls gives us typed messages (lsprotocol) and request futures. It has no request deadline,
no ``$/cancelRequest``, no bounds on what it reads, never drains the server's stderr and never
kills the server. `LspClient` adds those: it starts the process and reads its messages itself
(through the bounded `FrameParser`; a server that breaks the framing is killed, and every wait
on it ends with a `ServerCrashed` naming the fault), answers every server→client request the
way LSP 3.17 asks, and keeps versioned ``publishDiagnostics`` so callers can wait for the
diagnostics of one exact version.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
import os
import signal
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.client import LanguageClient
from pygls.protocol import JsonRPCResponseMessage, LanguageServerProtocol

from lspfeedback._exceptions import RequestTimeout, ServerCrashed, ServerStartError
from lspfeedback._lsp.framing import FrameParser, FramingError, decode_message
from lspfeedback._lsp.handlers import install_handlers
from lspfeedback._lsp.progress import ProgressTracker
from lspfeedback._lsp.published import LATEST_LIMIT, PublishedDiagnostics
from lspfeedback._lsp.requests import Requests, Structure
from lspfeedback._lsp.writer import BatchedWriter

__all__ = ["LATEST_LIMIT", "LspClient", "PublishedDiagnostics", "client_capabilities"]

log = logging.getLogger(__name__)

T = TypeVar("T")

STDERR_LIMIT = 64 * 1024
"""Bytes of a server's stderr kept for error messages."""

READ_CHUNK = 64 * 1024
"""Bytes read from the server's stdout at a time (the parser takes any chunking)."""

SHUTDOWN_GRACE = 2.0
"""Seconds a server gets to answer ``shutdown`` and to exit before its process group is killed."""

ConfigurationProvider = Callable[[str | None, str | None], Any]
"""Answers one ``workspace/configuration`` item: ``(section, scope_uri) -> value or None``."""


def client_capabilities() -> types.ClientCapabilities:
    """What we honestly support: pull and versioned push diagnostics, configuration,
    dynamic registration, work-done progress, watched files, and all three encodings."""
    return types.ClientCapabilities(
        general=types.GeneralClientCapabilities(
            position_encodings=[
                types.PositionEncodingKind.Utf16,
                types.PositionEncodingKind.Utf32,
                types.PositionEncodingKind.Utf8,
            ]
        ),
        window=types.WindowClientCapabilities(work_done_progress=True),
        workspace=types.WorkspaceClientCapabilities(
            configuration=True,
            workspace_folders=True,
            did_change_configuration=types.DidChangeConfigurationClientCapabilities(
                dynamic_registration=True
            ),
            did_change_watched_files=types.DidChangeWatchedFilesClientCapabilities(
                dynamic_registration=True, relative_pattern_support=True
            ),
            diagnostics=types.DiagnosticWorkspaceClientCapabilities(refresh_support=True),
            file_operations=types.FileOperationClientCapabilities(
                did_create=True, did_rename=True, did_delete=True
            ),
        ),
        text_document=types.TextDocumentClientCapabilities(
            synchronization=types.TextDocumentSyncClientCapabilities(
                dynamic_registration=True, did_save=True
            ),
            publish_diagnostics=types.PublishDiagnosticsClientCapabilities(
                related_information=True,
                version_support=True,
                code_description_support=True,
                data_support=True,
                tag_support=types.ClientDiagnosticsTagOptions(
                    value_set=[types.DiagnosticTag.Unnecessary, types.DiagnosticTag.Deprecated]
                ),
            ),
            diagnostic=types.DiagnosticClientCapabilities(
                dynamic_registration=True, related_document_support=False
            ),
            # Quick fixes as code-action literals with their edit (LSP lets a server send only
            # commands to a client that does not say so). No resolveSupport for "edit": ruff
            # would then hold its edits back for an extra round trip.
            code_action=types.CodeActionClientCapabilities(
                code_action_literal_support=types.ClientCodeActionLiteralOptions(
                    code_action_kind=types.ClientCodeActionKindOptions(
                        value_set=[types.CodeActionKind.QuickFix])),
                is_preferred_support=True,
            ),
        ),
    )


class _LenientProtocol(LanguageServerProtocol):
    """pygls's protocol, except that a response lsprotocol cannot structure (a server using a
    shape the converter does not know) arrives as a raw dict instead of being dropped, which
    would leave its request waiting forever."""

    def _register_builtin_features(self) -> None:
        # LanguageServerProtocol's built-in features are a *server's* answers to a client
        # (initialize, shutdown, exit, didOpen...). Here they would answer the server: its
        # `exit` would call sys.exit in our process, its `shutdown` cancel our requests.
        return

    def structure_message(self, data: dict[str, Any]) -> Any:
        result = data.get("result")
        if isinstance(result, dict) and isinstance(result.get("capabilities"), dict):
            # We open no notebooks, and lsprotocol cannot structure some notebook selectors
            # (ruff's): leave them out of the initialize result.
            result["capabilities"].pop("notebookDocumentSync", None)
        try:
            return super().structure_message(data)
        except JsonRpcException:
            if "id" in data and "method" not in data and "error" not in data:
                log.debug("raw result for %s: lsprotocol could not structure it", data.get("id"))
                return JsonRPCResponseMessage(id=data["id"], jsonrpc=data["jsonrpc"], result=data.get("result"))
            raise

    def handle_message(self, message: Any) -> None:
        # What pygls's handle_message does for what reaches it (requests and notifications
        # from the server: `LspClient` answers our own requests itself), without its
        # runtime-checkable Protocol isinstance checks (~30 µs a message).
        if getattr(message, "jsonrpc", None) != "2.0" or getattr(message, "method", None) is None:
            super().handle_message(message)
            return
        ctx = contextvars.copy_context()
        if hasattr(message, "id"):
            ctx.run(self._handle_request, message.id, message.method, message.params)
        else:
            ctx.run(self._handle_notification, message.method, message.params)


def structure_leniently(converter: Any, raw: Any, cls: type[Any], drop: tuple[str, ...] = ()) -> Any:
    """Structure ``raw`` as ``cls``, leaving out the ``drop`` keys if it fails with them."""
    try:
        return converter.structure(raw, cls)
    except Exception:
        if not isinstance(raw, dict) or not drop:
            raise
        return converter.structure({k: v for k, v in raw.items() if k not in drop}, cls)


class LspClient:
    """One language-server process and the LSP conversation with it.

    ``name`` labels errors. ``configuration`` answers ``workspace/configuration``. All waits
    take a deadline; on expiry the request is cancelled with ``$/cancelRequest`` and
    `RequestTimeout` is raised. If the process exits, every wait ends with `ServerCrashed`.
    """

    def __init__(
        self,
        name: str,
        command: Sequence[str],
        *,
        cwd: str,
        env: Mapping[str, str] | None = None,
        configuration: ConfigurationProvider | None = None,
        preexec: Callable[[], None] | None = None,
        own_pid_namespace: bool = False,
    ) -> None:
        self.name = name
        self._preexec = preexec
        # A server in a pid namespace of its own cannot see our pid: told it, servers that
        # watch their parent (pyright every few seconds) decide it died and exit.
        self._process_id = None if own_pid_namespace else os.getpid()
        self.command = list(command)
        self.cwd = cwd
        self.env = dict(env) if env is not None else None
        self.configuration: ConfigurationProvider = configuration or (lambda section, scope: None)
        """Answers ``workspace/configuration`` items: (section, scope URI) -> value or None."""
        self._client = LanguageClient("lspfeedback", "0.1.0", protocol_cls=_LenientProtocol)
        self._process: asyncio.subprocess.Process | None = None
        self._stderr: collections.deque[bytes] = collections.deque()
        self._stderr_size = 0
        self._tasks: list[asyncio.Task[Any]] = []
        self._exited: asyncio.Future[int] | None = None
        self.framing_error: str | None = None
        """Why the server was killed for an unreadable message (see `FrameParser`), if it was."""
        self.published = PublishedDiagnostics()
        self.registrations: dict[str, types.Registration] = {}
        self.registered = asyncio.Event()  # set on every registerCapability
        self.on_exit: Callable[[ServerCrashed], None] | None = None
        """Called once the process has exited (with its exit code and last stderr), whoever
        is talking to it: a supervisor restarts it without waiting for the next call."""
        self.server_capabilities: types.ServerCapabilities | None = None
        self.progress = ProgressTracker(name)
        """The server's work-done progress (``$/progress``)."""
        self.requests = Requests(name, self._client.protocol)
        """Our requests in flight, and how many of each were sent."""
        self.writer: BatchedWriter | None = None
        """What pygls writes through: one pipe write per step (set at start)."""
        install_handlers(self, self._client)

    def __repr__(self) -> str:
        state = "not started" if self._process is None else (
            f"pid {self._process.pid}" if self.alive else f"exited {self._process.returncode}"
        )
        return f"<LspClient {self.name} {state}>"

    # ---- process ---------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def alive(self) -> bool:
        """Whether the process still runs. Asks the OS, not only asyncio, which learns of a
        death a loop iteration late (a server killed between two calls must be seen dead)."""
        if self._process is None or self._process.returncode is not None:
            return False
        try:
            exited = os.waitid(os.P_PID, self._process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return False  # already reaped by asyncio's child watcher
        return exited is None

    @property
    def returncode(self) -> int | None:
        return self._process.returncode if self._process is not None else None

    @property
    def converter(self) -> Any:
        """lsprotocol's converter, as pygls configured it."""
        return self._client.protocol._converter

    def stderr_tail(self) -> str:
        """The last bytes the server wrote to stderr (bounded), decoded leniently."""
        return b"".join(self._stderr).decode("utf-8", "replace")

    async def start(self) -> None:
        """Spawn the server in its own process group (so that stop can kill the whole tree)
        and start reading its stdout, its stderr and its exit."""
        try:
            # What pygls's start_io does, except that we read the messages (bounded).
            process = await asyncio.create_subprocess_exec(
                self.command[0],
                *self.command[1:],
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                cwd=self.cwd,
                env=self.env,
                start_new_session=True,
                preexec_fn=self._preexec,
            )
        except OSError as exc:
            raise ServerStartError(self.name, f"cannot run {self.command[0]!r}: {exc}") from exc
        if process.stdin is None or process.stdout is None or process.stderr is None:
            raise ServerStartError(self.name, "the server process has no pipes")
        self._process = process
        loop = asyncio.get_running_loop()
        self.writer = BatchedWriter(process.stdin, loop)
        self._client.protocol.set_writer(self.writer)
        self._client._server = process  # pygls's exit handling (and others) read it
        self._exited = loop.create_future()
        self._tasks.append(loop.create_task(self._drain_stderr(process.stderr)))
        self._tasks.append(loop.create_task(self._watch_exit(process)))
        self._tasks.append(loop.create_task(self._read_messages(process.stdout)))
        # pygls's own exit handler fails its pending request futures and sets its stop event.
        self._client._async_tasks.append(loop.create_task(self._client._server_exit()))

    async def _read_messages(self, stream: asyncio.StreamReader) -> None:
        """Hand each message to pygls's protocol; kill the server on a framing fault."""
        parser = FrameParser()
        try:
            while not self._client.stopped and (chunk := await stream.read(READ_CHUNK)):
                for body in parser.frames(chunk):
                    self._handle(decode_message(body))
        except FramingError as exc:
            self._framing_fault(exc.reason)
            # Read on to the end, unread: asyncio's process.wait() (so the exit watcher) ends
            # only once stdout saw EOF, and a reader that stopped with a full buffer never would.
            while await stream.read(READ_CHUNK):
                pass

    def _handle(self, message: dict[str, Any]) -> None:
        if "method" not in message:  # an answer to one of our requests
            self.requests.answer(message)
            return
        method = message["method"]
        protocol = self._client.protocol
        # pyright wraps every check in work-done progress: a create request and three
        # ``$/progress``. Through pygls's converter and dispatch they took 0.4 ms of the
        # event loop per check, so they are read here (the tracker takes the raw value).
        if method == types.PROGRESS:
            params = message.get("params")
            if isinstance(params, dict) and isinstance(params.get("token"), (int, str)):
                self.progress.update(params["token"], params.get("value"))
            return
        if method == types.WINDOW_WORK_DONE_PROGRESS_CREATE and "id" in message:
            protocol._send_response(message["id"], None)  # pyright: ignore[reportPrivateUsage]
            return
        try:
            structured: Any = protocol.structure_message(message)
        except JsonRpcException:
            # Well framed, but with params lsprotocol cannot read: skipped, as pygls does (a
            # wait for it ends at its deadline, never with a wrong answer).
            log.warning("%s: unreadable %s message skipped", self.name,
                        message.get("method", "response"), exc_info=True)
            return
        try:
            protocol.handle_message(structured)
        except Exception:  # a handler's bug must not stop the reading (pygls logs too)
            log.exception("%s: handling %s failed", self.name, message.get("method", "response"))

    def _framing_fault(self, reason: str) -> None:
        # After a framing error nothing later on the stream can be trusted (not even where the
        # next message starts): end the conversation. The exit watcher then fails every wait.
        log.warning("%s sent an unreadable message (%s): killing it", self.name, reason)
        self.framing_error = reason
        self.kill()

    async def _drain_stderr(self, stream: asyncio.StreamReader) -> None:
        # An undrained stderr pipe fills up and blocks the server: always read it.
        while chunk := await stream.read(4096):
            self._stderr.append(chunk)
            self._stderr_size += len(chunk)
            while self._stderr_size > STDERR_LIMIT and len(self._stderr) > 1:
                self._stderr_size -= len(self._stderr.popleft())

    async def _watch_exit(self, process: asyncio.subprocess.Process) -> None:
        code = await process.wait()
        # Let the stderr reader catch the last words before anyone builds an error from them.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._tasks[0]), SHUTDOWN_GRACE)
        if self._exited is not None and not self._exited.done():
            self._exited.set_result(code)
        self.requests.fail_all(self.crashed_error())
        self.published.fail_all(self.crashed_error())
        if self.on_exit is not None:
            self.on_exit(self.crashed_error())

    async def crash_report(self) -> ServerCrashed:
        """`crashed_error` once the exit watcher has the exit code and the last of stderr
        (a server behind a sandbox is reaped a moment after its pipes close)."""
        if self._exited is not None and not self._exited.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._exited), SHUTDOWN_GRACE)
        return self.crashed_error()

    def crashed_error(self) -> ServerCrashed:
        if self.framing_error is not None:  # we killed it: its exit code says nothing
            return ServerCrashed(self.name, f"server sent an unreadable message: "
                                 f"{self.framing_error}; the session was ended", self.stderr_tail())
        code = self.returncode
        if code is None and self._process is not None:
            # Exited but not reaped yet (asyncio's watcher runs later): read the status
            # without reaping it.
            with contextlib.suppress(ChildProcessError, OSError):
                info = os.waitid(os.P_PID, self._process.pid,
                                 os.WEXITED | os.WNOHANG | os.WNOWAIT)
                if info is not None:
                    code = info.si_status if info.si_code == os.CLD_EXITED else -info.si_status
        return ServerCrashed(self.name, f"server process exited with code {code}", self.stderr_tail())

    # ---- requests --------------------------------------------------------------------------

    async def request(self, method: str, params: Any, timeout: float, *,
                      structure: Structure | None = None) -> Any:
        """Send a request and wait at most ``timeout`` seconds for its result (given to
        ``structure`` when there is one, else structured by pygls, leniently).

        On expiry the server is told with ``$/cancelRequest`` and `RequestTimeout` is raised.
        If the server exits first, `ServerCrashed` is raised. Error responses raise
        pygls's `JsonRpcException`.
        """
        if not self.alive:
            # Its exit code and last stderr: the exit watcher may not have read them yet.
            raise await self.crash_report()
        msg_id, future = self.requests.send(method, params, structure)
        try:
            return await self._wait(future, timeout)
        except RequestTimeout:
            self.requests.forget(msg_id)  # a late answer is dropped quietly
            if self.alive:
                self.notify(types.CANCEL_REQUEST, types.CancelParams(id=msg_id))
            raise RequestTimeout(
                self.name, f"{method} got no answer within {timeout:.1f} s (cancelled)"
            ) from None
        except asyncio.CancelledError:
            self.requests.forget(msg_id)
            raise

    def notify(self, method: str, params: Any) -> None:
        if not self.alive:
            raise self.crashed_error()
        self._client.protocol.notify(method, params)

    async def _wait(self, future: asyncio.Future[T], timeout: float) -> T:
        """Await ``future`` (which the exit watcher fails when the server exits) for at most
        ``timeout`` seconds: `RequestTimeout` then. No task, no ``asyncio.wait``: a timer."""
        if self._exited is None:
            raise ServerStartError(self.name, "not started")
        if self._exited.done() and not future.done():
            raise self.crashed_error()
        timer = asyncio.get_running_loop().call_later(timeout, _expire, future, self.name,
                                                       timeout)
        try:
            return await future
        finally:
            timer.cancel()

    async def _race(self, awaitable: Any, timeout: float) -> Any:
        """Await ``awaitable`` unless the deadline passes or the server exits first."""
        if self._exited is None:
            raise ServerStartError(self.name, "not started")
        task = asyncio.ensure_future(awaitable)
        done, _ = await asyncio.wait(
            {task, self._exited}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        if self._exited.done():
            raise self.crashed_error()
        raise RequestTimeout(self.name, f"no answer within {timeout:.1f} s")

    async def wait_for_push(self, uri: str, version: int, timeout: float) -> list[types.Diagnostic]:
        """Diagnostics pushed for exactly ``version`` of ``uri``, waited for with a deadline."""
        waiter = self.published.waiter(uri, version)
        try:
            params = await self._wait(waiter, timeout)
        except RequestTimeout:
            raise RequestTimeout(
                self.name, f"no publishDiagnostics for version {version} within {timeout:.1f} s"
            ) from None
        finally:
            self.published.discard(uri, version, waiter)
        return list(params.diagnostics)

    async def wait_registered(self, method: str, timeout: float) -> bool:
        """Wait until ``method`` is registered dynamically; False if the deadline passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not any(r.method == method for r in self.registrations.values()):
            self.registered.clear()
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                await self._race(self.registered.wait(), remaining)
            except RequestTimeout:
                return False
        return True

    # ---- lifecycle -------------------------------------------------------------------------

    async def initialize(
        self, root_uri: str, name: str, options: Any, timeout: float
    ) -> types.InitializeResult:
        params = types.InitializeParams(
            process_id=self._process_id,
            root_uri=root_uri,
            capabilities=client_capabilities(),
            client_info=types.ClientInfo(name="lspfeedback", version="0.1.0"),
            workspace_folders=[types.WorkspaceFolder(uri=root_uri, name=name)],
            initialization_options=options,
        )
        try:
            result: Any = await self.request(types.INITIALIZE, params, timeout)
            if isinstance(result, dict):
                # Capabilities we do not use (notebooks) must not stop us from using the rest.
                result = types.InitializeResult(capabilities=structure_leniently(
                    self.converter, result.get("capabilities", {}), types.ServerCapabilities,
                    drop=("notebookDocumentSync",)))
        except JsonRpcException as exc:
            raise ServerStartError(
                self.name, f"initialize failed: {exc}", self.stderr_tail()
            ) from exc
        except (TypeError, ValueError) as exc:
            raise ServerStartError(
                self.name, f"unreadable initialize result: {exc}", self.stderr_tail()
            ) from exc
        self.server_capabilities = result.capabilities
        self.notify(types.INITIALIZED, types.InitializedParams())
        return result

    async def stop(self) -> None:
        """``shutdown`` → ``exit`` → grace period → kill the process group. Idempotent."""
        process = self._process
        if process is None:
            return
        if process.returncode is None:
            with contextlib.suppress(Exception):
                await self.request(types.SHUTDOWN, None, SHUTDOWN_GRACE)
                self.notify(types.EXIT, None)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(process.wait(), SHUTDOWN_GRACE)
        self.kill()
        with contextlib.suppress(ProcessLookupError, asyncio.TimeoutError):
            await asyncio.wait_for(process.wait(), SHUTDOWN_GRACE)
        self._client._stop_event.set()
        if self.writer is not None:
            self.writer.flush()
        if process.stdin is not None:
            with contextlib.suppress(Exception):
                process.stdin.close()
        for task in self._tasks + self._client._async_tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._client._async_tasks, return_exceptions=True)

    def kill(self) -> None:
        """Kill the server's whole process group at once (children included)."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._process.pid, signal.SIGKILL)


def _expire(future: asyncio.Future[Any], name: str, timeout: float) -> None:
    if not future.done():
        future.set_exception(RequestTimeout(name, f"no answer within {timeout:.1f} s"))
