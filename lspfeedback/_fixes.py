"""The servers' quick fixes: asked for what an edit introduced, laid on overlays on request.

Asking: after a `verify`, for each *introduced* diagnostic (nothing is asked when nothing was
introduced: the hot path stays as cheap as before), every server that declared a
``codeActionProvider`` offering quick fixes is sent ``textDocument/codeAction`` with its own
LSP diagnostic as context and ``only=[quickfix]``, within what is left of the call's
`Deadline`. An action without its edit is resolved (``codeAction/resolve``) when the server
declared ``resolveProvider``. A ``Command`` is skipped (it would run code in the server), and
so is an action that carries one. Each edit becomes full new texts (`apply_workspace_edit`,
in the server's position encoding), with a fingerprint of the texts it was made for. Fixes
are optional: a server that does not answer in time is a note on the report, never
``unknown``.

Applying: `combine` lays chosen fixes on the current texts: several fixes of one file are
merged, overlapping ones are refused, and a fix made for another text than the current one
(the file changed since the report) is refused too. Nothing is applied unless all apply.
Fixes laid on the overlays are `PendingFixes` until the next `verify`, which checks them as
part of its edit: compared with the state before the fixes, so what they fix is ``resolved``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import difflib
import itertools
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from lsprotocol import types
from pygls.exceptions import JsonRpcException

from lspfeedback._deadline import Deadline
from lspfeedback._documents import DocumentStore
from lspfeedback._exceptions import EditApplyError, EditError, RequestTimeout, ServerError
from lspfeedback._report import Diagnostic, Fix, Report, text_hash
from lspfeedback._session import ServerSession
from lspfeedback._workspace import Check, Workspace
from lspfeedback.edits import apply_workspace_edit, uri_to_path

QUICK_FIX = types.CodeActionKind.QuickFix.value

FileChanges = dict[str, str | None]
"""Path -> full new text, or None for a deletion."""


@dataclass(frozen=True)
class CodeActionSupport:
    """What a server declared about code actions, resolved into the booleans we branch on."""

    quick_fixes: bool
    """It answers ``textDocument/codeAction`` and may offer ``quickfix`` actions."""
    resolve: bool
    """It fills in an action's missing edit on ``codeAction/resolve``."""


def code_action_support(caps: types.ServerCapabilities | None) -> CodeActionSupport:
    """Read `CodeActionSupport` from a server's capabilities (None: it never started)."""
    provider = caps.code_action_provider if caps is not None else None
    if isinstance(provider, types.CodeActionOptions):
        kinds = provider.code_action_kinds
        quick = kinds is None or any(_is_quick_fix(_value(k)) for k in kinds)
        return CodeActionSupport(quick, bool(provider.resolve_provider))
    return CodeActionSupport(provider is True, False)


def _value(kind: types.CodeActionKind | str) -> str:
    return kind.value if isinstance(kind, types.CodeActionKind) else kind


def _is_quick_fix(kind: str | None) -> bool:
    # Kinds are hierarchical: "quickfix.ruff" is a quick fix, "source.fixAll" is not.
    return kind is not None and (kind == QUICK_FIX or kind.startswith(QUICK_FIX + "."))


# ---- asking --------------------------------------------------------------------------------


async def with_fixes(ws: Workspace, report: Report, after: Check, deadline: Deadline,
                     enabled: bool = True) -> Report:
    """``report`` with the quick fixes the servers offer for its introduced diagnostics (see
    the module docstring); the same report when nothing was introduced or not ``enabled``
    (`VerifierOptions.quick_fixes`)."""
    if not enabled or not report.introduced:
        return report
    started = time.perf_counter()
    asks: list[tuple[ServerSession, Diagnostic, types.Diagnostic]] = []
    for d in report.introduced:
        result = after.results.get(d.source, {}).get(d.path)
        session = ws.sessions.get(d.source) or ws.standby.get(d.source)
        if result is None or session is None or len(result.lsp) != len(result.diagnostics):
            continue
        client = session.client
        if client is None or not client.alive:
            continue
        if not code_action_support(client.server_capabilities).quick_fixes:
            continue
        identity = d.identity()
        for mine, theirs in zip(result.diagnostics, result.lsp, strict=True):
            if mine.identity() == identity:
                asks.append((session, d, theirs))
                break
    if not asks:
        return report
    if deadline.expired:
        names = ", ".join(dict.fromkeys(s.name for s, _, _ in asks))
        note = (f"fixes: no time was left of {deadline.describe()} to ask {names} for quick "
                "fixes; none are listed")
        return dataclasses.replace(report, notes=report.notes + (note,))
    answers = await asyncio.gather(*(_ask(ws, s, d, item, deadline) for s, d, item in asks),
                                   return_exceptions=True)
    fixes: list[Fix] = []
    failed: dict[str, str] = {}
    for (session, _, _), answer in zip(asks, answers, strict=True):
        if isinstance(answer, BaseException):
            if not isinstance(answer, ServerError | JsonRpcException | EditError):
                raise answer
            failed.setdefault(session.name, _why(answer, deadline))
        else:
            fixes.extend(answer)
    notes = tuple(f"fixes: {name} {why}; its fixes are not listed"
                  for name, why in failed.items())
    return _marked(report, fixes, notes, (time.perf_counter() - started) * 1000)


