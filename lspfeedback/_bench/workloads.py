"""Benchmark workloads: real projects from PyPI sdists, synthetic projects, any local root.

Real projects are downloaded at run time (``pip download --no-binary :all:``) into a cache
directory and unpacked there; nothing is vendored. The synthetic generator lives in
``fixtures/synth.py`` and is deterministic from its seed.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from lspfeedback._shadow import cache_dir
from lspfeedback.servers import get

DEFAULT_PROJECTS = ("httpx==0.28.1", "rich==15.0.0", "django==5.2.19")
"""Small (~60 files), medium (~100) and large (~900): the sizes the issue asks for."""

SYNTH_SIZES = (100, 1000, 5000)


@dataclass(frozen=True)
class Workload:
    """A project to edit: ``root`` is the workspace, ``package`` the folder checked by the
    cold CLIs, ``edit_files`` the files the edit script changes (widely imported ones and
    leaves)."""

    name: str
    root: Path
    package: str
    edit_files: tuple[str, ...]
    files: int
    """Python files in ``package``."""


def real_project(requirement: str, cache: Path | None = None) -> Workload:
    """``NAME==VERSION`` from its PyPI source distribution, unpacked once into the cache."""
    name, _, version = requirement.partition("==")
    if not version:
        raise ValueError(f"pin a version: {requirement!r} (e.g. httpx==0.28.1)")
    cache = cache or cache_dir()
    target = cache / "projects" / f"{name}-{version}"
    if not (target / ".complete").exists():
        downloads = cache / "sdists"
        downloads.mkdir(parents=True, exist_ok=True)
        archive = _download(requirement, downloads)
        _unpack(archive, target)
        (target / ".complete").write_text(requirement)
    root = _single_child(target)
    package = _package_dir(root, name)
    return _workload(requirement, root, package)


def synthetic(modules: int, seed: int = 0, cache: Path | None = None) -> Workload:
    """A generated project of ``modules`` modules (fixtures/synth.py), made once per seed."""
    cache = cache or cache_dir()
    root = cache / "synth" / f"synth-{modules}-seed{seed}"
    synth = _synth_module()
    if not (root / ".complete").exists():
        if root.exists():
            import shutil

            shutil.rmtree(root)
        synth.generate(root, modules, seed)
        (root / ".complete").write_text("ok")
    return _workload(f"synth-{modules}", root, "synth")


def local(root: Path, package: str | None = None) -> Workload:
    """Any local project; ``package`` defaults to the root itself."""
    root = root.resolve()
    return _workload(root.name, root, package or ".")


def _workload(name: str, root: Path, package: str) -> Workload:
    files = sorted(p.relative_to(root).as_posix() for p in (root / package).rglob("*.py"))
    return Workload(name, root, package, pick_edit_files(root, package), len(files))


def pick_edit_files(root: Path, package: str, widely: int = 2, leaves: int = 2) -> tuple[str, ...]:
    """The most imported modules and some leaves (imported by nothing), deterministically."""
    ruff = get("ruff").executable("ruff")
    proc = subprocess.run([ruff, "analyze", "graph", "--direction", "dependents", "--preview",
                           package], cwd=root, capture_output=True, text=True, check=True)
    graph: dict[str, list[str]] = json.loads(proc.stdout or "{}")
    modules = [p for p in graph if p.endswith(".py") and not p.endswith("__init__.py")]
    by_use = sorted(modules, key=lambda p: (-len(graph[p]), p))
    leaf = sorted(p for p in modules if not graph[p])
    # Spread the leaves over the project rather than taking the first few of one folder.
    step = max(1, len(leaf) // max(1, leaves))
    picked = by_use[:widely] + leaf[::step][:leaves]
    return tuple(dict.fromkeys(picked))


def _download(requirement: str, dest: Path) -> Path:
    name, _, version = requirement.partition("==")
    prefix = f"{name}_{version}".lower().replace("-", "_")
    for existing in dest.iterdir():
        if existing.name.lower().replace("-", "_").startswith(prefix):
            return existing
    before = set(dest.iterdir())
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--no-binary", ":all:", "-d", str(dest), requirement],
                   check=True, capture_output=True)
    new = set(dest.iterdir()) - before
    if not new:
        raise RuntimeError(f"pip download {requirement} produced no file in {dest}")
    return new.pop()


def _unpack(archive: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    if archive.name.endswith(".zip"):
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(target)
    else:
        with tarfile.open(archive) as tf:
            tf.extractall(target, filter="data")


def _single_child(target: Path) -> Path:
    children = [p for p in target.iterdir() if p.is_dir()]
    return children[0] if len(children) == 1 else target


def _package_dir(root: Path, name: str) -> str:
    for candidate in (name, name.replace("-", "_"), f"src/{name}", f"src/{name.replace('-', '_')}"):
        if (root / candidate / "__init__.py").exists():
            return candidate
    raise RuntimeError(f"no package folder for {name} in {root}")


def _synth_module() -> ModuleType:
    path = Path(__file__).resolve().parents[2] / "fixtures" / "synth.py"
    if not path.exists():
        raise RuntimeError(f"the synthetic generator {path} is missing: run from a checkout")
    spec = importlib.util.spec_from_file_location("lspfeedback_fixtures_synth", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module
