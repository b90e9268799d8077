"""A fault-injection language server for the progressive stream's tests ONLY.

Like ``fake_server.py --mode ok`` (one Error per line containing ``BAD``), except that a
textDocument/diagnostic of a document containing ``HANG_HERE`` never answers (cancellable):
the state before an edit that adds the marker is checked, the state after it hangs. Configured
as a slow server with a fast preview, it keeps a progressive verify between its preview and
its final report for as long as a test needs.

Usage: python hang_after_edit.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_server import bad_word_diagnostics, wait_forever

MARKER = "HANG_HERE"


def build_server() -> LanguageServer:
    server = LanguageServer(
        "hang-after-edit", "0.1", text_document_sync_kind=types.TextDocumentSyncKind.Full
    )

    @server.feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(inter_file_dependencies=False, workspace_diagnostics=False),
    )
    async def diagnostic(
        ls: LanguageServer, params: types.DocumentDiagnosticParams
    ) -> types.FullDocumentDiagnosticReport:
        if MARKER in ls.workspace.get_text_document(params.text_document.uri).source:
            await wait_forever()  # $/cancelRequest cancels this task
        return types.FullDocumentDiagnosticReport(
            items=bad_word_diagnostics(ls, params.text_document.uri)
        )

    return server


if __name__ == "__main__":
    build_server().start_io()
