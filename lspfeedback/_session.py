"""One running language server for a workspace: start, restart, document sync, diagnostics.

A session owns the server process and the record of what text, at which version, the server
holds for each document. Session versions are its own (they only grow, also across a no-op
re-send); each maps to the store version whose text it carried, which is what reports cite.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from lspfeedback._capabilities import Capabilities, resolve_capabilities
from lspfeedback._convert import to_diagnostics
from lspfeedback._documents import DocumentStore
from lspfeedback._exceptions import ServerError, ServerStartError
from lspfeedback._lsp.client import LspClient
from lspfeedback._lsp.positions import (
    line_starts,
    offset_to_position,
)
from lspfeedback._report import Diagnostic
from lspfeedback._sandbox import Sandbox
from lspfeedback.servers.base import ServerContext, ServerSpec

# Error codes after which a pull may simply be asked again (LSP 3.17).
_RETRY_CODES = {
    types.LSPErrorCodes.ContentModified.value,
    types.LSPErrorCodes.ServerCancelled.value,
}


@dataclass(frozen=True)
class FileResult:
    """Diagnostics of one file, for exactly the text at store version ``version``."""

    path: str
    version: int
    diagnostics: tuple[Diagnostic, ...]


@dataclass
class _Held:
    session_version: int
    store_version: int
    text: str


class ServerSession:
    """A language server kept warm for one workspace, restarted on demand after a crash."""

    def __init__(
        self,
        spec: ServerSpec,
        ctx: ServerContext,
        store: DocumentStore,
        *,
        startup_timeout: float,
        include_hints: bool = False,
    ) -> None:
        self.spec = spec
        self.ctx = ctx
        self.store = store
        self.startup_timeout = startup_timeout
        self.include_hints = include_hints
        self.client: LspClient | None = None
        self.capabilities: Capabilities | None = None
        self.starts = 0
        self.startup_ms: float | None = None
        self.last_error: str | None = None
        self.sandbox = Sandbox(None)
        """How the server process is started (set by the replica: see `_sandbox`)."""
        self.rewrite: Callable[[str], str] | None = None
        """Maps paths in the server's messages (the shadow root's) to workspace paths."""
        """Why the server last failed to answer or to start; None while it never did."""
        self._held: dict[str, _Held] = {}

    def __repr__(self) -> str:
        return f"<ServerSession {self.spec.name} {self.state} starts={self.starts} open={len(self._held)}>"

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def state(self) -> str:
        if self.client is None:
            return "stopped"
        return "running" if self.client.alive else "crashed"

    @property
    def restarts(self) -> int:
        return max(0, self.starts - 1)

    # ---- lifecycle -------------------------------------------------------------------------

    async def ensure_started(self) -> LspClient:
        """The live client, starting (or restarting after a crash) the server if needed.

        A restart replays every document the dead server had open.
        """
        if self.client is not None and self.client.alive:
            return self.client
        reopen = list(self._held)
        if self.client is not None:
            await self.client.stop()
        self.client = None
        self._held.clear()
        client = await self._start()
        self.client = client
        if reopen:
            self.sync(reopen)
        return client

    async def _start(self) -> LspClient:
        started = time.perf_counter()
        sandbox = self.sandbox
        client = LspClient(
            self.name,
            sandbox.wrap(self.spec.command(self.ctx), self.spec.env, self.name),
            cwd=str(self.ctx.root),
            env=sandbox.environment(self.spec.env),
            configuration=lambda section, scope: self.spec.configuration(self.ctx, section),
            preexec=sandbox.preexec,
            own_pid_namespace=sandbox.active,
        )
        self.starts += 1
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
        except ServerError as exc:
            await client.stop()
            if isinstance(exc, ServerStartError):
                raise
            raise ServerStartError(self.name, f"failed during start-up: {exc.reason}", client.stderr_tail()) from exc
        self.startup_ms = (time.perf_counter() - started) * 1000
        return client

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.stop()
        self.client = None
        self._held.clear()

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
                continue
            if held is None:
                client.notify(types.TEXT_DOCUMENT_DID_OPEN, types.DidOpenTextDocumentParams(
                    text_document=types.TextDocumentItem(
                        uri=doc.uri, language_id="python", version=doc.version, text=doc.text)))
                self._held[rel] = _Held(doc.version, doc.version, doc.text)
            elif held.store_version != doc.version or (touch and rel in touch):
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
            closed.append(rel)
        return closed

    def files_changed(self, changes: list[tuple[str, types.FileChangeType]]) -> None:
        """Tell the server that files changed on the file system it reads (the shadow root):
        ``workspace/didChangeWatchedFiles``, plus ``workspace/didCreateFiles`` and
        ``didDeleteFiles`` when it declared them (LSP 3.17 file operations)."""
        client = self._require_client()
        if not changes:
            return
        events = [types.FileEvent(uri=self.store.uri(rel), type=kind) for rel, kind in changes]
        client.notify(types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                      types.DidChangeWatchedFilesParams(changes=events))
        operations = self.capabilities.file_operations if self.capabilities else frozenset()
        created = [types.FileCreate(uri=e.uri) for e in events
                   if e.type == types.FileChangeType.Created]
        deleted = [types.FileDelete(uri=e.uri) for e in events
                   if e.type == types.FileChangeType.Deleted]
        if created and "didCreate" in operations:
            client.notify(types.WORKSPACE_DID_CREATE_FILES, types.CreateFilesParams(files=created))
        if deleted and "didDelete" in operations:
            client.notify(types.WORKSPACE_DID_DELETE_FILES, types.DeleteFilesParams(files=deleted))

    def _require_client(self) -> LspClient:
        if self.client is None:
            raise ServerStartError(self.name, "not started")
        return self.client

    # ---- diagnostics -----------------------------------------------------------------------

    async def diagnostics(self, rel: str, timeout: float) -> FileResult:
        """Fresh diagnostics of ``rel`` for the version the server holds now.

        Pull where the server offers it, else wait for a push of exactly that version.
        Raises `RequestTimeout` or `ServerCrashed`.
        """
        client = self._require_client()
        caps = self.capabilities
        held = self._held[rel]
        uri = self.store.uri(rel)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if caps is not None and caps.pull_diagnostics:
            items = await self._pull(client, uri, caps.pull_identifier, deadline)
        else:
            items = await client.wait_for_push(uri, held.session_version, max(0.0, deadline - loop.time()))
        encoding = caps.encoding if caps is not None else "utf-16"
        return FileResult(rel, held.store_version, to_diagnostics(
            rel, held.text, items, source=self.name, encoding=encoding,
            include_hints=self.include_hints, rewrite=self.rewrite))

    async def _pull(
        self, client: LspClient, uri: str, identifier: str | None, deadline: float
    ) -> list[types.Diagnostic]:
        loop = asyncio.get_running_loop()
        params = types.DocumentDiagnosticParams(
            text_document=types.TextDocumentIdentifier(uri=uri), identifier=identifier
        )
        while True:
            refreshes = client.refresh_count
            try:
                report: Any = await client.request(
                    types.TEXT_DOCUMENT_DIAGNOSTIC, params, max(0.0, deadline - loop.time())
                )
            except JsonRpcException as exc:
                if exc.code in _RETRY_CODES and loop.time() < deadline:
                    continue
                raise ServerError(self.name, f"textDocument/diagnostic failed: {exc}") from exc
            if client.refresh_count != refreshes and loop.time() < deadline:
                continue  # the server said its results changed while we asked: ask again
            if isinstance(report, types.FullDocumentDiagnosticReport | types.RelatedFullDocumentDiagnosticReport):
                return list(report.items)
            if isinstance(report, dict) and isinstance(report.get("items"), list):
                return [client.converter.structure(i, types.Diagnostic) for i in report["items"]]
            raise ServerError(self.name, f"unexpected diagnostic report kind: {type(report).__name__}")


def change_event(old: str, new: str,
                 caps: Capabilities | None) -> types.TextDocumentContentChangeEvent:
    """The ``didChange`` content change from ``old`` to ``new``: the changed span in the
    server's encoding when it syncs incrementally, else (or for a large change) the whole text."""
    if caps is None or not caps.incremental_sync:
        return types.TextDocumentContentChangeWholeDocument(text=new)
    start, old_end, new_end = _changed_span(old, new)
    if old_end - start > len(old) // 2:
        return types.TextDocumentContentChangeWholeDocument(text=new)  # fast path
    starts = line_starts(old)
    return types.TextDocumentContentChangePartial(
        range=types.Range(
            start=offset_to_position(old, start, caps.encoding, starts),
            end=offset_to_position(old, old_end, caps.encoding, starts),
        ),
        text=new[start:new_end],
    )


def _changed_span(old: str, new: str) -> tuple[int, int, int]:
    """``(start, old_end, new_end)``: old[start:old_end] was replaced by new[start:new_end]."""
    limit = min(len(old), len(new))
    start = _common_length(old, new, limit, lambda n: old[:n] == new[:n])
    end = _common_length(
        old, new, limit - start, lambda n: old[len(old) - n:] == new[len(new) - n:]
    )
    # Never split a \r\n pair: a position between them is not a valid LSP position.
    if start > 0 and old[start - 1] == "\r" and old[start:start + 1] == "\n":
        start -= 1
    old_end, new_end = len(old) - end, len(new) - end
    if old_end < len(old) and old[old_end - 1:old_end] == "\r" and old[old_end] == "\n":
        old_end += 1
        new_end += 1
    return start, old_end, new_end


def _common_length(old: str, new: str, limit: int, same: Any) -> int:
    """Largest n <= limit with ``same(n)``, by binary search: slices compare in C."""
    lo, hi = 0, limit
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if same(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo
