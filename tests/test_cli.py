"""The ``lspfeedback`` command, run as a user would: a subprocess, exit codes, text and JSON."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from lspfeedback import Report, __version__


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lspfeedback", *args], cwd=cwd, capture_output=True, text=True,
        timeout=180, check=False,
    )


def test_clean_files_exit_zero(shop: Path) -> None:
    proc = run("verify", "shop/pricing.py", cwd=shop)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert "clean: 0 errors" in proc.stderr and "4 files" in proc.stderr


def test_errors_exit_one_and_json_is_a_report(shop: Path) -> None:
    pricing = shop / "shop/pricing.py"
    pricing.write_text(pricing.read_text().replace("percent: int) -> int:", "percent: int, c: str) -> int:"))
    proc = run("verify", "--json", "--root", str(shop), str(pricing), cwd=shop.parent)
    assert proc.returncode == 1, proc.stderr
    report = Report.from_dict(json.loads(proc.stdout))
    assert report.status == "errors"
    assert [(d.path, d.code) for d in report.errors] == [("shop/cart.py", "reportCallIssue")]


def test_text_output_is_one_line_per_diagnostic(shop: Path) -> None:
    cart = shop / "shop/cart.py"
    cart.write_text("import json\n" + cart.read_text())
    proc = run("verify", "--server", "ruff", "shop/cart.py", cwd=shop)
    assert proc.returncode == 0  # a warning only: --fail-on error is the default
    assert "shop/cart.py:1:8: warning: `json` imported but unused" in proc.stdout
    strict = run("verify", "--server", "ruff", "--fail-on", "warning", "shop/cart.py", cwd=shop)
    assert strict.returncode == 1


def test_usage_errors_exit_two_with_a_message(shop: Path, tmp_path: Path) -> None:
    missing = run("verify", "nope.py", cwd=shop)
    assert missing.returncode == 2 and "no such file: nope.py" in missing.stderr
    outside = tmp_path / "outside.py"
    outside.write_text("x = 1\n")
    proc = run("verify", str(outside), cwd=shop)
    assert proc.returncode == 2 and "outside the workspace" in proc.stderr
    unknown = run("verify", "--server", "nope", "shop/cart.py", cwd=shop)
    assert unknown.returncode == 2 and "known servers" in unknown.stderr


def test_servers_lists_the_registry(shop: Path) -> None:
    proc = run("servers", cwd=shop)
    assert proc.returncode == 0
    for name in ("pyright", "ruff", "jedi"):
        assert f"\n{name} " in "\n" + proc.stdout
    # It says whether servers will be sandboxed here, and if not, why.
    [line] = [x for x in proc.stdout.splitlines() if x.startswith("sandbox ")]
    assert "bubblewrap: " in line or "unsandboxed" in line or "no sandbox" in line


def run_without(modules: tuple[str, ...], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command as in an install without ``modules`` (each one fails to import)."""
    code = (f"import sys\nfor name in {modules!r}:\n    sys.modules[name] = None\n"
            "from lspfeedback._cli import main\nsys.exit(main(sys.argv[1:]))")
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, capture_output=True,
                          text=True, timeout=180, check=False)


def test_help_lists_every_command(shop: Path) -> None:
    proc = run("--help", cwd=shop)
    assert proc.returncode == 0
    for command in ("check", "verify", "candidates", "hook", "servers", "bench", "serve",
                    "status", "stop", "mcp", "fleet"):
        assert f"    {command} " in proc.stdout
    # The exit statuses are part of the help, the same for every command.
    assert "0 clean, 1 errors, 2 usage error, 3 unknown" in " ".join(proc.stdout.split())
    version = run("--version", cwd=shop)
    assert version.returncode == 0 and version.stdout.split() == ["lspfeedback", __version__]


def test_verify_says_which_files_it_did_not_check(shop: Path) -> None:
    proc = run("verify", "--server", "ruff", "--json", "shop/cart.py", "pyproject.toml", cwd=shop)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert "shop/cart.py" in report["checked_files"]
    assert report["not_checked"] == [{"path": "pyproject.toml",
                                      "reason": "no server checks this kind of file"}]
    text = run("verify", "--server", "ruff", "shop/cart.py", "pyproject.toml", cwd=shop)
    assert "not checked: pyproject.toml (no server checks this kind of file)" in text.stdout


def test_mcp_usage_errors_exit_two_before_anything_starts(shop: Path, tmp_path: Path) -> None:
    missing = run("mcp", "--root", str(tmp_path / "missing"), cwd=shop)
    assert missing.returncode == 2 and "is not a directory" in missing.stderr
    unknown = run("mcp", "--root", ".", "--server", "nope", cwd=shop)
    assert unknown.returncode == 2 and "known servers" in unknown.stderr
    assert unknown.stdout == ""  # stdout is the protocol channel: nothing was served


def test_commands_needing_a_missing_extra_say_what_to_install(shop: Path) -> None:
    mcp = run_without(("mcp",), "mcp", "--root", ".", cwd=shop)
    assert mcp.returncode == 2 and mcp.stdout == ""
    [line] = mcp.stderr.splitlines()
    assert "pip install 'lspfeedback[mcp]'" in line
    serve = run_without(("fastapi", "uvicorn"), "serve", "--root", ".", cwd=shop)
    assert serve.returncode == 2 and serve.stdout == ""
    [line] = serve.stderr.splitlines()
    assert "pip install 'lspfeedback[daemon]'" in line
    assert not (shop / ".lspfeedback").exists()  # no daemon was started
    # The commands of the core install still work without either extra.
    verify = run_without(("mcp", "fastapi", "uvicorn", "starlette", "pydantic"),
                         "verify", "--server", "ruff", "--json", "shop/cart.py", cwd=shop)
    assert verify.returncode == 0, verify.stderr
    assert json.loads(verify.stdout)["status"] == "clean"


def test_without_the_fleet_package_every_other_command_runs(shop: Path) -> None:
    """`fleet` is registered only when lspfeedback.fleet imports; Ray itself is not needed to
    list it (it is imported when a fleet starts)."""
    without_ray = run_without(("ray",), "fleet", "run", "--help", cwd=shop)
    assert without_ray.returncode == 0 and "--codemod" in without_ray.stdout
    bare = run_without(("lspfeedback.fleet",), "--help", cwd=shop)
    assert bare.returncode == 0, bare.stderr
    assert "    fleet " not in bare.stdout and "    servers " in bare.stdout
    servers = run_without(("lspfeedback.fleet",), "servers", cwd=shop)
    assert servers.returncode == 0 and "\nruff " in "\n" + servers.stdout
