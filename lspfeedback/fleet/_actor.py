"""The work of one fleet actor: warm `AsyncVerifier`s for a few repositories, least recently
used evicted, and the check of one repository's candidates.

`VerifierHost` is a plain class; `Fleet` makes it a Ray actor with ``ray.remote`` and the
resources its servers need. It is an async actor: its methods run on the actor's event loop,
one repository checked at a time (``concurrency``), while `info` answers at any moment.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lspfeedback._engine import AsyncVerifier
from lspfeedback._exceptions import LspFeedbackError
from lspfeedback._options import VerifierOptions
from lspfeedback._report import CandidateReport
from lspfeedback.edits import Changes, EditError, parse_edits
from lspfeedback.fleet._apply import ApplyError, apply_to_branch
from lspfeedback.fleet._records import CandidateSummary, RepoResult


@dataclass(frozen=True)
class ApplyRequest:
    """Write the winner (when ok) to ``branch`` in a new worktree under ``worktrees``."""

    branch: str
    message: str
    worktrees: str | None = None


@dataclass(frozen=True)
class HostAnswer:
    """What `VerifierHost.check` sends back: the record, and what the router must know."""

    result: RepoResult
    warm: bool
    """The actor keeps warm servers for the repository now."""
    evicted: tuple[str, ...]
    """Repositories closed to make room for this one."""


class VerifierHost:
    """Warm verifiers for up to ``max_warm`` repositories (LRU), inside one actor."""

    def __init__(self, index: int, options: VerifierOptions, *, max_warm: int = 2,
                 concurrency: int = 1) -> None:
        self.index: int = index
        self.options: VerifierOptions = options
        self.max_warm: int = max(1, max_warm)
        self.concurrency: int = max(1, concurrency)
        self._verifiers: OrderedDict[str, AsyncVerifier] = OrderedDict()
        self._gate: asyncio.Semaphore | None = None
        self.checked: int = 0

    def __repr__(self) -> str:
        return (f"<VerifierHost {self.index} pid={os.getpid()} warm={list(self._verifiers)} "
                f"max_warm={self.max_warm} checked={self.checked}>")

    def name(self) -> str:
        """``index@node:pid``: which actor process this is (a restart changes the pid)."""
        return f"{self.index}@{_node_id()[:8]}:{os.getpid()}"

    async def info(self) -> dict[str, object]:
        """Who this actor is, what it holds warm, and the memory of its servers."""
        pids, rss = _children()
        return {"name": self.name(), "pid": os.getpid(), "warm": list(self._verifiers),
                "checked": self.checked, "server_pids": pids, "servers_rss": rss}

    async def check(self, repo: str, candidates: Sequence[Changes],
                    apply: ApplyRequest | None = None) -> HostAnswer:
        """Check ``candidates`` against ``repo`` as it is on disk; rank them; the best wins."""
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.concurrency)
        async with self._gate:
            return await self._check(Path(repo), candidates, apply)

    async def evict(self, repo: str) -> bool:
        """Close ``repo``'s verifier if this actor holds one."""
        verifier = self._verifiers.pop(repo, None)
        if verifier is not None:
            await verifier.close()
        return verifier is not None

    async def close(self) -> None:
        """Close every verifier (their servers stop)."""
        while self._verifiers:
            _, verifier = self._verifiers.popitem(last=False)
            await verifier.close()

    async def _check(self, root: Path, candidates: Sequence[Changes],
                     apply: ApplyRequest | None) -> HostAnswer:
        key = str(root)
        began = time.perf_counter()
        warm = key in self._verifiers
        evicted: list[str] = []
        try:
            verifier = await self._verifier(key, evicted)
        except (LspFeedbackError, OSError) as error:
            return self._answer(RepoResult(key, "unknown", reason=f"servers did not start: "
                                           f"{error}"), False, evicted)
        start_ms = 0.0 if warm else (time.perf_counter() - began) * 1000
        checked = time.perf_counter()
        valid, invalid = _parse_each(root, candidates)
        if not valid:
            return self._answer(RepoResult(
                key, "errors", reason="no candidate applies to this repository",
                candidates=tuple(invalid), timings_ms={"start": start_ms}), True, evicted)
        try:
            ranked = await verifier.verify_candidates([changes for _, changes in valid])
        except (LspFeedbackError, OSError) as error:
            await self.evict(key)  # its state is in doubt: the next check starts afresh
            return self._answer(RepoResult(
                key, "unknown", reason=f"check failed: {type(error).__name__}: {error}",
                candidates=tuple(invalid), timings_ms={"start": start_ms}), False, evicted)
        ranked = [dataclasses.replace(c, index=valid[c.index][0]) for c in ranked]
        result = _result(key, ranked, invalid).replace(warm=warm, timings_ms={
            "start": round(start_ms, 1),
            "check": round((time.perf_counter() - checked) * 1000, 1)})
        if apply is not None:
            result = _applied(root, result, apply)
        self.checked += 1
        return self._answer(result, True, evicted)

    def _answer(self, result: RepoResult, warm: bool, evicted: list[str]) -> HostAnswer:
        return HostAnswer(result.replace(actor=self.name()),
                          warm and result.repo in self._verifiers, tuple(evicted))

    async def _verifier(self, key: str, evicted: list[str]) -> AsyncVerifier:
        verifier = self._verifiers.get(key)
        if verifier is not None:
            self._verifiers.move_to_end(key)
            return verifier
        while len(self._verifiers) >= self.max_warm:
            old, least_recent = self._verifiers.popitem(last=False)
            evicted.append(old)
            await least_recent.close()
        verifier = AsyncVerifier(key, self.options)
        try:
            await verifier.start()
        except BaseException:
            await verifier.close()
            raise
        self._verifiers[key] = verifier
        return verifier


