"""Deterministic edit scripts: the mistakes coding agents make, each followed by its fix.

`make_script` reads the given files of any Python project, finds real targets with `ast`
(functions, call sites, return statements) and builds minimal text edits of the original
text: the rest of the file is left byte for byte as it was (no re-rendered ASTs, line endings
kept). Every mistake is followed by a fix step whose text is the original again, so a script
can run any number of steps from the same clean state.

The mistake kinds, in `KINDS`:

- ``signature``: add a required parameter to a function (its callers now miss an argument);
  functions something calls are preferred.
- ``arg_type``: pass an argument of the wrong type at a call site of a function whose
  parameter annotation is known (defined in the file or imported from the project).
- ``return_type``: return a value of the wrong type from an annotated function.
- ``rename``: rename a function at its definition only, leaving its callers behind.
- ``unused_import``: add an import of a standard module the file does not use.
- ``syntax``: delete the closing parenthesis of a call.

A kind with no target in a file is skipped for that file.
"""

from __future__ import annotations

import ast
import random
import re
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["FIX", "KINDS", "EditStep", "make_script"]

KINDS = ("signature", "arg_type", "return_type", "rename", "unused_import", "syntax")
"""The mistake kinds, in the order they are balanced over a script."""

FIX = "fix"
"""The kind of every step that undoes the mistake before it."""


@dataclass(frozen=True)
class EditStep:
    """Set ``path`` (relative to the project root) to ``new_text``."""

    kind: str
    """One of `KINDS`, or `FIX` for a step that restores the file's original text."""
    path: str
    new_text: str
    description: str


def make_script(
    root: Path, files: Sequence[str], seed: int, count: int, *, kinds: Sequence[str] = KINDS
) -> list[EditStep]:
    """``count`` mistakes, each followed by its fix: ``2 * count`` steps.

    Files are edited in turn in the order given (so a caller passing leaves and widely
    imported modules gets both); in each, the kind used least so far among those with a
    target there is chosen, and a target not used yet, both at random from ``seed``. Files
    that do not parse, or have no target for any of ``kinds``, are passed over. The same
    arguments on the same files always give the same script.

    Raises `ValueError` for an unknown kind, or when no file offers any target.
    """
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ValueError(f"unknown edit kinds {unknown}; known: {', '.join(KINDS)}")
    rng = random.Random(seed)
    project = _Project(root)
    candidates: dict[str, dict[str, list[_Mistake]]] = {}
    for path in files:
        if path not in candidates:
            candidates[path] = _candidates(project, path, kinds, rng)
    usable = [p for p in files if any(candidates[p].values())]
    if count > 0 and not usable:
        raise ValueError(f"no edit target of kinds {list(kinds)} in {list(files)}")

    used_kinds: Counter[str] = Counter()
    used: set[tuple[str, str, str]] = set()
    steps: list[EditStep] = []
    for i in range(count):
        path = usable[i % len(usable)]
        by_kind = candidates[path]
        available = [k for k in kinds if by_kind.get(k)]
        fewest = min(used_kinds[k] for k in available)
        kind = rng.choice([k for k in available if used_kinds[k] == fewest])
        options = by_kind[kind]
        fresh = [m for m in options if (path, kind, m.new_text) not in used] or options
        best = min(m.priority for m in fresh)
        mistake = rng.choice([m for m in fresh if m.priority == best])
        used_kinds[kind] += 1
        used.add((path, kind, mistake.new_text))
        steps.append(EditStep(kind, path, mistake.new_text, f"{kind}: {mistake.description}"))
        steps.append(EditStep(FIX, path, project.source(path).text,
                              f"fix: undo the {kind} edit of {path}"))
    return steps


# ---- sources ---------------------------------------------------------------------------------

_NEWLINE = re.compile(r"\r\n|\r|\n")


