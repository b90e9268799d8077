"""The generate → check → regenerate loop: a model proposes edits, warm servers judge them.

    from lspfeedback import Verifier
    from lspfeedback.loop import run_loop

    with Verifier("path/to/repo") as v:
        result = run_loop(v, task, generate, rounds=3, candidates=1)
        if result.ok:
            v.commit()          # the accepted edit was left as the verifier's overlay

Each round calls ``generate(task, feedback)`` ``candidates`` times (``feedback`` is None in
the first round, then the `Feedback` of the round before), parses every edit it returns, and
checks the ones that apply with `verify_candidates` (ranked, best first; nothing is left
behind). The loop stops at the first round whose best edit is ``ok``, or after ``rounds``.

The rules it lives by:

- **Every round is judged against the loop's start.** With ``carry=True`` (the default) the
  best edit of a round that was not ok is kept, and the next round's edits apply *on top of
  it* (as an agent fixes its own edit); but what a round reports as introduced is what the
  whole change since the start introduced, so a later edit that merely touches nothing cannot
  pass while an earlier one left a caller broken. ``carry=False`` starts every round again
  from the start state.
- **A malformed edit is feedback, not a crash.** An edit that does not apply (or a
  ``generate`` that raises `EditError`, e.g. a chat answer with no edit in it) is recorded with
  the error's message, written for a model, and the next round goes on.
- **Unknown is never ok.** A check that could not be made says why, and never "no errors".
- **The accepted edit is applied.** When the loop ends ``ok`` and ``apply=True`` (the
  default), the accepted change set becomes the verifier's overlay (`Verifier.apply`): not
  written to disk until `commit`, dropped by `discard`. Otherwise the verifier is left exactly
  as it was.

`run_loop` drives a `Verifier`, `arun_loop` an `AsyncVerifier` (with a sync or async
``generate``; the candidates of a round are generated concurrently). Both drive the same round
logic. `ChatModel` is a ready ``generate`` for any OpenAI-compatible chat-completions endpoint.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeAlias

from lspfeedback._chat import ChatError, ChatModel, edit_from_answer
from lspfeedback._documents import read_document
from lspfeedback._exceptions import EditError, PathOutsideWorkspace, WorkspaceError
from lspfeedback._report import CandidateReport, Diagnostic, Report
from lspfeedback.edits import Changes, parse_changes

if TYPE_CHECKING:
    from lspfeedback._engine import AsyncVerifier
    from lspfeedback._verifier import Verifier

__all__ = [
    "Attempt",
    "ChatError",
    "ChatModel",
    "Feedback",
    "Generate",
    "LoopResult",
    "Round",
    "arun_loop",
    "edit_from_answer",
    "run_loop",
]

MAX_DIAGNOSTICS = 20
"""Introduced diagnostics a feedback text shows (errors first); it says how many it left out."""

ChangeSet: TypeAlias = Mapping[str, "str | None"]
"""Workspace path -> full new text, or None for a deletion."""


@dataclass(frozen=True)
class Feedback:
    """What one round's check said, for the next call of ``generate``.

    ``str(feedback)`` is `text`. ``previous`` links to the round before, so a stateless model
    client can rebuild the whole conversation (see `ChatModel`).
    """

    round: int
    """The round this feedback describes (1-based)."""
    text: str
    """The feedback written for a model: introduced diagnostics with their source lines, why
    an edit did not apply, or why the check could not be made."""
    edit: Changes | None
    """The edit it is about, as ``generate`` returned it (the round's best; None when
    ``generate`` raised)."""
    kept: bool
    """Whether that edit is kept: the next round's edits apply on top of it."""
    report: Report | None
    """The report of that edit (None when no edit of the round applied)."""
    previous: Feedback | None = None

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        status = self.report.status if self.report is not None else "not applied"
        return f"<Feedback round {self.round} {status} kept={self.kept} {len(self.text)} chars>"

    def history(self) -> list[Feedback]:
        """This feedback and every one before it, oldest first."""
        out: list[Feedback] = []
        node: Feedback | None = self
        while node is not None:
            out.append(node)
            node = node.previous
        return out[::-1]


