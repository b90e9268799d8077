"""Codemods: what proposes the candidate edits for each repository.

A codemod is any callable ``codemod(repo: Path) -> list of candidates``, each candidate in any
edit format `verify` accepts (path -> full text, a unified diff, search/replace blocks, an LSP
``WorkspaceEdit``). It is the caller's own code and runs in the driver; the repositories'
code is never run. On the command line a codemod is named by

- an entry point ``package.module:function`` or ``path/to/file.py:function``, or
- a directory of patches: ``DIR/<repository name>/*`` are that repository's candidates, one
  file each (a unified diff or search/replace blocks), sorted by name; a repository without a
  folder of its own gets the files directly in ``DIR`` (one codemod for all).
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from lspfeedback.edits import Changes

Codemod = Callable[[Path], Sequence[Changes]]
"""``codemod(repo) -> candidates``."""

class CodemodError(Exception):
    """A codemod could not be loaded (the message says what was looked for)."""


class PatchDirectory:
    """A directory of patches as a codemod (see the module docstring)."""

    def __init__(self, directory: str | Path) -> None:
        self.directory: Path = Path(directory).resolve()
        if not self.directory.is_dir():
            raise CodemodError(f"{self.directory} is not a directory of patches")

    def __repr__(self) -> str:
        return f"<PatchDirectory {self.directory}>"

    def __call__(self, repo: Path) -> list[Changes]:
        own = self.directory / Path(repo).name
        folder = own if own.is_dir() else self.directory
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        return [p.read_text(encoding="utf-8") for p in files]


def load_codemod(spec: str) -> Codemod:
    """The codemod ``spec`` names: a patch directory, ``module:function`` or
    ``file.py:function``. Raises `CodemodError` saying what was not found."""
    if Path(spec).is_dir():
        return PatchDirectory(spec)
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise CodemodError(f"codemod {spec!r}: give a directory of patches, 'module:function' "
                           "or 'path/to/file.py:function'")
    module = _load_file(Path(target)) if target.endswith(".py") else _import(target)
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise CodemodError(f"codemod {spec!r}: {target} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise CodemodError(f"codemod {spec!r}: {attr} is not callable")
    return cast(Codemod, obj)


def _import(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as error:
        raise CodemodError(f"codemod module {name!r} cannot be imported: {error}") from None


def _load_file(path: Path) -> Any:
    path = path.resolve()
    if not path.is_file():
        raise CodemodError(f"codemod file {path} does not exist")
    name = f"lspfeedback_codemod_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CodemodError(f"codemod file {path} cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look their module up
    spec.loader.exec_module(module)
    return module
