"""The cold baseline runs the real CLIs and never edits anything, whatever the project's config."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lspfeedback import _cold as cold

UNUSED = "import os\n\nx: int = 1\n"


def tree(root: Path) -> dict[str, str]:
    """Every file under ``root`` with the hash of its bytes (a new file shows up too)."""
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture
def fixing_project(tmp_path: Path) -> Path:
    """A project whose ruff config rewrites files on every ``ruff check`` and excludes one."""
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0"\n\n'
        '[tool.ruff]\nfix = true\nextend-exclude = ["skipped.py"]\n'
    )
    (root / "mod.py").write_text(UNUSED + 'y: int = "not an int"\n')
    (root / "skipped.py").write_text(UNUSED)
    return root


def test_ruff_on_explicit_paths_neither_fixes_nor_checks_excluded_files(fixing_project: Path) -> None:
    before = tree(fixing_project)
    run = cold.ruff(fixing_project, ["mod.py", "skipped.py"])
    assert tree(fixing_project) == before
    assert [(d.path, d.line, d.code) for d in run.diagnostics] == [("mod.py", 1, "F401")]


def test_ruff_on_the_whole_project_neither_fixes_nor_checks_excluded_files(
    fixing_project: Path,
) -> None:
    before = tree(fixing_project)
    run = cold.ruff(fixing_project)
    assert tree(fixing_project) == before
    assert [(d.path, d.line, d.code) for d in run.diagnostics] == [("mod.py", 1, "F401")]


def test_pyright_leaves_the_tree_unchanged(fixing_project: Path) -> None:
    before = tree(fixing_project)
    run = cold.pyright(fixing_project, ["mod.py"])
    assert tree(fixing_project) == before
    assert [(d.path, d.line, d.code) for d in run.diagnostics] == [
        ("mod.py", 4, "reportAssignmentType")
    ]
