"""The one exception tree of lspfeedback.

    LspFeedbackError
    ├── WorkspaceError
    │   └── PathOutsideWorkspace    a path that does not resolve inside the root
    ├── EditError                   an edit that cannot be applied (nothing was changed)
    ├── DaemonError                 the verify daemon is unreachable, died, or answered an error
    └── ServerError                 something went wrong with a language server
        ├── ServerNotFound          its executable is not installed
        ├── ServerStartError        it would not start or initialize
        ├── ServerCrashed           it died while we were talking to it
        └── RequestTimeout          it did not answer a request before the deadline

`verify()` does not raise `ServerError` subclasses for a server that times out or crashes
mid-call: that becomes a report with status ``"unknown"`` and the reason. They are raised by
lower layers and by explicit calls such as `Verifier.start()`.
"""

from __future__ import annotations

__all__ = [
    "DaemonError",
    "EditError",
    "LspFeedbackError",
    "PathOutsideWorkspace",
    "RequestTimeout",
    "ServerCrashed",
    "ServerError",
    "ServerNotFound",
    "ServerStartError",
    "WorkspaceError",
]


class LspFeedbackError(Exception):
    """Base class of every error lspfeedback raises on purpose."""


class WorkspaceError(LspFeedbackError):
    """A problem with the workspace root or a path in it."""


class PathOutsideWorkspace(WorkspaceError):
    """A path resolves outside the workspace root (``..``, absolute, or a symlink out)."""

    def __init__(self, path: str, root: str) -> None:
        super().__init__(
            f"{path!r} is outside the workspace {root!r}; "
            "pass a path relative to the root or an absolute path inside it"
        )
        self.path = path
        self.root = root


class EditError(LspFeedbackError):
    """An edit that cannot be applied. Nothing was changed: no overlay, no file."""


class DaemonError(LspFeedbackError):
    """The verify daemon could not give an answer: it is not running or not reachable, it went
    away mid-request, or it answered with an error.

    ``status`` is the HTTP status (None when there was no answer), ``kind`` the error's name
    from the daemon's JSON body (e.g. ``"Unauthorized"``, ``"ShuttingDown"``) or a local one
    (``"Unreachable"``, ``"Disconnected"``, ``"Timeout"``, ``"NoDaemon"``).
    """

    def __init__(self, message: str, *, status: int | None = None, kind: str = "DaemonError") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.kind = kind

    def __repr__(self) -> str:
        return f"DaemonError({self.message!r}, status={self.status!r}, kind={self.kind!r})"


class ServerError(LspFeedbackError):
    """A language server failed. ``server`` names it; ``stderr`` holds its last output."""

    def __init__(self, server: str, message: str, stderr: str = "") -> None:
        detail = f"{server}: {message}"
        if stderr.strip():
            detail += "\n--- last stderr of " + server + " ---\n" + stderr.rstrip()
        super().__init__(detail)
        self.server = server
        self.reason = message
        self.stderr = stderr


class ServerNotFound(ServerError):
    """The server's executable is not installed."""


class ServerStartError(ServerError):
    """The server process would not start, or did not finish `initialize`."""


class ServerCrashed(ServerError):
    """The server process exited while requests were in flight or were about to be sent."""


class RequestTimeout(ServerError):
    """The server did not answer before the deadline; the request was cancelled."""
