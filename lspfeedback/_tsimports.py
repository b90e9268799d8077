"""The reverse import graph of TypeScript and JavaScript files, from tree-sitter.

Each file's module specifiers are read by tree-sitter's TypeScript grammars (``import … from``,
``import "…"``, ``export … from``, ``import x = require(…)``, ``require(…)``, ``import(…)``,
``import("…")`` types, ``/// <reference path>``), then resolved the way the compiler resolves
them: relative specifiers with extension resolution (``./a`` -> ``a.ts``, ``a.tsx``,
``a.d.ts``, ``a.js``…, ``a/index.ts``…; ``./a.js`` -> ``a.ts`` as TypeScript's ESM convention
has it), the nearest ``tsconfig.json`` (or ``jsconfig.json``)'s ``paths`` patterns (the
longest matching prefix first) and ``baseUrl``, with relative ``extends`` followed; ``#…``
through the nearest package.json's ``imports``; and a bare specifier naming one of the root's
own packages (a monorepo's workspaces, by their package.json ``name``) through its
``exports``, ``types`` or ``main``. Other packages (``node_modules``) have no edges. The graph errs on the side of more importers: a file is
counted whatever its tsconfig's ``include`` says.

Nothing runs: the files are parsed in this process (no workspace code, no subprocess), in a
worker thread that stops at the deadline. The graph is kept current incrementally, like
Python's (`lspfeedback._imports`): a changed file is parsed again and, if its specifiers are
unchanged, costs nothing more; a created or deleted file, or a changed configuration file,
makes the next use resolve every specifier again (files whose size and mtime are unchanged
are not parsed again).
"""

from __future__ import annotations

import asyncio
import json
import os
import posixpath
import re
import stat
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types

from lspfeedback._imports import nearest_importers
from lspfeedback._shadow import SKIPPED_DIRS

SUFFIXES: Mapping[str, str] = {
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript",
    ".tsx": "typescriptreact",
    ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".jsx": "javascriptreact",
}
"""File suffix -> LSP languageId (``.d.ts`` files end with ``.ts``)."""

CONFIG_NAMES = ("tsconfig.json", "jsconfig.json")
"""The configuration files a directory may hold, nearest first."""

EXTENSIONS = (".ts", ".tsx", ".d.ts", ".js", ".jsx", ".mts", ".d.mts", ".cts", ".d.cts",
              ".mjs", ".cjs")
"""What ``./a`` may name, in the compiler's order (TypeScript first)."""

_JS_TO_TS = {".js": (".ts", ".tsx", ".d.ts"), ".jsx": (".tsx",), ".mjs": (".mts", ".d.mts"),
             ".cjs": (".cts", ".d.cts")}
"""``./a.js`` names ``a.ts`` when that exists (how ESM TypeScript imports its own files)."""

MAX_BYTES = 50 * 1024 * 1024
"""Larger files are not parsed (the document store's own limit)."""

_NEVER_WALKED = SKIPPED_DIRS | {"node_modules"}
"""Folders whose files are never the root's own modules (packages are not importers)."""

GRAPH_TIMEOUT = 30.0
"""Seconds one read of the graph may take at most."""

_QUERY = """
(import_statement source: (string (string_fragment) @spec))
(export_statement source: (string (string_fragment) @spec))
(import_require_clause source: (string (string_fragment) @spec))
(call_expression function: (import) arguments: (arguments . (string (string_fragment) @spec)))
(call_expression function: (identifier) @fn
  arguments: (arguments . (string (string_fragment) @spec)) (#eq? @fn "require"))
"""


_REFERENCE = re.compile(rb"""^[ \t]*///[ \t]*<reference[ \t]+path[ \t]*=[ \t]*["']([^"']+)["']""",
                        re.MULTILINE)
"""A triple-slash reference to another file."""

CONDITIONS = ("types", "import", "module", "default", "require", "node")
"""The ``exports`` / ``imports`` conditions followed, in this order (TypeScript's own first)."""


def is_config(rel: str) -> bool:
    """Whether a change of ``rel`` may change how specifiers resolve."""
    name = rel.rsplit("/", 1)[-1]
    return name in CONFIG_NAMES or name == "package.json" or (
        name.startswith("tsconfig") and name.endswith(".json"))


