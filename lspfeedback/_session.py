"""One running language server for a workspace: start, restart, document sync, diagnostics.

A session owns the server process and the record of what text, at which version, the server
holds for each document. Session versions are its own (they only grow, also across a no-op
re-send); each maps to the store version whose text it carried, which is what reports cite.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from lspfeedback import languages
from lspfeedback._capabilities import Capabilities, resolve_capabilities
from lspfeedback._convert import converted
from lspfeedback._deadline import Deadline
from lspfeedback._documents import DocumentStore
from lspfeedback._exceptions import RequestTimeout, ServerError, ServerStartError
from lspfeedback._lsp.client import LspClient
from lspfeedback._lsp.content_changes import change_event
from lspfeedback._lsp.progress import Progress, ProgressHook, ProgressTracker
from lspfeedback._lsp.pull import pull
from lspfeedback._lsp.report import DiagnosticReport
from lspfeedback._report import Diagnostic
from lspfeedback._sandbox import Sandbox
from lspfeedback._supervisor import RestartPolicy, ServerState, Supervisor
from lspfeedback.servers.base import ServerContext, ServerSpec

PROBE_METHOD = "lspfeedback/probe"
"""A request no server implements, so any answer (an error: MethodNotFound, InvalidRequest)
proves the server reads and replies. Not a ``$/`` method, although LSP 3.17 says those must be
answered too: Biome never answers one (measured; all eight servers answer this in 0.2-7 ms)."""


@dataclass(frozen=True)
class FileResult:
    """Diagnostics of one file, for exactly the text at store version ``version``."""

    path: str
    version: int
    diagnostics: tuple[Diagnostic, ...]
    lsp: tuple[types.Diagnostic, ...] = field(default=(), compare=False, repr=False)
    """The server's own diagnostics, ``lsp[i]`` the one ``diagnostics[i]`` came from: a
    ``textDocument/codeAction`` request is given these back (see `_fixes`)."""


@dataclass
class _Held:
    session_version: int
    store_version: int
    text: str


@dataclass(frozen=True)
class _Pulled:
    """A document's last pulled report and what it became. Its result id, if it has one, is
    named as ``previousResultId`` by the next pull: it stands when the server answers
    ``unchanged``; a full answer with the same items reuses it too."""

    report: DiagnosticReport
    text: str
    """The text ``result`` was converted against (positions depend on it)."""
    result: FileResult


class ServerSession:
    """A language server kept warm for one workspace; its `Supervisor` restarts it after a
    crash or a hang (in the background) and gives up on a crash loop."""

    def __init__(
        self,
        spec: ServerSpec,
        ctx: ServerContext,
        store: DocumentStore,
        *,
        startup_timeout: float,
        include_hints: bool = False,
        policy: RestartPolicy | None = None,
    ) -> None:
        self.spec = spec
        self.ctx = ctx
        self.store = store
        self.startup_timeout = startup_timeout
        self.include_hints = include_hints
        self.client: LspClient | None = None
        self.capabilities: Capabilities | None = None
        self.startup_ms: float | None = None
        self.sandbox = Sandbox(None)
        """How the server process is started (set by the replica: see `_sandbox`)."""
        self.rewrite: Callable[[str], str] | None = None
        """Maps paths in the server's messages (the shadow root's) to workspace paths."""
        self.supervisor = Supervisor(spec.name, policy or RestartPolicy(), start=self._start,
                                     kill=self._kill, alive=self._alive, probe=self._probe)
        self._held: dict[str, _Held] = {}
        self._pulled: dict[str, _Pulled] = {}
        """By path: the last report with a result id, from the running server process."""
        self._progress = ProgressTracker(spec.name)
        self.on_progress: ProgressHook | None = None
        """Called with every change of the server's work-done progress (``$/progress``
        begin/report/end), from start-up on, across restarts."""
        self.pulls = 0
        """``textDocument/diagnostic`` requests sent by this session, retries included, over
        every process it ran (only grows): one per document and version it checked."""
        self.unchanged_pulls = 0
        """Of those, the pulls the server answered ``unchanged`` (see `_lsp.pull`)."""
        self.pushes_waited = 0
        """Waits for a ``publishDiagnostics`` of one version (push-only servers), only grows."""

    def __repr__(self) -> str:
        return f"<ServerSession {self.spec.name} {self.state} starts={self.starts} open={len(self._held)}>"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def state(self) -> ServerState:
        """The supervisor's state (see `_supervisor`)."""
        return self.supervisor.state

    @property
    def starts(self) -> int:
        return self.supervisor.starts

    @property
    def restarts(self) -> int:
        return self.supervisor.restarts

    @property
    def progress(self) -> Progress | None:
        """The server's latest work-done progress still under way (title, message,
        percentage), also while it starts; None when it reports none."""
        return self._progress.latest

    @property
    def last_error(self) -> str | None:
        """Why the server last failed to answer or to start; None while it never did."""
        return self.supervisor.last_error

    @last_error.setter
    def last_error(self, reason: str | None) -> None:
        self.supervisor.last_error = reason

    # ---- lifecycle -------------------------------------------------------------------------

    async def ensure_started(self, deadline: Deadline | None = None, *,
                             patient: bool = True) -> LspClient:
        """The live client: started now if it never was (waited for in full), or once its
        restart finishes (waited for until ``deadline``; see `Supervisor.ready`)."""
        if self.state in ("running", "unresponsive") and not self._alive():
            await self.crashed()  # died between calls: count it, with its last stderr
        await self.supervisor.ready(deadline, patient=patient)
        return self._require_client()

    async def _start(self) -> None:
        """(Re)start the process and replay every document the previous one had open."""
        reopen = list(self._held)
        if self.client is not None:
            await self.client.stop()
        self.client = None
        self._held.clear()
        self._pulled.clear()  # result ids are the previous process's
        client = self.client = await self._spawn()
        # A death between calls is noticed now, not by the next call: the restart starts at
        # once (the supervisor ignores exits it caused itself, or that a restart is handling).
        client.on_exit = lambda exc: (self.supervisor.crashed(exc.reason, exc.stderr)
                                      if self.client is client else None)
        if reopen:
            self.sync(reopen)

    async def _spawn(self) -> LspClient:
        started = time.perf_counter()
        sandbox = self.sandbox
        # In a thread: finding the command may install it first (the npm servers' first use).
        command = await asyncio.to_thread(self.spec.command, self.ctx)
        client = LspClient(
            self.name,
            sandbox.wrap(command, self.spec.env, self.name),
            cwd=str(self.ctx.root),
            env=sandbox.environment(self.spec.env),
            configuration=lambda section, scope: self.spec.configuration(self.ctx, section),
            preexec=sandbox.preexec,
            own_pid_namespace=sandbox.active,
        )
        self._progress = client.progress
        client.progress.on_progress = self._progressed
        try:
            await client.start()
            result = await client.initialize(
                self.ctx.root.as_uri(),
                self.ctx.root.name,
                self.spec.initialization_options(self.ctx),
                self.startup_timeout,
            )
            self.capabilities = await resolve_capabilities(
                client, result.capabilities, self.spec, self.startup_timeout)
        except asyncio.CancelledError:
            await client.stop()  # a restart cancelled by close(): leave no process behind
            raise
        except ServerError as exc:
            await client.stop()
            if isinstance(exc, ServerStartError):
                raise
            raise ServerStartError(self.name, f"failed during start-up: {exc.reason}", client.stderr_tail()) from exc
        self.startup_ms = (time.perf_counter() - started) * 1000
        return client

    def _progressed(self, state: Progress) -> None:
        if self.on_progress is not None:
            self.on_progress(state)

    @property
    def alive(self) -> bool:
        """Its process runs now."""
        return self.client is not None and self.client.alive

    def _alive(self) -> bool:
        return self.alive

    def _kill(self) -> None:
        if self.client is not None:
            self.client.kill()

    async def _probe(self, timeout: float) -> None:
        """Raise `RequestTimeout` unless the server answers a request within ``timeout``."""
        client = self._require_client()
        try:
            await client.request(PROBE_METHOD, None, timeout)
        except JsonRpcException:
            pass  # MethodNotFound, as LSP asks: it answered

    async def crashed(self) -> None:
        """The server died under a call: keep its last words and restart it (background)."""
        if self.client is not None:
            exc = await self.client.crash_report()
            self.supervisor.crashed(exc.reason, exc.stderr)

    async def stop(self) -> None:
        await self.supervisor.stop()
        if self.client is not None:
            await self.client.stop()
        self.client = None
        self._held.clear()
        self._pulled.clear()

    # ---- documents -------------------------------------------------------------------------

    def holds(self, rel: str) -> int | None:
        """The store version of ``rel`` this server holds, if it has it open."""
        held = self._held.get(rel)
        return held.store_version if held is not None else None

    def held_paths(self) -> list[str]:
        return list(self._held)

    def held_text(self, rel: str) -> str | None:
        held = self._held.get(rel)
        return held.text if held is not None else None

    def sync(self, rels: list[str], *, touch: set[str] | None = None) -> None:
        """Make the server hold the store's current text of each of ``rels``.

        A path in ``touch`` is re-sent even if unchanged, under a new version, so that a
        push-only server publishes again for a version we can wait for.
        """
        client = self._require_client()
        for rel in rels:
            doc = self.store.get(rel)
            held = self._held.get(rel)
            if held is not None:
                self._held[rel] = self._held.pop(rel)  # most recently used last
            if not doc.exists:
                if held is not None:
                    client.notify(types.TEXT_DOCUMENT_DID_CLOSE, types.DidCloseTextDocumentParams(
                        text_document=types.TextDocumentIdentifier(uri=doc.uri)))
                    del self._held[rel]
                    self._pulled.pop(rel, None)
                continue
            if held is None:
                client.notify(types.TEXT_DOCUMENT_DID_OPEN, types.DidOpenTextDocumentParams(
                    text_document=types.TextDocumentItem(
                        uri=doc.uri, language_id=_language_id(rel), version=doc.version,
                        text=doc.text)))
                self._held[rel] = _Held(doc.version, doc.version, doc.text)
                continue
            touched = touch is not None and rel in touch
            if not touched and held.store_version == doc.version:
                continue
            if not touched and held.text == doc.text:
                # A text the server holds already (an edit taken back and laid again): nothing
                # to send, and its answers describe this version as well.
                self._held[rel] = _Held(held.session_version, doc.version, held.text)
                continue
            version = max(held.session_version + 1, doc.version)
            client.notify(types.TEXT_DOCUMENT_DID_CHANGE, types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=doc.uri, version=version),
                content_changes=[change_event(held.text, doc.text, self.capabilities)]))
            self._held[rel] = _Held(version, doc.version, doc.text)

    def trim(self, limit: int, keep: set[str]) -> list[str]:
        """Close the least recently used documents beyond ``limit`` (never those in ``keep``):
        every open document costs the server memory and work on each change."""
        closed: list[str] = []
        if len(self._held) <= limit or self.client is None or not self.client.alive:
            return closed
        for rel in list(self._held):
            if len(self._held) <= limit:
                break
            if rel in keep:
                continue
            self.client.notify(types.TEXT_DOCUMENT_DID_CLOSE, types.DidCloseTextDocumentParams(
                text_document=types.TextDocumentIdentifier(uri=self.store.uri(rel))))
            del self._held[rel]
            self._pulled.pop(rel, None)
            closed.append(rel)
        return closed

    def files_changed(self, changes: list[tuple[str, types.FileChangeType]]) -> None:
        """Tell the server that files changed on the file system it reads (the shadow root):
        ``workspace/didChangeWatchedFiles``, plus ``workspace/didCreateFiles`` and
        ``didDeleteFiles`` when it declared them (LSP 3.17 file operations)."""
        client = self._require_client()
        if changes:
            operations = self.capabilities.file_operations if self.capabilities else frozenset()
            announce_files(client, [(self.store.uri(rel), kind) for rel, kind in changes],
                           operations)

    def _require_client(self) -> LspClient:
        if self.client is None:
            raise ServerStartError(self.name, "not started")
        return self.client

    # ---- diagnostics -----------------------------------------------------------------------

    async def diagnostics(self, rel: str, deadline: Deadline) -> FileResult:
        """Fresh diagnostics of ``rel`` for the version the server holds now.

        Pull where the server offers it (naming the last result it gave, so that it may
        answer ``unchanged``), else wait for a push of exactly that version, until
        ``deadline``. Raises `RequestTimeout` (saying what was waited for, how long),
        `ServerCrashed` or `ServerError`.
        """
        client = self._require_client()
        caps = self.capabilities
        held = self._held[rel]
        uri = self.store.uri(rel)
        try:
            if caps is not None and caps.pull_diagnostics:
                return await self._pulled_result(client, rel, uri, held, deadline)
            self.pushes_waited += 1
            pushed = await client.wait_for_push(uri, held.session_version, deadline.remaining())
        except RequestTimeout:
            what = ("its textDocument/diagnostic request (cancelled)"
                    if caps is not None and caps.pull_diagnostics else
                    f"a publishDiagnostics of version {held.session_version}")
            raise RequestTimeout(self.name, (
                f"no diagnostics of {rel} by {deadline.describe()}: waited "
                f"{deadline.elapsed():.1f} s for {what}")) from None
        return self._converted(rel, held, pushed)

    async def _pulled_result(self, client: LspClient, rel: str, uri: str, held: _Held,
                             deadline: Deadline) -> FileResult:
        """One pull of ``rel``, naming its last result; an ``unchanged`` answer (to a pull
        sent after the last change: it is of this version too) keeps that result's items."""
        caps = self.capabilities
        previous = self._pulled.get(rel)
        report = await pull(client, uri, rel, caps.pull_identifier if caps else None, deadline,
                            on_send=self._count_pull,
                            previous=previous.report if previous is not None else None)
        if report.kind == "unchanged" and previous is not None:
            self.unchanged_pulls += 1
            report = dataclasses.replace(previous.report, result_id=report.result_id)
        if (previous is not None and report.items is previous.report.items
                and previous.text == held.text):
            result = dataclasses.replace(previous.result, version=held.store_version)
        else:
            result = self._converted(rel, held, report.items)
        if self.client is client:
            self._pulled[rel] = _Pulled(report, held.text, result)
        return result

    def _count_pull(self) -> None:
        self.pulls += 1

    def _converted(self, rel: str, held: _Held,
                   items: list[types.Diagnostic] | tuple[types.Diagnostic, ...]) -> FileResult:
        caps = self.capabilities
        encoding = caps.encoding if caps is not None else "utf-16"
        pairs = converted(rel, held.text, list(items), source=self.name, encoding=encoding,
                          include_hints=self.include_hints, rewrite=self.rewrite)
        return FileResult(rel, held.store_version, tuple(d for d, _ in pairs),
                          tuple(item for _, item in pairs))

    # ---- code actions ----------------------------------------------------------------------

    async def code_actions(self, rel: str, diagnostic: types.Diagnostic, deadline: Deadline,
                           *, resolve: bool) -> list[types.CodeAction | types.Command]:
        """The quick fixes the server offers for ``diagnostic`` (one of its own, of the text
        it holds for ``rel``): ``textDocument/codeAction`` with ``only=[quickfix]``, and
        ``codeAction/resolve`` for an action without its edit when ``resolve`` (the server
        declared ``resolveProvider``). Raises `RequestTimeout` at ``deadline``,
        `ServerCrashed`, or pygls's `JsonRpcException` for an error answer."""
        client = self._require_client()
        params = types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=self.store.uri(rel)),
            range=diagnostic.range,
            context=types.CodeActionContext(diagnostics=[diagnostic],
                                            only=[types.CodeActionKind.QuickFix]))
        answer: Any = await client.request(types.TEXT_DOCUMENT_CODE_ACTION, params,
                                           deadline.remaining())
        actions: list[types.CodeAction | types.Command] = []
        for item in answer if isinstance(answer, list | tuple) else ():
            item = _structured(client, item)
            if isinstance(item, types.CodeAction) and item.edit is None and resolve:
                item = _structured(client, await client.request(
                    types.CODE_ACTION_RESOLVE, item, deadline.remaining()))
            if isinstance(item, types.CodeAction | types.Command):
                actions.append(item)
        return actions


