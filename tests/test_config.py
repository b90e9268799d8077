"""``[tool.lspfeedback]`` and root discovery: read by the real CLI (flags win, unknown keys are
a usage error naming the known ones), and the light modules' defaults pinned to the engine's.
The end-to-end cases run ruff alone, in-process (about a second each)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lspfeedback import VerifierOptions, languages, servers
from lspfeedback._check import LANGUAGE_SUFFIXES, SERVER_LANGUAGES, SOURCE_SUFFIXES
from lspfeedback._cli import DEFAULT_SERVER_NAMES
from lspfeedback._config import (
    DEFAULT_MAX_DEPENDENTS,
    DEFAULT_TIMEOUT,
    KNOWN_KEYS,
    ConfigError,
    find_root,
    load_config,
)
from lspfeedback._options import DEFAULT_SERVERS


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lspfeedback", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=180, check=False)


def configure(root: Path, table: str) -> None:
    pyproject = root / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n[tool.lspfeedback]\n" + table)


def test_light_defaults_are_the_engines() -> None:
    defaults = VerifierOptions()
    assert (DEFAULT_TIMEOUT, DEFAULT_MAX_DEPENDENTS) == (defaults.timeout, defaults.max_dependents)
    assert DEFAULT_SERVER_NAMES == DEFAULT_SERVERS
    # check's fast path knows languages and servers without importing their registries.
    assert sorted(SOURCE_SUFFIXES) == sorted(languages.suffixes())
    assert LANGUAGE_SUFFIXES == {name: tuple(language.suffixes)
                                 for name, language in languages.available().items()}
    assert SERVER_LANGUAGES == {name: spec.languages for name, spec in servers.available().items()}


def test_root_is_the_nearest_directory_with_a_marker(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    package = tmp_path / "libs" / "pkg"
    (package / "src").mkdir(parents=True)
    (package / "pyproject.toml").write_text("[project]\nname = 'pkg'\n")
    assert find_root(["libs/pkg/src/mod.py"], cwd=tmp_path) == package
    assert find_root(["libs/README.md"], cwd=tmp_path) == tmp_path
    assert find_root(cwd=package / "src") == package
    bare = tmp_path.parent / f"{tmp_path.name}-bare"
    bare.mkdir()
    assert find_root(["x.py"], cwd=bare) == bare  # no marker anywhere up: the directory itself


def test_config_is_read_and_validated(tmp_path: Path) -> None:
    assert load_config(tmp_path).path is None
    (tmp_path / "pyproject.toml").write_text(
        '[tool.lspfeedback]\nservers = ["ruff"]\ntimeout = 5\nmax_dependents = 0\n'
        'exclude = ["build/*", "gen"]\n')
    config = load_config(tmp_path)
    assert (config.servers, config.timeout, config.max_dependents) == (("ruff",), 5.0, 0)
    assert config.excluded("build/x.py") and config.excluded("gen/deep/y.py")
    assert not config.excluded("src/build.py")
    for bad, says in (('servers = "ruff"\ntimeout = -1', "timeout must be a positive number"),
                      ("max_dependents = 1.5", "max_dependents must be an integer"),
                      ("exclude = [1]", "exclude must be a list of strings"),
                      ("servers = []", "at least one server"),
                      ("mystery = 1\nother = 2", "unknown keys mystery, other")):
        (tmp_path / "pyproject.toml").write_text(f"[tool.lspfeedback]\n{bad}\n")
        with pytest.raises(ConfigError, match=says):
            load_config(tmp_path)


def test_an_unknown_key_is_a_usage_error_naming_the_known_ones(shop: Path) -> None:
    configure(shop, "severs = ['ruff']\n")
    for command in (["check", "shop/cart.py"], ["verify", "shop/cart.py"]):
        proc = run(*command, cwd=shop)
        assert proc.returncode == 2, proc.stderr
        assert "unknown key severs in [tool.lspfeedback]" in proc.stderr
        assert f"known keys: {', '.join(KNOWN_KEYS)}" in proc.stderr
    assert not (shop / ".lspfeedback").exists()  # refused before anything started


def test_config_applies_and_flags_win(shop: Path) -> None:
    configure(shop, 'servers = ["ruff"]\nmax_dependents = 0\n')
    proc = run("check", "--no-daemon", "--json", "shop/pricing.py", cwd=shop)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert list(report["timings_ms"]) == ["ruff"]  # servers from the table
    assert report["checked_files"] == ["shop/pricing.py"]  # max_dependents = 0: no importers
    flag = json.loads(run("check", "--no-daemon", "--json", "--max-dependents", "5",
                          "shop/pricing.py", cwd=shop).stdout)
    assert "shop/cart.py" in flag["checked_files"]


def test_root_is_found_from_the_path_not_the_current_directory(shop: Path) -> None:
    configure(shop, 'servers = ["ruff"]\n')
    proc = run("check", "--no-daemon", "--json", "shop/shop/cart.py", cwd=shop.parent)
    assert proc.returncode == 0, proc.stderr
    # Paths are relative to the root found upwards from the file (its pyproject.toml), and the
    # root's configuration applied (ruff only).
    report = json.loads(proc.stdout)
    assert report["checked_files"][0] == "shop/cart.py"
    assert list(report["timings_ms"]) == ["ruff"]


def test_excluded_files_are_not_checked_and_python_needs_trust(shop: Path) -> None:
    configure(shop, 'exclude = ["shop/checkout.py"]\npython = ".venv/bin/python"\n')
    proc = run("check", "--json", "shop/checkout.py", cwd=shop)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["not_checked"] == [
        {"path": "shop/checkout.py", "reason": "excluded by [tool.lspfeedback] exclude"}]
    # The workspace named an interpreter: not run unless the user trusts the workspace.
    assert "python is ignored without --trust-workspace" in proc.stderr
    assert not (shop / ".lspfeedback").exists()
