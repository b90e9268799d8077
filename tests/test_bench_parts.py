"""The benchmark's building blocks: the synthetic project, edit scripts and the floor client.

Real tools throughout (ruff and pyright CLIs, the ruff server), one at a time. Nothing here
asserts how fast anything is: the floor client must only answer once per edit.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from lspfeedback import _cold as cold
from lspfeedback._bench.edit_scripts import FIX, KINDS, EditStep, make_script
from lspfeedback._bench.floor import measure_floor, server_setup
from lspfeedback.servers import get

from .conftest import FIXTURES, TIMEOUT

SHOP_FILES = ["shop/pricing.py", "shop/cart.py", "shop/checkout.py"]


def _load_synth() -> ModuleType:
    # fixtures/ is not a package: load the generator from its file.
    spec = importlib.util.spec_from_file_location("synth_fixture", FIXTURES / "synth.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


synth = _load_synth()


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def synth100(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One 100-module project for the tests that only read it (a synth.SynthProject)."""
    return synth.generate(tmp_path_factory.mktemp("synth") / "p", 100, seed=1)


# ---- synthetic project -----------------------------------------------------------------------


def test_synth_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    synth.generate(tmp_path / "a", 100, seed=1)
    synth.generate(tmp_path / "b", 100, seed=1)
    synth.generate(tmp_path / "c", 100, seed=2)
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    assert _tree(tmp_path / "a") != _tree(tmp_path / "c")


@pytest.mark.parametrize("modules", [20, 100, 1000, 5000])
def test_synth_writes_exactly_the_modules_asked_for(tmp_path: Path, modules: int) -> None:
    project = synth.generate(tmp_path, modules, seed=3)
    assert len(list((tmp_path / "synth").rglob("*.py"))) == modules == project.modules
    for rel in (*project.core, *project.middle, *project.leaves):
        assert (tmp_path / rel).is_file(), rel
    assert project.core and project.middle and project.leaves


def test_synth_refuses_a_used_destination_and_tiny_sizes(tmp_path: Path) -> None:
    synth.generate(tmp_path, 20, seed=1)
    with pytest.raises(FileExistsError):
        synth.generate(tmp_path, 20, seed=1)
    with pytest.raises(ValueError):
        synth.generate(tmp_path / "small", 5, seed=1)


def test_synth_cli(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(FIXTURES / "synth.py"), str(tmp_path), "--modules", "30", "--seed", "4"],
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert len(list((tmp_path / "synth").rglob("*.py"))) == 30


def test_synth_import_graph_core_imported_by_many_leaves_by_none(synth100: Any) -> None:
    project = synth100
    ruff = get("ruff").executable("ruff")
    proc = subprocess.run(
        [ruff, "analyze", "graph", "--direction", "dependents", "--preview"],
        cwd=project.root, capture_output=True, text=True, check=True, timeout=60,
    )
    dependents: dict[str, list[str]] = json.loads(proc.stdout)
    leaves = [p for p in dependents if "/leaf/" in p and not p.endswith("__init__.py")]
    assert len(leaves) > 50
    assert all(dependents[leaf] == [] for leaf in leaves)  # nothing imports a leaf
    # The core's data model is imported by (nearly) everything; every leaf uses the core.
    assert len(dependents["synth/core/models.py"]) >= len(leaves)
    core_users = {user for core in project.core for user in dependents[core]}
    assert set(leaves) <= core_users
    # The most imported middle module is imported by several leaves.
    assert len(dependents[project.middle[0]]) >= 3


def test_synth_is_clean_under_the_real_ruff_and_pyright(synth100: Any) -> None:
    assert cold.ruff(synth100.root).diagnostics == ()
    assert cold.pyright(synth100.root).diagnostics == ()


# ---- edit scripts ----------------------------------------------------------------------------


def _check_pairs(root: Path, steps: list[EditStep]) -> None:
    for mistake, fix in zip(steps[0::2], steps[1::2], strict=True):
        original = (root / mistake.path).read_bytes().decode("utf-8")
        assert mistake.kind in KINDS and mistake.description.startswith(mistake.kind)
        assert mistake.new_text != original
        assert (fix.kind, fix.path, fix.new_text) == (FIX, mistake.path, original)
        # A minimal text edit: everything but a short span is the original, byte for byte.
        prefix = 0
        while prefix < min(len(original), len(mistake.new_text)) and \
                original[prefix] == mistake.new_text[prefix]:
            prefix += 1
        suffix = 0
        while suffix < min(len(original), len(mistake.new_text)) - prefix and \
                original[-1 - suffix] == mistake.new_text[-1 - suffix]:
            suffix += 1
        assert len(original) - prefix - suffix < 200, mistake.description


