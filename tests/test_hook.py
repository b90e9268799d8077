"""``lspfeedback hook claude-code``: Claude Code's PostToolUse contract, input shape by input
shape, through the real command (a subprocess reading the event on stdin).

Without servers: tools that write nothing, files outside the project or that no server checks,
unreadable input. With the real pyright and ruff, through one background daemon for the module
(stopped at the end): an edit that breaks an importer (exit 2, the error on stderr), a clean
edit, a warning, and an error that was there before (exit 0, silent).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lspfeedback._hook import written_path

from .test_check import break_pricing, git, make_repo, stop_daemon


def event(tool: str, tool_input: dict[str, Any], cwd: Path, **extra: Any) -> dict[str, Any]:
    """A PostToolUse event as Claude Code sends it (the documented fields)."""
    return {"session_id": "abc123", "transcript_path": str(cwd / "transcript.jsonl"),
            "cwd": str(cwd), "permission_mode": "default", "hook_event_name": "PostToolUse",
            "tool_name": tool, "tool_input": tool_input,
            "tool_response": extra.pop("tool_response", {"success": True}), **extra}


def hook(payload: dict[str, Any] | str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    # The project comes from the event here, not from a Claude Code session running the tests.
    env = {k: v for k, v in os.environ.items() if k != "CLAUDE_PROJECT_DIR"}
    return subprocess.run([sys.executable, "-m", "lspfeedback", "hook", "claude-code", *args],
                          input=data, cwd=cwd, capture_output=True, text=True, timeout=300,
                          check=False, env=env)


# ---- the input shapes (no servers) ----------------------------------------------------------

@pytest.mark.parametrize(("tool", "tool_input", "tool_response", "expected"), [
    ("Edit", {"file_path": "/p/a.py", "old_string": "x", "new_string": "y", "replace_all": False},
     {"filePath": "/p/a.py"}, "/p/a.py"),
    ("Write", {"file_path": "/p/b.py", "content": "x = 1\n"},
     {"type": "create", "filePath": "/p/b.py"}, "/p/b.py"),
    ("MultiEdit", {"file_path": "/p/c.py", "edits": [{"old_string": "a", "new_string": "b"}]},
     {}, "/p/c.py"),
    ("NotebookEdit", {"notebook_path": "/p/n.ipynb", "new_source": "x", "cell_id": "1"},
     {}, "/p/n.ipynb"),
    ("Write", {"content": "x"}, {"filePath": "/p/from-response.py"}, "/p/from-response.py"),
    ("Bash", {"command": "echo hi > a.py"}, {}, None),
    ("Read", {"file_path": "/p/a.py"}, {}, None),
])
def test_written_path_of_each_documented_tool_input(tool: str, tool_input: dict[str, Any],
                                                    tool_response: dict[str, Any],
                                                    expected: str | None) -> None:
    assert written_path({"tool_name": tool, "tool_input": tool_input,
                         "tool_response": tool_response}) == expected


def test_nothing_to_check_exits_zero_silently_and_starts_nothing(bare: Path, tmp_path: Path) -> None:
    shop = bare
    outside = tmp_path / "outside.py"
    outside.write_text("x: int = 'no'\n")
    for payload in (
        event("Bash", {"command": "ls"}, shop),
        event("Write", {"file_path": str(outside), "content": "x"}, shop),  # outside the project
        event("Edit", {"file_path": "README.md", "old_string": "a", "new_string": "b"}, shop),
        event("Write", {"file_path": "pyproject.toml", "content": ""}, shop),
        event("NotebookEdit", {"notebook_path": str(shop / "n.ipynb"), "new_source": "x"}, shop),
        event("Write", {"file_path": "shop/gone.py", "content": ""}, shop),  # no longer there
    ):
        proc = hook(payload, shop)
        assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", ""), payload
    assert not (shop / ".lspfeedback").exists()  # no daemon was started for any of them


def test_unreadable_input_is_a_non_blocking_error(bare: Path) -> None:
    for payload in ("not json", "[1, 2]"):
        proc = hook(payload, bare)
        assert proc.returncode == 1  # shown to the user, not to the model, and not blocking
        assert "cannot read the hook input" in proc.stderr and proc.stdout == ""


# ---- with the real servers ------------------------------------------------------------------

@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = make_repo(tmp_path_factory.mktemp("hook") / "shop")
    try:
        yield root
    finally:
        stop_daemon(root)


@pytest.fixture
def project(repo: Path) -> Iterator[Path]:
    git(repo, "checkout", "-q", "--", ".")
    yield repo
    git(repo, "checkout", "-q", "--", ".")


@pytest.mark.slow
def test_an_edit_that_breaks_an_importer_exits_two_with_the_error_on_stderr(project: Path) -> None:
    break_pricing(project)
    proc = hook(event("Edit", {"file_path": str(project / "shop" / "pricing.py"),
                               "old_string": "percent: int)", "new_string": "..."}, project),
                project)
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[0] == ('shop/cart.py:27:16: error: Argument missing for parameter "currency" '
                        "[pyright reportCallIssue]")
    assert lines[-1] == ("lspfeedback check: 1 error introduced in 5 files (the file and its "
                         "importers)")  # for the model: no timings, no daemon address
    assert not any("legacy.py" in line for line in lines)  # there before: not the model's doing


@pytest.mark.slow
def test_clean_edits_and_warnings_and_old_errors_exit_zero_silently(project: Path) -> None:
    pricing = project / "shop" / "pricing.py"
    pricing.write_text(pricing.read_text() + "\n\nTAX_PERCENT = 8\n")
    # A relative file_path is relative to the event's cwd; the hook runs from anywhere.
    clean = hook(event("Write", {"file_path": "shop/pricing.py", "content": "..."}, project),
                 project.parent)
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, "", "")
    cart = project / "shop" / "cart.py"
    cart.write_text("import json\n" + cart.read_text())  # an unused import: a warning only
    warning = hook(event("MultiEdit", {"file_path": str(cart), "edits": []}, project), project)
    assert (warning.returncode, warning.stdout, warning.stderr) == (0, "", "")
    # legacy.py's error is pre-existing: editing it without fixing it interrupts nobody.
    legacy = project / "shop" / "legacy.py"
    legacy.write_text(legacy.read_text() + "\n# touched\n")
    old = hook(event("Edit", {"file_path": str(legacy)}, project), project)
    assert (old.returncode, old.stdout, old.stderr) == (0, "", "")


@pytest.mark.slow
def test_a_package_of_a_monorepo_is_checked_in_its_own_root(project: Path) -> None:
    # The session runs in the directory above (a monorepo: its .git), the file is in the
    # package, whose pyproject.toml makes it the root that is checked (and gets the daemon).
    monorepo = project.parent
    (monorepo / ".git").mkdir(exist_ok=True)
    break_pricing(project, "region: str")
    proc = hook(event("Edit", {"file_path": "shop/shop/pricing.py"}, monorepo), monorepo)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("shop/cart.py:27:16: error:")  # root-relative: the package's
    assert not (monorepo / ".lspfeedback").exists()


@pytest.mark.slow
def test_the_bound_passing_exits_zero_with_a_note(project: Path) -> None:
    proc = hook(event("Write", {"file_path": "shop/cart.py"}, project), project,
                "--timeout", "0.001")
    assert proc.returncode == 0 and proc.stdout == ""
    assert "no answer within 0.001 s; not checked" in proc.stderr


@pytest.fixture
def bare(tmp_path: Path) -> Path:
    """A project with no Python in it (nothing here needs a server)."""
    root = tmp_path / "shop"
    root.mkdir()
    (root / "pyproject.toml").write_text("[project]\nname = 'shop'\n")
    (root / "README.md").write_text("# shop\n")
    (root / "n.ipynb").write_text("{}\n")
    return root