class _Source:
    """One file's exact text, its AST, and offsets between the two."""

    def __init__(self, path: str, text: str) -> None:
        self.path = path
        self.text = text
        self.line_starts = [0] + [m.end() for m in _NEWLINE.finditer(text)]
        first = _NEWLINE.search(text)
        self.newline = first.group() if first else "\n"
        self.tree: ast.Module | None
        try:
            self.tree = ast.parse(text, filename=path)
        except (SyntaxError, ValueError):
            self.tree = None
        self.parents: dict[ast.AST, ast.AST] = {}
        if self.tree is not None:
            for node in ast.walk(self.tree):
                for child in ast.iter_child_nodes(node):
                    self.parents[child] = node

    def offset(self, lineno: int, col: int) -> int:
        """Text offset of an AST position (1-based line, UTF-8 byte column)."""
        start = self.line_starts[lineno - 1]
        end = self.line_starts[lineno] if lineno < len(self.line_starts) else len(self.text)
        line = self.text[start:end].encode("utf-8")
        return start + len(line[:col].decode("utf-8", "replace"))

    def start(self, node: ast.expr | ast.stmt | ast.arg) -> int:
        return self.offset(node.lineno, node.col_offset)

    def end(self, node: ast.expr | ast.stmt | ast.arg) -> int:
        assert node.end_lineno is not None and node.end_col_offset is not None
        return self.offset(node.end_lineno, node.end_col_offset)

    def segment(self, node: ast.expr | ast.stmt | ast.arg) -> str:
        return self.text[self.start(node):self.end(node)]

    def edit(self, *changes: tuple[int, int, str]) -> str:
        """The text with each ``(start, end, replacement)`` applied (non-overlapping)."""
        out = self.text
        for start, end, new in sorted(changes, reverse=True):
            out = out[:start] + new + out[end:]
        return out

    def inside(self, node: ast.AST, kinds: tuple[type[ast.AST], ...]) -> bool:
        parent = self.parents.get(node)
        while parent is not None:
            if isinstance(parent, kinds):
                return True
            parent = self.parents.get(parent)
        return False

    def functions(self) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
        if self.tree is not None:
            for node in ast.walk(self.tree):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    yield node

    def calls(self) -> Iterator[ast.Call]:
        """Calls outside f-strings (whose inner positions Python 3.11 gets wrong)."""
        if self.tree is not None:
            for node in ast.walk(self.tree):
                if isinstance(node, ast.Call) and not self.inside(node, (ast.JoinedStr,)):
                    yield node


_SKIP_DIRS = {"node_modules", "__pycache__", "site-packages", "build", "dist"}
_CALLED = re.compile(r"(?<![\w])(def\s+)?([A-Za-z_]\w*)\s*\(")