def test_edit_scripts_are_deterministic_paired_and_minimal(shop: Path) -> None:
    steps = make_script(shop, SHOP_FILES, seed=5, count=10)
    assert steps == make_script(shop, SHOP_FILES, seed=5, count=10)
    assert steps != make_script(shop, SHOP_FILES, seed=6, count=10)
    assert len(steps) == 20
    assert {s.path for s in steps} == set(SHOP_FILES)  # widely imported files and leaves
    assert {s.kind for s in steps[0::2]} == set(KINDS)
    _check_pairs(shop, steps)


def test_edit_scripts_keep_crlf_and_non_ascii(tmp_path: Path) -> None:
    text = (
        '"""Caf\u00e9 \U0001f600."""\r\n\r\nimport sys\r\n\r\n\r\n'
        'def label(name: str, width: int) -> str:\r\n'
        '    return "\u00e9\U0001f600" + name[:width]\r\n\r\n\r\n'
        'def main() -> int:\r\n'
        '    print(label("\U0001f600\U0001f600", 3), file=sys.stderr)\r\n'
        '    return 0\r\n'
    )
    (tmp_path / "mod.py").write_bytes(text.encode("utf-8"))
    steps = make_script(tmp_path, ["mod.py"], seed=1, count=12)
    assert {s.kind for s in steps[0::2]} == set(KINDS)
    _check_pairs(tmp_path, steps)
    for step in steps:
        assert "\n" not in step.new_text.replace("\r\n", "")
    kinds_only = make_script(tmp_path, ["mod.py"], seed=1, count=2, kinds=["syntax"])
    assert [s.kind for s in kinds_only] == ["syntax", FIX, "syntax", FIX]
    with pytest.raises(ValueError):
        make_script(tmp_path, ["mod.py"], seed=1, count=1, kinds=["nonsense"])


def test_every_mistake_makes_the_cold_clis_complain(shop: Path) -> None:
    assert cold.pyright(shop).diagnostics == () and cold.ruff(shop).diagnostics == ()
    steps = make_script(shop, SHOP_FILES, seed=1, count=6)
    assert {s.kind for s in steps[0::2]} == set(KINDS)
    for step in steps:
        (shop / step.path).write_bytes(step.new_text.encode("utf-8"))
        if step.kind == FIX:
            continue
        found = cold.ruff(shop).diagnostics
        if step.kind not in ("unused_import",):  # an unused import is a lint finding only
            found += cold.pyright(shop).diagnostics
        assert found, step.description
    assert cold.pyright(shop).diagnostics == () and cold.ruff(shop).diagnostics == ()


# ---- floor client ----------------------------------------------------------------------------


@pytest.mark.parametrize("pull", [None, False])
def test_floor_client_times_every_edit_on_the_real_ruff_server(
    tmp_path: Path, pull: bool | None
) -> None:
    (tmp_path / "ruff.toml").write_text("")  # keep any outer configuration out
    (tmp_path / "tiny.py").write_text("import os\n")
    texts = ["import os\nx = 1\n", "x = (\n", "import os\n\nprint(os.sep)\n"]
    command, settings, env = server_setup("ruff", tmp_path)
    latencies = asyncio.run(measure_floor(
        command, tmp_path, "tiny.py", texts, pull=pull, settings=settings, env=env,
        timeout=TIMEOUT,
    ))
    assert len(latencies) == len(texts)
    assert all(ms > 0 for ms in latencies)


def test_check_wall_section_names_both_sides_and_the_goal() -> None:
    from lspfeedback._bench.check_wall import markdown

    doc = {"check": {"n": 20, "p50": 117.2, "p95": 147.0, "max": 186.0},
           "python": {"n": 20, "p50": 20.1, "p95": 29.0, "max": 35.0},
           "exit_codes": [0], "load": 1.4, "samples": 20, "date": "2026-12-01"}
    text = markdown(doc)
    assert "| `lspfeedback check` (warm daemon) | 117 | 147 | 186 |" in text
    assert "| `python -c pass` | 20 | 29 | 35 |" in text
    assert text.startswith("<!-- check-wall:start -->") and "150 ms" in text
