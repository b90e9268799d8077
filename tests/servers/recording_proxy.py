"""A transparent stdio proxy between lspfeedback and a real language server, for tests.

    python recording_proxy.py LOG_DIR -- server command...

Every client→server message is appended to ``LOG_DIR/<proxy pid>.jsonl`` *before* it is
forwarded, so once the server has answered a request, everything sent before that request is
in the log. Tests replay the log to learn exactly what text the server was given.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import BinaryIO


def read_message(stream: BinaryIO) -> bytes | None:
    """One framed message (headers and body), or None at end of stream."""
    headers = b""
    length = 0
    while True:
        line = stream.readline()
        if not line:
            return None
        headers += line
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
        if line in (b"\r\n", b"\n"):
            break
    return headers + stream.read(length)


def main() -> int:
    log_dir = Path(sys.argv[1])
    command = sys.argv[sys.argv.index("--") + 1:]
    server = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert server.stdin is not None and server.stdout is not None
    log = open(log_dir / f"{os.getpid()}.jsonl", "a", encoding="utf-8")  # noqa: SIM115

    def downstream() -> None:
        out = sys.stdout.buffer
        while chunk := server.stdout.read1(65536):  # type: ignore[union-attr]
            out.write(chunk)
            out.flush()

    threading.Thread(target=downstream, daemon=True).start()
    stdin = sys.stdin.buffer
    while (message := read_message(stdin)) is not None:
        body = message.split(b"\r\n\r\n", 1)[1]
        log.write(json.dumps(json.loads(body)) + "\n")
        log.flush()
        server.stdin.write(message)
        server.stdin.flush()
    server.stdin.close()
    return server.wait()


if __name__ == "__main__":
    sys.exit(main())
