"""``pip install lspfeedback`` without extras, in a clean virtual environment: the library and
the command line work with only the core dependencies, the commands that need an extra say
which one, and the build prints no setuptools deprecation banner.

One venv for the module (no system site-packages); pip reaches the package index through its
usual configuration and cache. The package is built from a copy of the working tree, so that
no build directory appears in the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import FIXTURES, REPO

pytestmark = pytest.mark.slow

PIP_TIMEOUT = 600
"""Seconds for a pip step: downloads on a cold cache can be slow; warm, it takes seconds."""
RUN_TIMEOUT = 120
NOT_INSTALLED = ("fastapi", "uvicorn", "starlette", "mcp")
"""Distributions of the daemon and mcp extras that a core install must not bring."""
BANNERS = (
    "License classifiers are deprecated",
    "project.license` as a TOML table is deprecated",
    "project.license as a TOML table is deprecated",
    "SetuptoolsDeprecationWarning",
)
_IGNORED = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__",
                                  ".lspfeedback", ".pytest_cache", ".hypothesis", ".cache")


@dataclass(frozen=True)
class Install:
    bin: Path
    build_output: str
    """What ``pip wheel -v`` printed while setuptools built the package (stdout and stderr)."""

    def run(self, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        # A PATH holding only the venv (and the system's tools): nothing of the dev venv.
        env = {**os.environ, "PATH": f"{self.bin}{os.pathsep}/usr/bin:/bin"}
        env.pop("PYTHONPATH", None)
        env.pop("VIRTUAL_ENV", None)
        return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=RUN_TIMEOUT, check=False)


def _pip(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(python), "-m", "pip", *args], capture_output=True, text=True,
                          timeout=PIP_TIMEOUT, check=False)
    assert proc.returncode == 0, f"pip {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="module")
def core(tmp_path_factory: pytest.TempPathFactory) -> Install:
    """lspfeedback with no extras in a fresh venv, built as a wheel from the working tree."""
    base = tmp_path_factory.mktemp("packaging")
    source = base / "src"
    shutil.copytree(REPO, source, ignore=_IGNORED)
    env_dir = base / "venv"
    venv.EnvBuilder(with_pip=True, system_site_packages=False, clear=True).create(env_dir)
    python = env_dir / "bin" / "python"
    wheels = base / "wheels"
    built = _pip(python, "wheel", "--no-deps", "-v", "-w", str(wheels), str(source))
    [wheel] = wheels.glob("lspfeedback-*.whl")
    _pip(python, "install", "--quiet", str(wheel))
    return Install(env_dir / "bin", built.stdout + built.stderr)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    """A copy of fixtures/shop, outside the repository."""
    root = tmp_path / "shop"
    shutil.copytree(FIXTURES / "shop", root)
    return root


def test_build_prints_no_deprecation_banner(core: Install) -> None:
    assert "Successfully built lspfeedback" in core.build_output
    assert [b for b in BANNERS if b in core.build_output] == []


def test_core_install_has_no_web_framework_and_imports_the_library(core: Install,
                                                                   tmp_path: Path) -> None:
    proc = core.run("python", "-c", "import importlib.util, json; print(json.dumps("
                    f"[n for n in {list(NOT_INSTALLED)!r} if importlib.util.find_spec(n)]))",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []
    proc = core.run("python", "-c", "import fastapi", cwd=tmp_path)
    assert proc.returncode == 1 and "No module named 'fastapi'" in proc.stderr
    proc = core.run("python", "-c", "import lspfeedback, sys; from lspfeedback import Verifier, "
                    "Client; print(lspfeedback.__file__)", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    # The installed package, not the repository's.
    assert Path(proc.stdout.strip()).is_relative_to(core.bin.parent)


def test_cli_help_lists_every_command(core: Install, tmp_path: Path) -> None:
    proc = core.run("lspfeedback", "--help", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for command in ("check", "verify", "candidates", "hook", "servers", "serve", "status", "stop",
                    "mcp", "bench"):
        assert command in proc.stdout
    version = core.run("lspfeedback", "--version", cwd=tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("lspfeedback ")


def test_check_works_in_process_without_the_daemon_extra(core: Install, workspace: Path) -> None:
    cart = workspace / "shop" / "cart.py"
    cart.write_text(cart.read_text() + "\n\nundefined_name\n")
    proc = core.run("lspfeedback", "check", "--server", "ruff", "--json", "shop/cart.py",
                    cwd=workspace)
    assert proc.returncode == 1, proc.stderr  # F821, introduced (no git: no earlier state)
    report = json.loads(proc.stdout)
    assert report["via"] == "in-process" and "F821" in [d["code"] for d in report["introduced"]]
    # No daemon extra: none was started, and nothing was left in the workspace.
    assert not (workspace / ".lspfeedback").exists()


def test_verify_works_with_the_core_dependencies(core: Install, workspace: Path) -> None:
    # Without --no-daemon: looking for a daemon (the client, httpx) is part of the core path.
    proc = core.run("lspfeedback", "verify", "--root", ".", "--server", "ruff", "--json",
                    "shop/cart.py", cwd=workspace)
    assert proc.returncode in (0, 1), proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] in ("clean", "errors")
    # The file and its importer: the import graph works too.
    assert report["checked_files"] == ["shop/cart.py", "shop/checkout.py"]
    assert "ruff" in report["timings_ms"]


def test_verify_reports_what_ruff_finds(core: Install, workspace: Path) -> None:
    cart = workspace / "shop" / "cart.py"
    cart.write_text(cart.read_text().replace("from dataclasses", "import json\nfrom dataclasses"))
    proc = core.run("lspfeedback", "verify", "--root", ".", "--server", "ruff", "--json",
                    "shop/cart.py", cwd=workspace)
    assert proc.returncode == 0, proc.stderr  # a warning: exit 1 only with --fail-on warning
    report = json.loads(proc.stdout)
    assert [(d["path"], d["code"]) for d in report["diagnostics"]] == [("shop/cart.py", "F401")]
    assert "json" in report["diagnostics"][0]["message"]


@pytest.mark.parametrize(("command", "extra"), [("serve", "daemon"), ("mcp", "mcp")])
def test_command_needing_an_extra_says_which_to_install(core: Install, workspace: Path,
                                                        command: str, extra: str) -> None:
    proc = core.run("lspfeedback", command, "--root", ".", "--server", "ruff", cwd=workspace)
    assert proc.returncode == 2
    [line] = proc.stderr.splitlines()
    assert f"pip install 'lspfeedback[{extra}]'" in line
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    # Nothing was started: no state file, no daemon left behind.
    assert not (workspace / ".lspfeedback").exists()

