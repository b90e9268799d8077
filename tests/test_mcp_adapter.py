"""The MCP server end to end: an MCP client drives `lspfeedback.mcp` on a private copy of
the shop fixture with the real pyright and ruff. In memory (the SDK's in-process client)
for the tools; one run of the installed ``lspfeedback mcp`` command over stdio, started in a
directory that is not the repository, for the command, its clean shutdown and the language
servers it must not leave behind. And the adapter configurations in adapters/mcp/ name
a command line the real parser accepts.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import select
import subprocess
import sys
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, get_args

import psutil
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from lspfeedback import VerifierOptions
from lspfeedback._cli import _LOG_LEVELS, _parser, main
from lspfeedback.mcp import LogLevel, create_server

from .conftest import REPO, TIMEOUT, pid_alive

pytestmark = pytest.mark.slow

# The command an MCP client starts: the console script installed beside this interpreter.
LSPFEEDBACK = Path(sys.executable).with_name("lspfeedback")
ADAPTER_CONFIGS = sorted((REPO / "adapters" / "mcp").glob("*.json"))

T = TypeVar("T")
PRICING = "shop/pricing.py"
CART = "shop/cart.py"
SIGNATURE = "def apply_discount(price_cents: int, percent: int) -> int:"


def run(root: Path, scenario: Callable[[Client], Awaitable[T]]) -> T:
    """Run ``scenario`` with an in-memory client connected to a server for ``root``."""

    async def connected() -> T:
        # One replica: the candidates run one after the other on the primary servers, which
        # is all these tests need on a shared 2-core machine.
        async with Client(create_server(root, VerifierOptions(timeout=TIMEOUT, replicas=1))) as client:
            return await scenario(client)

    return asyncio.run(connected())


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


def test_tools_listed_and_verify_names_the_broken_importer_without_writing(shop: Path) -> None:
    pricing = (shop / PRICING).read_text()
    broken = pricing.replace(SIGNATURE, SIGNATURE.replace("percent: int)", "percent: int, c: str)"))
    before = tree_digest(shop)

    async def scenario(client: Client) -> None:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == {"verify", "check_files", "verify_candidates", "commit", "discard",
                              "diagnostics"}
        verify = tools["verify"]
        assert verify.input_schema["required"] == ["changes"]
        assert verify.output_schema is not None
        assert {"status", "ok", "introduced"} <= set(verify.output_schema["properties"])
        assert verify.description is not None and "introduced" in verify.description
        assert tools["commit"].annotations is not None
        assert tools["commit"].annotations.destructive_hint is True

        result = await client.call_tool("verify", {"changes": {PRICING: broken}})
        report = structured(result)
        assert report["status"] == "errors" and report["ok"] is False
        assert [(d["path"], d["code"]) for d in report["introduced"]] == [(CART, "reportCallIssue")]
        assert f"+ {CART}:" in text_of(result)  # the human summary is str(report)
        # Speculative (the default): checked and taken back, so the next call starts clean.
        again = structured(await client.call_tool("diagnostics", {"paths": [CART]}))
        assert again["status"] == "clean"

    run(shop, scenario)
    assert tree_digest(shop) == before


def test_edit_that_does_not_apply_is_a_tool_error_with_the_library_message(shop: Path) -> None:
    missing = f"{CART}\n<<<<<<< SEARCH\n    def not_there(self) -> int:\n=======\n    pass\n>>>>>>> REPLACE\n"
    before = tree_digest(shop)

    async def scenario(client: Client) -> None:
        result = await client.call_tool("verify", {"changes": missing, "speculative": False})
        assert result.is_error
        assert CART in text_of(result)
        outside = await client.call_tool("verify", {"changes": {"../elsewhere.py": "x = 1\n"}})
        assert outside.is_error and "outside the workspace" in text_of(outside)
        # Neither call changed anything: nothing is kept, the server still answers.
        assert structured(await client.call_tool("discard", {})) == {"paths": []}

    run(shop, scenario)
    assert tree_digest(shop) == before


def test_check_files_reports_what_the_files_written_introduced(
        shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "shop"]):
        subprocess.run([*git, *args], cwd=shop, check=True, capture_output=True, timeout=60)
    # The agent writes with its own tools; the server runs elsewhere: paths are the root's.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    pricing = shop / PRICING
    original = pricing.read_text()
    pricing.write_text(original.replace(
        SIGNATURE, SIGNATURE.replace("percent: int)", "percent: int, c: str)")))
    (shop / "NOTES.md").write_text("notes\n")

    async def scenario(client: Client) -> None:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        schema = tools["check_files"].output_schema
        assert schema is not None and {"baseline", "not_checked"} <= set(schema["properties"])
        first = structured(await client.call_tool("check_files",
                                                  {"paths": [PRICING, "NOTES.md"]}))
        assert first["baseline"] == "git" and first["ok"] is False
        assert [(d["path"], d["code"]) for d in first["introduced"]] == [(CART, "reportCallIssue")]
        assert first["not_checked"] == [{"path": "NOTES.md",
                                         "reason": "no server checks this kind of file"}]
        # Not fixed: still introduced (the baseline stays the text before the failing check).
        again = structured(await client.call_tool("check_files", {"paths": [PRICING]}))
        assert again["ok"] is False and "kept until a check passes" in again["baseline_detail"]
        # Fixed on disk: ok; from then on the server's last known text is the baseline.
        pricing.write_text(original)
        fixed = structured(await client.call_tool("check_files", {"paths": [PRICING]}))
        assert fixed["ok"] is True and fixed["status"] == "clean"
        later = structured(await client.call_tool("check_files", {"paths": [PRICING]}))
        assert later["baseline"] == "daemon"
        assert later["baseline_detail"] == "the server's last known text"
        outside = await client.call_tool("check_files", {"paths": ["../elsewhere.py"]})
        assert outside.is_error and "outside the workspace" in text_of(outside)

    run(shop, scenario)


def test_candidates_ranked_harmless_above_breaking(shop: Path) -> None:
    pricing = (shop / PRICING).read_text()
    breaking = {PRICING: pricing.replace(SIGNATURE, SIGNATURE.replace("percent: int)", "percent: int, c: str)"))}
    harmless = f"{PRICING}\n<<<<<<< SEARCH\n    \"\"\"Return the price after taking ``percent`` off, rounded down.\"\"\"\n" \
               "=======\n    \"\"\"Return the price after taking ``percent`` off, rounded down (floor).\"\"\"\n" \
               ">>>>>>> REPLACE\n"

    async def scenario(client: Client) -> None:
        result = await client.call_tool("verify_candidates", {"candidates": [breaking, harmless]})
        ranked = structured(result)["candidates"]
        assert [(c["rank"], c["index"]) for c in ranked] == [(1, 1), (2, 0)]
        assert ranked[0]["report"]["ok"] is True
        assert ranked[1]["report"]["ok"] is False
        assert [d["path"] for d in ranked[1]["report"]["introduced"]] == [CART]
        assert text_of(result).startswith("#1 candidate 1")

    run(shop, scenario)


def test_kept_edit_is_seen_by_diagnostics_then_discarded_or_committed(shop: Path) -> None:
    cart = (shop / CART).read_text()
    with_import = cart.replace("from dataclasses", "import json\nfrom dataclasses")

    async def scenario(client: Client) -> None:
        kept = structured(await client.call_tool(
            "verify", {"changes": {CART: with_import}, "speculative": False}))
        assert kept["ok"] is True and [d["code"] for d in kept["introduced"]] == ["F401"]
        current = structured(await client.call_tool("diagnostics", {"paths": [CART]}))
        assert [d["code"] for d in current["diagnostics"]] == ["F401"]
        assert structured(await client.call_tool("discard", {})) == {"paths": [CART]}
        current = structured(await client.call_tool("diagnostics", {"paths": [CART]}))
        assert current["diagnostics"] == []
        assert (shop / CART).read_text() == cart

        await client.call_tool("verify", {"changes": {CART: with_import}, "speculative": False})
        assert structured(await client.call_tool("commit", {})) == {"paths": [CART]}
        assert structured(await client.call_tool("commit", {})) == {"paths": []}

    run(shop, scenario)
    assert (shop / CART).read_text() == with_import


@pytest.mark.parametrize("ending", ["stdin closed", "SIGTERM"])
def test_stdio_command_serves_and_leaves_no_language_server_behind(
        shop: Path, tmp_path: Path, ending: str) -> None:
    assert LSPFEEDBACK.is_file(), f"no {LSPFEEDBACK}: install the package (pip install -e '.[dev]')"
    # Started from a directory that is neither the repository nor the workspace: the
    # command must not depend on where it runs.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    params = StdioServerParameters(
        command=str(LSPFEEDBACK), cwd=elsewhere,
        args=["mcp", "--root", str(shop), "--replicas", "1", "--timeout", str(TIMEOUT)],
    )
    descendants: list[int] = []

    async def scenario() -> dict[str, Any]:
        async with Client(params) as client:
            # Files already written, named relative to the root, not to the server's cwd.
            checked = structured(await client.call_tool("check_files", {"paths": [CART]}))
            assert checked["ok"] is True and CART in checked["checked_files"]
            result = await client.call_tool("diagnostics", {"paths": [CART]})
            # While connected: the MCP server and, below it, pyright and ruff.
            [server] = [p for p in psutil.Process().children() if "mcp" in p.cmdline()]
            assert server.cwd() == str(elsewhere)
            language_servers = [p.pid for p in server.children()]
            descendants.extend(p.pid for p in server.children(recursive=True))
            descendants.append(server.pid)
            if ending == "SIGTERM":
                # What MCP clients send to a server slow to exit, here while stdin is open.
                server.terminate()
                assert wait_for_exit(server.pid, TIMEOUT)
                # Reaped, not even zombies: the server stopped them and waited for them before
                # it exited. Killed outright, it would leave them to notice on their own.
                assert [pid for pid in language_servers if Path(f"/proc/{pid}").exists()] == []
            return structured(result)

    report = asyncio.run(scenario())
    assert report["status"] == "clean" and report["checked_files"] == [CART]
    assert len(descendants) >= 3
    # The server has exited; its lifespan had stopped the language servers first.
    assert [pid for pid in descendants if pid_alive(pid)] == []


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait on a pidfd (no polling, and no reaping: the client owns the child)."""
    fd = os.pidfd_open(pid)
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