Generate: TypeAlias = Callable[[str, "Feedback | None"], "Changes | Awaitable[Changes]"]
"""``generate(task, feedback) -> edit``: any edit `Verifier.verify` accepts (full texts, a
unified diff, SEARCH/REPLACE blocks, LSP edits); `run_loop` needs a plain return value,
`arun_loop` also takes a coroutine. Raising `EditError` is a malformed edit (feedback);
anything else propagates."""


@dataclass(frozen=True)
class Attempt:
    """One candidate of a round: what ``generate`` returned and what became of it."""

    index: int
    """Its position among the round's candidates (0-based, in the order generated)."""
    edit: Changes | None
    """The edit as ``generate`` returned it (None when ``generate`` raised `EditError`)."""
    changes: ChangeSet | None
    """The whole change set checked, relative to the loop's start (the kept edit, if any,
    with this edit on top); None when it did not apply."""
    error: str | None
    """Why it did not apply (the `EditError` message); None when it did."""
    report: Report | None
    """Its report against the loop's start state; None when it was not checked."""
    rank: int | None
    """1 is the round's best; None when it was not checked."""
    generate_ms: float
    """Wall time of its ``generate`` call."""

    @property
    def ok(self) -> bool:
        """It applied, its status is known, and it introduced no error since the start."""
        return self.report is not None and self.report.ok

    def __repr__(self) -> str:
        if self.report is None:
            what = "not applied" if self.error is not None else "not checked"
        else:
            what = f"{self.report.status} introduced={len(self.report.introduced)}"
        return f"<Attempt {self.index} rank={self.rank} {what} ok={self.ok}>"


@dataclass(frozen=True)
class Round:
    """One round of the loop: its candidates, the check, and the feedback it produced."""

    number: int
    """1-based."""
    attempts: tuple[Attempt, ...]
    """Every candidate, in the order generated."""
    feedback: Feedback
    """What this round's check said (given to the next round's ``generate``, if any)."""
    generate_ms: float
    """Wall time of generating the round's candidates (concurrent ones overlap)."""
    verify_ms: float
    """Wall time of checking them (one `verify_candidates` call; 0 when none applied)."""
    elapsed_ms: float
    """Wall time of the whole round: generating, parsing, checking and writing the feedback."""

    @property
    def best(self) -> Attempt | None:
        """The best-ranked candidate that was checked (None when none applied)."""
        checked = [a for a in self.attempts if a.rank is not None]
        return min(checked, key=lambda a: a.rank or 0) if checked else None

    @property
    def ok(self) -> bool:
        best = self.best
        return best is not None and best.ok

    def __repr__(self) -> str:
        best = self.best
        verdict = "none applied" if best is None else (best.report.status if best.report else "?")
        return (f"<Round {self.number} ok={self.ok} best={verdict} candidates={len(self.attempts)} "
                f"generate={self.generate_ms:.0f}ms verify={self.verify_ms:.0f}ms>")


@dataclass(frozen=True)
class LoopResult:
    """Every round of one loop, and whether it ended with an accepted edit."""

    task: str
    rounds: tuple[Round, ...]
    applied: bool
    """Whether `final_edit` was made the verifier's overlay (``ok`` and ``apply=True``)."""
    carry: bool = True

    @property
    def ok(self) -> bool:
        """The last round's best edit is ok (known status, no error introduced since the start)."""
        return bool(self.rounds) and self.rounds[-1].ok

    @property
    def final_edit(self) -> ChangeSet | None:
        """The accepted change set (path -> full new text, None deletes), relative to the
        state the loop started from; None when the loop did not end ok."""
        if not self.ok:
            return None
        best = self.rounds[-1].best
        return best.changes if best is not None else None

    @property
    def report(self) -> Report | None:
        """The report of the last round's best edit (None when no edit of it applied)."""
        best = self.rounds[-1].best if self.rounds else None
        return best.report if best is not None else None

    @property
    def generate_ms(self) -> float:
        return sum(r.generate_ms for r in self.rounds)

    @property
    def verify_ms(self) -> float:
        return sum(r.verify_ms for r in self.rounds)

    @property
    def elapsed_ms(self) -> float:
        """Wall time of every round (the final `apply` is not counted)."""
        return sum(r.elapsed_ms for r in self.rounds)

    def __str__(self) -> str:
        head = (f"{'ok' if self.ok else 'not ok'} after {len(self.rounds)} rounds "
                f"(generate {self.generate_ms:.0f} ms, verify {self.verify_ms:.0f} ms)")
        lines = [head]
        for r in self.rounds:
            best = r.best
            if best is None or best.report is None:
                lines.append(f"  round {r.number}: no edit applied")
            else:
                lines.append(f"  round {r.number}: candidate {best.index} of {len(r.attempts)}: "
                             f"{best.report.status}, {len(best.report.introduced)} introduced")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (f"<LoopResult ok={self.ok} rounds={len(self.rounds)} applied={self.applied} "
                f"generate={self.generate_ms:.0f}ms verify={self.verify_ms:.0f}ms>")


