"""httpx transports for the daemon's local Unix socket: one write per request, keep-alive.

httpx's own transport (httpcore over h11) writes a request's headers and its body in two
system calls, so the daemon wakes up twice per request, and parses the answer with h11 in
pure Python: on a loaded machine that is most of what a call through the daemon costs over
an in-process call. These speak just the HTTP/1.1 the daemon answers (a status line,
headers, a ``Content-Length`` or chunked body, as `lspfeedback._daemon.wire` does), write
each request in one piece, and hand httpx the body as it arrives (the progressive answer
streams). Failures are httpx's exceptions (`httpx.ConnectError`, `httpx.ReadTimeout`,
`httpx.RemoteProtocolError`, ...), so `Client` maps them as before. A kept-alive connection
found closed by the daemon before any answer is retried once on a new one. A socket served
by another user is refused (`lspfeedback._daemon.wire.check_peer`).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Iterator

import anyio
import anyio.abc
import httpx

from lspfeedback._daemon.state import socket_address
from lspfeedback._daemon.wire import check_peer

MAX_HEAD = 64 * 1024
"""Bytes of an answer's status line and headers at most."""
CHUNK = 65536


class _Stale(Exception):
    """A kept-alive connection the daemon had closed before answering."""


def _head(request: httpx.Request, body: bytes) -> bytes:
    target = request.url.raw_path.decode("ascii")
    lines = [f"{request.method} {target} HTTP/1.1\r\n".encode()]
    lines += [key + b": " + value + b"\r\n" for key, value in request.headers.raw
              if key.lower() not in (b"content-length", b"transfer-encoding")]
    lines.append(b"Content-Length: %d\r\n\r\n" % len(body))
    return b"".join(lines) + body


