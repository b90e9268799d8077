"""Binding the socket and running the app on uvicorn until SIGTERM (or Ctrl-C).

The sockets are bound here, before uvicorn starts, so that port 0 gives a known port to write
into the state file and a Unix socket is created with mode 0600 from its first moment. A TCP
daemon on Linux also listens on a Unix socket in the abstract namespace
(`lspfeedback._daemon.state.local_socket_name`), which local clients prefer: the same app,
the same token, reachable from the same places as the loopback, without the TCP stack.
Shutdown: the signal makes requests in flight answer 503 at once, uvicorn closes the
connections, and the lifespan stops every language server (shutdown, exit, then a kill of
each server's process group): no orphans.
"""

from __future__ import annotations

import asyncio
import os
import socket
import stat
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from types import FrameType
from typing import Unpack

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from lspfeedback._daemon.app import create_app
from lspfeedback._daemon.security import DEFAULT_MAX_BODY, allowed_host_names
from lspfeedback._daemon.service import DaemonSettings
from lspfeedback._daemon.state import (
    DaemonInfo,
    local_socket_name,
    new_token,
    read_state,
    socket_address,
)
from lspfeedback._exceptions import DaemonError, WorkspaceError
from lspfeedback._options import OptionFields, VerifierOptions

DEFAULT_HOST = "127.0.0.1"
GRACEFUL_SHUTDOWN = 10
"""Seconds uvicorn waits for connections to finish before cancelling them (a backstop: requests
in flight answer 503 as soon as the signal arrives)."""


class _SameNamespace(AutoHTTPProtocol):
    """uvicorn's HTTP protocol, closing a Unix-socket connection that comes from another
    network namespace at once: a language server in its sandbox (no network) sees a socket
    file (``--socket``) on its read-only view of the disk, and could read the token in the
    state file there too; over TCP it could not reach the daemon, so not over a file either."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        why = foreign_peer(transport.get_extra_info("socket"))
        if why:
            print(f"lspfeedback: refused a connection on the Unix socket: {why}",
                  file=sys.stderr)
            transport.close()


def foreign_peer(sock: socket.socket | None) -> str:
    """Why the process at the other end of the Unix socket ``sock`` may not talk to the
    daemon ("" if it may): it is in another network namespace than the daemon (Linux)."""
    if sock is None or sock.family != socket.AF_UNIX or not hasattr(socket, "SO_PEERCRED"):
        return ""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, _, _ = struct.unpack("3i", raw)
    try:
        theirs, ours = os.readlink(f"/proc/{pid}/ns/net"), os.readlink("/proc/self/ns/net")
    except OSError:
        return ""  # another user's process: its namespace is not ours to read; the token holds
    if theirs != ours:
        return f"pid {pid} is in another network namespace ({theirs}), as a sandbox is"
    return ""


class _Server(uvicorn.Server):
    """uvicorn's server, telling the daemon the moment a stop signal arrives."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._on_exit()


