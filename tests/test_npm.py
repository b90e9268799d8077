"""lspfeedback._npm: the pinned npm packages of the TypeScript servers, installed into the
cache once, under a lock, all or nothing; a clear `ServerNotFound` when they cannot be.

npm itself is replaced by a small script here (no download in tests): the real install is
the project's own step (``make install`` runs ``python -m lspfeedback._npm``)."""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

import pytest

from lspfeedback import ServerNotFound, _npm, servers
from lspfeedback.servers.base import ServerContext

PINS = {"typescript": "7.0.2", "@biomejs/biome": "2.6.8"}

FAKE_NPM = """
import json, pathlib, sys, time
calls = pathlib.Path(sys.argv[1])
calls.write_text(calls.read_text() + "x" if calls.exists() else "x")
if sys.argv[2] == "fail":
    print("npm error 404 Not Found - GET https://registry/nope", file=sys.stderr)
    sys.exit(1)
time.sleep(0.2)  # long enough for a second installer to be waiting on the lock
wanted = json.loads(pathlib.Path("package.json").read_text())["dependencies"]
for name, version in wanted.items():
    version = "0.0.1" if sys.argv[2] == "wrong" else version
    folder = pathlib.Path("node_modules", name)
    folder.mkdir(parents=True)
    (folder / "package.json").write_text(json.dumps({"name": name, "version": version}))
"""


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LSPFEEDBACK_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str = "ok") -> Path:
    script = tmp_path / "fake_npm.py"
    script.write_text(FAKE_NPM)
    calls = tmp_path / "calls"
    monkeypatch.setattr(_npm, "npm_command", lambda: [sys.executable, str(script), str(calls),
                                                      mode])
    return calls


def test_the_folder_is_named_after_the_pins_in_the_cache(cache: Path) -> None:
    assert _npm.prefix(PINS).parent == cache / "npm"
    assert _npm.prefix(PINS) == _npm.prefix(dict(reversed(PINS.items())))  # order-free
    assert _npm.prefix(PINS) != _npm.prefix({**PINS, "typescript": "7.0.3"})
    assert not _npm.installed(PINS)


def test_installs_once_under_a_lock(cache: Path, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_npm(tmp_path, monkeypatch)
    results: list[Path] = []
    threads = [threading.Thread(target=lambda: results.append(_npm.install(PINS)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [_npm.prefix(PINS)] * 2
    assert calls.read_text() == "x"  # the second installer found it done
    assert _npm.installed(PINS)
    package = json.loads((_npm.prefix(PINS) / "package.json").read_text())
    assert package["dependencies"] == PINS  # exact versions
    assert _npm.install(PINS) == _npm.prefix(PINS) and calls.read_text() == "x"
    assert [p.name for p in (cache / "npm").iterdir() if p.name.startswith(".install-")] == []


@pytest.mark.parametrize("mode", ["fail", "wrong"])
def test_a_failed_install_leaves_nothing_and_says_how_to_retry(
        cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    _fake_npm(tmp_path, monkeypatch, mode)
    with pytest.raises(ServerNotFound) as caught:
        _npm.ensure("typescript", PINS)
    reason = caught.value.reason
    assert caught.value.server == "typescript"
    assert f"retry with: {_npm.INSTALL_COMMAND}" in reason
    assert "-m lspfeedback._npm" in _npm.INSTALL_COMMAND
    if mode == "fail":
        assert "exit 1" in reason and "404 Not Found" in reason
        assert not _npm.prefix(PINS).exists()
    else:
        assert "the versions there differ" in reason
    assert not _npm.installed(PINS)
    assert [p.name for p in (cache / "npm").iterdir() if p.name.startswith(".install-")] == []


def test_no_install_on_first_use_when_forbidden(cache: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _fake_npm(tmp_path, monkeypatch)
    monkeypatch.setenv("LSPFEEDBACK_NPM_INSTALL", "0")
    for name in ("typescript", "biome"):
        with pytest.raises(ServerNotFound, match=r"install them with: .*-m lspfeedback\._npm"):
            servers.get(name).command(ServerContext(root=tmp_path, python=None))
    assert not calls.exists()


def test_the_platform_binary_is_found_and_a_missing_one_is_named(
        cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_npm(tmp_path, monkeypatch)
    monkeypatch.setattr(_npm, "PACKAGES", PINS)
    monkeypatch.setattr(_npm, "ensure", lambda server, packages=PINS: _npm.install(packages))
    where = _npm.install(PINS) / "node_modules"
    with pytest.raises(ServerNotFound, match=r"@biomejs/cli-.* is not in"):
        _npm.native_executable("biome", "@biomejs", "cli", "biome")
    binary = where / f"{_npm.platform_package('@biomejs', 'cli')}-musl" / "biome"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\n")
    binary.chmod(0o755)
    assert _npm.native_executable("biome", "@biomejs", "cli", "biome") == str(binary)


def test_the_real_servers_come_from_the_pinned_install() -> None:
    if not _npm.installed():
        pytest.skip(f"not installed here; {_npm.INSTALL_COMMAND} installs them")
    ctx = ServerContext(root=Path.cwd(), python=None)
    for name in ("typescript", "biome"):
        spec = servers.get(name)
        assert any(part.startswith(str(_npm.prefix())) for part in spec.command(ctx)), name
        assert spec.languages == ("typescript",)
    assert "7.0.2" in servers.get("typescript").summary
    assert "2.6.8" in servers.get("biome").summary
