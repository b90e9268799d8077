"""lspfeedback: type-check and lint feedback for coding agents, from warm language servers.

    from lspfeedback import Verifier

    with Verifier("path/to/repo") as v:
        report = v.verify({"pkg/mod.py": new_text})
        if not report.ok:
            print(report)

The names below are imported on first use (module ``__getattr__``), so that ``import
lspfeedback`` and the command line's warm paths do not pay for the engine, pygls or
lsprotocol until something needs them.
"""

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from lspfeedback._daemon.client import AsyncClient as AsyncClient
    from lspfeedback._daemon.client import Client as Client
    from lspfeedback._engine import AsyncVerifier as AsyncVerifier
    from lspfeedback._exceptions import DaemonError as DaemonError
    from lspfeedback._exceptions import DaemonNotRunning as DaemonNotRunning
    from lspfeedback._exceptions import DaemonTimeout as DaemonTimeout
    from lspfeedback._exceptions import DaemonUnreachable as DaemonUnreachable
    from lspfeedback._exceptions import EditApplyError as EditApplyError
    from lspfeedback._exceptions import EditError as EditError
    from lspfeedback._exceptions import LspFeedbackError as LspFeedbackError
    from lspfeedback._exceptions import PathOutsideWorkspace as PathOutsideWorkspace
    from lspfeedback._exceptions import RequestTimeout as RequestTimeout
    from lspfeedback._exceptions import ServerCrashed as ServerCrashed
    from lspfeedback._exceptions import ServerError as ServerError
    from lspfeedback._exceptions import ServerNotFound as ServerNotFound
    from lspfeedback._exceptions import ServerStartError as ServerStartError
    from lspfeedback._exceptions import ServerUnavailable as ServerUnavailable
    from lspfeedback._exceptions import UnknownServer as UnknownServer
    from lspfeedback._exceptions import VerifierClosed as VerifierClosed
    from lspfeedback._exceptions import WorkspaceError as WorkspaceError
    from lspfeedback._options import OptionFields as OptionFields
    from lspfeedback._options import VerifierOptions as VerifierOptions
    from lspfeedback._report import CandidateReport as CandidateReport
    from lspfeedback._report import Degraded as Degraded
    from lspfeedback._report import Diagnostic as Diagnostic
    from lspfeedback._report import Fix as Fix
    from lspfeedback._report import Report as Report
    from lspfeedback._report import Unknown as Unknown
    from lspfeedback._status import ServerStatus as ServerStatus
    from lspfeedback._status import VerifierStatus as VerifierStatus
    from lspfeedback._supervisor import RestartPolicy as RestartPolicy
    from lspfeedback._verifier import Verifier as Verifier
    from lspfeedback._verifier import verify as verify
    from lspfeedback.edits import Changes as Changes
    from lspfeedback.servers import ServerSpec as ServerSpec

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "AsyncVerifier",
    "CandidateReport",
    "Changes",
    "Client",
    "DaemonError",
    "DaemonNotRunning",
    "DaemonTimeout",
    "DaemonUnreachable",
    "Degraded",
    "Diagnostic",
    "EditApplyError",
    "EditError",
    "Fix",
    "LspFeedbackError",
    "OptionFields",
    "PathOutsideWorkspace",
    "Report",
    "RequestTimeout",
    "RestartPolicy",
    "ServerCrashed",
    "ServerError",
    "ServerNotFound",
    "ServerSpec",
    "ServerStartError",
    "ServerStatus",
    "ServerUnavailable",
    "Unknown",
    "UnknownServer",
    "Verifier",
    "VerifierClosed",
    "VerifierOptions",
    "VerifierStatus",
    "WorkspaceError",
    "__version__",
    "verify",
]

_EXCEPTIONS = "lspfeedback._exceptions"
_HOMES = {
    "AsyncClient": "lspfeedback._daemon.client",
    "AsyncVerifier": "lspfeedback._engine",
    "CandidateReport": "lspfeedback._report",
    "Changes": "lspfeedback.edits",
    "Client": "lspfeedback._daemon.client",
    "DaemonError": _EXCEPTIONS,
    "DaemonNotRunning": _EXCEPTIONS,
    "DaemonTimeout": _EXCEPTIONS,
    "DaemonUnreachable": _EXCEPTIONS,
    "Degraded": "lspfeedback._report",
    "Diagnostic": "lspfeedback._report",
    "EditApplyError": _EXCEPTIONS,
    "EditError": _EXCEPTIONS,
    "Fix": "lspfeedback._report",
    "LspFeedbackError": _EXCEPTIONS,
    "OptionFields": "lspfeedback._options",
    "PathOutsideWorkspace": _EXCEPTIONS,
    "Report": "lspfeedback._report",
    "RequestTimeout": _EXCEPTIONS,
    "RestartPolicy": "lspfeedback._supervisor",
    "ServerCrashed": _EXCEPTIONS,
    "ServerError": _EXCEPTIONS,
    "ServerNotFound": _EXCEPTIONS,
    "ServerSpec": "lspfeedback.servers",
    "ServerStartError": _EXCEPTIONS,
    "ServerStatus": "lspfeedback._status",
    "ServerUnavailable": _EXCEPTIONS,
    "Unknown": "lspfeedback._report",
    "UnknownServer": _EXCEPTIONS,
    "Verifier": "lspfeedback._verifier",
    "VerifierClosed": _EXCEPTIONS,
    "VerifierOptions": "lspfeedback._options",
    "VerifierStatus": "lspfeedback._status",
    "WorkspaceError": _EXCEPTIONS,
    "verify": "lspfeedback._verifier",
}
"""Where each exported name lives; `__getattr__` imports it from there on first use."""


def __getattr__(name: str) -> object:
    """Import an exported name from its module on first use (then it is a plain global)."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'lspfeedback' has no attribute {name!r}")
    value = getattr(_importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """The exported names and whatever is already loaded (submodules included)."""
    return sorted(set(globals()) | set(__all__))
