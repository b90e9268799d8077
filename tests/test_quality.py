"""The package and the adapters type-check clean with pyright and lint clean with ruff, and
the public API is fully typed (pyright --verifytypes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from lspfeedback.servers import get

from .conftest import REPO

CHECKED = ["lspfeedback", "adapters"]


def _pyright_env() -> dict[str, str]:
    # --verifytypes finds packages through the `python` on PATH (it ignores --pythonpath), and
    # pyright cannot follow setuptools' editable-install finder: hence PATH and PYTHONPATH.
    return {**os.environ, "PYRIGHT_PYTHON_IGNORE_WARNINGS": "1",
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
            "PYTHONPATH": str(REPO)}


def test_pyright_is_clean_on_the_package_and_adapters() -> None:
    proc = subprocess.run(
        [get("pyright").executable("pyright"), "--pythonpath", sys.executable,
         *[name for name in CHECKED if any((REPO / name).rglob("*.py"))]],
        cwd=REPO, capture_output=True, text=True, env=_pyright_env(), check=False, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout


def test_ruff_is_clean_on_package_adapters_and_tests() -> None:
    proc = subprocess.run(
        [get("ruff").executable("ruff"), "check", "--output-format", "concise", *CHECKED, "tests"],
        cwd=REPO, capture_output=True, text=True, check=False, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout


def test_public_api_is_fully_typed(tmp_path: Path) -> None:
    # Run outside the repository so that only the importable package is judged.
    proc = subprocess.run(
        [get("pyright").executable("pyright"), "--verifytypes", "lspfeedback", "--ignoreexternal",
         "--outputjson"],
        cwd=tmp_path, capture_output=True, text=True, env=_pyright_env(), check=False,
        timeout=300,
    )
    report = json.loads(proc.stdout)["typeCompleteness"]
    assert report["packageRootDirectory"] == str(REPO / "lspfeedback")
    incomplete = {s["name"]: [d["message"] for d in s["diagnostics"]]
                  for s in report["symbols"] if not s["isTypeKnown"] and s["diagnostics"]}
    assert incomplete == {}
    assert report["exportedSymbolCounts"]["withUnknownType"] == 0
    assert report["exportedSymbolCounts"]["withAmbiguousType"] == 0
    assert report["completenessScore"] == 1.0
