"""Example codemods, usable as entry points (``lspfeedback fleet run --codemod
lspfeedback.fleet.examples:add_flag ...``); the fleet's tests and benchmark use them.

`AddRequiredParameter` is the kind of change that needs checking: a new required keyword-only
parameter on a function, and its callers updated. It proposes three candidates, in an order
that depends on the repository (so the winner's index varies): the right one (every call site
passes the argument), one that forgets the callers (breaks every importer that calls it) and
one that passes None, a value of the wrong type. Only the type checker tells them apart.

It edits text with regular expressions: the repositories' code is read, never run or imported.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

KINDS = ("right", "callers_forgotten", "wrong_type")
"""What each candidate is; `AddRequiredParameter.kinds` says in which order for a repo."""

_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "build", "dist"}


@dataclass(frozen=True)
class Target:
    """The function a codemod changes: where it is defined and the files that call it."""

    path: str
    name: str
    callers: tuple[str, ...]


@dataclass(frozen=True)
class AddRequiredParameter:
    """Add ``*, <parameter>: bool`` to one function and pass ``<parameter>=True`` at every
    call. ``function`` (``path::name``) picks it; by default the module-level function whose
    name is called from the most other files (defined once, with a simple signature, and
    used nowhere but in direct calls and imports, so that no call is missed)."""

    parameter: str = "audited"
    function: str | None = None

    def __call__(self, repo: Path) -> list[dict[str, str]]:
        target = self.target(Path(repo))
        if target is None:
            return []
        texts = {rel: (Path(repo) / rel).read_text(encoding="utf-8")
                 for rel in (target.path, *target.callers)}
        by_kind = {
            "right": self._edit(texts, target, "True"),
            "callers_forgotten": self._edit(texts, target, None),
            "wrong_type": self._edit(texts, target, "None"),
        }
        return [by_kind[kind] for kind in self.kinds(Path(repo))]

    def kinds(self, repo: Path) -> tuple[str, ...]:
        """The order of the candidates for ``repo`` (a rotation chosen by its name)."""
        shift = hashlib.blake2b(Path(repo).name.encode(), digest_size=1).digest()[0] % 3
        return KINDS[shift:] + KINDS[:shift]

    def target(self, repo: Path) -> Target | None:
        """The function to change in ``repo`` (None: nothing suitable)."""
        files = {p.relative_to(repo).as_posix(): p.read_text(encoding="utf-8", errors="replace")
                 for p in sorted(repo.rglob("*.py")) if not _SKIP_DIRS & set(p.parts)}
        defs: dict[str, list[str]] = {}
        for rel, text in files.items():
            for match in re.finditer(r"^def (\w+)\(([^()]*)\)", text, re.MULTILINE):
                if "*" not in match.group(2) and "self" not in match.group(2):
                    defs.setdefault(match.group(1), []).append(rel)
        every_def = Counter(m for t in files.values() for m in re.findall(r"\bdef (\w+)\(", t))
        wanted = self.function.split("::") if self.function else None
        best: Target | None = None
        for name, where in sorted(defs.items()):
            if len(where) != 1 or every_def[name] != 1 or name.startswith("__"):
                continue
            if wanted and [where[0], name] != wanted:
                continue
            if not wanted and not all(_only_called(text, name) for text in files.values()):
                continue  # used as a value or as an attribute: some uses would be missed
            call = re.compile(rf"(?<![\w.]){re.escape(name)}\(")
            callers = tuple(rel for rel, text in files.items()
                            if rel != where[0] and call.search(text))
            if callers and (best is None or len(callers) > len(best.callers)):
                best = Target(where[0], name, callers)
        return best

    def _edit(self, texts: dict[str, str], target: Target, value: str | None) -> dict[str, str]:
        out: dict[str, str] = {}
        for rel, text in texts.items():
            new = _add_parameter(text, target.name, self.parameter) if rel == target.path else text
            if value is not None:
                new = _add_argument(new, target.name, f"{self.parameter}={value}")
            if new != text:
                out[rel] = new
        return out


def _only_called(text: str, name: str) -> bool:
    """Every use of ``name`` in ``text`` is its definition, an import or a direct call."""
    for match in re.finditer(rf"(?<![\w]){re.escape(name)}\b", text):
        line_start = text.rfind("\n", 0, match.start()) + 1
        line = text[line_start:text.find("\n", match.end()) % (len(text) + 1)].lstrip()
        if line.startswith(("import ", "from ")) or text[match.start() - 4:match.start()] == "def ":
            continue
        before = text[match.start() - 1] if match.start() else ""
        if before == "." or not text.startswith("(", match.end()):
            return False
    return True


def _add_parameter(text: str, name: str, parameter: str) -> str:
    def put(match: re.Match[str]) -> str:
        params = match.group(2).rstrip().rstrip(",")
        extra = f"*, {parameter}: bool"
        return f"def {name}({params + ', ' if params.strip() else ''}{extra})"

    pattern = rf"^def ({re.escape(name)})\(([^()]*)\)"
    return re.sub(pattern, put, text, count=1, flags=re.MULTILINE)


def _add_argument(text: str, name: str, argument: str) -> str:
    """Append ``argument`` to every call of ``name`` (parentheses matched, strings skipped)."""
    out, last = [], 0
    for match in re.finditer(rf"(?<![\w.]){re.escape(name)}\(", text):
        if text[max(0, match.start() - 4):match.start()] == "def ":
            continue
        close = _closing(text, match.end())
        if close is None or close < last:
            continue
        inner = text[match.end():close]
        glue = "" if not inner.strip() else (" " if inner.rstrip().endswith(",") else ", ")
        out.append(text[last:close].rstrip() if glue == " " else text[last:close])
        out.append(f"{glue}{argument}")
        last = close
    out.append(text[last:])
    return "".join(out)


def _closing(text: str, start: int) -> int | None:
    depth, i, quote = 1, start, ""
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 1
            elif text.startswith(quote, i):
                i += len(quote) - 1
                quote = ""
        elif ch in "\"'":
            quote = text[i:i + 3] if text[i:i + 3] in ('"""', "'''") else ch
            i += len(quote) - 1
        elif ch == "#":
            newline = text.find("\n", i)
            i = len(text) if newline < 0 else newline
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return None


add_flag: AddRequiredParameter = AddRequiredParameter()
"""The default instance: ``--codemod lspfeedback.fleet.examples:add_flag``."""
