"""Unified diffs (git style or plain ``diff -u``), applied in memory by context.

Understood: ``diff --git`` headers with their extended lines (new/deleted file mode, rename
and copy from/to, index, mode changes), ``---``/``+++`` file headers (a tab and timestamp
after the name are ignored, C-quoted names are unquoted), ``/dev/null`` for created and deleted
files, ``@@ -a,b +c,d @@`` hunks and ``\\ No newline at end of file``. Prose or code fences
around the diff are skipped. Binary patches and hunks without line numbers are refused. A
hunk whose line counts do not fit its body is re-counted (like ``git apply --recount``).
A deletion without hunks just deletes; one with hunks must remove every line.

A hunk applies where its context and removed lines match exactly (line endings aside). When
they do not match at the stated line (shifted by how far the previous hunk moved), the nearest
exact match within `SEARCH_RADIUS` lines is taken; two at the same distance are an error.

Line endings: kept lines keep theirs; added lines take the file's own ending (CRLF files stay
CRLF even if the diff was written with LF), unless the diff marks a line CRLF on purpose
(a ``\\r\\n`` line in a diff whose other lines end in ``\\n``, as git writes them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lspfeedback._exceptions import EditApplyError, EditError
from lspfeedback.edits._buffer import EditBuffer, Reader
from lspfeedback.edits._lines import Line, dominant_eol, join_eol, split_eol, strip_path
from lspfeedback.edits._similarity import closest_window

__all__ = ["SEARCH_RADIUS", "apply_unified_diff", "has_unified_diff"]

SEARCH_RADIUS = 200
"""How many lines above or below the stated position a hunk's context is looked for."""

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_DETECT = re.compile(r"^(?:diff --git |--- [^\r\n]*\r?\n\+\+\+ |@@ -\d)", re.MULTILINE)
_GIT_HEADER_KEYS = (
    "old mode ", "new mode ", "deleted file mode ", "new file mode ", "similarity index ",
    "dissimilarity index ", "rename from ", "rename to ", "copy from ", "copy to ", "index ",
)
_OCTAL = re.compile(r"\\([0-7]{3}|.)")
_ESCAPES = {"n": "\n", "t": "\t", '"': '"', "\\": "\\", "a": "\a", "b": "\b", "f": "\f",
            "r": "\r", "v": "\v"}


def has_unified_diff(text: str) -> bool:
    """Whether ``text`` contains unified-diff markers (a git header, a file header or a hunk)."""
    return _DETECT.search(text) is not None


_RawLine = tuple[str, str, bool]
"""A diff line: its text, its ending, and whether that ending is a meant CRLF."""


@dataclass
class _HunkLine:
    op: str
    """``" "`` context, ``"-"`` removed or ``"+"`` added."""
    text: str
    eol: str
    """The line's ending in the diff."""
    crlf: bool
    """Ended in CRLF in a diff whose lines otherwise end in LF: the CR is meant."""
    no_eol: bool = False
    """Followed by ``\\ No newline at end of file``."""


@dataclass
class _Hunk:
    old_start: int
    old_len: int
    new_start: int
    new_len: int
    line_no: int
    """1-based line of the ``@@`` header in the diff."""
    lines: list[_HunkLine] = field(default_factory=list[_HunkLine])

    def old(self) -> list[str]:
        return [h.text for h in self.lines if h.op != "+"]


@dataclass
class _FilePatch:
    line_no: int
    """1-based line of the section's first header line in the diff."""
    git: bool = False
    git_names: tuple[str | None, str | None] = (None, None)
    """The two names of ``diff --git a/X b/Y``, prefixes still on."""
    dash_names: tuple[str | None, str | None] | None = None
    """The names of the ``---``/``+++`` lines, prefixes still on, None for /dev/null."""
    move_names: tuple[str, str] | None = None
    """``rename from``/``copy from`` and ``to``: git writes them without prefixes."""
    new_file: bool = False
    deleted: bool = False
    copy: bool = False
    hunks: list[_Hunk] = field(default_factory=list[_Hunk])
    old_path: str | None = None
    """Set by `_finish_names`; None: a new file."""
    new_path: str | None = None
    """Set by `_finish_names`; None: a deleted file."""