def _structured(client: LspClient, item: Any) -> Any:
    """A code action or command as lsprotocol's class; a raw dict (a shape the converter did
    not take at first) is structured again, and one it cannot read is left out (None)."""
    if not isinstance(item, dict):
        return item
    kind = types.Command if isinstance(item.get("command"), str) else types.CodeAction
    try:
        return client.converter.structure(item, kind)
    except (TypeError, ValueError, KeyError, AttributeError, ExceptionGroup):
        return None  # cattrs raises these (its validation errors are ExceptionGroups)


def _language_id(rel: str) -> str:
    language = languages.of_path(rel)
    return language.language_id(rel) if language is not None else "plaintext"


def announce_files(client: LspClient, changes: list[tuple[str, types.FileChangeType]],
                   operations: frozenset[str]) -> None:
    """The notifications of `ServerSession.files_changed` for ``(uri, kind)`` changes."""
    events = [types.FileEvent(uri=uri, type=kind) for uri, kind in changes]
    client.notify(types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                  types.DidChangeWatchedFilesParams(changes=events))
    created = [types.FileCreate(uri=e.uri) for e in events
               if e.type == types.FileChangeType.Created]
    deleted = [types.FileDelete(uri=e.uri) for e in events
               if e.type == types.FileChangeType.Deleted]
    if created and "didCreate" in operations:
        client.notify(types.WORKSPACE_DID_CREATE_FILES, types.CreateFilesParams(files=created))
    if deleted and "didDelete" in operations:
        client.notify(types.WORKSPACE_DID_DELETE_FILES, types.DeleteFilesParams(files=deleted))
