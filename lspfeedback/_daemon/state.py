"""The state file a running daemon leaves in its root, so that clients can find it.

``ROOT/.lspfeedback/daemon.json`` holds where the daemon listens (a URL, a Unix socket, or both:
a TCP daemon on Linux also listens on a Unix socket in the abstract namespace,
`local_socket_name`, which local clients prefer), the token every request must carry, its pid and version. It is written atomically with mode 0600
(the token is the only thing between another local user and the workspace), the directory
gets its own ``.gitignore`` so that it is never committed, and the daemon removes the file
when it stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lspfeedback._exceptions import DaemonError, DaemonNotRunning

STATE_DIR = ".lspfeedback"
STATE_FILE = "daemon.json"
LOG_FILE = "daemon.log"
"""What a daemon started in the background (by ``lspfeedback check``) writes on stderr."""


def new_token() -> str:
    """A fresh token: 256 random bits, URL-safe."""
    import secrets  # here: clients, which only read the state file, do not pay for it

    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class DaemonInfo:
    """What the state file says about a running daemon."""

    root: str
    token: str
    pid: int
    version: str
    url: str | None = None
    """``http://host:port`` when it listens on TCP."""
    socket: str | None = None
    """The Unix socket's path when it listens on one (a TCP daemon has one too, for local
    clients: faster than TCP)."""

    def __repr__(self) -> str:  # never the token
        return f"<DaemonInfo {self.endpoint} pid={self.pid} root={self.root}>"

    @property
    def endpoint(self) -> str:
        """The URL, or ``unix:PATH`` (the name a daemon is known by, whichever way a client
        reaches it)."""
        return self.url if self.url is not None else f"unix:{self.socket}"

    @property
    def local_socket(self) -> str | None:
        """The Unix socket a client on this machine should use, if the daemon has one (an
        abstract name, or a socket file that exists); else the URL is the way."""
        if self.socket is not None and (self.socket.startswith("@")
                                        or os.path.exists(self.socket)):
            return self.socket
        return None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DaemonInfo:
        return cls(root=str(data["root"]), token=str(data["token"]), pid=int(data["pid"]),
                   version=str(data["version"]), url=data.get("url"), socket=data.get("socket"))


def state_path(root: str | os.PathLike[str]) -> Path:
    """``ROOT/.lspfeedback/daemon.json``, for the resolved root."""
    return Path(root).resolve() / STATE_DIR / STATE_FILE


def state_dir(root: str | os.PathLike[str]) -> Path:
    """``ROOT/.lspfeedback``, created (mode 0700, with a ``.gitignore`` of ``*``) if missing."""
    path = Path(root).resolve() / STATE_DIR
    path.mkdir(mode=0o700, exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n", encoding="utf-8")
    return path


def local_socket_name() -> str | None:
    """A fresh name for the local socket a TCP daemon also listens on: ``@lspfeedback-`` and
    96 random bits, in Linux's abstract namespace; None elsewhere (TCP alone).

    Abstract, not a file: like the loopback, it is reachable only from this network
    namespace, so a sandboxed language server (``bwrap --unshare-net``, which sees the
    workspace, the state file included, read-only) cannot reach the daemon through it, as it
    cannot through TCP; a socket file can be connected to on a read-only mount."""
    if not sys.platform.startswith("linux"):
        return None
    import secrets

    return "@lspfeedback-" + secrets.token_hex(12)


def socket_address(name: str) -> str:
    """What `socket.socket.connect` takes for a socket named in the state file (``@name`` is
    the abstract namespace)."""
    return "\0" + name[1:] if name.startswith("@") else name


def write_state(info: DaemonInfo) -> Path:
    """Write the state file atomically with mode 0600; returns its path."""
    path = state_dir(info.root) / STATE_FILE
    # mkstemp creates the file with mode 0600 before anything is written to it.
    fd, tmp = tempfile.mkstemp(prefix=".daemon-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(info.to_dict(), out, indent=2)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def read_state(root: str | os.PathLike[str]) -> DaemonInfo | None:
    """The state file of ``root``, or None when there is none.

    Raises `DaemonNotRunning` when it exists but cannot be read.
    """
    path = state_path(root)
    try:
        info = os.lstat(path)
        data = json.loads(path.read_text(encoding="utf-8"))
        state = DaemonInfo.from_dict(data)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DaemonNotRunning(f"cannot read the daemon state file {path}: {exc}") from exc
    why = _untrusted(info, state, Path(root))
    if why:
        # The workspace is untrusted, and it could ship this file: a report from an endpoint
        # it names could say anything (and would be sent the texts being checked).
        raise DaemonNotRunning(f"ignoring the daemon state file {path}: {why}")
    return state


def _untrusted(info: os.stat_result, state: DaemonInfo, root: Path) -> str:
    """Why a state file was not written by a daemon of ours for ``root`` ("" if it was)."""
    import stat
    from urllib.parse import urlsplit

    from lspfeedback._daemon.security import is_loopback

    if not stat.S_ISREG(info.st_mode):
        return "it is not a regular file"
    if info.st_uid != os.getuid() or info.st_mode & 0o077:
        return "it is not private to this user (owner and mode 0600)"
    if Path(state.root).resolve() != root.resolve():
        return f"it describes another root ({state.root})"
    if state.url is not None:
        host = urlsplit(state.url).hostname or ""
        if not is_loopback(host):
            return f"its endpoint {state.url} is not on this machine's loopback"
    if state.socket is not None and not state.socket.startswith("@"):
        try:
            sock = os.lstat(state.socket)
        except OSError:
            return ""  # gone: the daemon stopped (a client then says it is unreachable)
        if not stat.S_ISSOCK(sock.st_mode) or sock.st_uid != os.getuid():
            return f"its socket {state.socket} is not a socket of this user"
    return ""



def remove_state(info: DaemonInfo) -> None:
    """Remove the state file if it is still ``info``'s (a newer daemon may have replaced it)."""
    with contextlib.suppress(DaemonError):
        if read_state(info.root) == info:
            with contextlib.suppress(FileNotFoundError):
                state_path(info.root).unlink()
