"""What the fleet reports per repository (`RepoResult`, `CandidateSummary`) and the JSONL file
it is written to, one line per repository, read back to resume an interrupted run."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, Self, cast

from lspfeedback._report import CandidateReport, Report

RepoStatus = Literal["ok", "errors", "unknown", "no_change"]
"""``ok``: the winner introduces no error and every server answered for it; ``errors``: every
candidate was checked and none is ok (the winner is the least bad); ``unknown``: the
repository could not be checked (the reason says why: a crash, a timeout, an actor that kept
dying, a codemod that raised, a candidate that does not apply everywhere); ``no_change``: the
codemod had no candidate for it. Only ``ok`` passes."""

MAX_LISTED = 20
"""Introduced diagnostics listed per candidate summary (the winner's report has them all)."""


@dataclass(frozen=True)
class CandidateSummary:
    """One candidate of a repository, in a line: how it ranked and what it introduced."""

    index: int
    """Its position in the codemod's list."""
    rank: int | None
    """1 is best; None when it could not be checked (``error`` says why)."""
    status: str
    """The report's status (``clean``, ``errors``, ``unknown``), or ``invalid``."""
    ok: bool
    introduced_errors: int = 0
    introduced_warnings: int = 0
    introduced: tuple[str, ...] = ()
    """The first `MAX_LISTED` introduced diagnostics, one line each."""
    changed_files: tuple[str, ...] = ()
    changed_lines: int = 0
    elapsed_ms: float = 0.0
    error: str | None = None
    """Why it was not checked (an edit that does not apply to this repository)."""

    @classmethod
    def of(cls, candidate: CandidateReport) -> CandidateSummary:
        """The summary of one ranked candidate."""
        report = candidate.report
        return cls(
            index=candidate.index, rank=candidate.rank, status=report.status, ok=report.ok,
            introduced_errors=sum(d.severity == "error" for d in report.introduced),
            introduced_warnings=sum(d.severity == "warning" for d in report.introduced),
            introduced=tuple(str(d) for d in report.introduced[:MAX_LISTED]),
            changed_files=tuple(sorted(candidate.changes)), changed_lines=candidate.changed_lines,
            elapsed_ms=round(report.elapsed_ms, 1))

    @classmethod
    def invalid(cls, index: int, error: str) -> CandidateSummary:
        """A candidate that could not be applied to the repository."""
        return cls(index=index, rank=None, status="invalid", ok=False, error=error)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; `CandidateSummary.from_dict` reads it back."""
        return {**self.__dict__, "introduced": list(self.introduced),
                "changed_files": list(self.changed_files)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CandidateSummary:
        """The summary `to_dict` wrote."""
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        known["introduced"] = tuple(known.get("introduced", ()))
        known["changed_files"] = tuple(known.get("changed_files", ()))
        return cls(**known)


@dataclass(frozen=True)
class RepoResult:
    """The fleet's record of one repository: its winner, the winner's report, every
    candidate's summary, the timings and what went wrong. One JSONL line."""

    repo: str
    """The repository's path, as given (resolved)."""
    status: RepoStatus
    reason: str | None = None
    """Why the status is not ``ok`` (None when it is)."""
    winner: int | None = None
    """The index of the best candidate (in the codemod's list), None when none was checked."""
    report: Report | None = None
    """The winner's full report."""
    candidates: tuple[CandidateSummary, ...] = ()
    """Every candidate, best first; those that could not be checked last."""
    changes: Mapping[str, str | None] = field(default_factory=dict)
    """The winner as full new texts (path -> text, None deletes): what ``--apply`` writes."""
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    """``codemod`` (driver), ``start`` (servers' cold start; 0 when warm), ``check``
    (the candidates on the actor), ``total`` (submission to result, retries included)."""
    attempts: int = 1
    """How many times the repository was sent to an actor (an actor that died is retried)."""
    warm: bool = False
    """The actor already held warm servers for this repository."""
    actor: str | None = None
    """Which actor checked it (``index@node:pid``)."""
    errors: tuple[str, ...] = ()
    """Every fault seen on the way, retried or not (an actor that died, a timeout)."""
    branch: str | None = None
    """With ``apply``: the git branch the winner was committed to."""
    worktree: str | None = None
    """With ``apply``: the worktree holding that branch."""
    apply_error: str | None = None
    """With ``apply``: why the winner was not written (it is not ok, the tree is dirty...)."""

    @property
    def ok(self) -> bool:
        """The repository passes: its winner introduces no error, every server answered."""
        return self.status == "ok"

    def __str__(self) -> str:
        head = f"{self.repo}: {self.status}"
        if self.winner is not None:
            head += f" (candidate {self.winner} of {len(self.candidates)})"
        if self.reason:
            head += f": {self.reason}"
        return head + (f" -> {self.branch}" if self.branch else "")

    def __repr__(self) -> str:
        return (f"<RepoResult {self.repo} {self.status} winner={self.winner} "
                f"candidates={len(self.candidates)} attempts={self.attempts} warm={self.warm}>")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (one JSONL line); `RepoResult.from_dict` reads it back."""
        return {
            "repo": self.repo, "status": self.status, "reason": self.reason,
            "winner": self.winner,
            "report": self.report.to_dict() if self.report is not None else None,
            "candidates": [c.to_dict() for c in self.candidates],
            "changes": dict(self.changes), "timings_ms": dict(self.timings_ms),
            "attempts": self.attempts, "warm": self.warm, "actor": self.actor,
            "errors": list(self.errors), "branch": self.branch, "worktree": self.worktree,
            "apply_error": self.apply_error,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RepoResult:
        """The record `to_dict` wrote."""
        report = data.get("report")
        return cls(
            repo=str(data["repo"]), status=cast(RepoStatus, data["status"]),
            reason=data.get("reason"), winner=data.get("winner"),
            report=Report.from_dict(report) if report is not None else None,
            candidates=tuple(CandidateSummary.from_dict(c) for c in data.get("candidates", ())),
            changes=dict(data.get("changes", {})), timings_ms=dict(data.get("timings_ms", {})),
            attempts=int(data.get("attempts", 1)), warm=bool(data.get("warm", False)),
            actor=data.get("actor"), errors=tuple(data.get("errors", ())),
            branch=data.get("branch"), worktree=data.get("worktree"),
            apply_error=data.get("apply_error"))

    def replace(self, **fields: Any) -> RepoResult:
        """A copy with ``fields`` changed."""
        import dataclasses

        return dataclasses.replace(self, **fields)


def repo_key(repo: str | os.PathLike[str]) -> str:
    """The key a repository is recorded under: its resolved path."""
    return str(Path(repo).resolve())


def read_results(path: str | os.PathLike[str]) -> list[RepoResult]:
    """The records of a JSONL file, in order; a last line cut short by an interrupted
    write is ignored (it was not a record yet). A missing file has none."""
    target = Path(path)
    if not target.exists():
        return []
    out: list[RepoResult] = []
    lines = target.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            out.append(RepoResult.from_dict(json.loads(line)))
        except (ValueError, KeyError, TypeError) as error:
            if number == len(lines):
                break  # the write of the last record was interrupted
            raise ValueError(f"{target}:{number}: not a fleet record: {error}") from None
    return out


def done_repos(results: Iterable[RepoResult], *, retry_unknown: bool = False) -> set[str]:
    """The repositories a resumed run skips: every one with a record (with
    ``retry_unknown``, those whose status was ``unknown`` are checked again)."""
    return {repo_key(r.repo) for r in results if not (retry_unknown and r.status == "unknown")}


class JsonlWriter:
    """Appends one record per line and flushes it to disk at once, so that an interrupted run
    loses at most the line being written (`read_results` skips it)."""

    def __init__(self, path: str | os.PathLike[str], *, append: bool) -> None:
        self.path: Path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if append:
            self._repair()
        self._file: IO[str] = self.path.open("a" if append else "w", encoding="utf-8")
        self.written: int = 0

    def __repr__(self) -> str:
        return f"<JsonlWriter {self.path} written={self.written}>"

    def _repair(self) -> None:
        """Cut a partial last line (an interrupted write) so the next record starts clean."""
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            self.path.write_bytes(data[: data.rfind(b"\n") + 1])

    def write(self, result: RepoResult) -> None:
        self._file.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.written += 1

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

