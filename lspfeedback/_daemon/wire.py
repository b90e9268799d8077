"""The daemon's JSON API over a plain socket: the command line's warm path.

`Client` (httpx) is the public way to talk to the daemon; importing httpx costs about 80 ms and
``http.client`` (which imports the ``email`` package) about 20 ms, on a warm ``lspfeedback
check`` whose whole budget is 150 ms. `Wire` speaks just enough HTTP/1.1 for the daemon's
answers (a status line, headers, a ``Content-Length`` or chunked JSON body) over TCP or a Unix
socket (the daemon's local Unix socket when it has one), keeps the connection alive between
calls, raises the same exceptions as `Client` for the same answers, and returns the JSON as it
came (`Report.from_dict` reads a report). `verify_progressive` reads the NDJSON stream of
``/v1/verify/progressive`` line by line, as the chunks arrive.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
from collections.abc import Iterator
from typing import Any

from lspfeedback._daemon.state import DaemonInfo, socket_address
from lspfeedback._exceptions import (
    DaemonError,
    DaemonTimeout,
    DaemonUnreachable,
    EditApplyError,
    EditError,
    PathOutsideWorkspace,
    WorkspaceError,
)

MAX_ANSWER = 256 * 1024 * 1024
"""Bytes of an answer read at most (a report of a very large project is megabytes)."""


class _Closed(Exception):
    """The daemon closed a kept-alive connection before answering (retried once)."""


class Wire:
    """One keep-alive connection to the daemon ``info`` describes; close it when done."""

    def __init__(self, info: DaemonInfo, timeout: float) -> None:
        self.info = info
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = b""
        # The local Unix socket when the daemon has one (no TCP stack), else its TCP port.
        self._host = info.url.removeprefix("http://") if info.url is not None else "localhost"
        local = info.local_socket
        if local is not None or info.url is None:
            self._address: tuple[str, int] | str = local or str(info.socket)
        else:
            host, _, port = self._host.rpartition(":")
            self._address = (host.strip("[]"), int(port))

    def __repr__(self) -> str:  # never the token
        return f"<Wire {self.info.endpoint}>"

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def health(self) -> dict[str, Any]:
        return dict(self.call("GET", "/v1/health"))

    def verify(self, changes: dict[str, str | None] | list[str] | str,
               session: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"changes": changes}
        if session is not None:
            body["session"] = session
        return dict(self.call("POST", "/v1/verify", body))

    def verify_progressive(self, changes: dict[str, str | None] | list[str] | str,
                           session: str | None = None) -> Iterator[dict[str, Any]]:
        """Each report of a progressive verify as it comes (a preview, then the final one,
        ``"final": true``). An error line raises what the error answer would;
        `DaemonUnreachable` when the answer ends before the final report."""
        body: dict[str, Any] = {"changes": changes}
        if session is not None:
            body["session"] = session
        for line in self.lines("POST", "/v1/verify/progressive", body):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except ValueError as exc:
                self.close()
                raise DaemonUnreachable(f"the daemon at {self.info.endpoint} sent a line that "
                                        f"is not JSON: {line[:200]!r}") from exc
            if "error" in data:
                raise error_answer(self.info.endpoint, int(data.get("status", 500)), line)
            yield data
            if data.get("final", True):
                return
        raise DaemonUnreachable(f"the daemon at {self.info.endpoint} ended the progressive "
                                "answer before its final report (it stopped or died)")

    def discard(self, session: str) -> None:
        self.call("POST", "/v1/discard", {"session": session})

    def call(self, method: str, path: str, body: object = None) -> Any:
        """The JSON answer to one request; the exception `Client` raises for a failure."""
        return json.loads(self.raw(method, path, body))

    def raw(self, method: str, path: str, body: object = None) -> bytes:
        """The body of a successful answer as it came (``/metrics`` is text)."""
        return b"".join(self._answer(method, path, body))

    def lines(self, method: str, path: str, body: object = None) -> Iterator[bytes]:
        """The body of a successful answer line by line, each as soon as it has arrived."""
        pending = b""
        for piece in self._answer(method, path, body):
            pending += piece
            *complete, pending = pending.split(b"\n")
            yield from complete
        if pending:
            yield pending

    def _answer(self, method: str, path: str, body: object) -> Iterator[bytes]:
        """The pieces of a successful answer's body as they arrive; the exception `Client`
        raises for a failure (an error answer is read whole first)."""
        data = json.dumps(body).encode() if body is not None else b""
        head = (f"{method} {path} HTTP/1.1\r\nHost: {self._host}\r\n"
                f"Authorization: Bearer {self.info.token}\r\nAccept: application/json\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
        request = head.encode() + data
        with _mapped(self):
            try:
                status, headers = self._send(request)
            except _Closed:
                self.close()  # a kept-alive connection the daemon had closed: once more
                status, headers = self._send(request)
            if not 200 <= status < 300:
                raise error_answer(self.info.endpoint, status, b"".join(self._body(headers)))
            yield from self._body(headers)

    def _send(self, request: bytes) -> tuple[int, dict[str, str]]:
        """Send ``request``; the answer's status and headers."""
        reused = self._sock is not None
        sock = self._connect()
        try:
            sock.sendall(request)
            head = self._read_until(b"\r\n\r\n")
        except (_Closed, ConnectionError):
            if reused:
                raise _Closed from None
            raise
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        return status, headers

    def _body(self, headers: dict[str, str]) -> Iterator[bytes]:
        """The body's pieces (a chunk each when chunked); the connection stays usable after."""
        if headers.get("transfer-encoding", "").lower() == "chunked":
            while size := int(self._read_until(b"\r\n").split(b";")[0], 16):
                yield self._read_exactly(size)
                self._read_exactly(2)
            self._read_until(b"\r\n")
        else:
            yield self._read_exactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.close()

    def _connect(self) -> socket.socket:
        if self._sock is None:
            if isinstance(self._address, str):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.timeout)
                try:
                    sock.connect(socket_address(self._address))
                    check_peer(sock)
                except OSError:
                    sock.close()
                    raise
            else:
                sock = socket.create_connection(self._address, timeout=self.timeout)
            self._sock, self._buffer = sock, b""
        return self._sock

    def _fill(self) -> None:
        if self._sock is None:
            raise _Closed("the connection was closed")
        chunk = self._sock.recv(65536)
        if not chunk:
            raise _Closed("the daemon closed the connection")
        self._buffer += chunk
        if len(self._buffer) > MAX_ANSWER:
            raise ValueError(f"an answer over {MAX_ANSWER} bytes")

    def _read_until(self, marker: bytes) -> bytes:
        while (end := self._buffer.find(marker)) < 0:
            self._fill()
        found, self._buffer = self._buffer[:end], self._buffer[end + len(marker):]
        return found

    def _read_exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            self._fill()
        found, self._buffer = self._buffer[:size], self._buffer[size:]
        return found


