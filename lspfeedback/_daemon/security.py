"""Who may talk to the daemon, and how much: checks that run before any route.

In order: ``Host`` must name a loopback address and ``Origin``, when a browser sends one, a
loopback origin (a web page that rebinds its DNS name to 127.0.0.1 sends its own name: 403);
``Authorization: Bearer <token>`` must match, compared in constant time (401); the body may
not exceed the limit, whether announced by ``Content-Length`` or streamed (413). There is no
CORS middleware on purpose: no browser page is ever allowed to read an answer.

Paths are not checked here: every path in a request is resolved by the document store's
``relpath`` (symlinks followed, contained in the root) before anything is touched.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:  # only annotations: importing this module stays light
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY = 8 * 1024 * 1024
"""Bytes a request body may have (8 MiB: far more than any edit an agent sends)."""

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def split_host(value: str) -> tuple[str, int | None] | None:
    """``name:port``, ``[v6]:port`` or ``name`` -> (lowercase name, port); None if malformed."""
    value = value.strip().lower()
    if value.startswith("["):
        name, bracket, rest = value[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:] if rest else ""
    else:
        name, _, port_text = value.partition(":")
        if ":" in port_text:
            return None
    if not name:
        return None
    if not port_text:
        return name, None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        return None
    return name, int(port_text)


def allowed_host_names(bound_host: str | None) -> frozenset[str]:
    """The loopback names, plus the bound address itself when it is an IP literal.

    An IP literal cannot be rebound by DNS, so accepting it (for a daemon deliberately bound
    to another interface) keeps the protection; a host name would not.
    """
    names = set(LOOPBACK_NAMES)
    if bound_host:
        try:
            names.add(str(ipaddress.ip_address(bound_host.strip("[]"))))
        except ValueError:
            pass
    return frozenset(names)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback name or address."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Guard:
    """ASGI middleware: Host and Origin (403), bearer token (401), body size (413).

    ``port`` is the TCP port the daemon listens on (None on a Unix socket): a ``Host`` or
    ``Origin`` naming another port is refused too. A body that passes is buffered (it is at
    most ``max_body`` bytes) and replayed to the app.
    """

    def __init__(self, app: ASGIApp, *, token: str, names: Iterable[str], port: int | None,
                 max_body: int = DEFAULT_MAX_BODY) -> None:
        if len(token) < 22:  # 22 URL-safe characters are 132 bits
            raise ValueError("the token must have at least 128 bits (22 URL-safe characters)")
        self.app = app
        self._token = token.encode("ascii")
        self.names = frozenset(names)
        self.port = port
        self.max_body = max_body

    def __repr__(self) -> str:
        return f"<Guard names={sorted(self.names)} port={self.port} max_body={self.max_body}>"

    def host_ok(self, value: str) -> bool:
        parsed = split_host(value)
        if parsed is None:
            return False
        name, port = parsed
        return name in self.names and (port is None or self.port is None or port == self.port)

    def origin_ok(self, value: str) -> bool:
        parts = urlsplit(value.strip())
        return parts.scheme in ("http", "https") and not parts.path.strip("/") \
            and self.host_ok(parts.netloc)

    def token_ok(self, value: bytes) -> bool:
        scheme, _, given = value.strip().partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(given.strip(), self._token)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # no websockets here
            await send({"type": "websocket.close", "code": 1008})
            return
        headers: dict[bytes, bytes] = {}
        for key, value in scope["headers"]:
            headers.setdefault(key.lower(), value)  # the first one counts, as in Starlette
        host = headers.get(b"host", b"").decode("latin-1")
        if not self.host_ok(host):
            await reject(send, 403, "Forbidden", f"Host {host!r} is not a loopback name")
            return
        origin = headers.get(b"origin")
        if origin is not None and not self.origin_ok(origin.decode("latin-1")):
            await reject(send, 403, "Forbidden", "cross-origin requests are not allowed")
            return
        if not self.token_ok(headers.get(b"authorization", b"")):
            await reject(send, 401, "Unauthorized",
                         "missing or wrong token: send 'Authorization: Bearer <token>' with the "
                         "token from ROOT/.lspfeedback/daemon.json",
                         extra_headers=[(b"www-authenticate", b"Bearer")])
            return
        length = headers.get(b"content-length")
        if length is not None:
            if not length.strip().isdigit():
                await reject(send, 400, "InvalidRequest", "Content-Length is not a number")
                return
            if int(length) > self.max_body:
                await self._too_large(send)
                return
        body = await self._read_body(receive)
        if body is None:
            await self._too_large(send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _read_body(self, receive: Receive) -> bytes | None:
        """The whole body, or None as soon as it grows past the limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return b""
            chunk: bytes = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _too_large(self, send: Send) -> None:
        await reject(send, 413, "PayloadTooLarge",
                     f"the request body is larger than {self.max_body} bytes")


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the buffered body once, then defers to the real one."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def reject(send: Send, status: int, kind: str, message: str, *,
                 extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """Answer with the daemon's JSON error shape ``{"error": kind, "message": ...}``."""
    await send_json(send, status, {"error": kind, "message": message}, extra_headers)


async def send_json(send: Send, status: int, payload: Any,
                    extra_headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps(payload).encode("utf-8")
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               *(extra_headers or [])]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
