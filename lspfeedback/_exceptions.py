"""The one exception tree of lspfeedback.

    LspFeedbackError
    ├── WorkspaceError
    │   └── PathOutsideWorkspace    a path that does not resolve inside the root
    ├── EditError                   an edit that cannot be applied (nothing was changed)
    │   └── EditApplyError          it parsed but does not fit the current text (says where)
    ├── UnknownServer               a server name the registry does not know (a ValueError)
    ├── VerifierClosed              an operation on a verifier after close() (a RuntimeError)
    ├── DaemonError                 the verify daemon could not give an answer
    │   ├── DaemonNotRunning        no daemon is recorded for the root (no state file)
    │   ├── DaemonUnreachable       it does not accept connections, or dropped one mid-request
    │   └── DaemonTimeout           it did not answer within the client's timeout
    └── ServerError                 something went wrong with a language server
        ├── ServerNotFound          its executable is not installed
        ├── ServerStartError        it would not start or initialize
        ├── ServerCrashed           it died while we were talking to it
        ├── RequestTimeout          it did not answer a request before the deadline
        └── ServerUnavailable       it is being restarted, or was given up on (a crash loop)

`verify()` does not raise `ServerError` subclasses for a server that times out or crashes
mid-call: that becomes a report with status ``"unknown"`` and the reason. They are raised by
lower layers and by explicit calls such as `Verifier.start()`.
"""

from __future__ import annotations

__all__ = [
    "DaemonError",
    "DaemonNotRunning",
    "DaemonTimeout",
    "DaemonUnreachable",
    "EditApplyError",
    "EditError",
    "LspFeedbackError",
    "PathOutsideWorkspace",
    "RequestTimeout",
    "ServerCrashed",
    "ServerError",
    "ServerNotFound",
    "ServerStartError",
    "ServerUnavailable",
    "UnknownServer",
    "VerifierClosed",
    "WorkspaceError",
]

_EXCERPT_LINES = 12
"""Lines of closest text an `EditApplyError` message shows; the attribute keeps all of them."""


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


class EditApplyError(EditError):
    """An edit that parsed but does not fit the current text of ``path``.

    ``block`` is the 1-based index of the failing SEARCH/REPLACE block, hunk, TextEdit or
    document change (``unit`` says which; see `lspfeedback.edits.parse_edits` for how each
    format counts), ``closest`` the text nearest to what the edit expected and
    ``closest_line`` the 1-based line where it starts (both None when there is nothing useful
    to show). ``problem`` is the message's first line without the location.
    """

    def __init__(
        self,
        path: str,
        problem: str,
        *,
        block: int | None = None,
        unit: str = "block",
        closest: str | None = None,
        closest_line: int | None = None,
        hint: str = "",
    ) -> None:
        self.path = path
        self.block = block
        self.closest = closest
        self.closest_line = closest_line
        self.problem = problem
        self.unit = unit
        self.hint = hint
        where = path if block is None else f"{path}, {unit} {block}"
        parts = [f"{where}: {problem}"]
        if closest is not None and closest_line is not None:
            last = closest_line + closest.count("\n")
            span = f"line {closest_line}" if last == closest_line else f"lines {closest_line}-{last}"
            parts.append(f"closest text in {path} ({span}):")
            parts.append(numbered(closest, closest_line))
        parts.append(hint or "Nothing was applied. Re-read the file and send the edit again.")
        super().__init__("\n".join(parts))

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only fields survive pickling (and so a trip through another process).
        return (_rebuild_edit_apply_error, (self.path, self.problem, self.fields()))

    def fields(self) -> dict[str, object]:
        """The keyword fields, as `EditApplyError(path, problem, **fields)` takes them."""
        return {"block": self.block, "unit": self.unit, "closest": self.closest,
                "closest_line": self.closest_line, "hint": self.hint}


def _rebuild_edit_apply_error(path: str, problem: str, fields: dict[str, object]) -> EditApplyError:
    return EditApplyError(path, problem, **fields)  # type: ignore[arg-type]


def numbered(text: str, first_line: int, limit: int = _EXCERPT_LINES) -> str:
    """``text`` with 1-based line numbers starting at ``first_line``, cut at ``limit`` lines."""
    lines = text.split("\n")
    shown = lines[:limit]
    width = len(str(first_line + len(shown) - 1))
    out = [f"  {first_line + k:>{width}} | {line}" for k, line in enumerate(shown)]
    if len(lines) > limit:
        out.append(f"  {'':>{width}} | ... ({len(lines) - limit} more lines)")
    return "\n".join(out)


class UnknownServer(LspFeedbackError, ValueError):
    """A server name that is not in the registry. ``name`` is the name, ``known`` the names
    that are."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(f"unknown server {name!r}; known servers: {', '.join(known)} "
                         "(see: lspfeedback servers)")
        self.name = name
        self.known = known


class VerifierClosed(LspFeedbackError, RuntimeError):
    """An operation on a verifier after `close()`; create a new verifier instead."""

    def __init__(self, what: str = "this verifier") -> None:
        super().__init__(f"{what} is closed; create a new one")


class DaemonError(LspFeedbackError):
    """The verify daemon could not give an answer: it is not running or not reachable, it went
    away mid-request, or it answered with an error.

    ``status`` is the HTTP status (None when there was no answer); ``error`` the error's name
    from the daemon's JSON body (e.g. ``"Unauthorized"``, ``"ShuttingDown"``), None when the
    daemon did not answer. Subclasses say why there was no answer.
    """

    def __init__(self, message: str, *, status: int | None = None, error: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error = error

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.message!r}, status={self.status!r}, "
                f"error={self.error!r})")


class DaemonNotRunning(DaemonError):
    """No daemon is recorded for the root (no readable ``.lspfeedback/daemon.json``)."""


class DaemonUnreachable(DaemonError):
    """The daemon does not accept connections, or closed one mid-request (it stopped or died)."""


class DaemonTimeout(DaemonError):
    """The daemon did not answer within the client's timeout."""


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


class ServerUnavailable(ServerError):
    """The server cannot answer now: it is being restarted in the background (after a crash
    or a hang), or it was given up on after a crash loop (see `RestartPolicy`)."""