def test_root_that_is_not_a_directory_is_a_usage_error(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["mcp", "--root", str(tmp_path / "missing")])
    assert exit_info.value.code == 2
    assert "is not a directory" in capsys.readouterr().err


@pytest.mark.parametrize("config", ADAPTER_CONFIGS, ids=[c.name for c in ADAPTER_CONFIGS])
def test_adapter_config_names_a_command_line_the_cli_accepts(
        config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    servers = json.loads(config.read_text())["mcpServers"]
    assert set(servers) == {"lspfeedback"}
    entry = servers["lspfeedback"]
    # The console script (found on PATH) whose entry point is the parser checked below.
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts[entry["command"]] == "lspfeedback._cli:main"
    # `--root .` is the directory the client starts the server in: any directory will do.
    monkeypatch.chdir(REPO / "fixtures" / "shop")
    args = _parser().parse_args(entry["args"])
    assert args.command == "mcp"
    assert Path(args.root).resolve() == REPO / "fixtures" / "shop"
    assert args.servers is None and args.log_level == "WARNING"


def test_adapter_configs_exist() -> None:
    assert [c.name for c in ADAPTER_CONFIGS] == ["claude_code.mcp.json"]


def test_cli_log_levels_are_the_servers() -> None:
    # The CLI lists them itself, so that its parser works without the MCP SDK installed.
    assert _LOG_LEVELS == get_args(LogLevel)
    for level in _LOG_LEVELS:
        assert _parser().parse_args(["mcp", "--log-level", level]).log_level == level
