"""The state file a running daemon leaves in its root, so that clients can find it.

``ROOT/.lspfeedback/daemon.json`` holds where the daemon listens (a URL, a Unix socket, or both:
a TCP daemon also listens on a private Unix socket, `local_socket_path`, which local clients
prefer), the token every request must carry, its pid and version. It is written atomically with mode 0600
(the token is the only thing between another local user and the workspace), the directory
gets its own ``.gitignore`` so that it is never committed, and the daemon removes the file
when it stops.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lspfeedback._exceptions import DaemonError, DaemonNotRunning

STATE_DIR = ".lspfeedback"
STATE_FILE = "daemon.json"
LOG_FILE = "daemon.log"
"""What a daemon started in the background (by ``lspfeedback check``) writes on stderr."""
SOCKET_FILE = "daemon.sock"
MAX_SOCKET_PATH = 100
"""Bytes of a Unix socket's path at most (``sun_path`` holds 108 on Linux, 104 on macOS)."""


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
        """The Unix socket a client on this machine should use, if the daemon has one that
        exists (else the URL is the way)."""
        if self.socket is not None and os.path.exists(self.socket):
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


def local_socket_path(root: str | os.PathLike[str]) -> Path:
    """Where a TCP daemon of ``root`` also listens for local clients: ``ROOT/.lspfeedback/
    daemon.sock``, or, when that path is too long for a socket, a private directory of this
    user (``$XDG_RUNTIME_DIR/lspfeedback``, else ``TMPDIR/lspfeedback-UID``, mode 0700) with a
    name derived from the root."""
    import hashlib

    resolved = Path(root).resolve()
    near = resolved / STATE_DIR / SOCKET_FILE
    if len(os.fsencode(near)) <= MAX_SOCKET_PATH:
        return near
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    folder = (Path(runtime) / "lspfeedback" if runtime and os.path.isabs(runtime)
              else Path(tempfile.gettempdir()) / f"lspfeedback-{os.getuid()}")
    digest = hashlib.sha256(os.fsencode(resolved)).hexdigest()[:24]
    return folder / f"{digest}.sock"


def private_folder(path: Path) -> Path:
    """``path`` created with mode 0700 if missing; `DaemonError` unless it is a directory
    owned by this user that nobody else may enter (another user could have made it first)."""
    import stat

    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise DaemonError(f"{path} is not a private directory of this user (mode 0700)")
    return path


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
    if state.socket is not None:
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
