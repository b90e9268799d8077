"""``lspfeedback check`` end to end, as agents call it: the real CLI as a subprocess, the real
pyright and ruff, on a git repository made from the shop fixture. The module shares one
background daemon, started by the first check (as in use) and stopped at the end; the aider
``--lint-cmd`` and the SWE-agent bundle in adapters/ are run the way those harnesses run them.

The repository has a pre-existing type error in ``shop/legacy.py``, an importer of
``shop/pricing.py``: every check of pricing sees it, and none may count it as introduced.
"""

from __future__ import annotations

import json
import os
import re
import select
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from .conftest import FIXTURES, REPO, pid_alive

pytestmark = pytest.mark.slow

SIGNATURE = "def apply_discount(price_cents: int, percent: int) -> int:"
LEGACY = 'from shop.pricing import apply_discount\n\nTOTAL: int = "not a number"\n'
BIN = Path(sys.executable).parent


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-P", "-m", "lspfeedback", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300, check=False, env=env)


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid",
                    *args], cwd=root, check=True, capture_output=True, timeout=60)


def make_repo(root: Path) -> Path:
    """The shop fixture plus a legacy module with a type error, committed to a new git repo."""
    shutil.copytree(FIXTURES / "shop", root)
    (root / "shop" / "legacy.py").write_text(LEGACY)
    (root / "README.md").write_text("# shop\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "shop")
    return root


def stop_daemon(root: Path) -> None:
    state = root / ".lspfeedback" / "daemon.json"
    pid = json.loads(state.read_text())["pid"] if state.exists() else None
    proc = run("stop", "--root", str(root), cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert pid is None or not pid_alive(pid)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = make_repo(tmp_path_factory.mktemp("check") / "shop")
    try:
        yield root
    finally:
        stop_daemon(root)


@pytest.fixture
def shop(repo: Path) -> Iterator[Path]:
    """The repository, its work tree as committed (every test leaves it so)."""
    git(repo, "checkout", "-q", "--", ".")
    git(repo, "clean", "-fdq", "shop")
    yield repo
    git(repo, "checkout", "-q", "--", ".")
    git(repo, "clean", "-fdq", "shop")


def break_pricing(root: Path, param: str = "currency: str") -> None:
    pricing = root / "shop" / "pricing.py"
    pricing.write_text(pricing.read_text().replace(SIGNATURE, SIGNATURE.replace(
        "percent: int)", f"percent: int, {param})")))


def test_first_check_starts_a_daemon_and_compares_with_git(shop: Path) -> None:
    break_pricing(shop)
    proc = run("check", "shop/pricing.py", cwd=shop)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines() == [
        ('shop/cart.py:27:16: error: Argument missing for parameter "currency" '
         "[pyright reportCallIssue]")]
    assert "1 error introduced" in proc.stderr and "baseline: git index" in proc.stderr
    assert "(started now)" in proc.stderr
    state = json.loads((shop / ".lspfeedback" / "daemon.json").read_text())
    assert pid_alive(state["pid"])
    # The daemon's log is in the root's own (git-ignored) folder.
    assert (shop / ".lspfeedback" / "daemon.log").exists()
    assert (shop / ".lspfeedback" / ".gitignore").read_text() == "*\n"


def test_next_checks_are_warm_and_compare_with_the_daemons_last_text(shop: Path) -> None:
    assert run("check", "shop/pricing.py", cwd=shop).returncode == 0  # the daemon learns it
    pricing = shop / "shop" / "pricing.py"
    pricing.write_text(pricing.read_text() + "\n\nTAX_PERCENT = 8\n")
    clean = run("check", "--json", "shop/pricing.py", cwd=shop)
    assert clean.returncode == 0, clean.stderr
    report = json.loads(clean.stdout)
    assert report["baseline"] == "daemon" and "started now" not in report["via"]
    assert report["baseline_detail"] == "the daemon's last known text"
    assert "shop/legacy.py" in report["checked_files"] and report["introduced"] == []
    break_pricing(shop, "code: str")
    first = run("check", "--json", "shop/pricing.py", cwd=shop)
    assert first.returncode == 1, first.stderr
    assert [(d["path"], d["code"]) for d in json.loads(first.stdout)["introduced"]] == [
        ("shop/cart.py", "reportCallIssue")]
    anyway = run("check", "--fail-on", "any", "shop/pricing.py", cwd=shop)
    assert anyway.returncode == 1
    assert "shop/legacy.py:3:" in anyway.stdout and "shop/cart.py:27:16" in anyway.stdout


def test_an_edit_that_does_not_fix_an_error_still_reports_it(shop: Path) -> None:
    pricing = shop / "shop" / "pricing.py"
    assert run("check", "shop/pricing.py", cwd=shop).returncode == 0
    break_pricing(shop, "code: str")
    assert run("check", "shop/pricing.py", cwd=shop).returncode == 1
    # Checked again unchanged, or after an edit that fixes nothing: the error is still the
    # writes' doing (the baseline stays the text before the failing check), not "there before".
    for _ in range(2):
        again = run("check", "--json", "shop/pricing.py", cwd=shop)
        assert again.returncode == 1, again.stderr
        report = json.loads(again.stdout)
        assert "kept until a check passes" in report["baseline_detail"]
        assert [d["code"] for d in report["introduced"]] == ["reportCallIssue"]
        pricing.write_text(pricing.read_text() + "\n# not a fix\n")
    # Fixed: it passes, and the baseline is the daemon's last known text again.
    git(shop, "checkout", "-q", "--", "shop/pricing.py")
    assert run("check", "shop/pricing.py", cwd=shop).returncode == 0
    after = json.loads(run("check", "--json", "shop/pricing.py", cwd=shop).stdout)
    assert after["baseline_detail"] == "the daemon's last known text"


def test_baseline_none_compares_with_the_files_absence(shop: Path) -> None:
    proc = run("check", "--baseline", "none", "--json", "shop/pricing.py", cwd=shop)
    assert proc.returncode == 0, proc.stderr  # pricing itself has no error to introduce
    report = json.loads(proc.stdout)
    assert report["baseline"] == "none" and report["introduced"] == []
    # Without pricing, its importers could not import it: those errors are what it resolves.
    assert {"shop/cart.py", "shop/legacy.py"} <= {d["path"] for d in report["resolved"]}


def test_a_new_file_is_compared_with_its_absence_and_a_deleted_one_breaks_importers(
        shop: Path, tmp_path: Path) -> None:
    (shop / "shop" / "extra.py").write_text("from shop.cart import Cart\n\nCart().nope()\n")
    new = run("check", "--json", "shop/extra.py", cwd=shop)
    assert new.returncode == 1, new.stderr
    report = json.loads(new.stdout)
    assert "new files: shop/extra.py" in report["baseline_detail"]
    assert [(d["path"], d["code"]) for d in report["introduced"]] == [
        ("shop/extra.py", "reportAttributeAccessIssue")]
    assert run("check", "shop/pricing.py", cwd=shop).returncode == 0  # the daemon knows it
    (shop / "shop" / "pricing.py").unlink()
    gone = run("check", "--json", "shop/pricing.py", cwd=shop)
    assert gone.returncode == 1, gone.stderr
    deleted = json.loads(gone.stdout)
    assert deleted["baseline"] == "git"  # a deletion is compared with git's text
    paths = {d["path"] for d in deleted["introduced"] if d["severity"] == "error"}
    assert {"shop/cart.py", "shop/__init__.py"} <= paths
    # A path that is neither on disk nor in the baseline is a mistake, said so, and starts
    # nothing (run from a directory where it resolves to a root with no daemon).
    missing = run("check", "shop/nope.py", cwd=shop)
    assert missing.returncode == 2 and "no such file: shop/nope.py" in missing.stderr
    elsewhere = make_repo(tmp_path / "elsewhere")
    typo = run("check", "shop/nope.py", cwd=elsewhere)
    assert typo.returncode == 2 and not (elsewhere / ".lspfeedback").exists()


def test_files_no_server_checks_are_listed_as_not_checked_never_clean(shop: Path) -> None:
    only = run("check", "pyproject.toml", "README.md", cwd=shop)
    assert only.returncode == 0, only.stderr
    assert only.stdout.splitlines() == [
        "not checked: pyproject.toml (no server checks this kind of file)",
        "not checked: README.md (no server checks this kind of file)"]
    assert "nothing was checked" in only.stderr and "no errors" not in only.stderr
    mixed = json.loads(run("check", "--json", "shop/pricing.py", "README.md", cwd=shop).stdout)
    assert mixed["not_checked"] == [{"path": "README.md",
                                     "reason": "no server checks this kind of file"}]
    assert "shop/pricing.py" in mixed["checked_files"]
    verify = run("verify", "--json", "pyproject.toml", cwd=shop)
    assert verify.returncode == 3  # unknown: nothing could be checked
    assert json.loads(verify.stdout)["not_checked"][0]["path"] == "pyproject.toml"
    # A TypeScript file, with only Python servers configured: not checked either (not clean).
    (shop / "shop" / "web.ts").write_text('const total: number = "no";\n')
    ts = run("check", "--json", "shop/web.ts", "shop/pricing.py", cwd=shop)
    assert ts.returncode == 0, ts.stderr
    report = json.loads(ts.stdout)
    assert {"path": "shop/web.ts", "reason": "no server checks this kind of file"} in \
        report["not_checked"]
    assert "shop/web.ts" not in report["checked_files"]
    alone = run("check", "shop/web.ts", cwd=shop)
    assert alone.returncode == 0 and "nothing was checked" in alone.stderr


def test_the_same_diagnostic_from_two_servers_is_printed_once(shop: Path) -> None:
    pricing = shop / "shop" / "pricing.py"
    pricing.write_text(pricing.read_text() + "\n\ndef broken(x:\n    return x\n")
    proc = run("check", "shop/pricing.py", cwd=shop)
    assert proc.returncode == 1
    data = json.loads(run("check", "--baseline", "git", "--json", "shop/pricing.py",
                          cwd=shop).stdout)
    introduced = data["introduced"]
    assert {d["source"] for d in introduced} == {"pyright", "ruff"}
    lines = [line for line in proc.stdout.splitlines() if line.startswith("shop/")]
    assert len(lines) < len(introduced)  # merged in the text, every source kept in the JSON
    [both] = [line for line in lines if "ruff invalid-syntax" in line and "pyright" in line]
    assert re.match(r"shop/pricing\.py:\d+:\d+: error: ", both)


@pytest.mark.parametrize("command", ["check", "verify"])
def test_the_warm_path_imports_neither_the_engine_nor_httpx(shop: Path, command: str) -> None:
    assert run("check", "shop/pricing.py", cwd=shop).returncode == 0  # warm, known
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "lspfeedback", command,
                           "-v", "shop/pricing.py"], cwd=shop, capture_output=True, text=True,
                          timeout=120, check=False)
    # verify counts every current error (legacy.py's); check only what the writes introduced.
    assert proc.returncode == (0 if command == "check" else 1), proc.stderr
    assert "the daemon at http://" in proc.stderr  # it did go through the daemon
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "lspfeedback._daemon.wire" in imported  # the measurement saw the command's imports
    heavy = {"httpx", "lsprotocol", "pygls", "lspfeedback._engine", "lspfeedback._verifier",
             "lspfeedback.servers", "fastapi", "pydantic", "rich"}
    assert imported & heavy == set()


