"""What `verify()` returns: `Report`, `Diagnostic` and `Fix`, plain frozen data with JSON
round trips."""

from __future__ import annotations

import hashlib
import operator
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, cast

Severity = Literal["error", "warning", "information", "hint"]
Status = Literal["clean", "errors", "unknown"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "information", "hint")


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One diagnostic. Lines and columns are 1-based, columns count characters (code points),
    the way the CLIs print them; ``path`` is posix and relative to the workspace root."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int
    severity: Severity
    message: str
    source: str
    code: str | None = None
    url: str | None = None
    """The rule's documentation, as the server gives it (LSP ``codeDescription.href``)."""
    fixable: bool = False
    """A server offered a quick fix for it that it marks preferred (LSP ``isPreferred``: it
    "properly addresses the underlying error"); the fix is in `Report.fixes`. Only what an
    edit introduced is asked about: False elsewhere means "not asked", not "no fix"."""

    def __str__(self) -> str:
        tag = f"{self.source} {self.code}" if self.code else self.source
        message = re.sub(r"\s*[\r\n]+\s*", " ", self.message)
        fixable = " (fixable)" if self.fixable else ""
        return f"{self.path}:{self.line}:{self.column}: {self.severity}: {message} [{tag}]{fixable}"

    def identity(self) -> tuple[str, int, int, int, int, str, str, str, str | None]:
        """What the server said, without what lspfeedback learnt about it (``url`` and
        ``fixable``): equal for the same finding whether or not its fixes were asked for."""
        return (self.path, self.line, self.column, self.end_line, self.end_column,
                self.severity, self.message, self.source, self.code)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; `Diagnostic.from_dict` reads it back."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Diagnostic:
        """The diagnostic `to_dict` wrote (unknown keys are ignored)."""
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


in_order = operator.attrgetter(*(f.name for f in fields(Diagnostic) if f.compare))
"""The sort key of diagnostics, in their own order (``sorted(ds, key=in_order)`` ==
``sorted(ds)``): a verify of 21 files made 500 calls to the generated ``__lt__``."""