def _parse_head(raw: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
    status_line, *lines = raw.split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise httpx.RemoteProtocolError(f"not an HTTP/1.1 status line: {status_line[:80]!r}")
    headers = []
    for line in lines:
        key, colon, value = line.partition(b":")
        if not colon:
            raise httpx.RemoteProtocolError(f"malformed header line: {line[:80]!r}")
        headers.append((key.strip(), value.strip()))
    return int(parts[1]), headers


def _framing(headers: list[tuple[bytes, bytes]]) -> tuple[bool, int, bool]:
    """(chunked, content length, the daemon closes the connection after it)."""
    found = {key.lower(): value.lower() for key, value in headers}
    chunked = found.get(b"transfer-encoding", b"") == b"chunked"
    length = int(found.get(b"content-length", b"0")) if not chunked else 0
    return chunked, length, found.get(b"connection", b"") == b"close"


def _timeout(request: httpx.Request, kind: str) -> float | None:
    timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
    return timeouts.get(kind)


# ---- sync -------------------------------------------------------------------------------------

class _Connection:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def fill(self) -> None:
        chunk = self.sock.recv(CHUNK)
        if not chunk:
            raise httpx.RemoteProtocolError("the daemon closed the connection mid-answer")
        self.buffer += chunk

    def until(self, marker: bytes, limit: int = MAX_HEAD) -> bytes:
        while (end := self.buffer.find(marker)) < 0:
            if len(self.buffer) > limit:
                raise httpx.RemoteProtocolError("an answer's head is too long")
            self.fill()
        found, self.buffer = self.buffer[:end], self.buffer[end + len(marker):]
        return found

    def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            self.fill()
        found, self.buffer = self.buffer[:size], self.buffer[size:]
        return found


class _Body(httpx.SyncByteStream):
    """An answer's body as it arrives; the connection goes back to the pool once it is read
    to its end, and is closed if the reader stops before."""

    def __init__(self, transport: UnixTransport, conn: _Connection, chunked: bool, length: int,
                 closes: bool) -> None:
        self._transport, self._conn = transport, conn
        self._chunked, self._length, self._closes = chunked, length, closes
        self._done = False

    def __iter__(self) -> Iterator[bytes]:
        conn = self._conn
        try:
            if self._chunked:
                while size := int(conn.until(b"\r\n").split(b";")[0], 16):
                    yield conn.exactly(size)
                    conn.exactly(2)
                conn.until(b"\r\n")
            elif self._length:
                yield conn.exactly(self._length)
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out") from exc
        except (OSError, ValueError) as exc:
            raise httpx.ReadError(str(exc)) from exc
        self._done = True

    def close(self) -> None:
        self._transport.give_back(self._conn, reusable=self._done and not self._closes)


class UnixTransport(httpx.BaseTransport):
    """HTTP/1.1 to the daemon over the Unix socket at ``path``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._idle: list[_Connection] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<UnixTransport {self.path} idle={len(self._idle)}>"

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        data = _head(request, request.read())
        try:
            try:
                conn, status, headers = self._exchange(request, data, reuse=True)
            except _Stale:
                conn, status, headers = self._exchange(request, data, reuse=False)
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out", request=request) from exc
        except (ConnectionError, FileNotFoundError) as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc), request=request) from exc
        chunked, length, closes = _framing(headers)
        return httpx.Response(status, headers=headers,
                              stream=_Body(self, conn, chunked, length, closes),
                              extensions={"http_version": b"HTTP/1.1"})

    def _exchange(self, request: httpx.Request, data: bytes, *, reuse: bool
                  ) -> tuple[_Connection, int, list[tuple[bytes, bytes]]]:
        conn = self._take() if reuse else None
        reused = conn is not None
        if conn is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(_timeout(request, "connect"))
            try:
                sock.connect(socket_address(self.path))
                check_peer(sock)
            except OSError:
                sock.close()
                raise
            conn = _Connection(sock)
        conn.sock.settimeout(_timeout(request, "read"))
        try:
            conn.sock.sendall(data)
            status, headers = _parse_head(conn.until(b"\r\n\r\n"))
        except (httpx.RemoteProtocolError, ConnectionError) as exc:
            conn.sock.close()
            if reused:
                raise _Stale from exc
            if isinstance(exc, ConnectionError):
                raise
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except BaseException:
            conn.sock.close()
            raise
        return conn, status, headers

    def _take(self) -> _Connection | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def give_back(self, conn: _Connection, *, reusable: bool) -> None:
        if reusable and not conn.buffer:
            with self._lock:
                self._idle.append(conn)
        else:
            conn.sock.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.sock.close()


# ---- async ------------------------------------------------------------------------------------

class _AsyncConnection:
    def __init__(self, stream: anyio.abc.SocketStream) -> None:
        self.stream = stream
        self.buffer = b""

    async def fill(self) -> None:
        try:
            chunk = await self.stream.receive(CHUNK)
        except (anyio.EndOfStream, anyio.ClosedResourceError, anyio.BrokenResourceError) as exc:
            raise httpx.RemoteProtocolError("the daemon closed the connection mid-answer"
                                            ) from exc
        self.buffer += chunk

    async def until(self, marker: bytes, limit: int = MAX_HEAD) -> bytes:
        while (end := self.buffer.find(marker)) < 0:
            if len(self.buffer) > limit:
                raise httpx.RemoteProtocolError("an answer's head is too long")
            await self.fill()
        found, self.buffer = self.buffer[:end], self.buffer[end + len(marker):]
        return found

    async def exactly(self, size: int) -> bytes:
        while len(self.buffer) < size:
            await self.fill()
        found, self.buffer = self.buffer[:size], self.buffer[size:]
        return found


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, transport: AsyncUnixTransport, conn: _AsyncConnection, chunked: bool,
                 length: int, closes: bool, timeout: float | None) -> None:
        self._transport, self._conn = transport, conn
        self._chunked, self._length, self._closes = chunked, length, closes
        self._timeout = timeout
        self._done = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        try:
            if self._chunked:
                while True:
                    with anyio.fail_after(self._timeout):
                        size = int((await conn.until(b"\r\n")).split(b";")[0], 16)
                        if not size:
                            await conn.until(b"\r\n")
                            break
                        piece = await conn.exactly(size)
                        await conn.exactly(2)
                    yield piece
            elif self._length:
                with anyio.fail_after(self._timeout):
                    piece = await conn.exactly(self._length)
                yield piece
        except TimeoutError as exc:
            raise httpx.ReadTimeout("timed out") from exc
        except (OSError, ValueError) as exc:
            raise httpx.ReadError(str(exc)) from exc
        self._done = True

    async def aclose(self) -> None:
        await self._transport.give_back(self._conn, reusable=self._done and not self._closes)


class AsyncUnixTransport(httpx.AsyncBaseTransport):
    """`UnixTransport` for `httpx.AsyncClient` (on anyio: asyncio or trio)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._idle: list[_AsyncConnection] = []

    def __repr__(self) -> str:
        return f"<AsyncUnixTransport {self.path} idle={len(self._idle)}>"

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        data = _head(request, await request.aread())
        try:
            try:
                conn, status, headers = await self._exchange(request, data, reuse=True)
            except _Stale:
                conn, status, headers = await self._exchange(request, data, reuse=False)
        except TimeoutError as exc:
            raise httpx.ReadTimeout("timed out", request=request) from exc
        except (ConnectionError, FileNotFoundError) as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc), request=request) from exc
        chunked, length, closes = _framing(headers)
        body = _AsyncBody(self, conn, chunked, length, closes, _timeout(request, "read"))
        return httpx.Response(status, headers=headers, stream=body,
                              extensions={"http_version": b"HTTP/1.1"})

    async def _exchange(self, request: httpx.Request, data: bytes, *, reuse: bool
                        ) -> tuple[_AsyncConnection, int, list[tuple[bytes, bytes]]]:
        conn = self._idle.pop() if reuse and self._idle else None
        reused = conn is not None
        if conn is None:
            with anyio.fail_after(_timeout(request, "connect")):
                stream = await anyio.connect_unix(socket_address(self.path))
            try:
                check_peer(stream.extra(anyio.abc.SocketAttribute.raw_socket))
            except OSError:
                await stream.aclose()
                raise
            conn = _AsyncConnection(stream)
        try:
            with anyio.fail_after(_timeout(request, "read")):
                await conn.stream.send(data)
                status, headers = _parse_head(await conn.until(b"\r\n\r\n"))
        except (httpx.RemoteProtocolError, ConnectionError, anyio.BrokenResourceError) as exc:
            await conn.stream.aclose()
            if reused:
                raise _Stale from exc
            raise httpx.RemoteProtocolError(str(exc), request=request) from exc
        except BaseException:
            await conn.stream.aclose()
            raise
        return conn, status, headers

    async def give_back(self, conn: _AsyncConnection, *, reusable: bool) -> None:
        if reusable and not conn.buffer:
            self._idle.append(conn)
        else:
            await conn.stream.aclose()

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.stream.aclose()