class _Parsers:
    """tree-sitter parsers and the specifier query, per grammar (one set per thread)."""

    def __init__(self) -> None:
        import tree_sitter_typescript
        from tree_sitter import Language, Parser, Query

        self._grammars = {"ts": Language(tree_sitter_typescript.language_typescript()),
                          "tsx": Language(tree_sitter_typescript.language_tsx())}
        self._parsers = {k: Parser(g) for k, g in self._grammars.items()}
        self._queries = {k: Query(g, _QUERY) for k, g in self._grammars.items()}

    def specifiers(self, rel: str, source: bytes) -> tuple[str, ...]:
        """The module specifiers ``source`` names, in order, each once."""
        from tree_sitter import QueryCursor

        # The TypeScript grammar cannot read JSX; the TSX one reads JavaScript too, but not
        # TypeScript's ``<T>x`` casts.
        kind = "ts" if rel.endswith((".ts", ".mts", ".cts")) else "tsx"
        tree = self._parsers[kind].parse(source)
        nodes = QueryCursor(self._queries[kind]).captures(tree.root_node).get("spec", [])
        nodes.sort(key=lambda n: n.start_byte)
        texts = [n.text.decode("utf-8", "replace") for n in nodes if n.text is not None]
        # ``/// <reference path="…" />`` names a file relative to this one.
        for match in _REFERENCE.finditer(source):
            path = match.group(1).decode("utf-8", "replace")
            texts.append(path if path.startswith(("./", "../")) else f"./{path}")
        return tuple(dict.fromkeys(texts))


_LOCAL = threading.local()


def _parsers() -> _Parsers:
    """This thread's parsers (a tree-sitter parser is not shared between threads; building
    the queries takes tens of milliseconds, so each thread builds them once)."""
    parsers = getattr(_LOCAL, "parsers", None)
    if parsers is None:
        parsers = _LOCAL.parsers = _Parsers()
    return parsers


def specifiers_of(rel: str, text: str) -> tuple[str, ...]:
    """The module specifiers of a file ``rel`` whose text is ``text`` (for tests and tools)."""
    return _parsers().specifiers(rel, text.encode("utf-8", "surrogatepass"))


@dataclass(frozen=True)
class TsConfig:
    """What resolution needs of one tsconfig.json (its ``extends`` chain merged)."""

    base_url: str | None
    """Root-relative folder of ``baseUrl``, if set."""
    paths: tuple[tuple[str, tuple[str, ...]], ...]
    """``paths`` patterns and their targets, the targets root-relative."""


@dataclass
class _Entry:
    signature: tuple[int, int, int]
    specifiers: tuple[str, ...]


@dataclass
class _Snapshot:
    """One complete read: file -> specifiers, and the files they resolve to."""

    entries: dict[str, _Entry] = field(default_factory=dict)
    imports: dict[str, list[str]] = field(default_factory=dict)
    packages: dict[str, str] = field(default_factory=dict)
    """Package name -> its folder, for the root's own packages (a monorepo's workspaces)."""


class _Deadline(Exception):
    pass