def text_hash(text: str | None) -> str | None:
    """The fingerprint a `Fix` keeps of a text it was made for (None: no such file)."""
    if text is None:
        return None
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Fix:
    """A quick fix a server offered for a diagnostic an edit introduced, as full new texts.

    ``changes`` is path -> the file's full text with the fix applied (None: the fix deletes
    it), made for the texts ``bases`` fingerprints (`text_hash`; None: the file did not
    exist). `AsyncVerifier.apply_fixes` lays fixes on the overlays and refuses one whose
    files changed since: a fix is only valid for the state it was made for.
    """

    title: str
    """The server's title, e.g. "Ruff (F401): Remove unused import: `json`"."""
    server: str
    """The server that offered it (the diagnostic's ``source``)."""
    diagnostic: Diagnostic
    """The diagnostic it fixes."""
    changes: Mapping[str, str | None]
    """Path -> full new text (None deletes the file)."""
    bases: Mapping[str, str | None] = field(default_factory=dict)
    """Path -> `text_hash` of the text the fix was made for."""
    preferred: bool = False
    """The server marks it as properly fixing the error (LSP ``isPreferred``), unlike, say, a
    comment that silences the rule. Only preferred fixes make a diagnostic `fixable`, and
    `apply_fixes` given a `Report` applies only those."""

    def __str__(self) -> str:
        d = self.diagnostic
        tag = f"{d.source} {d.code}" if d.code else d.source
        kind = "fix" if self.preferred else "fix (not preferred)"
        return (f"{kind} for {d.path}:{d.line}:{d.column} [{tag}]: {self.title} "
                f"(changes {', '.join(sorted(self.changes))})")

    def __repr__(self) -> str:
        return (f"<Fix {self.title!r} by {self.server} for {self.diagnostic.path}:"
                f"{self.diagnostic.line} preferred={self.preferred} files={sorted(self.changes)}>")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; `Fix.from_dict` reads it back."""
        return {"title": self.title, "server": self.server,
                "diagnostic": self.diagnostic.to_dict(), "changes": dict(self.changes),
                "bases": dict(self.bases), "preferred": self.preferred}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fix:
        """The fix `to_dict` wrote."""
        return cls(title=str(data["title"]), server=str(data["server"]),
                   diagnostic=Diagnostic.from_dict(data["diagnostic"]),
                   changes=dict(data["changes"]), bases=dict(data.get("bases", {})),
                   preferred=bool(data.get("preferred", False)))


@dataclass(frozen=True)
class Unknown:
    """Why one server could not give a fresh answer (timeout, crash, failed start)."""

    server: str
    reason: str

    def __str__(self) -> str:
        return f"{self.server}: {self.reason}"


@dataclass(frozen=True)
class Degraded:
    """A configured server that did not answer this call, and who stood in for it."""

    server: str
    reason: str
    """Why it did not answer (restarting after a crash, missed the deadline, gave up)."""
    stand_ins: tuple[str, ...]
    """The fallbacks that answered in its place (their diagnostics carry their own source)."""
    uncovered: tuple[str, ...] = ()
    """Its check classes ("types", "lint", "syntax") that no stand-in answered for: while one
    is left, the report's status is ``unknown``."""

    def __str__(self) -> str:
        text = f"{self.server} stood in for by {', '.join(self.stand_ins)} ({self.reason})"
        return text + (f"; nobody checked {', '.join(self.uncovered)}" if self.uncovered else "")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; `Degraded.from_dict` reads it back."""
        return {"server": self.server, "reason": self.reason, "stand_ins": list(self.stand_ins),
                "uncovered": list(self.uncovered)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Degraded:
        """The entry `to_dict` wrote."""
        return cls(str(data["server"]), str(data["reason"]), tuple(data.get("stand_ins", ())),
                   tuple(data.get("uncovered", ())))


@dataclass(frozen=True)
class Report:
    """The diagnostics an edit leaves behind, and what it changed.

    ``diagnostics`` are all current diagnostics of ``checked_files`` (the edited files and the
    files that import them); ``introduced`` and ``resolved`` compare them with the state just
    before this edit. ``versions`` are the document versions the diagnostics describe.
    """

    status: Status
    diagnostics: tuple[Diagnostic, ...] = ()
    introduced: tuple[Diagnostic, ...] = ()
    resolved: tuple[Diagnostic, ...] = ()
    checked_files: tuple[str, ...] = ()
    changed_files: tuple[str, ...] = ()
    versions: Mapping[str, int] = field(default_factory=dict)
    elapsed_ms: float = 0.0
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    """Per server: wall time of its part of this call, in ms."""
    unknown: tuple[Unknown, ...] = ()
    complete: bool = True
    """Every importer was checked (none cut by ``max_dependents``, the import graph could be
    read), every server answered, and every server can vouch for importers on overlays
    (`unvouched` is empty). ``ok`` on an incomplete check is not the whole truth."""
    unvouched: tuple[str, ...] = ()
    """Servers that checked importers but whose cross-file results on overlays are not
    trustworthy (see `ServerSpec.sees_overlays_across_files`)."""
    dependents_omitted: int = 0
    """Importers of the edited files that were not checked because of ``max_dependents``."""
    conflicts: tuple[str, ...] = ()
    """Files whose disk text changed under an overlay since the last report (the overlay won)."""
    external_changes: tuple[str, ...] = ()
    """Files that someone else changed on disk since the last call (nobody passed them): they
    are part of the state this edit is compared with, not of the edit."""
    external_introduced: tuple[Diagnostic, ...] = ()
    """Diagnostics those external changes brought into their own files (not this edit's)."""
    degraded: tuple[Degraded, ...] = ()
    """Configured servers that could not answer and the fallbacks that answered for them:
    the verdict stands on the stand-ins' checks (a degraded report is never `complete`)."""
    fixes: tuple[Fix, ...] = ()
    """Quick fixes the servers offered for ``introduced`` diagnostics (preferred ones first);
    `AsyncVerifier.apply_fixes` lays them on the overlays, for the next `verify` to check.
    Fixes are optional: a server that could not say in time is a note, never ``unknown``."""
    notes: tuple[str, ...] = ()
    servers: tuple[str, ...] = ()
    """The servers whose diagnostics this report holds (those that answered)."""
    final: bool = True
    """False for a preview (`AsyncVerifier.verify_progressive`): the fast servers' answer,
    which the final report supersedes when the thorough servers have answered. A preview is
    never `complete`."""

    @property
    def ok(self) -> bool:
        """The status is known and this edit introduced no error-severity diagnostic."""
        return self.status != "unknown" and not any(d.severity == "error" for d in self.introduced)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.severity == "error")

    def __str__(self) -> str:
        head = (
            ("preview " if not self.final else "")
            + f"{self.status}: {len(self.introduced)} introduced, {len(self.resolved)} resolved, "
            f"{len(self.diagnostics)} current in {len(self.checked_files)} files "
            f"({self.elapsed_ms:.0f} ms)"
        )
        lines = [head]
        if not self.complete:
            lines.append(f"  incomplete: {self.incompleteness()}")
        lines += [f"  unknown: {u}" for u in self.unknown]
        lines += [f"  degraded: {d}" for d in self.degraded]
        lines += [f"  conflict: {c} changed on disk under an overlay" for c in self.conflicts]
        lines += [f"  external: {c} changed on disk by someone else" for c in self.external_changes]
        lines += [f"! {d}" for d in self.external_introduced]
        lines += [f"+ {d}" for d in self.introduced]
        lines += [f"- {d}" for d in self.resolved]
        lines += [f"  {f}" for f in self.fixes if f.preferred]
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)

    def incompleteness(self) -> str:
        """Why the check is not complete, in one line ("" when it is)."""
        if self.complete:
            return ""
        why = []
        if not self.final:
            why.append("preview: the thorough servers have not answered yet")
        if self.dependents_omitted:
            why.append(f"{self.dependents_omitted} importers not checked (max_dependents)")
        why += [n for n in self.notes if n.startswith("importers not checked:")]
        if self.unknown:
            why.append(f"{len(self.unknown)} servers did not answer")
        if self.unvouched:
            why.append(f"{', '.join(self.unvouched)} cannot vouch for importers on overlays")
        if self.degraded:
            why.append("stand-ins answered for " + ", ".join(d.server for d in self.degraded))
        return "; ".join(why) or "not every importer was checked"

    def __repr__(self) -> str:
        return (
            f"<Report {'' if self.final else 'preview '}{self.status} ok={self.ok} complete={self.complete} "
            f"introduced={len(self.introduced)} "
            f"resolved={len(self.resolved)} diagnostics={len(self.diagnostics)} "
            f"files={len(self.checked_files)} {self.elapsed_ms:.0f}ms>"
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; `Report.from_dict` reads it back."""
        return {
            "status": self.status,
            "ok": self.ok,
            "diagnostics": [d.to_dict() for d in self.diagnostics],
            "introduced": [d.to_dict() for d in self.introduced],
            "resolved": [d.to_dict() for d in self.resolved],
            "checked_files": list(self.checked_files),
            "changed_files": list(self.changed_files),
            "versions": dict(self.versions),
            "elapsed_ms": round(self.elapsed_ms, 3),
            "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()},
            "unknown": [asdict(u) for u in self.unknown],
            "complete": self.complete,
            "unvouched": list(self.unvouched),
            "dependents_omitted": self.dependents_omitted,
            "conflicts": list(self.conflicts),
            "external_changes": list(self.external_changes),
            "external_introduced": [d.to_dict() for d in self.external_introduced],
            "degraded": [d.to_dict() for d in self.degraded],
            "fixes": [f.to_dict() for f in self.fixes],
            "notes": list(self.notes),
            "servers": list(self.servers),
            "final": self.final,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Report:
        """The report `to_dict` wrote (``ok`` is recomputed, not read)."""
        def diags(key: str) -> tuple[Diagnostic, ...]:
            return tuple(Diagnostic.from_dict(d) for d in data.get(key, ()))

        return cls(
            status=cast(Status, data["status"]),
            diagnostics=diags("diagnostics"),
            introduced=diags("introduced"),
            resolved=diags("resolved"),
            checked_files=tuple(data.get("checked_files", ())),
            changed_files=tuple(data.get("changed_files", ())),
            versions=dict(data.get("versions", {})),
            elapsed_ms=float(data.get("elapsed_ms", 0.0)),
            timings_ms=dict(data.get("timings_ms", {})),
            unknown=tuple(Unknown(**u) for u in data.get("unknown", ())),
            complete=bool(data.get("complete", True)),
            unvouched=tuple(data.get("unvouched", ())),
            dependents_omitted=int(data.get("dependents_omitted", 0)),
            conflicts=tuple(data.get("conflicts", ())),
            external_changes=tuple(data.get("external_changes", ())),
            external_introduced=diags("external_introduced"),
            degraded=tuple(Degraded.from_dict(d) for d in data.get("degraded", ())),
            fixes=tuple(Fix.from_dict(f) for f in data.get("fixes", ())),
            notes=tuple(data.get("notes", ())),
            servers=tuple(data.get("servers", ())),
            final=bool(data.get("final", True)),
        )


def status_of(diagnostics: Iterable[Diagnostic], unknown: Iterable[Unknown]) -> Status:
    if any(True for _ in unknown):
        return "unknown"
    return "errors" if any(d.severity == "error" for d in diagnostics) else "clean"


@dataclass(frozen=True)
class CandidateReport:
    """One candidate edit's report, and where it ranked among the others (1 is best).

    Ranking: known status first, then no introduced errors, then confirmed by every server
    (see ``confirm`` in `AsyncVerifier.verify_candidates`), then fewest introduced errors,
    then fewest introduced warnings, then the smallest change (lines changed).
    """

    index: int
    """Position of the candidate in the list given to ``verify_candidates``."""
    rank: int
    report: Report
    changes: Mapping[str, str | None]
    """The candidate as a change set: path -> full new text, or None for a deletion."""
    changed_lines: int

    @property
    def ok(self) -> bool:
        return self.report.ok

    def __str__(self) -> str:
        return f"#{self.rank} candidate {self.index} ({self.changed_lines} lines): {self.report}"

    def __repr__(self) -> str:
        return (f"<CandidateReport #{self.rank} index={self.index} {self.report.status} "
                f"introduced={len(self.report.introduced)} lines={self.changed_lines}>")

    def rank_key(self) -> tuple[object, ...]:
        """The sort key of the ranking described in the class docstring."""
        introduced = self.report.introduced
        errors = sum(d.severity == "error" for d in introduced)
        warnings = sum(d.severity == "warning" for d in introduced)
        # A candidate only the fast tier checked ranks after a confirmed one that is as good.
        return (self.report.status == "unknown", errors > 0, not self.report.final, errors,
                warnings, self.changed_lines, self.index)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict; `CandidateReport.from_dict` reads it back."""
        return {"index": self.index, "rank": self.rank, "changed_lines": self.changed_lines,
                "changes": dict(self.changes), "report": self.report.to_dict()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CandidateReport:
        """The candidate report `to_dict` wrote."""
        return cls(index=int(data["index"]), rank=int(data["rank"]),
                   report=Report.from_dict(data["report"]), changes=dict(data["changes"]),
                   changed_lines=int(data["changed_lines"]))