# ---- the drivers -------------------------------------------------------------------------------


def run_loop(verifier: Verifier, task: str, generate: Generate, *, rounds: int = 3,
             candidates: int = 1, carry: bool = True, apply: bool = True) -> LoopResult:
    """Generate, check and regenerate until an edit is ``ok`` or ``rounds`` rounds have run.

    ``generate(task, feedback)`` is called ``candidates`` times per round, one after the
    other (use `arun_loop` to generate them concurrently). See the module docstring for what
    is kept between rounds, what an accepted edit leaves behind and how a malformed edit is
    handled. Raises `ValueError` for ``rounds`` or ``candidates`` below 1; whatever
    ``generate`` raises other than `EditError` propagates.
    """
    state = _Loop(verifier.root, verifier.overlays, task, rounds, candidates, carry)
    while not state.done:
        started = round_started = time.perf_counter()
        outputs = [_timed_sync(generate, task, state.feedback) for _ in range(candidates)]
        generate_ms = _ms(started)
        pending = state.parse(outputs)
        started = time.perf_counter()
        try:
            ranked = verifier.verify_candidates(pending) if pending else []
        except EditError as error:
            state.record([], error, generate_ms, _ms(started), round_started)
        else:
            state.record(ranked, None, generate_ms, _ms(started) if pending else 0.0,
                         round_started)
    result = state.result(applied=apply and state.ok)
    if result.applied and result.final_edit is not None:
        verifier.apply(dict(result.final_edit))
    return result


async def arun_loop(verifier: AsyncVerifier, task: str, generate: Generate, *, rounds: int = 3,
                    candidates: int = 1, carry: bool = True, apply: bool = True) -> LoopResult:
    """`run_loop` over an `AsyncVerifier`; ``generate`` may be sync or return an awaitable,
    and a round's candidates are generated concurrently (`asyncio.gather`)."""
    state = _Loop(verifier.root, verifier.overlays, task, rounds, candidates, carry)
    while not state.done:
        started = round_started = time.perf_counter()
        outputs = list(await asyncio.gather(
            *(_timed_async(generate, task, state.feedback) for _ in range(candidates))))
        generate_ms = _ms(started)
        pending = state.parse(outputs)
        started = time.perf_counter()
        try:
            ranked = await verifier.verify_candidates(pending) if pending else []
        except EditError as error:
            state.record([], error, generate_ms, _ms(started), round_started)
        else:
            state.record(ranked, None, generate_ms, _ms(started) if pending else 0.0,
                         round_started)
    result = state.result(applied=apply and state.ok)
    if result.applied and result.final_edit is not None:
        await verifier.apply(dict(result.final_edit))
    return result


@dataclass(frozen=True)
class _Output:
    edit: Changes | None
    error: str | None
    ms: float


def _timed_sync(generate: Generate, task: str, feedback: Feedback | None) -> _Output:
    started = time.perf_counter()
    try:
        edit = generate(task, feedback)
    except (EditError, WorkspaceError) as error:
        return _Output(None, str(error), _ms(started))
    if inspect.isawaitable(edit):
        _close(edit)
        raise TypeError("run_loop needs a generate that returns an edit, not an awaitable: "
                        "use arun_loop for an async generate")
    return _Output(edit, None, _ms(started))


async def _timed_async(generate: Generate, task: str, feedback: Feedback | None) -> _Output:
    started = time.perf_counter()
    try:
        edit = generate(task, feedback)
        if inspect.isawaitable(edit):
            edit = await edit
    except (EditError, WorkspaceError) as error:
        return _Output(None, str(error), _ms(started))
    return _Output(edit, None, _ms(started))


