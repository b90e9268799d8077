"""A server's capabilities, resolved once into the booleans the session branches on (like
ruff_server's ``capabilities.rs``): pull or push diagnostics, sync kind, position encoding."""

from __future__ import annotations

from dataclasses import dataclass

from lsprotocol import types

from lspfeedback._lsp.client import LspClient
from lspfeedback._lsp.positions import PositionEncoding
from lspfeedback.servers.base import ServerSpec


@dataclass(frozen=True)
class Capabilities:
    """The server's capabilities, resolved once into the booleans we branch on."""

    pull_diagnostics: bool
    incremental_sync: bool
    encoding: PositionEncoding
    pull_identifier: str | None = None
    file_operations: frozenset[str] = frozenset()
    """The LSP file-operation notifications it declared: ``didCreate``, ``didRename``,
    ``didDelete``."""


async def resolve_capabilities(client: LspClient, caps: types.ServerCapabilities, spec: ServerSpec,
                               timeout: float) -> Capabilities:
    """Read the booleans we branch on from ``caps``, waiting up to ``timeout`` for a pull
    registration when ``spec`` says the server registers it dynamically."""
    pull = caps.diagnostic_provider is not None
    identifier = getattr(caps.diagnostic_provider, "identifier", None)
    if not pull and spec.dynamic_pull_registration:
        pull = await client.wait_registered(types.TEXT_DOCUMENT_DIAGNOSTIC, timeout)
        for reg in client.registrations.values():
            if reg.method == types.TEXT_DOCUMENT_DIAGNOSTIC:
                identifier = getattr(reg.register_options, "identifier", None) or (
                    reg.register_options.get("identifier")
                    if isinstance(reg.register_options, dict) else None
                )
    sync = caps.text_document_sync
    kind = sync.change if isinstance(sync, types.TextDocumentSyncOptions) else sync
    encoding = str(caps.position_encoding or "utf-16")
    if encoding not in ("utf-8", "utf-16", "utf-32"):
        encoding = "utf-16"
    declared = caps.workspace.file_operations if caps.workspace is not None else None
    operations = frozenset(
        name for name in ("did_create", "did_rename", "did_delete")
        if declared is not None and getattr(declared, name) is not None)
    return Capabilities(
        file_operations=frozenset("did" + n[4:].capitalize() for n in operations),
        pull_diagnostics=pull,
        incremental_sync=kind == types.TextDocumentSyncKind.Incremental,
        encoding=encoding,  # type: ignore[arg-type]
        pull_identifier=identifier,
    )