def apply_unified_diff(diff: str, read: Reader) -> dict[str, str | None]:
    """Apply every file section of ``diff``; ``{path: new text or None}``, all or nothing.

    Sections naming the same file apply one after the other. Raises `EditError` for a
    malformed diff and `EditApplyError` for a hunk that does not fit (``block`` is the hunk's
    1-based index within its file section).
    """
    patches = _parse(diff)
    if not patches:
        raise EditError("the diff has no file sections ('--- a/path' / '+++ b/path' lines)")
    changes = EditBuffer(read)
    for patch in patches:
        _apply_patch(patch, changes)
    return changes.result()


# ---- parsing ------------------------------------------------------------------------------


def _parse(diff: str) -> list[_FilePatch]:
    raw = split_eol(diff)
    # A diff converted to CRLF as a whole says nothing about the files' own line endings.
    all_crlf = len(raw) > 1 and all(eol == "\r\n" for _, eol in raw[:-1])
    lines = [(text, eol, eol == "\r\n" and not all_crlf) for text, eol in raw]
    patches: list[_FilePatch] = []
    current: _FilePatch | None = None
    i = 0
    while i < len(lines):
        text = lines[i][0]
        if text.startswith("diff --git "):
            current = _FilePatch(line_no=i + 1, git=True)
            patches.append(current)
            i = _parse_git_header(lines, i, current)
            continue
        if text.startswith("--- ") and i + 1 < len(lines) and lines[i + 1][0].startswith("+++ "):
            # The ---/+++ pair belongs to the git header just read, or starts a plain section.
            if current is None or not current.git or current.dash_names or current.hunks:
                current = _FilePatch(line_no=i + 1)
                patches.append(current)
            current.dash_names = (_header_path(text[4:]), _header_path(lines[i + 1][0][4:]))
            i += 2
            continue
        if text.startswith("@@"):
            if current is None or current.dash_names is None:
                raise EditError(
                    f"diff line {i + 1}: hunk {text!r} comes before any '---'/'+++' file header"
                )
            i = _parse_hunk(lines, i, current)
            continue
        if text == "GIT binary patch" or (text.startswith("Binary files ") and " differ" in text):
            raise EditError(f"diff line {i + 1}: binary patches are not supported")
        i += 1  # prose, a code fence, a format-patch signature: not part of the diff
    for patch in patches:
        _finish_names(patch)
    return patches


def _parse_git_header(lines: list[_RawLine], i: int, patch: _FilePatch) -> int:
    patch.git_names = _split_git_header(lines[i][0][len("diff --git ") :])
    moved_from: str | None = None
    i += 1
    while i < len(lines):
        text = lines[i][0]
        key = next((k for k in _GIT_HEADER_KEYS if text.startswith(k)), None)
        if key is None:
            break
        value = _unquote(text[len(key) :])
        if key == "new file mode ":
            patch.new_file = True
        elif key == "deleted file mode ":
            patch.deleted = True
        elif key in ("rename from ", "copy from "):
            moved_from = value
            patch.copy = key == "copy from "
        elif key in ("rename to ", "copy to ") and moved_from is not None:
            patch.move_names = (moved_from, value)
        i += 1
    return i


def _split_git_header(rest: str) -> tuple[str | None, str | None]:
    """The two names of ``diff --git a/X b/Y``; unambiguous when X == Y or names are quoted."""
    if rest.startswith('"'):
        end = _quoted_end(rest)
        return _header_path(rest[: end + 1]), _header_path(rest[end + 1 :].lstrip())
    if rest.startswith("a/") and len(rest) % 2 == 1:
        half = (len(rest) - 5) // 2  # len("a/" + X + " b/" + X) == 2 * len(X) + 5
        if half and rest[2 : 2 + half] == rest[-half:] and rest[2 + half : 5 + half] == " b/":
            return rest[: 2 + half], rest[3 + half :]
    first, sep, second = rest.partition(" b/")
    if sep:
        return _header_path(first), _header_path("b/" + second)
    return None, None


