"""The project's Python environment, found by reading files only: checking code never runs it.

A workspace is untrusted. Its ``.venv/bin/python`` may be any program, and a ``.pth`` file or
``sitecustomize.py`` in a real environment runs on every interpreter start, so handing a
server the project's interpreter (pyright and pyrefly run the one they are given to learn its
search paths) executes the workspace. Instead the environment is read: ``pyvenv.cfg`` says a
folder is a virtualenv and which Python it is, its ``site-packages`` are the search paths, and
the path lines of its ``.pth`` files (never their ``import`` lines) add editable installs.
Servers get search paths; the interpreter they run, if any, is the trusted one running
lspfeedback. Running the project's interpreter is an explicit opt-in (``python=`` or
``trust_workspace=True``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

ENVIRONMENT_DIRS = (".venv", "venv", "env", ".env")
"""Where a project keeps its virtualenv, in the order they are looked for."""


@dataclass(frozen=True)
class PythonEnvironment:
    """A virtualenv found in the workspace, as read from its files."""

    prefix: Path
    """The folder holding ``pyvenv.cfg``."""
    version: str | None
    """``X.Y`` from ``pyvenv.cfg`` (``version`` or ``version_info``), if it says."""
    site_packages: tuple[Path, ...]
    extra_paths: tuple[Path, ...]
    """Folders named by path lines of ``.pth`` files (editable installs), in site order."""

    @property
    def search_paths(self) -> tuple[Path, ...]:
        """Where imports of installed packages resolve: site-packages, then .pth folders."""
        return self.site_packages + self.extra_paths

    @property
    def interpreter(self) -> Path:
        """The environment's interpreter (never run unless the caller trusts the workspace)."""
        return self.prefix / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def find_environment(root: Path) -> PythonEnvironment | None:
    """The first of `ENVIRONMENT_DIRS` in ``root`` that holds a ``pyvenv.cfg``, read."""
    for name in ENVIRONMENT_DIRS:
        prefix = root / name
        config = prefix / "pyvenv.cfg"
        if config.is_file():
            return read_environment(prefix)
    return None


def read_environment(prefix: Path) -> PythonEnvironment:
    """Read the virtualenv at ``prefix`` (see the module docstring); nothing is executed."""
    version = _version(prefix / "pyvenv.cfg")
    candidates = sorted(prefix.glob("lib/python*/site-packages")) + sorted(
        prefix.glob("Lib/site-packages"))
    if version is not None:
        exact = [p for p in candidates if p.parent.name == f"python{version}"]
        candidates = exact or candidates
    site = tuple(p for p in candidates if p.is_dir())
    extra: list[Path] = []
    for folder in site:
        for pth in sorted(folder.glob("*.pth")):
            extra.extend(p for p in _pth_paths(pth, folder) if p not in extra)
    return PythonEnvironment(prefix=prefix, version=version, site_packages=site,
                             extra_paths=tuple(extra))


def _version(config: Path) -> str | None:
    try:
        lines = config.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    values = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip().lower()] = value.strip()
    raw = values.get("version_info") or values.get("version") or ""
    parts = raw.split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 and all(p.isdigit() for p in parts[:2]) else None


def _pth_paths(pth: Path, site: Path) -> list[Path]:
    """The folders a ``.pth`` file adds, as ``site`` would, without running its import lines."""
    try:
        lines = pth.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith(("#", "import ", "import\t")):
            continue
        path = (site / line).resolve() if not Path(line).is_absolute() else Path(line)
        if path.is_dir():
            found.append(path)
    return found