def test_exit_codes(shop: Path, tmp_path: Path) -> None:
    version = run("--version", cwd=shop)
    assert version.returncode == 0 and version.stdout.startswith("lspfeedback ")
    outside = tmp_path / "elsewhere.py"
    outside.write_text("x = 1\n")
    proc = run("check", "--root", str(shop), str(outside), cwd=shop)
    assert proc.returncode == 2 and "outside the workspace" in proc.stderr
    no_daemon = run("check", "--baseline", "daemon", "--no-daemon", "shop/cart.py", cwd=shop)
    assert no_daemon.returncode == 2 and "needs a daemon" in no_daemon.stderr
    # An edit that does not apply (checked through the running daemon): 4, with where it failed.
    patch = tmp_path / "bad.txt"
    patch.write_text("shop/cart.py\n<<<<<<< SEARCH\nnot there\n=======\nx = 1\n>>>>>>> REPLACE\n")
    bad = run("verify", "--patch", str(patch), cwd=shop)
    assert bad.returncode == 4, bad.stderr
    assert "shop/cart.py" in bad.stderr
    assert "4 an edit that does not apply" in run("check", "--help", cwd=shop).stdout


def test_reading_the_git_baseline_runs_nothing_the_repository_configures(tmp_path: Path) -> None:
    # core.fsmonitor names a program git runs when it reads the index (cat-file included): a
    # repository's own .git/config is the workspace's, so check turns it off.
    root = make_repo(tmp_path / "shop")
    marker = tmp_path / "fsmonitor-ran"
    hook = tmp_path / "fsmonitor.sh"
    hook.write_text(f"#!/bin/sh\ntouch {marker}\necho 0\n")
    hook.chmod(0o755)
    git(root, "config", "core.fsmonitor", str(hook))
    subprocess.run(["git", "cat-file", "--batch"], input=":./shop/cart.py\n", cwd=root,
                   capture_output=True, text=True, check=True, timeout=60)
    assert marker.exists()  # git itself would run it
    marker.unlink()
    cart = root / "shop" / "cart.py"
    cart.write_text(cart.read_text() + "\n\nundefined_name\n")
    proc = run("check", "--no-daemon", "--server", "ruff", "--json", "shop/cart.py", cwd=root)
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["baseline"] == "git"
    assert not marker.exists()