def _quoted_end(text: str) -> int:
    k = 1
    while k < len(text):
        if text[k] == "\\":
            k += 2
            continue
        if text[k] == '"':
            return k
        k += 1
    raise EditError(f"unterminated quoted file name in the diff: {text!r}")


def _unquote(name: str) -> str:
    """Undo git's C-style quoting (``"a/caf\\303\\251.py"``), octal escapes being UTF-8 bytes."""
    if not (len(name) >= 2 and name.startswith('"') and name.endswith('"')):
        return name
    out = bytearray()
    pos = 1
    for m in _OCTAL.finditer(name, 1, len(name) - 1):
        out += name[pos : m.start()].encode("utf-8")
        code = m.group(1)
        out += bytes([int(code, 8)]) if len(code) == 3 else _ESCAPES.get(code, code).encode()
        pos = m.end()
    out += name[pos : len(name) - 1].encode("utf-8")
    return out.decode("utf-8", "surrogateescape")


def _header_path(raw: str) -> str | None:
    """The name on a ``---``/``+++`` line: unquoted, timestamp dropped; None for /dev/null."""
    name = raw.strip() if raw.startswith('"') else raw.split("\t", 1)[0].rstrip()
    name = _unquote(name)
    return None if name == "/dev/null" else name


def _finish_names(patch: _FilePatch) -> None:
    """Settle ``old_path``/``new_path``: git's a/ b/ prefixes and ``./`` stripped."""
    if patch.move_names is not None:
        old, new = patch.move_names
        patch.old_path, patch.new_path = strip_path(old), strip_path(new)
        return
    if patch.dash_names is not None:
        old, new = patch.dash_names
    else:  # a header-only git section: an empty file created or deleted, a mode change
        old, new = patch.git_names
        if patch.new_file:
            old = None
        if patch.deleted:
            new = None
    # A plain diff loses the prefixes only when every named side has its own, so that a real
    # directory called "a" survives ``--- a/x`` ``+++ a/x``.
    prefixed = patch.git or (
        (old is None or old.startswith("a/")) and (new is None or new.startswith("b/"))
    )
    if prefixed:
        old = old[2:] if old is not None and old.startswith("a/") else old
        new = new[2:] if new is not None and new.startswith("b/") else new
    patch.old_path = strip_path(old) if old is not None else None
    patch.new_path = strip_path(new) if new is not None else None
    if patch.old_path is None and patch.new_path is None:
        raise EditError(f"diff line {patch.line_no}: the file section names no file")


def _parse_hunk(lines: list[_RawLine], i: int, patch: _FilePatch) -> int:
    """Read the hunk whose ``@@`` header is line ``i``; returns the index after it.

    The body is read by the header's counts. When those are wrong (a common slip in
    hand-written diffs) the body is re-read up to the first line that cannot belong to it,
    as ``git apply --recount`` does; it still has to match the file exactly.
    """
    header = lines[i][0]
    m = _HUNK.match(header)
    names = patch.dash_names or (None, None)
    path = names[1] or names[0] or "?"
    if m is None:
        raise EditError(
            f"diff line {i + 1}: hunk header {header!r} for {path} has no line numbers; "
            "write '@@ -start,count +start,count @@' (or send SEARCH/REPLACE blocks instead)"
        )
    old_len = int(m.group(2)) if m.group(2) is not None else 1
    new_len = int(m.group(4)) if m.group(4) is not None else 1
    hunk = _Hunk(int(m.group(1)), old_len, int(m.group(3)), new_len, line_no=i + 1)
    patch.hunks.append(hunk)
    body = _counted_body(lines, i + 1, old_len, new_len)
    if body is None:
        body = _recounted_body(lines, i + 1)
        if not any(h.op != " " for h in body[0]):
            raise EditError(
                f"diff line {i + 1}: hunk {len(patch.hunks)} of {path} ({header}) has no body "
                "that matches its line counts or any other; each line must start with ' ', "
                "'+' or '-'"
            )
        hunk.old_len = sum(1 for h in body[0] if h.op != "+")
        hunk.new_len = sum(1 for h in body[0] if h.op != "-")
    hunk.lines, end = body
    return end


