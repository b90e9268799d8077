"""lspfeedback: type-check and lint feedback for coding agents, from warm language servers.

    from lspfeedback import Verifier

    with Verifier("path/to/repo") as v:
        report = v.verify({"pkg/mod.py": new_text})
        if not report.ok:
            print(report)
"""

from lspfeedback._daemon.client import AsyncClient, Client
from lspfeedback._engine import AsyncVerifier
from lspfeedback._exceptions import (
    DaemonError,
    DaemonNotRunning,
    DaemonTimeout,
    DaemonUnreachable,
    EditApplyError,
    EditError,
    LspFeedbackError,
    PathOutsideWorkspace,
    RequestTimeout,
    ServerCrashed,
    ServerError,
    ServerNotFound,
    ServerStartError,
    UnknownServer,
    VerifierClosed,
    WorkspaceError,
)
from lspfeedback._options import OptionFields, VerifierOptions
from lspfeedback._report import CandidateReport, Diagnostic, Report, Unknown
from lspfeedback._status import ServerStatus, VerifierStatus
from lspfeedback._verifier import Verifier, verify
from lspfeedback.edits import Changes
from lspfeedback.servers import ServerSpec

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
    "Diagnostic",
    "EditApplyError",
    "EditError",
    "LspFeedbackError",
    "OptionFields",
    "PathOutsideWorkspace",
    "Report",
    "RequestTimeout",
    "ServerCrashed",
    "ServerError",
    "ServerNotFound",
    "ServerSpec",
    "ServerStartError",
    "ServerStatus",
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