def test_no_daemon_checks_in_process_against_git(shop: Path) -> None:
    break_pricing(shop)
    proc = run("check", "--no-daemon", "--json", "shop/pricing.py", cwd=shop)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert report["via"] == "in-process" and report["baseline"] == "git"
    assert [(d["path"], d["code"]) for d in report["introduced"]] == [
        ("shop/cart.py", "reportCallIssue")]


def test_concurrent_first_checks_start_one_daemon(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "shop")
    try:
        procs = [subprocess.Popen([sys.executable, "-m", "lspfeedback", "check", "--json",
                                   "--server", "ruff", path], cwd=root, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
                 for path in ("shop/cart.py", "shop/pricing.py", "shop/checkout.py")]
        outputs = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], outputs
        vias = [json.loads(out)["via"] for out, _ in outputs]
        state = json.loads((root / ".lspfeedback" / "daemon.json").read_text())
        # One daemon, started by one of them; the others waited for it and used it.
        assert sum("started now" in via for via in vias) == 1
        assert all(via.startswith(f"the daemon at {state['url']}") for via in vias)
        serves = [p for p in psutil.process_iter(["cmdline"])
                  if (p.info["cmdline"] or [])[3:7] == ["lspfeedback", "serve", "--root",
                                                        str(root.resolve())]]
        assert [p.pid for p in serves] == [state["pid"]]
        # A daemon started by check stops itself when unused (see the idle test below).
        assert "--idle-timeout" in serves[0].info["cmdline"]
    finally:
        stop_daemon(root)