def _counted_body(
    lines: list[_RawLine], i: int, old_left: int, new_left: int
) -> tuple[list[_HunkLine], int] | None:
    """The hunk body by the header's counts, or None when the lines do not fit them."""
    body: list[_HunkLine] = []
    while i < len(lines) and (old_left > 0 or new_left > 0):
        text, eol, crlf = lines[i]
        op, rest = (text[0], text[1:]) if text else (" ", "")  # a blank context line, stripped
        if op == "\\" and body:
            body[-1].no_eol = True
        elif op == " " and old_left > 0 and new_left > 0:
            old_left, new_left = old_left - 1, new_left - 1
        elif op == "-" and old_left > 0:
            old_left -= 1
        elif op == "+" and new_left > 0:
            new_left -= 1
        else:
            return None
        if op != "\\":
            body.append(_HunkLine(op, rest, eol, crlf))
        i += 1
    if old_left > 0 or new_left > 0:
        return None
    if i < len(lines) and lines[i][0].startswith("\\") and body:
        body[-1].no_eol = True
        i += 1
    if i < len(lines) and _continues_hunk(lines, i):
        return None
    return body, i


def _recounted_body(lines: list[_RawLine], i: int) -> tuple[list[_HunkLine], int]:
    """The hunk body up to the first line that cannot be part of it."""
    body: list[_HunkLine] = []
    blank_run = 0  # trailing blank lines are more likely the diff's end than context
    while i < len(lines):
        text, eol, crlf = lines[i]
        if text.startswith(("@@", "diff ")) or text == "-- " or (
            text.startswith("--- ") and i + 1 < len(lines) and lines[i + 1][0].startswith("+++ ")
        ):
            break
        if text.startswith("\\"):
            if body:
                body[-1].no_eol = True
        elif not text:
            body.append(_HunkLine(" ", "", eol, crlf))
            blank_run += 1
            i += 1
            continue
        elif text[0] in " +-":
            body.append(_HunkLine(text[0], text[1:], eol, crlf))
        else:
            break
        blank_run = 0
        i += 1
    if blank_run:
        del body[-blank_run:]
    return body, i


def _continues_hunk(lines: list[_RawLine], i: int) -> bool:
    """Whether line ``i``, right after a complete hunk, looks like more of that hunk."""
    text = lines[i][0]
    if not text or text[0] not in " +-" or text == "-- ":  # "-- " starts a mail signature
        return False
    is_header = text.startswith("--- ") and i + 1 < len(lines) and lines[i + 1][0].startswith("+++ ")
    return not is_header


# ---- applying -----------------------------------------------------------------------------


def _apply_patch(patch: _FilePatch, changes: EditBuffer) -> None:
    old_path, new_path = patch.old_path, patch.new_path
    if old_path is None:
        if new_path is None:  # _finish_names already refused this
            raise EditError(f"diff line {patch.line_no}: the file section names no file")
        if changes.get(new_path):  # an existing empty file may be "created" again
            raise EditApplyError(
                new_path, "the diff creates this file (--- /dev/null) but it already exists",
                hint="Nothing was applied. Send a diff against its current text instead.",
            )
        changes.set(new_path, _apply_hunks(new_path, "", patch.hunks))
        return
    current = changes.get(old_path)
    if current is None:
        raise EditApplyError(
            old_path, "the diff changes this file but it does not exist",
            hint="Nothing was applied. Check the path; to create a file, diff it against "
            "/dev/null.",
        )
    if new_path is None:
        # A deletion without hunks says only "delete"; one with hunks must remove everything.
        if patch.hunks and _apply_hunks(old_path, current, patch.hunks):
            raise EditApplyError(
                old_path, "the diff deletes this file (+++ /dev/null) but does not remove all "
                "of its lines",
                hint="Nothing was applied. Re-read the file and send a deletion that removes "
                "all of it.",
            )
        changes.set(old_path, None)
        return
    if not patch.hunks and new_path == old_path:
        return  # a mode change or an empty section: the text stays as it is
    text = _apply_hunks(old_path, current, patch.hunks)
    if new_path != old_path:
        if changes.get(new_path) is not None:
            raise EditApplyError(
                new_path, f"the diff renames or copies {old_path} here but this file exists",
                hint="Nothing was applied. Pick a path that does not exist, or delete this "
                "file in the same diff first.",
            )
        if not patch.copy:
            changes.set(old_path, None)
    changes.set(new_path, text)


