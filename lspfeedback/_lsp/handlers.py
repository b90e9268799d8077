"""What a language server may ask of us, answered at once (servers that get no answer to
``workspace/configuration`` publish nothing at all: see docs/design.md). Work-done progress
is read before pygls sees it (`LspClient._handle`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

if TYPE_CHECKING:
    from lspfeedback._lsp.client import LspClient


def install_handlers(lsp: LspClient, client: LanguageClient) -> None:
    """Register on ``client`` the server-to-client features, recording into ``lsp``."""

    @client.feature(types.WORKSPACE_CONFIGURATION)
    def configuration(params: types.ConfigurationParams) -> list[Any]:
        # One answer per item, in order; null for anything we have no opinion about.
        return [lsp.configuration(item.section, item.scope_uri) for item in params.items]

    @client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        for registration in params.registrations:
            lsp.registrations[registration.id] = registration
        lsp.registered.set()

    @client.feature(types.CLIENT_UNREGISTER_CAPABILITY)
    def unregister(params: types.UnregistrationParams) -> None:
        for item in params.unregisterations:
            lsp.registrations.pop(item.id, None)

    @client.feature(types.WORKSPACE_DIAGNOSTIC_REFRESH)
    def refresh(params: None) -> None:
        # Answered, and nothing else: a pull sent after the change already describes the
        # version sent (see _lsp/pull.py), so a refresh is no reason to pull again.
        return None

    @client.feature(types.WORKSPACE_WORKSPACE_FOLDERS)
    def folders(params: None) -> list[types.WorkspaceFolder]:
        return [types.WorkspaceFolder(uri=Path(lsp.cwd).as_uri(), name=Path(lsp.cwd).name)]

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def publish(params: types.PublishDiagnosticsParams) -> None:
        lsp.published.publish(params)

    for method in (types.WINDOW_LOG_MESSAGE, types.WINDOW_SHOW_MESSAGE,
                   types.LOG_TRACE, types.TELEMETRY_EVENT):
        client.feature(method)(lambda params: None)

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def show_message_request(params: types.ShowMessageRequestParams) -> None:
        return None
