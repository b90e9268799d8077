"""Every ```python block in README.md and docs/ runs, in a fresh interpreter, from a temporary
directory holding a copy of fixtures/ (so that no example can touch the repository)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import FIXTURES, REPO

DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def blocks() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for number, match in enumerate(BLOCK.finditer(doc.read_text()), 1):
            found.append((f"{doc.name}#{number}", match.group(1)))
    return found


@pytest.mark.parametrize(("name", "code"), blocks(), ids=[n for n, _ in blocks()])
def test_code_block_runs(name: str, code: str, tmp_path: Path) -> None:
    shutil.copytree(FIXTURES, tmp_path / "fixtures")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, check=False)
    assert proc.returncode == 0, f"{name} failed:\n{proc.stderr}"


def test_readme_opens_with_the_two_commands() -> None:
    head = (REPO / "README.md").read_text().split("```")[1]
    assert "make demo" in head and "make test" in head


def test_readme_layout_names_every_module() -> None:
    readme = (REPO / "README.md").read_text()
    layout = readme[readme.index("## Layout"):]
    package = REPO / "lspfeedback"
    names = [p.name + ("/" if p.is_dir() else "") for p in package.iterdir()
             if not p.name.startswith("__") and (p.suffix == ".py" or (p / "__init__.py").exists())]
    missing = [name for name in names if name not in layout]
    assert missing == [], f"README's layout section does not mention {missing}"
