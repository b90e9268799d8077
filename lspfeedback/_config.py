"""Where the workspace is, and what its ``[tool.lspfeedback]`` table asks for.

    [tool.lspfeedback]           # in the project's pyproject.toml
    servers = ["pyright", "ruff"]
    timeout = 10.0
    max_dependents = 100
    exclude = ["build/**", "generated/*.py"]
    python = ".venv/bin/python"  # used only with --trust-workspace: the workspace chose it

The root, when ``--root`` is not given, is the nearest directory at or above the given paths
(or the current directory) holding ``pyproject.toml``, ``.git`` or a running daemon's
``.lspfeedback/daemon.json``. Command-line flags win over the table; an unknown key or a value
of the wrong type is a `ConfigError` naming the known keys. Standard library only: the warm
``check`` path imports this module.
"""

from __future__ import annotations

import fnmatch
import os
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lspfeedback._exceptions import LspFeedbackError

ROOT_MARKERS = ("pyproject.toml", ".git", os.path.join(".lspfeedback", "daemon.json"))
DEFAULT_TIMEOUT = 10.0
"""`VerifierOptions.timeout`'s default (a test pins them equal: this module stays light)."""
DEFAULT_MAX_DEPENDENTS = 100
"""`VerifierOptions.max_dependents`' default (pinned by the same test)."""
KNOWN_KEYS = ("exclude", "max_dependents", "python", "servers", "timeout")


class ConfigError(LspFeedbackError, ValueError):
    """A ``[tool.lspfeedback]`` table that cannot be used (says which file, key and why)."""


@dataclass(frozen=True)
class Config:
    """The ``[tool.lspfeedback]`` table of a root (every field None or empty when absent)."""

    path: Path | None = None
    """The pyproject.toml it was read from (None: there is none, or it has no table)."""
    servers: tuple[str, ...] | None = None
    timeout: float | None = None
    max_dependents: int | None = None
    python: str | None = None
    exclude: tuple[str, ...] = field(default=())

    def excluded(self, rel: str) -> bool:
        """Whether the root-relative posix path ``rel`` matches an ``exclude`` pattern."""
        return any(fnmatch.fnmatchcase(rel, pattern) or rel.startswith(pattern.rstrip("/") + "/")
                   for pattern in self.exclude)


def find_root(paths: Sequence[str | os.PathLike[str]] = (), cwd: str | os.PathLike[str] | None = None
              ) -> Path:
    """The workspace root for ``paths`` (or ``cwd``): the nearest directory at or above the
    first of them holding a root marker; ``cwd`` itself when none does."""
    here = Path(cwd if cwd is not None else os.getcwd()).absolute()
    start = Path(os.path.abspath(os.path.join(here, paths[0]))) if paths else here
    if not start.is_dir():
        start = start.parent
    for directory in (start, *start.parents):
        if any((directory / marker).exists() for marker in ROOT_MARKERS):
            return directory
    return here


def load_config(root: str | os.PathLike[str]) -> Config:
    """``ROOT/pyproject.toml``'s ``[tool.lspfeedback]`` table; an empty `Config` without one."""
    path = Path(root) / "pyproject.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    table = data.get("tool", {}).get("lspfeedback")
    if table is None:
        return Config()
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.lspfeedback] must be a table")
    return _parse(path, table)


def _parse(path: Path, table: dict[str, Any]) -> Config:
    unknown = sorted(set(table) - set(KNOWN_KEYS))
    if unknown:
        raise ConfigError(f"{path}: unknown key{'s' if len(unknown) > 1 else ''} "
                          f"{', '.join(unknown)} in [tool.lspfeedback]; known keys: "
                          f"{', '.join(KNOWN_KEYS)}")

    def strings(key: str) -> tuple[str, ...] | None:
        value = table.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{path}: [tool.lspfeedback] {key} must be a list of strings, "
                              f"not {value!r}")
        return tuple(value)

    timeout = table.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int | float)
                                or timeout <= 0):
        raise ConfigError(f"{path}: [tool.lspfeedback] timeout must be a positive number of "
                          f"seconds, not {timeout!r}")
    bound = table.get("max_dependents")
    if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int) or bound < 0):
        raise ConfigError(f"{path}: [tool.lspfeedback] max_dependents must be an integer, 0 or "
                          f"more, not {bound!r}")
    python = table.get("python")
    if python is not None and not isinstance(python, str):
        raise ConfigError(f"{path}: [tool.lspfeedback] python must be a path (a string)")
    servers = strings("servers")
    if servers == ():
        raise ConfigError(f"{path}: [tool.lspfeedback] servers must name at least one server")
    return Config(path=path, servers=servers,
                  timeout=float(timeout) if timeout is not None else None,
                  max_dependents=bound, python=python, exclude=strings("exclude") or ())
