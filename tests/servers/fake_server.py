"""A deliberately broken language server, for fault-injection tests ONLY.

Never use this as an example of a real server.  It speaks LSP over stdio
(pygls 2.x) and supports pull diagnostics: every line containing ``BAD``
yields one Error diagnostic on that occurrence.  ``--mode`` selects a fault:

    ok               behave normally
    hang             textDocument/diagnostic never answers (cancellable)
    crash            textDocument/diagnostic kills the process (exit code 3)
    crash-once       like crash, unless --marker PATH exists (it is created first)
    garbage          textDocument/diagnostic writes invalid framing, never answers
    no-start         exit with code 2 at startup
    stderr-flood     normal, but ~200 KB to stderr per diagnostic request
    ignore-shutdown  normal, but shutdown never answers, exit and stdin EOF are
                     ignored: the process must be killed

Usage: python fake_server.py --mode MODE [--marker PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.workspace import ServerTextPosition, ServerTextRange

MODES = (
    "ok",
    "hang",
    "crash",
    "crash-once",
    "garbage",
    "no-start",
    "stderr-flood",
    "ignore-shutdown",
)
FLOOD_BYTES = 200 * 1024


def bad_word_diagnostics(server: LanguageServer, uri: str) -> list[types.Diagnostic]:
    """One diagnostic per line containing ``BAD`` (first occurrence on the line)."""
    doc = server.workspace.get_text_document(uri)
    diagnostics: list[types.Diagnostic] = []
    for lineno, line in enumerate(doc.lines):
        col = line.find("BAD")
        if col < 0:
            continue
        server_range = ServerTextRange(
            ServerTextPosition(lineno, col), ServerTextPosition(lineno, col + 3)
        )
        diagnostics.append(
            types.Diagnostic(
                range=doc.range_to_client_units(server_range),
                message="found BAD",
                severity=types.DiagnosticSeverity.Error,
                code="bad-word",
                source="fake",
            )
        )
    return diagnostics


async def wait_forever() -> None:
    await asyncio.Event().wait()


def crash() -> None:
    sys.stderr.write("fake server crashing on purpose\n")
    sys.stderr.flush()
    os._exit(3)


def build_server(mode: str, marker: Path | None) -> LanguageServer:
    # Full sync: pygls' built-in didOpen/didChange handlers keep the texts.
    server = LanguageServer(
        "fake-server", "0.1", text_document_sync_kind=types.TextDocumentSyncKind.Full
    )

    @server.feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(inter_file_dependencies=False, workspace_diagnostics=False),
    )
    async def diagnostic(
        ls: LanguageServer, params: types.DocumentDiagnosticParams
    ) -> types.FullDocumentDiagnosticReport:
        if mode == "hang":
            await wait_forever()  # $/cancelRequest cancels this task
        elif mode == "crash":
            crash()
        elif mode == "crash-once":
            if marker is not None and not marker.exists():
                marker.touch()
                crash()
        elif mode == "garbage":
            sys.stdout.buffer.write(b"Content-Length: 5\r\n\r\n{oops\x00\xff not json\r\n\r\n")
            sys.stdout.buffer.flush()
            await wait_forever()
        elif mode == "stderr-flood":
            sys.stderr.buffer.write(b"x" * (FLOOD_BYTES - 1) + b"\n")
            sys.stderr.buffer.flush()
        return types.FullDocumentDiagnosticReport(
            items=bad_word_diagnostics(ls, params.text_document.uri)
        )

    if mode == "ignore-shutdown":
        # pygls runs these user hooks before its built-in shutdown/exit logic and
        # waits for them, so hooks that never finish block the reply / the exit.
        @server.feature(types.SHUTDOWN)
        async def shutdown(ls: LanguageServer, params: None) -> None:
            await wait_forever()

        @server.feature(types.EXIT)
        async def exit_(ls: LanguageServer, params: None) -> None:
            await wait_forever()

    return server


def main() -> None:
    parser = argparse.ArgumentParser(description="Fault-injection LSP server (tests only).")
    parser.add_argument("--mode", choices=MODES, default="ok")
    parser.add_argument("--marker", type=Path, help="marker file for crash-once")
    args = parser.parse_args()
    if args.mode == "crash-once" and args.marker is None:
        parser.error("--mode crash-once requires --marker PATH")
    if args.mode == "no-start":
        sys.stderr.write("fake server refuses to start\n")
        sys.stderr.flush()
        sys.exit(2)

    build_server(args.mode, args.marker).start_io()
    if args.mode == "ignore-shutdown":
        # start_io() returns when stdin closes; keep running until killed.
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
