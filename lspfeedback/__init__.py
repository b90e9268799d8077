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
    EditError,
    LspFeedbackError,
    PathOutsideWorkspace,
    RequestTimeout,
    ServerCrashed,
    ServerError,
    ServerNotFound,
    ServerStartError,
    WorkspaceError,
)
from lspfeedback._report import CandidateReport, Diagnostic, Report, Unknown
from lspfeedback._verifier import Verifier, verify
from lspfeedback.servers.base import ServerSpec

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "AsyncVerifier",
    "CandidateReport",
    "Client",
    "DaemonError",
    "Diagnostic",
    "EditError",
    "LspFeedbackError",
    "PathOutsideWorkspace",
    "Report",
    "RequestTimeout",
    "ServerCrashed",
    "ServerError",
    "ServerNotFound",
    "ServerSpec",
    "ServerStartError",
    "Unknown",
    "Verifier",
    "WorkspaceError",
    "__version__",
    "verify",
]