class TsImportGraph:
    """Who imports whom among the TypeScript and JavaScript files of ``root`` (the primary's
    shadow). Implements `lspfeedback.languages.base.ImportGraphProvider`."""

    def __init__(self, root: Path, timeout: float = GRAPH_TIMEOUT) -> None:
        self.root = root
        self.timeout = timeout
        self.error: str | None = None
        self._snapshot: _Snapshot | None = None
        self._stale = True
        """Every specifier must be resolved again (files created or deleted, config changed)."""
        self._dirty: set[str] = set()
        self._importers: dict[str, set[str]] = {}
        self.full_reads = 0
        self.partial_reads = 0

    def __repr__(self) -> str:
        size = "not loaded" if self._snapshot is None else f"{len(self._snapshot.imports)} files"
        return f"<TsImportGraph {self.root} {size} dirty={len(self._dirty)}>"

    # ---- keeping current -------------------------------------------------------------------

    def invalidate(self) -> None:
        """Resolve everything again on the next use."""
        self._stale = True

    def prefetch(self) -> None:
        """Nothing: a read is bounded by the call that needs it (tree-sitter in a thread)."""

    async def close(self) -> None:
        """Nothing to stop: a read in its thread ends by its own deadline."""

    def note(self, changes: Sequence[tuple[str, types.FileChangeType]]) -> None:
        """Files changed in the root (see the module docstring)."""
        for rel, kind in changes:
            if is_config(rel):
                self._stale = True
            elif rel.endswith(tuple(SUFFIXES)):
                if kind == types.FileChangeType.Changed:
                    self._dirty.add(rel)
                else:
                    self._stale = True
            elif kind != types.FileChangeType.Changed:
                self._stale = True  # a folder: files in it came or went

    async def load(self) -> dict[str, set[str]]:
        """file -> its importers, current (empty, with `error` set, when it cannot be read)."""
        if not self._stale and not self._dirty and self._snapshot is not None:
            return self._importers
        stale, dirty = self._stale, set(self._dirty)
        previous = self._snapshot
        until = time.monotonic() + self.timeout
        try:
            snapshot = await asyncio.wait_for(
                asyncio.to_thread(_read, self.root, previous, stale, dirty, until),
                self.timeout + 1)
        except (TimeoutError, _Deadline):
            self.error = (f"the TypeScript import graph was not read within "
                          f"{self.timeout:g} s")
            return {}
        except OSError as exc:
            self.error = f"the TypeScript import graph could not be read: {exc}"
            return {}
        self._snapshot = snapshot
        self._stale = False
        self._dirty -= dirty
        self.error = None
        if stale or previous is None:
            self.full_reads += 1
        else:
            self.partial_reads += 1
        importers: dict[str, set[str]] = {}
        for source, targets in snapshot.imports.items():
            for target in targets:
                importers.setdefault(target, set()).add(source)
        self._importers = importers
        return importers

    # ---- questions -------------------------------------------------------------------------

    async def dependents(self, changed: Iterable[str], limit: int,
                         also: Iterable[str] = ()) -> tuple[list[str], int]:
        """Files that import ``changed`` directly or through others, nearest first; ``also``
        are direct importers known otherwise. At most ``limit``, and how many more there were."""
        return nearest_importers(await self.load(), changed, limit, also)

    async def importers_of_new(self, created: Sequence[str]) -> list[str]:
        """Files with a specifier whose last part names a module of ``created`` (its stem, or
        its folder's name for an ``index`` file): an over-approximation of who may import
        them (the graph resolves them too, once it is read again)."""
        names = {_stem(rel) for rel in created if rel.endswith(tuple(SUFFIXES))}
        names.discard("")
        if not names:
            return []
        await self.load()
        snapshot = self._snapshot
        if snapshot is None:
            return []
        found = []
        for rel, entry in sorted(snapshot.entries.items()):
            if rel in created:
                continue
            if any(_spec_stem(spec) in names for spec in entry.specifiers):
                found.append(rel)
        return found

    def imports_of(self, rel: str) -> list[str]:
        """The root's files ``rel`` imports, as last read (for tests and tools)."""
        return list(self._snapshot.imports.get(rel, [])) if self._snapshot else []


def _stem(rel: str) -> str:
    name = rel.rsplit("/", 1)[-1]
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    name = name.removesuffix(".d")
    if name == "index":
        parts = rel.split("/")
        return parts[-2] if len(parts) > 1 else ""
    return name


def _spec_stem(spec: str) -> str:
    last = spec.rstrip("/").rsplit("/", 1)[-1]
    for suffix in sorted(SUFFIXES, key=len, reverse=True):
        if last.endswith(suffix):
            return last[: -len(suffix)]
    return last


# ---- reading (in a worker thread) ------------------------------------------------------------