def _close(awaitable: object) -> None:
    close = getattr(awaitable, "close", None)
    if callable(close):
        close()


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


# ---- the round logic (one copy, for both drivers) ----------------------------------------------


@dataclass
class _Loop:
    root: Path
    base: Mapping[str, str | None]
    """The verifier's overlays when the loop started (the start state, with the disk)."""
    task: str
    rounds: int
    candidates: int
    carry: bool
    feedback: Feedback | None = None
    kept: dict[str, str | None] = field(default_factory=dict)
    """The change set since the start that this round's edits apply on top of."""
    done: bool = False
    ok: bool = False
    _rounds: list[Round] = field(default_factory=list)
    _outputs: list[_Output] = field(default_factory=list)
    _parsed: list[dict[str, str | None] | str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.rounds < 1 or self.candidates < 1:
            raise ValueError("rounds and candidates must be at least 1")
        self.base = dict(self.base)

    def parse(self, outputs: list[_Output]) -> list[Changes]:
        """Each output as a change set on top of `kept` (or its error); the ones that apply."""
        self._outputs = outputs
        self._parsed = []
        for out in outputs:
            if out.edit is None:
                self._parsed.append(out.error or "generate gave no edit")
                continue
            try:
                changes = parse_changes(out.edit, relpath=self._relpath, read=self._read,
                                        root=self.root)
            except (EditError, WorkspaceError) as error:
                self._parsed.append(str(error))
                continue
            self._parsed.append({**self.kept, **changes})
        return [p for p in self._parsed if not isinstance(p, str)]

    def record(self, ranked: Sequence[CandidateReport], error: EditError | None,
               generate_ms: float, verify_ms: float, started: float) -> None:
        """Make the round from the check's ranking (indexes into what `parse` returned)."""
        by_index = {c.index: c for c in ranked}
        attempts: list[Attempt] = []
        checked = 0
        for index, (out, parsed) in enumerate(zip(self._outputs, self._parsed, strict=True)):
            if isinstance(parsed, str) or error is not None:
                why = parsed if isinstance(parsed, str) else str(error)
                attempts.append(Attempt(index, out.edit, None, why, None, None, out.ms))
                continue
            candidate = by_index.get(checked)
            checked += 1
            attempts.append(Attempt(
                index, out.edit, parsed, None, candidate.report if candidate else None,
                candidate.rank if candidate else None, out.ms))
        number = len(self._rounds) + 1
        best = min((a for a in attempts if a.rank is not None), key=lambda a: a.rank or 0,
                   default=None)
        last = number >= self.rounds or (best is not None and best.ok)
        kept = best is not None and self.carry and not best.ok
        if kept and best is not None and best.changes is not None:
            self.kept = dict(best.changes)
        elif not self.carry:
            self.kept = {}
        text = self._describe(number, attempts, best, kept, last)
        about = best if best is not None else attempts[0]
        self.feedback = Feedback(number, text, about.edit, kept,
                                 about.report, previous=self.feedback)
        self._rounds.append(Round(number, tuple(attempts), self.feedback, generate_ms, verify_ms,
                                  _ms(started)))
        self.ok = best is not None and best.ok
        self.done = last

    def result(self, *, applied: bool) -> LoopResult:
        return LoopResult(self.task, tuple(self._rounds), applied, self.carry)

    # ---- reading the state an edit applies to -------------------------------------------

    def _relpath(self, path: str | os.PathLike[str]) -> str:
        raw = os.fspath(path)
        if "\x00" in raw:
            raise PathOutsideWorkspace(raw, str(self.root))
        candidate = Path(raw)
        resolved = (candidate if candidate.is_absolute() else self.root / candidate).resolve()
        try:
            rel = resolved.relative_to(self.root)
        except ValueError:
            raise PathOutsideWorkspace(raw, str(self.root)) from None
        if not rel.parts:
            raise PathOutsideWorkspace(raw, str(self.root))
        return rel.as_posix()

    def _read(self, rel: str) -> str | None:
        """The text this round's edits apply to: the kept change set over the start state."""
        if rel in self.kept:
            return self.kept[rel]
        return self._start_text(rel)

    def _start_text(self, rel: str) -> str | None:
        if rel in self.base:
            return self.base[rel]
        return read_document(self.root / rel, rel)

    # ---- the feedback text ----------------------------------------------------------------

    def _describe(self, number: int, attempts: list[Attempt], best: Attempt | None,
                  kept: bool, last: bool) -> str:
        k = len(attempts)
        failed = [a for a in attempts if a.error is not None]
        parts: list[str] = []
        if best is None or best.report is None:
            parts.append(f"Round {number}: your edit could not be applied; nothing was changed."
                         if k == 1 else f"Round {number}: none of your {k} candidate edits "
                         "could be applied; nothing was changed.")
            for a in _distinct_errors(failed):
                parts.append(a.error or "")
            if self.kept:
                parts.append("The files still include your earlier kept edit; edit on top of it.")
            return "\n\n".join(parts)
        report = best.report
        which = "your edit" if k == 1 else f"candidate {best.index + 1} of {k} (the best)"
        files = len(report.checked_files)
        parts.append(f"Round {number}: {which} was checked by {_servers(report)} in {files} "
                     f"file{'s' if files != 1 else ''} (the edited ones and their importers), "
                     "against the files as they were before the task.")
        parts.append(self._verdict(best))
        if failed:
            noun = "candidate" if len(failed) == 1 else "candidates"
            parts.append(f"{len(failed)} other {noun} could not be applied:")
            parts.extend(a.error or "" for a in _distinct_errors(failed)[:1])
        if not last:
            if kept:
                parts.append("That edit is kept: the files now include it. Send an edit on top "
                             "of it that fixes what is listed above (SEARCH text must match the "
                             "files as they are now).")
            elif not best.ok:
                parts.append("That edit was not kept: the files are as they were before the "
                             "task. Send a new edit for the whole task.")
        return "\n\n".join(p for p in parts if p)

    def _verdict(self, attempt: Attempt) -> str:
        report = attempt.report
        if report is None:
            return ""
        changes = attempt.changes or {}
        errors = [d for d in report.introduced if d.severity == "error"]
        others = [d for d in report.introduced if d.severity != "error"]
        out: list[str] = []
        if report.status == "unknown":
            reasons = "\n".join(f"  unknown: {u}" for u in report.unknown) or "  unknown: no reason given"
            out.append("The check could not be completed, so whether this edit introduced "
                       f"errors is unknown:\n{reasons}")
            if report.introduced:
                out.append("What the servers that did answer found:")
        elif errors:
            out.append(f"It introduced {_count(len(errors), 'error')}"
                       + (f" and {_count(len(others), 'other diagnostic')}" if others else "")
                       + ":")
        elif others:
            out.append(f"It introduced no errors, and {_count(len(others), 'warning or hint')}:")
        else:
            out.append("It introduced no errors or warnings.")
        shown = (errors + others)[:MAX_DIAGNOSTICS]
        if shown:
            out.append("\n".join(self._diagnostic(d, changes) for d in shown))
        left = len(errors) + len(others) - len(shown)
        if left:
            out.append(f"({left} more not shown.)")
        if not report.complete and report.status != "unknown":
            out.append(f"Note: the check was incomplete: {report.incompleteness()}.")
        return "\n\n".join(out)

    def _diagnostic(self, d: Diagnostic, changes: ChangeSet) -> str:
        line = _source_line(changes[d.path] if d.path in changes else self._safe_start(d.path),
                            d.line)
        if line is None:
            return str(d)
        return f"{d}\n  {d.line:>5} | {line}"

    def _safe_start(self, rel: str) -> str | None:
        try:
            return self._start_text(rel)
        except EditError:
            return None


def _source_line(text: str | None, line: int) -> str | None:
    if text is None:
        return None
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        return None
    shown = lines[line - 1].rstrip()
    return shown if len(shown) <= 200 else shown[:200] + " ..."


def _distinct_errors(attempts: list[Attempt]) -> list[Attempt]:
    seen: set[str] = set()
    out: list[Attempt] = []
    for a in attempts:
        if a.error is not None and a.error not in seen:
            seen.add(a.error)
            out.append(a)
    return out


def _servers(report: Report) -> str:
    names = sorted({*report.timings_ms, *(u.server for u in report.unknown)})
    return ", ".join(names) if names else "the language servers"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


