"""Checking code never runs it: a canary workspace whose interpreter, ``.pth`` file,
``sitecustomize``, ``conftest.py`` and ``setup.py`` each leave a marker if anything executes
them, checked by every server, the CLI and the daemon's engine. And diagnostics stay as good:
imports that resolve only through the project's venv still resolve (it is read, not run)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from lspfeedback import ServerNotFound, Verifier, servers
from lspfeedback._environment import find_environment
from lspfeedback._sandbox import sandbox_for

from .conftest import TIMEOUT

pytestmark = pytest.mark.slow

MOD = "pkg/mod.py"
USE = "import canarylib\n\nTOTAL = canarylib.add(1)\n"  # add() takes two arguments


def _fake_python(path: Path, marker: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho ran > {marker}\nexec {sys.executable} \"$@\"\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    root = tmp_path / "canary"
    marks = tmp_path / "markers"
    marks.mkdir()
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / MOD).write_text(USE)
    # A real venv (no pip: fast), holding the one package the project imports...
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root / ".venv")],
                   check=True)
    env = find_environment(root)
    assert env is not None and env.site_packages
    site = env.site_packages[0]
    (site / "canarylib").mkdir()
    (site / "canarylib" / "__init__.py").write_text(
        "def add(a: int, b: int) -> int:\n    return a + b\n")
    # ... and code that runs whenever that environment's interpreter starts.
    (site / "evil.pth").write_text(f"import pathlib; pathlib.Path({str(marks / 'pth')!r}).touch()\n")
    (site / "sitecustomize.py").write_text(
        f"import pathlib\npathlib.Path({str(marks / 'sitecustomize')!r}).touch()\n")
    # Its interpreter, and a second environment's, are programs of the workspace's choosing.
    (root / ".venv" / "bin" / "python").unlink()
    _fake_python(root / ".venv" / "bin" / "python", marks / "venv-python")
    (root / "venv").mkdir()
    (root / "venv" / "pyvenv.cfg").write_text("home = /usr/bin\nversion = 3.11.0\n")
    _fake_python(root / "venv" / "bin" / "python", marks / "venv2-python")
    # Configuration pointing every server at them, and the usual executable project files.
    (root / "pyproject.toml").write_text(
        '[project]\nname = "canary"\nversion = "0"\n\n'
        '[tool.pyright]\nvenvPath = "."\nvenv = ".venv"\n\n'
        '[tool.ty.environment]\npython = ".venv"\n')
    (root / "conftest.py").write_text(f"open({str(marks / 'conftest')!r}, 'w')\n")
    (root / "setup.py").write_text(f"open({str(marks / 'setup')!r}, 'w')\n")
    return root


def markers(root: Path) -> list[str]:
    return sorted(p.name for p in (root.parent / "markers").iterdir())


@pytest.mark.parametrize("server", sorted(servers.available()))
def test_no_server_runs_anything_from_the_workspace(canary: Path, server: str) -> None:
    spec = servers.get(server)
    try:
        spec.command(servers.ServerContext(root=canary, python=None))
    except ServerNotFound as exc:
        pytest.skip(f"{server} is not installed: {exc}")
    with Verifier(canary, servers=[server], timeout=TIMEOUT, replicas=1) as v:
        assert v.python is None and v.engine.environment is not None
        report = v.verify({MOD: USE + "\nMORE = canarylib.add(1, 2)\n"})
    assert markers(canary) == [], (server, markers(canary))
    assert report.status != "unknown", report


def test_imports_resolve_through_the_venv_that_is_read_not_run(canary: Path) -> None:
    with Verifier(canary, servers=["pyright"], timeout=TIMEOUT, replicas=1) as v:
        report = v.diagnostics([MOD])
    codes = [d.code for d in report.diagnostics]
    assert codes == ["reportCallIssue"], report  # resolved: the wrong call, not a missing import
    assert markers(canary) == []


def test_trusting_the_workspace_runs_its_interpreter(canary: Path) -> None:
    # The opt-in exists and does what it says (so the default is a real choice)...
    with Verifier(canary, servers=["pyright"], timeout=TIMEOUT, replicas=1,
                  trust_workspace=True, sandbox="off") as v:
        assert v.python == str(canary / ".venv" / "bin" / "python")
        v.diagnostics([MOD])
    assert "venv-python" in markers(canary)


def test_even_a_trusted_interpreter_cannot_write_from_the_sandbox(canary: Path) -> None:
    if not sandbox_for("auto").active:
        pytest.skip("bubblewrap cannot start on this machine")
    with Verifier(canary, servers=["pyright"], timeout=TIMEOUT, replicas=1,
                  trust_workspace=True) as v:
        v.diagnostics([MOD])  # pyright ran it, inside the sandbox: its write was refused
    assert markers(canary) == []


def test_the_cli_runs_nothing_from_the_workspace(canary: Path) -> None:
    exe = Path(sys.executable).parent / "lspfeedback"
    proc = subprocess.run([str(exe), "verify", "--root", str(canary), "--no-daemon", "--json",
                           MOD], capture_output=True, text=True, timeout=300, cwd=canary, check=False,
                          env={**os.environ, "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"})
    assert proc.returncode in (0, 1), proc.stderr
    assert markers(canary) == []


def test_the_daemon_runs_nothing_from_the_workspace(canary: Path, tmp_path: Path) -> None:
    from lspfeedback import Client

    from .test_daemon import serve_args, start_daemon

    running = start_daemon(canary, serve_args(canary, "--port", "0"), tmp_path)
    try:
        with Client(canary) as client:
            report = client.verify({MOD: USE + "\nMORE = canarylib.add(1, 2)\n"})
        assert [d.code for d in report.diagnostics if d.source == "pyright"] == ["reportCallIssue"]
    finally:
        running.stop()
    assert markers(canary) == []