def serve(
    root: str | os.PathLike[str],
    options: VerifierOptions | None = None,
    *,
    host: str = DEFAULT_HOST,
    port: int = 0,
    socket_path: str | os.PathLike[str] | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    announce: Callable[[DaemonInfo], None] | None = None,
    local_socket: bool = True,
    **fields: Unpack[OptionFields],
) -> int:
    """Serve ``root`` until a stop signal; returns 0, or 2 when the servers did not start.

    The engine runs with ``options`` and ``fields`` (as `AsyncVerifier` takes them); the disk
    watcher is always on, since a daemon outlives many edits by others.

    Listens on ``host:port`` (port 0 picks a free one) and, unless ``local_socket`` is
    false, on an abstract Unix socket for local clients (`local_socket_name`, Linux; both are
    in the state file, and `Client` prefers the socket), or, with ``socket_path``, on that
    Unix socket alone. ``announce`` is called with the `DaemonInfo` once the servers are warm and the
    state file is written. Raises `DaemonError` when a daemon already serves ``root``.
    """
    root_path = Path(root).resolve()
    if not root_path.is_dir():
        raise WorkspaceError(f"workspace root {str(root)!r} is not a directory")
    _refuse_if_running(root_path)
    unix_path = Path(socket_path).absolute() if socket_path is not None else None
    local: tuple[socket.socket, str] | None = None
    if unix_path is not None:
        sockets = [bind_unix(unix_path)]
        url, bound_port, names = None, None, allowed_host_names(None)
    else:
        tcp = bind_tcp(host, port)
        address = tcp.getsockname()
        bound_port = int(address[1])
        shown = f"[{address[0]}]" if tcp.family == socket.AF_INET6 else str(address[0])
        url, names = f"http://{shown}:{bound_port}", allowed_host_names(str(address[0]))
        sockets = [tcp]
        local = _bind_local() if local_socket else None
        if local is not None:
            sockets.append(local[0])
    socket_name = str(unix_path) if unix_path is not None else local[1] if local else None
    settings = DaemonSettings(
        root=root_path, token=new_token(),
        options=(options or VerifierOptions()).replace(**{**fields, "watch": True}),
        max_body=max_body, url=url, socket=socket_name,
        host_names=names, port=bound_port, announce=announce,
    )
    app = create_app(settings)
    config = uvicorn.Config(
        app, http=_SameNamespace, lifespan="on", log_level="warning", access_log=False,
        server_header=False,
        proxy_headers=False,  # X-Forwarded-* from a local process proves nothing
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN,
    )
    server = _Server(config, app.state.daemon.request_stop)
    try:
        server.run(sockets=sockets)
    except SystemExit:  # uvicorn's way of saying the lifespan (the servers' start) failed
        return 2
    finally:
        for sock in sockets:
            sock.close()
    return 0 if server.started else 2


def _bind_local() -> tuple[socket.socket, str] | None:
    """The local socket a TCP daemon also listens on (`local_socket_name`: abstract, so
    reachable from this network namespace only, like the loopback) and its name; None on a
    system without abstract sockets, or, with a note on stderr, when it cannot be bound."""
    name = local_socket_name()
    if name is None:
        return None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.bind(socket_address(name))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        print(f"lspfeedback: note: no local socket ({exc.strerror}); clients use TCP",
              file=sys.stderr)
        return None
    return sock, name


def bind_tcp(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port``."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    if not infos:
        raise DaemonError(f"cannot resolve {host!r}")
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)  # listening now: clients that come before uvicorn accepts just wait
    except OSError as exc:
        sock.close()
        raise DaemonError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


def bind_unix(path: Path) -> socket.socket:
    """A listening Unix socket at ``path`` with mode 0600; a stale socket file is replaced."""
    if path.exists() or path.is_symlink():
        if not stat.S_ISSOCK(path.lstat().st_mode):
            raise DaemonError(f"{path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # nobody listens: left behind by a daemon that was killed
        else:
            raise DaemonError(f"{path} is in use by a running process")
        finally:
            probe.close()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    previous = os.umask(0o177)  # created 0600: no moment when others could connect
    try:
        sock.bind(str(path))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise DaemonError(f"cannot listen on {path}: {exc.strerror}") from exc
    finally:
        os.umask(previous)
    return sock


def _refuse_if_running(root: Path) -> None:
    """A daemon that answers for this root already: say where instead of starting a second."""
    from lspfeedback._daemon.client import Client

    info = read_state(root)
    if info is None:
        return
    try:
        with Client(root, timeout=5.0) as client:
            client.health()
    except DaemonError:
        return  # a stale state file (the daemon was killed): it is replaced
    raise DaemonError(
        f"a daemon already serves {root} at {info.endpoint} (pid {info.pid}); stop it with: "
        f"lspfeedback stop --root {root}")