def _apply_hunks(path: str, text: str, hunks: list[_Hunk]) -> str:
    lines = split_eol(text)
    contents = [c for c, _ in lines]
    file_eol = dominant_eol(lines)
    out: list[Line] = []
    pos = 0  # next line of the original not yet copied to ``out``
    drift = 0  # how far the previous hunk was from where its header said
    for index, hunk in enumerate(hunks, 1):
        old = hunk.old()
        stated = (hunk.old_start - 1 if hunk.old_len else hunk.old_start) + drift
        start = _locate(path, index, contents, old, stated, pos)
        drift = start - (hunk.old_start - 1 if hunk.old_len else hunk.old_start)
        out.extend(lines[pos:start])
        out.extend(_new_lines(hunk, lines[start : start + len(old)], file_eol))
        pos = start + len(old)
    out.extend(lines[pos:])
    # An added line after a last line that had no newline: that line now needs one.
    eol = file_eol or "\n"
    fixed = [(c, e or eol) for c, e in out[:-1]]
    return join_eol(fixed + out[-1:])


def _locate(path: str, index: int, contents: list[str], old: list[str], stated: int, low: int) -> int:
    """Where hunk ``index`` applies: ``stated`` if it fits there, else the nearest exact fit."""
    n = len(old)
    if not old:  # pure insertion, nothing to check it against
        if low <= stated <= len(contents):
            return stated
        raise EditApplyError(
            path, f"the hunk inserts at line {stated + 1} but the file has {len(contents)} lines",
            block=index, unit="hunk",
            hint="Fix the '@@' line numbers, or add context lines to the hunk.",
        )

    def fits(start: int) -> bool:
        return low <= start <= len(contents) - n and contents[start : start + n] == old

    if fits(stated):
        return stated
    for distance in range(1, SEARCH_RADIUS + 1):
        above, below = fits(stated - distance), fits(stated + distance)
        if above and below:
            raise EditApplyError(
                path, f"the hunk's context matches both {distance} lines above and below the "
                f"stated line {stated + 1}; cannot tell which is meant",
                block=index, unit="hunk", closest="\n".join(old),
                closest_line=stated - distance + 1,
                hint="Add more context lines to the hunk or fix its '@@' line numbers.",
            )
        if above or below:
            return stated - distance if above else stated + distance
    found = closest_window(contents, old)
    where, closest = (found[0], "\n".join(contents[found[0] : found[0] + n])) if found else (0, None)
    raise EditApplyError(
        path, f"the hunk's context and removed lines (from line {stated + 1}) do not match "
        "the file" + (" at or after the previous hunk" if low else ""),
        block=index, unit="hunk", closest=closest, closest_line=where + 1 if found else None,
        hint="Nothing was applied. Re-read the file and regenerate the diff from its current "
        "text (context lines must match exactly).",
    )


def _new_lines(hunk: _Hunk, old_lines: list[Line], file_eol: str | None) -> list[Line]:
    """The hunk's new side; context lines keep the file's own endings."""
    old_iter = iter(old_lines)
    out: list[Line] = []
    for h in hunk.lines:
        if h.op == "-":
            next(old_iter)
            continue
        if h.op == " ":
            content, eol = next(old_iter)
            out.append((content, "" if h.no_eol else eol))
            continue
        if h.no_eol:
            eol = ""
        elif h.crlf:
            eol = "\r\n"
        else:  # the file's own ending; a new file takes the diff's
            eol = file_eol or h.eol or "\n"
        out.append((h.text, eol))
    return out
