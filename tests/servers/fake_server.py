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

Framing faults: on textDocument/diagnostic these write raw bytes to stdout, then never answer.

    huge-length      a header of Content-Length 99999999999
    wrong-length     a message whose Content-Length is larger than its body, then another
                     message (whose first bytes the wrong length swallows)
    endless-header   a header line of 4 MiB without CRLF
    bad-json         a well-framed body that is not JSON

Faults a client must survive, then answered normally:

    unknown-id          first a response to an id nobody asked for
    notification-flood  first thousands of window/logMessage and publishDiagnostics
                        (random URIs)
    exit-notification   first an ``exit`` notification and a ``shutdown`` request, sent
                        to the client (which must not act on them)

For supervision:

    content-modified  every textDocument/diagnostic fails with -32801 ContentModified
    stop-after-start  the first textDocument/diagnostic SIGSTOPs the server (a hang no
                      cancellation reaches)

Usage: python fake_server.py --mode MODE [--marker PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import sys
import time
from pathlib import Path

from lsprotocol import types
from pygls.exceptions import JsonRpcContentModified
from pygls.lsp.server import LanguageServer
from pygls.workspace import ServerTextPosition, ServerTextRange


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%b" % (len(body), body)


# Written raw on purpose: these are what no library would send.
_NOTIFY = b'{"jsonrpc": "2.0", "method": "window/logMessage", "params": {"type": 4, "message": "x"}}'
FRAMING_FAULTS: dict[str, bytes] = {
    "huge-length": b"Content-Length: 99999999999\r\n\r\n{",
    "wrong-length": b"Content-Length: %d\r\n\r\n%b" % (len(_NOTIFY) + 20, _NOTIFY)
    + frame(_NOTIFY),
    "endless-header": b"Content-Length: 5\r\nX-Padding: " + b"a" * (4 * 1024 * 1024),
    "bad-json": frame(b"{this is not json}"),
}
UNKNOWN_ID = frame(b'{"jsonrpc": "2.0", "id": "nobody-asked-for-this", "result": null}')
TO_THE_CLIENT = frame(b'{"jsonrpc": "2.0", "method": "exit"}') + frame(
    b'{"jsonrpc": "2.0", "id": 424242, "method": "shutdown"}')

MODES = (
    "ok",
    "hang",
    "crash",
    "crash-once",
    "garbage",
    "no-start",
    "no-start-once",
    "stderr-flood",
    "ignore-shutdown",
    *FRAMING_FAULTS,
    "unknown-id",
    "notification-flood",
    "exit-notification",
    "content-modified",
    "stop-after-start",
)
FLOOD_BYTES = 200 * 1024
FLOOD_MESSAGES = 5000


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


def write_raw(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def flood(ls: LanguageServer) -> None:
    """Notifications nobody waits for: log lines, and pushes for files that do not exist."""
    for i in range(FLOOD_MESSAGES):
        ls.window_log_message(types.LogMessageParams(
            type=types.MessageType.Log, message=f"flood {i} " + "x" * 200))
        uri = f"file:///flood/{random.getrandbits(64):016x}.py"
        ls.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=uri, version=random.randrange(1, 1000), diagnostics=[types.Diagnostic(
                range=types.Range(types.Position(0, 0), types.Position(0, 1)),
                message="flood", severity=types.DiagnosticSeverity.Error)]))


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
        elif mode in FRAMING_FAULTS:
            write_raw(FRAMING_FAULTS[mode])
            await wait_forever()
        elif mode == "unknown-id":
            write_raw(UNKNOWN_ID)
        elif mode == "notification-flood":
            flood(ls)
        elif mode == "exit-notification":
            write_raw(TO_THE_CLIENT)
        elif mode == "content-modified":
            raise JsonRpcContentModified("content modified (fake, forever)")
        elif mode == "stop-after-start":
            os.kill(os.getpid(), signal.SIGSTOP)
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
    if args.mode == "no-start" or (args.mode == "no-start-once" and args.marker is not None
                                   and not args.marker.exists()):
        if args.marker is not None:
            args.marker.touch()  # no-start-once: the next start goes through
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
