"""The sandbox servers run in: no network, read-only file system but for its own folders, a
scrubbed environment, limits; and the modes that decide what happens without one."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lspfeedback import ServerStartError, Verifier
from lspfeedback import _sandbox as sandbox_module
from lspfeedback._sandbox import Sandbox, sandbox_for

from .conftest import TIMEOUT

needs_bwrap = pytest.mark.skipif(not sandbox_for("auto").active,
                                 reason="bubblewrap cannot start on this machine")


def run_inside(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    sandbox = sandbox_for("auto")
    argv = sandbox.wrap([sys.executable, "-c", code], env or {}, "test")
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                          env=sandbox.environment(env or {}), preexec_fn=sandbox.preexec)


@needs_bwrap
def test_no_network_even_to_loopback() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        code = (f"import socket\ntry:\n    socket.create_connection(('127.0.0.1', {port}), 5)\n"
                "except OSError as e:\n    print('refused', e)\nelse:\n    print('connected')\n")
        proc = run_inside(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("refused"), proc.stdout


@needs_bwrap
def test_the_file_system_is_read_only_but_for_its_own_folders(tmp_path: Path) -> None:
    outside = tmp_path / "written-from-inside"
    shared_tmp = f"/tmp/lspfeedback-sandbox-test-{os.getpid()}"
    code = (f"import pathlib, os\n"
            f"for p in [{str(outside)!r}, {shared_tmp!r}, os.environ['TMPDIR'] + '/ok',\n"
            f"          os.environ['XDG_CACHE_HOME'] + '/ok']:\n"
            f"    try:\n        pathlib.Path(p).write_text('x'); print('wrote', p)\n"
            f"    except OSError as e:\n        print('denied', p)\n")
    proc = run_inside(code)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"denied {outside}" and not outside.exists()
    assert lines[1] == f"denied {shared_tmp}" and not Path(shared_tmp).exists()
    assert lines[2].startswith("wrote ") and lines[3].startswith("wrote ")  # its own folders


@needs_bwrap
def test_the_environment_is_scrubbed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "secret-token")
    proc = run_inside("import os; print(sorted(os.environ))", {"SERVER_SETTING": "1"})
    names = proc.stdout.strip().strip("[]").replace("'", "").split(", ")
    assert "GITHUB_TOKEN" not in names and "SERVER_SETTING" in names and "PATH" in names


@needs_bwrap
def test_servers_run_inside_the_sandbox_by_default(shop: Path) -> None:
    import psutil

    with Verifier(shop, servers=["ruff"], timeout=TIMEOUT, replicas=1) as v:
        [ruff] = v.status().servers
        assert ruff.pid is not None and psutil.Process(ruff.pid).name() == "bwrap"
        report = v.verify({"shop/cart.py": "import os\n"})
    assert [d.code for d in report.introduced] == ["F401"]
    assert not any("unsandboxed" in n for n in report.notes)


def test_without_a_sandbox_auto_says_so_and_require_refuses(
        shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox_module, "_probe", lambda: (None, "no sandbox: tested"))
    with Verifier(shop, servers=["ruff"], timeout=TIMEOUT, replicas=1) as v:
        report = v.verify({"shop/cart.py": "import os\n"})
    assert "servers run unsandboxed: no sandbox: tested" in report.notes
    assert "unsandboxed" in str(report)
    with pytest.raises(ServerStartError, match="refuses to run without one"):
        Verifier(shop, servers=["ruff"], sandbox="require")
    assert Sandbox(None).wrap(["x"], {}, "n") == ["x"]


@needs_bwrap
@pytest.mark.parametrize("how", ["prlimit", "preexec"])
def test_the_resource_limits_hold_inside(how: str) -> None:
    # prlimit sets them where it exists, so that starting a process needs no fork of this
    # one (a preexec_fn forces a fork, and the event loop waits for the child's exec).
    found = sandbox_for("auto")
    if how == "prlimit" and found.prlimit is None:
        pytest.skip("util-linux's prlimit is not installed here")
    sandbox = Sandbox(found.bwrap, prlimit=found.prlimit if how == "prlimit" else None)
    assert (sandbox.preexec is None) == (how == "prlimit")
    code = ("import resource\nprint(*(resource.getrlimit(k)[0] for k in "
            f"{sorted(sandbox_module.LIMITS)!r}))")
    proc = subprocess.run(sandbox.wrap([sys.executable, "-c", code], {}, "test"),
                          capture_output=True, text=True, timeout=60, check=False,
                          env=sandbox.environment({}), preexec_fn=sandbox.preexec)
    assert proc.returncode == 0, proc.stderr
    expected = [sandbox_module._limit(k, v)  # pyright: ignore[reportPrivateUsage]
                for k, v in sorted(sandbox_module.LIMITS.items())]
    assert [int(x) for x in proc.stdout.split()] == expected