def _parse_each(root: Path, candidates: Sequence[Changes]
                ) -> tuple[list[tuple[int, dict[str, str | None]]], list[CandidateSummary]]:
    """Each candidate as full texts, or why it does not apply (checked one by one, so that a
    wrong candidate is ranked out instead of stopping the others)."""
    def read(path: str) -> str | None:
        target = root / path
        return target.read_text(encoding="utf-8") if target.is_file() else None

    valid: list[tuple[int, dict[str, str | None]]] = []
    invalid: list[CandidateSummary] = []
    for index, candidate in enumerate(candidates):
        try:
            parsed = parse_edits(candidate, read, root=root)  # type: ignore[arg-type]
            outside = [p for p in parsed if not (root / p).resolve().is_relative_to(root)]
            if outside:
                raise EditError(f"{outside[0]} is outside the repository")
        except (EditError, OSError, TypeError, ValueError) as error:
            invalid.append(CandidateSummary.invalid(index, f"{type(error).__name__}: {error}"))
            continue
        valid.append((index, parsed))
    return valid, invalid


def _result(key: str, ranked: list[CandidateReport], invalid: list[CandidateSummary]
            ) -> RepoResult:
    best = ranked[0]
    summaries = tuple(CandidateSummary.of(c) for c in ranked) + tuple(invalid)
    report = best.report
    if report.status == "unknown":
        status, reason = "unknown", "; ".join(str(u) for u in report.unknown) or "unknown"
    elif best.ok:
        status = "ok"
        reason = None if report.complete else "ok, but the check was incomplete (see the report)"
    else:
        errors = sum(d.severity == "error" for d in report.introduced)
        status, reason = "errors", (f"every candidate introduces errors; the best introduces "
                                    f"{errors}: {report.introduced[0]}")
    return RepoResult(key, status, reason=reason, winner=best.index, report=report,
                      candidates=summaries, changes=dict(best.changes))


def _applied(root: Path, result: RepoResult, request: ApplyRequest) -> RepoResult:
    if result.status != "ok":
        return result.replace(apply_error=f"not written: the status is {result.status}")
    try:
        done = apply_to_branch(root, result.changes, request.branch, message=request.message,
                               worktrees=Path(request.worktrees) if request.worktrees else None)
    except ApplyError as error:
        return result.replace(apply_error=str(error))
    return result.replace(branch=done.branch, worktree=str(done.worktree))


def _node_id() -> str:
    import ray

    return ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"


def _children() -> tuple[list[int], int | None]:
    """This process's descendants (the language servers) and their resident memory, bytes
    (None without psutil)."""
    try:
        import psutil
    except ImportError:
        return [], None
    pids, total = [], 0
    for child in psutil.Process().children(recursive=True):
        try:
            total += child.memory_info().rss
        except psutil.Error:
            continue
        pids.append(child.pid)
    return pids, total