def check_peer(sock: socket.socket) -> None:
    """Refuse a Unix socket whose other end is not a process of this user (Linux's
    ``SO_PEERCRED``; an abstract name can be taken by anyone once its daemon is gone)."""
    if not hasattr(socket, "SO_PEERCRED"):
        return
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    _, uid, _ = struct.unpack("3i", raw)
    if uid != os.getuid():
        raise ConnectionRefusedError(f"the socket is served by uid {uid}, not by this user")


@contextlib.contextmanager
def _mapped(wire: Wire) -> Iterator[None]:
    """Transport failures as `Client` says them (the connection is closed: a half-read
    answer leaves it unusable)."""
    try:
        yield
    except TimeoutError as exc:
        wire.close()
        raise DaemonTimeout(f"no answer from the daemon at {wire.info.endpoint} within "
                            f"{wire.timeout:g} s") from exc
    except (OSError, ValueError, _Closed) as exc:
        wire.close()
        raise DaemonUnreachable(f"cannot reach the daemon at {wire.info.endpoint}: {exc} "
                                "(is it running? see: lspfeedback status)") from exc
    except GeneratorExit:
        wire.close()  # the reader stopped mid-answer: the rest of it is still on the socket
        raise


def error_answer(endpoint: str, status: int, raw: bytes) -> Exception:
    """The exception for the daemon's error answer ``raw`` (both clients map them so): the
    edit errors with their fields, else a `DaemonError` with the status and error name."""
    try:
        body = json.loads(raw)
        kind, message = str(body["error"]), str(body["message"])
    except (ValueError, KeyError, TypeError):
        body, kind, message = {}, "HTTPError", raw[:500].decode(errors="replace")
    if status == 400:
        if kind == "PathOutsideWorkspace":
            return PathOutsideWorkspace(str(body.get("path", "")), str(body.get("root", "")))
        if kind == "EditApplyError" and isinstance(body.get("path"), str):
            return EditApplyError(
                body["path"], str(body.get("problem", message)), block=body.get("block"),
                unit=str(body.get("unit", "block")), closest=body.get("closest"),
                closest_line=body.get("closest_line"), hint=str(body.get("hint", "")))
        if kind in ("EditError", "EditApplyError"):
            return EditError(message)
        if kind == "WorkspaceError":
            return WorkspaceError(message)
    return DaemonError(f"the daemon at {endpoint} answered {status} {kind}: {message}",
                       status=status, error=kind)