def _read(root: Path, previous: _Snapshot | None, stale: bool, dirty: set[str],
          until: float) -> _Snapshot:
    parsers = _parsers()
    resolver = _Resolver(root)
    if previous is None or stale:
        files, manifests = _list_files(root, until)
        resolver.packages = _package_names(root, manifests)
        old = previous.entries if previous is not None else {}
        entries: dict[str, _Entry] = {}
        for rel in files:
            if time.monotonic() > until:
                raise _Deadline
            entry = _parse(root, rel, old.get(rel), parsers, force=rel in dirty)
            if entry is not None:
                entries[rel] = entry
        resolver.files = set(entries)
        imports = {rel: resolver.resolve_all(rel, e.specifiers) for rel, e in entries.items()}
        return _Snapshot(entries, imports, resolver.packages)
    entries = dict(previous.entries)
    imports = dict(previous.imports)
    resolver.files = set(entries)
    resolver.packages = previous.packages
    for rel in sorted(dirty):
        if time.monotonic() > until:
            raise _Deadline
        entry = _parse(root, rel, None, parsers, force=True)
        if entry is None:
            continue
        before = entries.get(rel)
        entries[rel] = entry
        if before is None or before.specifiers != entry.specifiers:
            imports[rel] = resolver.resolve_all(rel, entry.specifiers)
    return _Snapshot(entries, imports, previous.packages)


def _list_files(root: Path, until: float) -> tuple[list[str], list[str]]:
    """The root's TypeScript and JavaScript files, and its package.json files."""
    found: list[str] = []
    manifests: list[str] = []
    suffixes = tuple(SUFFIXES)
    for folder, dirs, names in os.walk(root):
        if time.monotonic() > until:
            raise _Deadline
        dirs[:] = sorted(d for d in dirs if d not in _NEVER_WALKED)
        base = Path(folder).relative_to(root).as_posix()
        for name in names:
            rel = name if base == "." else f"{base}/{name}"
            if name.endswith(suffixes):
                found.append(rel)
            elif name == "package.json":
                manifests.append(rel)
    return sorted(found), sorted(manifests)


def _package_names(root: Path, manifests: list[str]) -> dict[str, str]:
    """Package name -> folder, for every package.json of the root that names one."""
    names: dict[str, str] = {}
    for rel in manifests:
        data = _read_json(root / rel)
        name = data.get("name") if isinstance(data, dict) else None
        if isinstance(name, str) and name and name not in names:
            names[name] = posixpath.dirname(rel)
    return names


def _read_json(path: Path) -> Any:
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_BYTES:
            return None
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _parse(root: Path, rel: str, old: _Entry | None, parsers: _Parsers,
           force: bool) -> _Entry | None:
    """``rel``'s specifiers (reused from ``old`` when its size and mtime are the same), or
    None when it is not a regular readable file."""
    path = root / rel
    try:
        info = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_BYTES:
        return None  # a FIFO is never opened: it would block the reader
    signature = (info.st_ino, info.st_size, info.st_mtime_ns)
    if old is not None and old.signature == signature and not force:
        return old
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as handle:
            source = handle.read(MAX_BYTES + 1)
    except OSError:
        return None
    return _Entry(signature, parsers.specifiers(rel, source))


# ---- resolution ----------------------------------------------------------------------------

_COMMENT = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.DOTALL)
_TRAILING_COMMA = re.compile(r'"(?:\\.|[^"\\])*"|,(\s*[}\]])', re.DOTALL)


def read_jsonc(text: str) -> Any:
    """JSON with comments and trailing commas (tsconfig.json's dialect)."""
    text = _COMMENT.sub(lambda m: m.group(0) if m.group(0).startswith('"') else "", text)
    text = _TRAILING_COMMA.sub(lambda m: m.group(1) if m.group(1) else m.group(0), text)
    return json.loads(text)