async def _ask(ws: Workspace, session: ServerSession, d: Diagnostic, item: types.Diagnostic,
               deadline: Deadline) -> list[Fix]:
    store = ws.store
    text = store.current_text(d.path)
    if text is None:
        return []
    if session.held_text(d.path) != text:
        session.sync([d.path])  # a result from the cache: the server may hold another text
    caps = session.capabilities
    support = code_action_support(session.client.server_capabilities if session.client else None)
    actions = await session.code_actions(d.path, item, deadline, resolve=support.resolve)
    fixes: list[Fix] = []
    for action in actions:
        if not isinstance(action, types.CodeAction) or action.edit is None:
            continue  # a Command, or an action that is one: it would run code in the server
        if action.command is not None or action.disabled is not None:
            continue
        if action.kind is not None and not _is_quick_fix(_value(action.kind)):
            continue
        try:
            changes = apply_workspace_edit(
                action.edit, store.current_text, encoding=caps.encoding if caps else "utf-16",
                uri_to_path=lambda uri: _workspace_path(ws, uri))
        except EditError:
            continue  # an edit that does not fit (or names a file outside): no fix to offer
        changes = {p: t for p, t in changes.items() if t != store.current_text(p)}
        if not changes:
            continue
        fixes.append(Fix(title=action.title, server=session.name, diagnostic=d,
                         changes=changes,
                         bases={p: text_hash(store.current_text(p)) for p in changes},
                         preferred=bool(action.is_preferred)))
    return fixes


def _workspace_path(ws: Workspace, uri: str) -> str:
    """A URI a server named (under the shadow root) as a workspace path."""
    rel = uri_to_path(uri, ws.store.server_root)
    if rel.startswith("/"):
        raise EditError(f"{uri} is outside the workspace")
    return rel


def _why(exc: BaseException, deadline: Deadline) -> str:
    if isinstance(exc, RequestTimeout):
        return (f"did not answer textDocument/codeAction by {deadline.describe()} "
                f"(waited {deadline.elapsed():.1f} s in all)")
    if isinstance(exc, ServerError):
        return f"could not answer textDocument/codeAction: {exc.reason}"
    return f"answered textDocument/codeAction with an error: {exc}"


def _marked(report: Report, fixes: list[Fix], notes: tuple[str, ...], spent_ms: float) -> Report:
    """``report`` with ``fixes`` listed (preferred first) and the diagnostics they fix marked
    `fixable`; the fixes name the marked diagnostics."""
    fixable = {f.diagnostic.identity() for f in fixes if f.preferred}

    def mark(d: Diagnostic) -> Diagnostic:
        return dataclasses.replace(d, fixable=True) if d.identity() in fixable else d

    order = {d.identity(): i for i, d in enumerate(report.introduced)}
    fixes = sorted(fixes, key=lambda f: (not f.preferred, order[f.diagnostic.identity()]))
    return dataclasses.replace(
        report,
        diagnostics=tuple(mark(d) for d in report.diagnostics),
        introduced=tuple(mark(d) for d in report.introduced),
        fixes=tuple(dataclasses.replace(f, diagnostic=mark(f.diagnostic)) for f in fixes),
        notes=report.notes + notes,
        elapsed_ms=report.elapsed_ms + spent_ms,
    )


# ---- applying ------------------------------------------------------------------------------


def choose(fixes: Report | Fix | Iterable[Fix], only: Collection[str] | None) -> list[Fix]:
    """The fixes `apply_fixes` lays down: of a `Report`, the first preferred fix of each
    diagnostic; otherwise the fixes given. ``only`` keeps those whose diagnostic's code (e.g.
    ``"F401"``) or title is in it."""
    if isinstance(fixes, Report):
        seen: set[tuple[object, ...]] = set()
        chosen: list[Fix] = []
        for fix in fixes.fixes:
            if fix.preferred and fix.diagnostic.identity() not in seen:
                seen.add(fix.diagnostic.identity())
                chosen.append(fix)
    elif isinstance(fixes, Fix):
        chosen = [fixes]
    else:
        chosen = list(fixes)
    for fix in chosen:
        if not isinstance(fix, Fix):  # pyright: ignore[reportUnnecessaryIsInstance]
            raise EditError(f"apply_fixes takes a Report or Fix objects, not {type(fix).__name__}")
    if only is not None:
        if isinstance(only, str):
            only = {only}
        chosen = [f for f in chosen if f.diagnostic.code in only or f.title in only]
    return chosen