def test_an_idle_daemon_stops_itself_and_cleans_up(tmp_path: Path) -> None:
    root = make_repo(tmp_path / "shop")
    daemon = subprocess.Popen([sys.executable, "-m", "lspfeedback", "serve", "--root", str(root),
                               "--server", "ruff", "--idle-timeout", "2"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert daemon.stdout is not None
        ready, _, _ = select.select([daemon.stdout], [], [], 120)
        assert ready and "lspfeedback daemon for" in daemon.stdout.readline()
        # Used once (health checks, as `status` makes, do not count as use) ...
        assert run("check", "--json", "shop/cart.py", cwd=root).returncode == 0
        assert run("status", "--root", str(root), cwd=root).returncode == 0
        servers = [p.pid for p in psutil.Process(daemon.pid).children(recursive=True)]
        assert servers  # ruff (and its sandbox), running
        # ... then left alone: it stops itself the way `stop` does (SIGTERM, then the graceful
        # shutdown, after which uvicorn ends by that signal), its servers and state file too.
        assert daemon.wait(timeout=120) in (0, -signal.SIGTERM)
        assert not (root / ".lspfeedback" / "daemon.json").exists()
        assert [pid for pid in servers if pid_alive(pid)] == []
    finally:
        if daemon.poll() is None:
            stop_daemon(root)
            daemon.wait(timeout=60)


# ---- the adapters ---------------------------------------------------------------------------

def _harness_env() -> dict[str, str]:
    """What a harness gives the command: the installed ``lspfeedback`` on PATH."""
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}


def aider_lint_cmd() -> str:
    """The python lint command of adapters/aider/.aider.conf.yml."""
    text = (REPO / "adapters" / "aider" / ".aider.conf.yml").read_text()
    [command] = re.findall(r'^\s*-\s*"python:\s*(.+)"\s*$', text, re.MULTILINE)
    return command


def lint_like_aider(root: Path, rel: str) -> subprocess.CompletedProcess[str]:
    """As aider's Linter.run_cmd: the command, the quoted file relative to the git root, run by
    the shell in the git root, stderr merged into the output it shows the model."""
    return subprocess.run(f"{aider_lint_cmd()} {shlex.quote(rel)}", shell=True, cwd=root,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=300, check=False, env=_harness_env())


def test_aider_lint_cmd_fails_only_for_what_the_edit_broke(shop: Path) -> None:
    pricing = shop / "shop" / "pricing.py"
    pricing.write_text(pricing.read_text() + "\n\nTAX_PERCENT = 8\n")
    clean = lint_like_aider(shop, "shop/pricing.py")
    assert clean.returncode == 0, clean.stdout  # legacy.py's error was there before
    break_pricing(shop, "region: str")
    broken = lint_like_aider(shop, "shop/pricing.py")
    assert broken.returncode == 1
    assert 'shop/cart.py:27:16: error: Argument missing for parameter "region"' in broken.stdout
    assert lint_like_aider(shop, "README.md").returncode == 0  # aider lints every edited file


def test_swe_agent_bundle_runs_check(shop: Path) -> None:
    bundle = REPO / "adapters" / "swe-agent" / "lspfeedback"
    config = (bundle / "config.yaml").read_text()
    [tool] = re.findall(r"^  (\w+):$", config, re.MULTILINE)
    script = bundle / "bin" / tool
    assert os.access(script, os.X_OK)
    assert re.search(rf'signature: "{tool} <path>', config)
    break_pricing(shop, "shipping: int")
    proc = subprocess.run([str(script), "shop/pricing.py"], cwd=shop, capture_output=True,
                          text=True, timeout=300, check=False, env=_harness_env())
    assert proc.returncode == 1, proc.stderr
    assert 'parameter "shipping"' in proc.stdout
    usage = subprocess.run([str(script)], cwd=shop, capture_output=True, text=True, timeout=60,
                           check=False, env=_harness_env())
    assert usage.returncode == 2 and "usage: check_files" in usage.stderr


def test_the_background_daemon_imports_nothing_from_the_workspace(tmp_path: Path) -> None:
    # A daemon started with `python -m` in the root would put the root first on sys.path:
    # a fastapi.py or uvicorn.py of the workspace would then run.
    root = make_repo(tmp_path / "shop")
    marker = tmp_path / "ran"
    for name in ("fastapi", "uvicorn", "pydantic", "httpx"):
        (root / f"{name}.py").write_text(f"open({str(marker)!r}, 'a').write({name!r})\n")
    try:
        proc = run("check", "--server", "ruff", "shop/cart.py", cwd=root)
        assert proc.returncode == 0, proc.stderr
        assert "(started now)" in proc.stderr
    finally:
        stop_daemon(root)
    assert not marker.exists(), marker.read_text()


def test_a_named_pipe_or_a_binary_file_is_a_clear_usage_error_never_a_hang(
        tmp_path: Path) -> None:
    import os

    from lspfeedback._check import MAX_FILE_BYTES, CheckUsageError, disk_texts
    from lspfeedback._documents import MAX_DOCUMENT_BYTES

    os.mkfifo(tmp_path / "pipe.py")  # opened for reading, it would block until a writer came
    (tmp_path / "binary.py").write_bytes(b"\xff\xfe\x00x = 1\n")
    with pytest.raises(CheckUsageError, match="not a regular file"):
        disk_texts(tmp_path, ["pipe.py"])
    with pytest.raises(CheckUsageError, match="not UTF-8"):
        disk_texts(tmp_path, ["binary.py"])
    assert disk_texts(tmp_path, ["gone.py"]) == {"gone.py": None}
    assert MAX_FILE_BYTES == MAX_DOCUMENT_BYTES  # the same bound as the engine's


def test_check_files_refuses_a_file_an_uncommitted_verify_still_holds(tmp_path: Path) -> None:
    import asyncio

    from lspfeedback import AsyncVerifier
    from lspfeedback._check import CheckUsageError, Memory, check_with

    root = make_repo(tmp_path / "shop")
    cart = root / "shop" / "cart.py"

    async def scenario() -> str:
        async with AsyncVerifier(root, servers=["ruff"], watch=False) as v:
            await v.verify({"shop/cart.py": cart.read_text() + "\nHELD = 1\n"})  # kept
            cart.write_text(cart.read_text() + "\nimport os\n")  # then written by other means
            with pytest.raises(CheckUsageError, match="commit or discard it first") as info:
                await check_with(v, ["shop/cart.py"], Memory())
            await v.discard()
            outcome = await check_with(v, ["shop/cart.py"], Memory())
            return f"{info.value}|{[d.code for d in outcome.report.introduced]}"

    text = asyncio.run(scenario())
    # Once the held edit is dropped, the file as written is what is judged.
    assert "shop/cart.py" in text and text.endswith("['F401']")
