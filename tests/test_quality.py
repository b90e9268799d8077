"""The package type-checks clean with pyright and lints clean with ruff (its own tools)."""

from __future__ import annotations

import os
import subprocess
import sys

from lspfeedback.servers import get

from .conftest import REPO


def test_pyright_is_clean_on_the_package() -> None:
    env = {**os.environ, "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"}
    proc = subprocess.run(
        [get("pyright").executable("pyright"), "--pythonpath", sys.executable, "lspfeedback"],
        cwd=REPO, capture_output=True, text=True, env=env, check=False, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout


def test_ruff_is_clean_on_package_and_tests() -> None:
    proc = subprocess.run(
        [get("ruff").executable("ruff"), "check", "--output-format", "concise", "lspfeedback", "tests"],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout
