"""JSON schemas (pydantic models) of the library's ``to_dict()`` shapes, shared by the daemon's
OpenAPI document and the MCP adapter's tool output schemas.

``extra="forbid"`` makes each schema exact (``additionalProperties: false``): a key added to
``Report.to_dict`` without being added here fails the tests instead of drifting silently.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from lspfeedback._report import Severity, Status


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class DiagnosticModel(_Model):
    """One diagnostic; lines and columns are 1-based, columns count characters."""

    path: str
    """Relative to the workspace root, with forward slashes."""
    line: int
    column: int
    end_line: int
    end_column: int
    severity: Severity
    message: str
    source: str
    """The server that reported it, e.g. "pyright" or "ruff"."""
    code: str | None = None
    """The rule, e.g. "reportCallIssue" or "F401"."""
    url: str | None = None
    """The rule's documentation, as the server links it."""
    fixable: bool = False
    """A server offers a quick fix that properly fixes it (in the report's fixes). Only
    introduced diagnostics are asked about: false elsewhere means not asked."""


class FixModel(_Model):
    """A server's quick fix for an introduced diagnostic, as the full new texts of the files."""

    title: str
    """The server's title, e.g. "Ruff (F401): Remove unused import: `json`"."""
    server: str
    diagnostic: DiagnosticModel
    """The diagnostic it fixes."""
    changes: dict[str, str | None]
    """Path -> the file's complete text with the fix applied (null: the file is deleted)."""
    bases: dict[str, str | None]
    """Path -> fingerprint of the text the fix was made for: a fix of a file that changed
    since is refused."""
    preferred: bool
    """The server says it properly fixes the error (not, say, a comment silencing the rule)."""


class UnknownModel(_Model):
    """A server that could not give a fresh answer, and why."""

    server: str
    reason: str


class DegradedModel(_Model):
    """A configured server that could not answer, and the fallbacks that answered for it."""

    server: str
    reason: str
    stand_ins: list[str]
    """The servers whose diagnostics stand in for its own."""
    uncovered: list[str]
    """Its check classes (types, lint, syntax) nobody answered for: the status stays unknown."""


class ReportModel(_Model):
    """The diagnostics an edit leaves behind, and what it changed."""

    status: Status
    """"clean", "errors" (an error-severity diagnostic exists in the checked files) or
    "unknown" (a server could not answer in time or crashed: never read it as clean)."""
    ok: bool
    """True when the status is known and this edit introduced no error-severity diagnostic;
    errors that were already there do not make it false."""
    diagnostics: list[DiagnosticModel]
    """Every current diagnostic of checked_files."""
    introduced: list[DiagnosticModel]
    """Diagnostics this edit caused, compared with the state just before it (diagnostics
    that only moved because lines were inserted above them are not counted)."""
    resolved: list[DiagnosticModel]
    """Diagnostics this edit made go away."""
    checked_files: list[str]
    """The edited files and the files importing them, nearest first."""
    changed_files: list[str]
    versions: dict[str, int]
    """The document versions the diagnostics describe."""
    elapsed_ms: float
    timings_ms: dict[str, float]
    """Per server: wall time of its part of this call."""
    unknown: list[UnknownModel]
    complete: bool
    """True when every importer was checked (none cut by max_dependents, the import graph was
    read), every server answered, and every server can vouch for importers on overlays. An
    ok that rests on an incomplete check is not the whole truth: read notes."""
    unvouched: list[str]
    """Servers whose importer results on overlays cannot be trusted (they were checked but
    do not count as proof)."""
    dependents_omitted: int
    """Importers left unchecked because there were too many."""
    conflicts: list[str]
    """Files changed on disk under a kept edit since the last call (the kept edit won)."""
    external_changes: list[str]
    """Files someone else changed on disk since the last call: part of the baseline."""
    external_introduced: list[DiagnosticModel]
    """Diagnostics those external changes brought (not caused by this edit)."""
    degraded: list[DegradedModel]
    """Servers that could not answer and who stood in: the verdict rests on the stand-ins."""
    fixes: list[FixModel]
    """Quick fixes the servers offer for the introduced diagnostics, preferred ones first."""
    notes: list[str]
    servers: list[str] = []
    """The servers whose diagnostics this report holds (those that answered)."""
    final: bool = True
    """False for a preview of a progressive verify: the fast servers' answer, which the final
    report (true) supersedes once every server has answered. A preview is never complete:
    never read it as the verdict."""


class CandidateModel(_Model):
    """One candidate's report and its place in the ranking."""

    index: int
    """Position of the candidate in the list given (0-based)."""
    rank: int
    """1 is best."""
    changed_lines: int
    changes: dict[str, str | None]
    """The candidate as path -> full new text (null: the file is deleted)."""
    report: ReportModel