def combine(fixes: Sequence[Fix], read: Callable[[str], str | None]) -> dict[str, str | None]:
    """The new texts ``fixes`` make together, path -> text (None: deleted), read over the
    current texts (``read``). Raises `EditApplyError`, applying nothing, for a fix made for
    another text than the current one or fixes that change the same text."""
    by_path: dict[str, list[Fix]] = {}
    for fix in fixes:
        for path in fix.changes:
            current = read(path)
            if path not in fix.bases or fix.bases[path] != text_hash(current):
                raise EditApplyError(
                    path, f"the fix {fix.title!r} ({fix.server}) was made for another text of "
                    "this file: it changed since the report that offered the fix",
                    hint="Nothing was applied. Verify the current state again and apply the "
                    "fixes of that report.")
            by_path.setdefault(path, []).append(fix)
    out: dict[str, str | None] = {}
    for path, group in by_path.items():
        texts = list(dict.fromkeys(f.changes[path] for f in group))
        if len(texts) == 1:
            out[path] = texts[0]
            continue
        base = read(path)
        if base is None or None in texts:
            raise _clash(path, group[0], group[1], "one creates or deletes the file")
        out[path] = _merge(path, base, group)
    return out


def _merge(path: str, base: str, group: list[Fix]) -> str:
    """Every fix's changes of ``path`` laid on ``base`` at once."""
    spans: list[tuple[int, int, str, Fix]] = []
    for fix in group:
        new = fix.changes[path]
        if new is None:
            raise _clash(path, group[0], fix, "one deletes the file")
        spans += [(start, end, text, fix) for start, end, text in _spans(base, new)]
    spans = list({(s, e, t): (s, e, t, f) for s, e, t, f in spans}.values())  # same edit twice
    spans.sort(key=lambda span: span[:2])
    for (s1, e1, _, f1), (s2, e2, _, f2) in itertools.pairwise(spans):
        if s2 < e1 or (s1 == s2 and (s1 == e1 or s2 == e2)):
            line = base.count("\n", 0, s2) + 1
            raise _clash(path, f1, f2, f"both change line {line}")
    pieces: list[str] = []
    tail = len(base)
    for start, end, text, _ in reversed(spans):
        pieces += [base[end:tail], text]
        tail = start
    pieces.append(base[:tail])
    return "".join(reversed(pieces))


def _spans(old: str, new: str) -> list[tuple[int, int, str]]:
    """``new`` as replacements of ``old``: ``(start, end, text)`` in code points, each as
    narrow as the line diff and the common ends of its lines allow."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    offsets = [0, *itertools.accumulate(len(line) for line in a)]
    out: list[tuple[int, int, str]] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        start, end, text = offsets[i1], offsets[i2], "".join(b[j1:j2])
        was = old[start:end]
        prefix = len(_common_prefix(was, text))
        suffix = len(_common_prefix(was[prefix:][::-1], text[prefix:][::-1]))
        out.append((start + prefix, end - suffix, text[prefix:len(text) - suffix]))
    return out


def _common_prefix(a: str, b: str) -> str:
    return a[:next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                   min(len(a), len(b)))]


def _clash(path: str, first: Fix, second: Fix, why: str) -> EditApplyError:
    return EditApplyError(
        path, f"the fixes {first.title!r} and {second.title!r} cannot both apply: {why}",
        hint="Nothing was applied. Apply one of them, verify, and take the fix the new "
        "report offers for the other.")


class PendingFixes:
    """Fixes laid on the overlays that no `verify` has checked yet: path -> (the text before
    the fixes, the text they made; None: no file)."""

    def __init__(self) -> None:
        self._texts: dict[str, tuple[str | None, str | None]] = {}
        self._taken: dict[str, tuple[str | None, str | None]] = {}

    def __repr__(self) -> str:
        return f"<PendingFixes {sorted(self._texts)}>"

    def add(self, before: Mapping[str, str | None], after: Mapping[str, str | None]) -> None:
        """Fixes changed ``before`` (path -> text) into ``after``; earlier pending fixes of a
        path keep their own before."""
        for path, text in after.items():
            first = self._texts[path][0] if path in self._texts else before[path]
            self._texts[path] = (first, text)

    def clear(self) -> None:
        """Forget them (committed or discarded: nothing is left to compare with)."""
        self._texts.clear()

    def take(self, store: DocumentStore, changes: Mapping[str, str | None]) -> FileChanges:
        """``changes`` preceded by the pending fixes still on the overlays: their texts before
        the fixes are put back in ``store``, so the check compares with them. Forgets them."""
        fixed: FileChanges = {}
        self._taken = {}
        for path, (before, after) in self._texts.items():
            if store.current_text(path) == after:  # else something replaced the fix since
                store.set_overlay(path, before)
                fixed[path] = after
                self._taken[path] = (before, after)
        self._texts.clear()
        return {**fixed, **changes}

    def put_back(self, store: DocumentStore) -> None:
        """Undo the last `take` (its check did not happen): the fixed texts are the overlays
        again, and still pending."""
        for path, (before, after) in self._taken.items():
            if after is None or store.current_text(path) == before:
                store.set_overlay(path, after)
            self._texts[path] = (before, after)
        self._taken = {}