class _Project:
    """Lazily parsed files of the project, and which names are called anywhere in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._sources: dict[str, _Source | None] = {}
        self._called: Counter[str] | None = None

    def source(self, path: str) -> _Source:
        found = self.maybe_source(path)
        if found is None:
            raise FileNotFoundError(self.root / path)
        return found

    def maybe_source(self, path: str) -> _Source | None:
        if path not in self._sources:
            file = self.root / path
            # Bytes, not read_text: universal newlines would lose CRLF and the fix must
            # restore the original exactly.
            self._sources[path] = (
                _Source(path, file.read_bytes().decode("utf-8")) if file.is_file() else None
            )
        return self._sources[path]

    def called(self, name: str) -> bool:
        """Whether ``name(`` appears somewhere other than in ``def name(``. A text scan (not a
        parse) so that it stays cheap on projects of thousands of files."""
        if self._called is None:
            self._called = Counter()
            for file in sorted(self.root.rglob("*.py")):
                rel = file.relative_to(self.root).parts
                if any(p.startswith(".") or p in _SKIP_DIRS for p in rel[:-1]):
                    continue
                try:
                    text = file.read_text(encoding="utf-8", errors="replace")
                except OSError:
                    continue
                for is_def, called in _CALLED.findall(text):
                    if not is_def:
                        self._called[called] += 1
        return self._called[name] > 0

    def resolve_module(self, importer: str, module: str | None, level: int) -> str | None:
        """The project file of an imported module, relative to the root, if there is one."""
        parts = [] if module is None else module.split(".")
        if level:
            base = Path(importer).parent.parts
            base = base[: len(base) - (level - 1)] if level > 1 else base
            candidates = [Path(*base, *parts)]
        else:
            candidates = [Path(*parts), Path("src", *parts)]
        for candidate in candidates:
            for rel in (candidate.with_suffix(".py"), candidate / "__init__.py"):
                if (self.root / rel).is_file():
                    return rel.as_posix()
        return None

    def find_function(
        self, path: str, name: str, depth: int = 0
    ) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        """The top-level function ``name`` of ``path``, following ``from x import name``
        re-exports a few levels."""
        src = self.maybe_source(path)
        if src is None or src.tree is None or depth > 3:
            return None
        for node in src.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == name:
                return node
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if (alias.asname or alias.name) == name:
                        target = self.resolve_module(path, node.module, node.level)
                        if target is not None:
                            return self.find_function(target, alias.name, depth + 1)
        return None


# ---- mistakes --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Mistake:
    new_text: str
    description: str
    priority: int = 0
    """Lower is preferred: a signature change or rename of a function nobody calls breaks
    nothing, so functions with callers come first."""


_Finder = Callable[[_Project, _Source, random.Random], list[_Mistake]]


def _candidates(
    project: _Project, path: str, kinds: Sequence[str], rng: random.Random
) -> dict[str, list[_Mistake]]:
    src = project.maybe_source(path)
    if src is None or src.tree is None:
        return {}
    return {kind: _FINDERS[kind](project, src, rng) for kind in kinds}


def _where(src: _Source, node: ast.expr | ast.stmt) -> str:
    return f"{src.path}:{node.lineno}"


def _plain(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    """Not a dunder, not generic (PEP 695), no decorators that change what a call means."""
    return not (node.name.startswith("__") or getattr(node, "type_params", None)
                or node.decorator_list)


_NEW_PARAMS = (("strict", "bool"), ("currency", "str"), ("retries", "int"),
               ("timeout", "float"), ("limit", "int"), ("verbose", "bool"))


def _signature(project: _Project, src: _Source, rng: random.Random) -> list[_Mistake]:
    out = []
    for fn in src.functions():
        if not _plain(fn):
            continue
        a = fn.args
        positional = [*a.posonlyargs, *a.args]
        taken = {x.arg for x in [*positional, *a.kwonlyargs, a.vararg, a.kwarg] if x is not None}
        taken |= {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)}
        choices = [p for p in _NEW_PARAMS if p[0] not in taken]
        if not choices:
            continue
        name, annotation = rng.choice(choices)
        required = len(positional) - len(a.defaults)
        if required > 0:
            # Right after the last parameter without a default, so the new one is required.
            at = src.end(positional[required - 1])
            change = (at, at, f", {name}: {annotation}")
        elif positional:
            at = src.start(positional[0])
            change = (at, at, f"{name}: {annotation}, ")
        elif a.vararg is None and a.kwarg is None and not a.kwonlyargs:
            match = re.compile(rf"def\s+{re.escape(fn.name)}\s*\(").search(src.text, src.start(fn))
            if match is None:
                continue
            change = (match.end(), match.end(), f"{name}: {annotation}")
        else:
            continue
        out.append(_Mistake(
            src.edit(change),
            f"add required parameter `{name}: {annotation}` to {fn.name}() ({_where(src, fn)})",
            priority=0 if project.called(fn.name) else 1,
        ))
    return out


_SCALARS = {"int", "float", "bool", "complex", "bytes", "str"}
_UNCHECKABLE = re.compile(r"None|Optional|Union|\||Any|object|Hashable|Self|^_?[A-Z]\w?$|_co$|_contra$")


def _contradict(annotation: ast.expr | None, src: _Source, value: ast.expr) -> tuple[
        tuple[int, int, str], ...] | None:
    """Edits that make ``value`` (an expression of the ``annotation`` type) clearly another
    type, the way agents get it wrong: a missing or extra conversion. None when the
    annotation accepts too much to be sure (unions, Any, type variables...)."""
    if annotation is None:
        return None
    text = ast.unparse(annotation).strip("'\"")
    if _UNCHECKABLE.search(text) or isinstance(value, ast.Starred | ast.GeneratorExp):
        return None  # a lone generator argument's span is the call's own parentheses
    start, end = src.start(value), src.end(value)
    if text == "str":
        return ((start, start, "len("), (end, end, ")"))
    if text in _SCALARS:
        return ((start, start, "str("), (end, end, ")"))
    return ((start, end, "None"),)


def _enclosing_class(src: _Source, node: ast.AST) -> ast.ClassDef | None:
    parent = src.parents.get(node)
    while parent is not None and not isinstance(parent, ast.ClassDef):
        parent = src.parents.get(parent)
    return parent


def _callee(
    project: _Project, src: _Source, call: ast.Call
) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, bool] | None:
    """The function a call runs, and whether its first parameter is bound (``self.m()``)."""
    assert src.tree is not None
    func = call.func
    if isinstance(func, ast.Name):
        for node in src.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == func.id:
                return node, False
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if (alias.asname or alias.name) == func.id:
                        target = project.resolve_module(src.path, node.module, node.level)
                        found = None if target is None else project.find_function(target, alias.name)
                        return (found, False) if found is not None else None
        return None
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "self":
        cls = _enclosing_class(src, call)
        if cls is not None:
            for node in cls.body:
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == func.attr:
                    return (node, True) if not node.decorator_list else None
    return None


def _arg_type(project: _Project, src: _Source, rng: random.Random) -> list[_Mistake]:
    out = []
    for call in src.calls():
        resolved = _callee(project, src, call)
        if resolved is None or any(k.arg is None for k in call.keywords):
            continue
        fn, bound = resolved
        params = [*fn.args.posonlyargs, *fn.args.args][1 if bound else 0:]
        pairs: list[tuple[ast.arg, ast.expr]] = []
        for param, value in zip(params, call.args, strict=False):
            if isinstance(value, ast.Starred):
                break
            pairs.append((param, value))
        by_name = {p.arg: p for p in [*params, *fn.args.kwonlyargs]}
        pairs += [(by_name[k.arg], k.value) for k in call.keywords if k.arg in by_name]
        for param, value in pairs:
            edits = _contradict(param.annotation, src, value)
            if edits is None:
                continue
            annotation = ast.unparse(param.annotation) if param.annotation else "?"
            out.append(_Mistake(
                src.edit(*edits),
                f"pass `{_preview(edits, src, value)}` for `{param.arg}: {annotation}` "
                f"of {fn.name}() ({_where(src, value)})",
            ))
    return out


def _preview(edits: tuple[tuple[int, int, str], ...], src: _Source, value: ast.expr) -> str:
    if len(edits) == 1:
        return edits[0][2]
    return f"{edits[0][2]}{src.segment(value)}{edits[1][2]}"


def _own_returns(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> Iterator[ast.Return]:
    """Return statements of ``fn`` itself, not of functions or classes nested in it."""
    stack: list[ast.AST] = list(fn.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Return):
            yield node
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(node))


def _return_type(project: _Project, src: _Source, rng: random.Random) -> list[_Mistake]:
    out = []
    for fn in src.functions():
        if fn.returns is None or any(isinstance(n, ast.Yield | ast.YieldFrom) for n in ast.walk(fn)):
            continue
        for ret in sorted(_own_returns(fn), key=lambda r: (r.lineno, r.col_offset)):
            if ret.value is None:
                continue
            edits = _contradict(fn.returns, src, ret.value)
            if edits is None:
                break
            out.append(_Mistake(
                src.edit(*edits),
                f"return `{_preview(edits, src, ret.value)}` from {fn.name}() -> "
                f"{ast.unparse(fn.returns)} ({_where(src, ret)})",
            ))
    return out


_RENAMES = ("{}_v2", "compute_{}", "{}_impl", "do_{}")


def _rename(project: _Project, src: _Source, rng: random.Random) -> list[_Mistake]:
    out = []
    for fn in src.functions():
        if fn.name.startswith("__"):
            continue
        match = re.compile(rf"(?:async\s+)?def\s+({re.escape(fn.name)})\b").search(
            src.text, src.start(fn))
        if match is None:
            continue
        new = rng.choice(_RENAMES).format(fn.name.lstrip("_"))
        out.append(_Mistake(
            src.edit((match.start(1), match.end(1), new)),
            f"rename {fn.name}() to {new}() without updating its callers ({_where(src, fn)})",
            priority=0 if project.called(fn.name) else 1,
        ))
    return out


_STDLIB = ("json", "os", "re", "itertools", "functools", "typing", "collections", "pathlib")


def _unused_import(project: _Project, src: _Source, rng: random.Random) -> list[_Mistake]:
    assert src.tree is not None
    imported = set()
    for node in ast.walk(src.tree):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    names = {n.id for n in ast.walk(src.tree) if isinstance(n, ast.Name)}
    choices = [m for m in _STDLIB if m not in imported and m not in names]
    if not choices:
        return []
    module = rng.choice(choices)
    # Above the first ordinary import; below the docstring and any __future__ imports,
    # which must stay first.
    line = 1
    for i, stmt in enumerate(src.tree.body):
        is_doc = i == 0 and isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant)
        is_future = isinstance(stmt, ast.ImportFrom) and stmt.module == "__future__"
        if not (is_doc or is_future):
            if isinstance(stmt, ast.Import | ast.ImportFrom):
                line = stmt.lineno
            break
        assert stmt.end_lineno is not None
        line = stmt.end_lineno + 1
    if line <= len(src.line_starts):
        at, prefix = src.line_starts[line - 1], ""
    else:  # after a docstring on the last line, which has no line break
        at, prefix = len(src.text), src.newline
    return [_Mistake(
        src.edit((at, at, f"{prefix}import {module}{src.newline}")),
        f"add an unused `import {module}` ({src.path}:{line})",
    )]


def _syntax(project: _Project, src: _Source, rng: random.Random) -> list[_Mistake]:
    out = []
    for call in src.calls():
        end = src.end(call)
        if src.text[end - 1:end] != ")":
            continue
        name = ast.unparse(call.func)
        out.append(_Mistake(
            src.edit((end - 1, end, "")),
            f"delete the closing parenthesis of the call to {name}() ({_where(src, call)})",
        ))
    return out


_FINDERS: dict[str, _Finder] = {
    "signature": _signature,
    "arg_type": _arg_type,
    "return_type": _return_type,
    "rename": _rename,
    "unused_import": _unused_import,
    "syntax": _syntax,
}