class _Resolver:
    """Specifier -> a file of the root, as the compiler would resolve it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: set[str] = set()
        self.packages: dict[str, str] = {}
        self._configs: dict[str, TsConfig | None] = {}
        self._nearest: dict[str, str | None] = {}
        self._manifests: dict[str, Any] = {}

    def resolve_all(self, rel: str, specifiers: Iterable[str]) -> list[str]:
        targets = (self.resolve(rel, spec) for spec in specifiers)
        return list(dict.fromkeys(t for t in targets if t is not None and t != rel))

    def resolve(self, importer: str, spec: str) -> str | None:
        folder = posixpath.dirname(importer)
        if spec.startswith(("./", "../")) or spec in (".", ".."):
            return self._file_or_folder(posixpath.join(folder, spec))
        if spec.startswith("/"):
            return None  # absolute paths outside the root's own naming: not followed
        if spec.startswith("#"):
            return self._subpath_import(folder, spec)
        config = self._config_for(folder)
        if config is not None:
            for target in _path_targets(config.paths, spec):
                found = self._file_or_folder(target)
                if found is not None:
                    return found
            if config.base_url is not None:
                found = self._file_or_folder(posixpath.join(config.base_url, spec))
                if found is not None:
                    return found
        return self._workspace_package(spec)

    def _manifest(self, folder: str) -> Any:
        if folder not in self._manifests:
            self._manifests[folder] = _read_json(self.root / folder / "package.json")
        return self._manifests[folder]

    def _subpath_import(self, folder: str, spec: str) -> str | None:
        """``#name`` through the nearest package.json's ``imports``."""
        while True:
            data = self._manifest(folder)
            if isinstance(data, dict) and "imports" in data:
                return self._mapped(folder, data.get("imports"), spec)
            if not folder:
                return None
            folder = posixpath.dirname(folder)

    def _workspace_package(self, spec: str) -> str | None:
        """A bare specifier naming one of the root's own packages (a monorepo's
        workspaces): through its ``exports``, else its entry point or subpath."""
        parts = spec.split("/")
        size = 2 if spec.startswith("@") else 1
        name, subpath = "/".join(parts[:size]), "/".join(parts[size:])
        folder = self.packages.get(name)
        if folder is None:
            return None
        data = self._manifest(folder)
        exports = data.get("exports") if isinstance(data, dict) else None
        if exports is not None:
            if isinstance(exports, str | list) or (
                    isinstance(exports, dict) and not any(k.startswith(".") for k in exports)):
                exports = {".": exports}  # the package's only entry point
            return self._mapped(folder, exports, f"./{subpath}" if subpath else ".")
        if subpath:
            return self._file_or_folder(posixpath.join(folder, subpath))
        return self._file_or_folder(folder or ".")

    def _mapped(self, folder: str, mapping: Any, key: str) -> str | None:
        """``key`` through an ``exports`` / ``imports`` map (exact keys, then the pattern
        with the longest prefix), its target resolved in ``folder``."""
        if not isinstance(mapping, dict):
            return None
        target: Any = mapping.get(key)
        star = None
        if target is None:
            best = -1
            for pattern, value in mapping.items():
                head, wildcard, tail = pattern.partition("*")
                fits = key.startswith(head) and key.endswith(tail) and len(key) >= len(
                    head + tail)
                if wildcard and fits and len(head) > best:
                    best, target = len(head), value
                    star = key[len(head): len(key) - len(tail)]
        return self._target(folder, target, star)

    def _target(self, folder: str, target: Any, star: str | None) -> str | None:
        if isinstance(target, str):
            if star is not None:
                target = target.replace("*", star)
            return self._file_or_folder(posixpath.join(folder, target)) if target.startswith(
                "./") else None
        if isinstance(target, list):
            for item in target:
                if (found := self._target(folder, item, star)) is not None:
                    return found
            return None
        if isinstance(target, dict):
            for condition in CONDITIONS:
                if condition in target:
                    found = self._target(folder, target[condition], star)
                    if found is not None:
                        return found
        return None

    def _file_or_folder(self, joined: str) -> str | None:
        base = posixpath.normpath(joined)
        if base.startswith("../") or base == "..":
            return None
        base = "" if base == "." else base
        if base in self.files:
            return base
        for js, swaps in _JS_TO_TS.items():
            if base.endswith(js):
                for ts in swaps:
                    if (candidate := base[: -len(js)] + ts) in self.files:
                        return candidate
        for ext in EXTENSIONS:
            if (candidate := base + ext) in self.files:
                return candidate
        prefix = f"{base}/" if base else ""
        main = self._package_entry(prefix)
        if main is not None:
            return main
        for ext in EXTENSIONS:
            if (candidate := f"{prefix}index{ext}") in self.files:
                return candidate
        return None

    def _package_entry(self, prefix: str) -> str | None:
        """The file a folder's package.json names (``types``, ``typings``, ``main``)."""
        data = self._manifest(prefix.rstrip("/"))
        if not isinstance(data, dict):
            return None
        for key in ("types", "typings", "main"):
            value = data.get(key)
            if isinstance(value, str) and value:
                joined = posixpath.normpath(posixpath.join(prefix or ".", value))
                if joined in self.files:
                    return joined
                for ext in EXTENSIONS:
                    if joined + ext in self.files:
                        return joined + ext
        return None

    def _config_for(self, folder: str) -> TsConfig | None:
        """The nearest configuration file's settings at or above ``folder``."""
        found = self._config_path(folder)
        return self._load_config(found) if found is not None else None

    def _config_path(self, folder: str) -> str | None:
        if folder in self._nearest:
            return self._nearest[folder]
        found = None
        for name in CONFIG_NAMES:
            candidate = posixpath.join(folder, name) if folder else name
            if (self.root / candidate).is_file():
                found = candidate
                break
        if found is None and folder:
            found = self._config_path(posixpath.dirname(folder))
        self._nearest[folder] = found
        return found

    def _load_config(self, rel: str) -> TsConfig | None:
        if rel not in self._configs:
            self._configs[rel] = None  # an ``extends`` cycle ends here
            self._configs[rel] = self._read_config(rel, depth=0)
        return self._configs[rel]

    def _read_config(self, rel: str, depth: int) -> TsConfig | None:
        try:
            data = read_jsonc((self.root / rel).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        here = posixpath.dirname(rel)
        inherited = TsConfig(None, ())
        extends = data.get("extends")
        for parent in [extends] if isinstance(extends, str) else (
                extends if isinstance(extends, list) else []):
            if isinstance(parent, str) and parent.startswith(("./", "../")) and depth < 16:
                target = posixpath.normpath(posixpath.join(here, parent))
                if not target.endswith(".json"):
                    target += ".json"
                base = self._read_config(target, depth + 1)
                if base is not None:  # later entries of a list override earlier ones
                    inherited = TsConfig(base.base_url or inherited.base_url,
                                         base.paths or inherited.paths)
        options = data.get("compilerOptions")
        options = options if isinstance(options, dict) else {}
        base_url = inherited.base_url
        raw_base = options.get("baseUrl")
        if isinstance(raw_base, str):
            base_url = _root_relative(here, raw_base)
        paths = inherited.paths
        raw_paths = options.get("paths")
        if isinstance(raw_paths, dict):
            # Targets are relative to baseUrl when there is one, else to this file's folder.
            anchor = base_url if base_url is not None else here
            paths = tuple(
                (pattern, tuple(_root_relative(anchor, t) for t in targets
                                if isinstance(t, str)))
                for pattern, targets in raw_paths.items()
                if isinstance(pattern, str) and isinstance(targets, list))
        return TsConfig(base_url, paths)


def _root_relative(folder: str, path: str) -> str:
    joined = posixpath.normpath(posixpath.join(folder or ".", path))
    return "" if joined == "." else joined


def _path_targets(paths: Sequence[tuple[str, tuple[str, ...]]], spec: str) -> list[str]:
    """The ``paths`` targets ``spec`` maps to: an exact pattern first, then the wildcard
    pattern with the longest prefix (the compiler's rule)."""
    best: tuple[int, str, tuple[str, ...]] | None = None
    for pattern, targets in paths:
        if "*" not in pattern:
            if pattern == spec:
                return list(targets)
            continue
        head, _, tail = pattern.partition("*")
        fits = spec.startswith(head) and spec.endswith(tail) and len(spec) >= len(head + tail)
        if fits and (best is None or len(head) > best[0]):
            best = (len(head), spec[len(head): len(spec) - len(tail)], targets)
    if best is None:
        return []
    _, star, targets = best
    return [t.replace("*", star, 1) for t in targets]
