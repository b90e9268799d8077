"""Request and response bodies of the daemon's JSON API (what ``/openapi.json`` describes).

Responses are exactly `Report.to_dict()` and `CandidateReport.to_dict()`; the models here
describe them for OpenAPI and let unknown fields through (``extra="allow"``), so a field added
to the report reaches clients even before its model is updated.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

SessionName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")]
"""A session name: up to 128 letters, digits and ``._:@-``, not starting with punctuation."""

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted in an edit. The deepest format, an LSP
``WorkspaceEdit``, nests 7 levels; anything far deeper is no edit, and walking it recursively
(as structuring it into lsprotocol types does) could exhaust the stack."""


def nesting_depth(value: Any, limit: int = MAX_DEPTH) -> int:
    """How deeply ``value`` nests lists and dicts (a scalar is 0), counted without recursion;
    `ValueError` as soon as it is deeper than ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            depth += 1
            if depth > limit:
                raise ValueError(f"the edit nests arrays and objects deeper than {limit} levels")
            deepest = max(deepest, depth)
            stack.extend((child, depth) for child in (item.values() if isinstance(item, dict)
                                                       else item))
    return deepest


Edit = str | dict[str, Any]
"""One edit in any format the library takes: ``{path: new full text}``, a unified diff or
SEARCH/REPLACE blocks (a string), an LSP ``WorkspaceEdit`` (JSON) or ``{path: [TextEdit]}``."""

EDIT_DOC = (
    "An edit in any format the library takes: {path: new full text}, a unified diff or "
    "SEARCH/REPLACE blocks (a string), an LSP WorkspaceEdit (JSON) or {path: [TextEdit]}. "
    "In /v1/verify, a list of paths means 'these changed on disk: re-read them'."
)


class VerifyRequest(BaseModel):
    """``POST /v1/verify``."""

    model_config = ConfigDict(extra="forbid")

    changes: Edit | list[str] = Field(description=EDIT_DOC)
    session: SessionName | None = Field(
        default=None,
        description="Apply the edit on top of this session's overlays and keep it there. "
        "Without a session the check is speculative: nothing is left behind.",
    )

    @field_validator("changes")
    @classmethod
    def _shallow(cls, changes: Edit | list[str]) -> Edit | list[str]:
        nesting_depth(changes)
        return changes


class CandidatesRequest(BaseModel):
    """``POST /v1/candidates``."""

    model_config = ConfigDict(extra="forbid")

    candidates: list[Edit] = Field(description="Edits to check against the same base state.")
    session: SessionName | None = Field(
        default=None, description="Check them on top of this session's overlays (unchanged).")
    confirm: int | None = Field(
        default=None, ge=1, description="Rank every candidate on the fast servers (ruff, ty) "
        "and confirm the best, up to this many, with every configured server, in rank order "
        "until one confirmed is ok. An unconfirmed report has final: false. Default: every "
        "server checks every candidate.")

    @field_validator("candidates")
    @classmethod
    def _shallow(cls, candidates: list[Edit]) -> list[Edit]:
        for candidate in candidates:
            nesting_depth(candidate)
        return candidates


class SessionRequest(BaseModel):
    """``POST /v1/commit`` and ``POST /v1/discard``."""

    model_config = ConfigDict(extra="forbid")

    session: SessionName


class CommitResponse(BaseModel):
    written: list[str] = Field(description="Paths written (or deleted) on disk.")


class DiscardResponse(BaseModel):
    discarded: list[str] = Field(description="Paths whose session overlays were dropped.")


class ServerHealth(BaseModel):
    state: str = Field(description="stopped, starting, running, unresponsive (missed a deadline, "
                       "being probed), restarting or failed (given up after a crash loop)")
    restarts: int
    pid: int | None
    last_error: str | None = Field(default=None, description="Why it last failed to answer.")
    gave_up: int = Field(default=0, description="Times it reached the crash cap.")
    stand_in: bool = Field(default=False, description="A fallback started to answer for a "
                           "configured server that could not.")
    progress: str | None = Field(default=None, description="What the server says it is doing "
                                 "now ($/progress), e.g. while a large project starts.")


class HealthResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    status: Literal["ok", "stopping"]
    version: str
    root: str
    pid: int = Field(description="The daemon's own pid.")
    uptime_s: float
    servers: dict[str, ServerHealth] = Field(description="The primary replica's servers.")
    replicas: dict[str, int] = Field(description="started and max: warm server sets.")
    sessions: int
    overlays: int = Field(description="Overlays in the shared base: always 0 between requests.")
    in_flight: int = Field(description="Requests waiting for or inside the engine.")


class ErrorResponse(BaseModel):
    """Every error: 400 (bad edit or path), 401, 403, 404, 413, 422, 500, 503."""

    model_config = ConfigDict(extra="allow")

    error: str = Field(description="The kind, e.g. PathOutsideWorkspace, EditError, Unauthorized.")
    message: str
