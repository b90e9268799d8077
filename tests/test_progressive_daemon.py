"""The progressive verdict through the daemon, its clients, the command line and MCP; the
daemon's local Unix socket and its pre-serialised answers.

A daemon with the default servers (pyright + ruff, ty as pyright's preview) serves the
module; the fault cases start daemons of their own whose slow server
(tests/servers/hang_after_edit.py) never answers for the edited state, so a stream is held
between its preview and its final report for as long as the test needs: no race, no sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from mcp import Client as McpClient

from lspfeedback import (
    AsyncClient,
    CandidateReport,
    Client,
    DaemonError,
    DaemonUnreachable,
    Degraded,
    Diagnostic,
    EditApplyError,
    Fix,
    PathOutsideWorkspace,
    Report,
    Unknown,
    VerifierOptions,
)
from lspfeedback._daemon.service import candidate_dict, report_dict, report_json
from lspfeedback._daemon.state import DaemonInfo, read_state, socket_address, write_state
from lspfeedback._exceptions import DaemonNotRunning
from lspfeedback._sandbox import sandbox_for
from lspfeedback.mcp import create_server

from .conftest import FIXTURES, REPO, TIMEOUT, pid_alive
from .test_daemon import Daemon, serve_args, start_daemon

pytestmark = pytest.mark.slow

PRICING = "shop/pricing.py"
CART = "shop/cart.py"
SIGNATURE = "def apply_discount(price_cents: int, percent: int) -> int:"
HANG_SERVER = Path(__file__).resolve().parent / "servers" / "hang_after_edit.py"


def breaking(root: Path) -> dict[str, str]:
    """A new required parameter: shop/cart.py's call of apply_discount breaks."""
    text = (root / PRICING).read_text()
    return {PRICING: text.replace(SIGNATURE, SIGNATURE.replace("percent: int)",
                                                              "percent: int, currency: str)"))}


def assert_preview_then_final(reports: list[Report]) -> tuple[Report, Report]:
    preview, final = reports
    assert (preview.final, final.final) == (False, True)
    assert not preview.complete and final.complete
    assert set(preview.servers) == {"ruff", "ty"} and set(final.servers) == {"pyright", "ruff"}
    assert [(d.path, d.source) for d in preview.introduced] == [(CART, "ty")]
    assert [(d.path, d.code) for d in final.introduced] == [(CART, "reportCallIssue")]
    return preview, final


def descendants(pid: int) -> list[int]:
    return [p.pid for p in psutil.Process(pid).children(recursive=True)]


def cli(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lspfeedback", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    base = tmp_path_factory.mktemp("progressive")
    root = base / "shop"
    shutil.copytree(FIXTURES / "shop", root)
    running = start_daemon(root, serve_args(root, "--port", "0"), base)
    yield running
    running.stop()


# ---- pre-serialised answers -----------------------------------------------------------------

def full_report(final: bool = True) -> Report:
    """A report with every field set, so that a key left out or mis-made shows."""
    d = Diagnostic(CART, 27, 16, 27, 40, "error", "Argument missing", "pyright",
                   "reportCallIssue", "https://example.invalid/rule", fixable=True)
    w = Diagnostic(PRICING, 1, 1, 1, 5, "warning", "unused", "ruff", "F401")
    fix = Fix("Remove", "ruff", w, {PRICING: "x = 1\n"}, {PRICING: "abc"}, preferred=True)
    return Report(status="errors", diagnostics=(d, w), introduced=(d,), resolved=(w,),
                  checked_files=(PRICING, CART), changed_files=(PRICING,),
                  versions={PRICING: 3, CART: 1}, elapsed_ms=12.5, timings_ms={"ruff": 1.25},
                  unknown=(Unknown("ty", "timed out"),), complete=False, unvouched=("pyrefly",),
                  dependents_omitted=2, conflicts=(CART,), external_changes=(CART,),
                  external_introduced=(w,),
                  degraded=(Degraded("pyright", "restarting", ("ty",), ("lint",)),),
                  fixes=(fix,), notes=("a note",), servers=("pyright", "ruff"), final=final)


@pytest.mark.parametrize("final", [True, False])
def test_the_daemons_report_json_is_exactly_report_to_dict(final: bool) -> None:
    report = full_report(final)
    assert report_dict(report) == report.to_dict()
    assert list(report_dict(report)) == list(report.to_dict())  # the same order of keys
    assert Report.from_dict(json.loads(report_json(report))) == report
    candidate = CandidateReport(index=1, rank=2, report=report, changes={PRICING: None},
                                changed_lines=4)
    assert candidate_dict(candidate) == candidate.to_dict()


# ---- the local socket -------------------------------------------------------------------------

def test_a_tcp_daemon_also_listens_on_a_local_socket_that_clients_prefer(
        daemon: Daemon) -> None:
    info = daemon.info
    assert info.url is not None and info.url.startswith("http://127.0.0.1:")
    assert info.socket is not None and info.socket.startswith("@lspfeedback-")  # abstract
    assert not (daemon.root / ".lspfeedback" / info.socket).exists()  # no file anywhere
    with Client(daemon.root) as client:
        assert client.socket == info.socket and client.endpoint == info.url
        over_socket = client.health()
    # TCP is still served, for curl and for clients of other machines' making.
    over_tcp = httpx.get(f"{info.url}/v1/health", headers=daemon.headers(), timeout=TIMEOUT)
    assert over_tcp.status_code == 200 and over_tcp.json()["pid"] == over_socket["pid"]
    status = cli("status", "--root", str(daemon.root), "--json", cwd=REPO)
    assert status.returncode == 0 and json.loads(status.stdout)["socket"] == info.socket
    assert f"(local socket {info.socket})" in cli("status", "--root", str(daemon.root),
                                                  cwd=REPO).stdout
    # The socket is guarded like TCP: no token, no answer.
    transport = httpx.HTTPTransport(uds=socket_address(info.socket))
    with httpx.Client(transport=transport, base_url="http://localhost") as raw:
        assert raw.get("/v1/health").status_code == 401


@pytest.mark.skipif(not sandbox_for("auto").active,
                    reason="bubblewrap cannot start on this machine")
def test_a_sandboxed_server_cannot_reach_the_local_socket(daemon: Daemon) -> None:
    """A language server sees the workspace (the state file too) read-only, without network:
    the local socket must be as far out of its reach as the loopback is."""
    assert daemon.info.socket is not None
    sandbox = sandbox_for("auto")
    code = ("import socket\ns = socket.socket(socket.AF_UNIX)\ntry:\n"
            f"    s.connect({socket_address(daemon.info.socket)!r})\n"
            "except OSError as e:\n    print('refused', e)\nelse:\n    print('connected')\n")
    argv = sandbox.wrap([sys.executable, "-c", code], {}, "test")
    inside = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                            env=sandbox.environment({}), preexec_fn=sandbox.preexec)
    assert inside.returncode == 0, inside.stderr
    assert inside.stdout.startswith("refused"), inside.stdout


@pytest.mark.skipif(not sandbox_for("auto").active,
                    reason="bubblewrap cannot start on this machine")
def test_a_sandboxed_server_gets_no_answer_on_a_socket_file(shop: Path, tmp_path: Path) -> None:
    """serve --socket PATH: the file is visible in the sandbox, and so is the token; the
    daemon closes a connection from another network namespace before reading a byte."""
    path = tmp_path / "d.sock"
    running = start_daemon(shop, serve_args(shop, "--socket", str(path), "--server", "ruff"),
                           tmp_path)
    try:
        request = (f"GET /v1/health HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "
                   f"{running.info.token}\r\n\r\n").encode()
        code = ("import socket\ns = socket.socket(socket.AF_UNIX)\n"
                f"s.connect({str(path)!r})\ns.settimeout(30)\n"
                f"try:\n    s.sendall({request!r})\n    print('answer', s.recv(100))\n"
                "except OSError as e:\n    print('answer', b'', e)\n")
        sandbox = sandbox_for("auto")
        argv = sandbox.wrap([sys.executable, "-c", code], {}, "test")
        inside = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False,
                                env=sandbox.environment({}), preexec_fn=sandbox.preexec)
        assert inside.returncode == 0, inside.stderr
        assert inside.stdout.startswith("answer b''"), inside.stdout  # closed, nothing said
        with Client(shop) as client:  # from here, the same socket answers
            assert client.health()["status"] == "ok"
    finally:
        running.stop()
    assert "another network namespace" in running.stderr.read_text()


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to serve a socket as another user")
def test_a_socket_served_by_another_user_is_refused() -> None:
    name = f"@lspfeedback-test-{os.getpid()}"
    # Listening as uid 65534: SO_PEERCRED names who listens.
    code = ("import os, socket\nos.setuid(65534)\ns = socket.socket(socket.AF_UNIX)\n"
            f"s.bind({socket_address(name)!r})\ns.listen()\n"
            "print('ready', flush=True)\nconn, _ = s.accept()\nconn.recv(1)\n")
    other = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert other.stdout is not None and other.stdout.readline() == "ready\n"
        with (Client(socket=name, token="t" * 43, timeout=TIMEOUT) as client,
              pytest.raises(DaemonUnreachable, match="not by this user")):
            client.health()
    finally:
        other.kill()
        other.wait(timeout=TIMEOUT)


def test_a_state_file_naming_something_else_as_its_socket_is_ignored(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    root.mkdir()
    impostor = tmp_path / "not-a-socket"
    impostor.write_text("")
    write_state(DaemonInfo(root=str(root), token="t" * 43, pid=os.getpid(), version="0",
                           socket=str(impostor)))
    with pytest.raises(DaemonNotRunning, match="is not a socket of this user"):
        read_state(root)


# ---- the stream over HTTP and through the clients ----------------------------------------------

def test_the_http_stream_is_ndjson_a_preview_then_the_final_report(daemon: Daemon) -> None:
    body = {"changes": breaking(daemon.root)}
    with httpx.stream("POST", f"{daemon.url}/v1/verify/progressive", json=body,
                      headers=daemon.headers(), timeout=TIMEOUT) as answer:
        assert answer.status_code == 200
        assert answer.headers["content-type"] == "application/x-ndjson"
        lines = [json.loads(line) for line in answer.iter_lines() if line]
    assert [line["final"] for line in lines] == [False, True]
    assert_preview_then_final([Report.from_dict(line) for line in lines])
    with Client(daemon.root) as client:
        assert client.health()["overlays"] == 0  # speculative: taken back


def test_client_and_async_client_iterate_the_preview_then_the_final(daemon: Daemon) -> None:
    edit = breaking(daemon.root)
    with Client(daemon.root) as client:
        _, final = assert_preview_then_final(list(client.verify_progressive(edit)))
        plain = client.verify(edit)
    # The final report is what a plain verify of the same edit says.
    assert (final.status, final.introduced, final.checked_files) == (
        plain.status, plain.introduced, plain.checked_files)

    async def streamed() -> list[Report]:
        async with AsyncClient(daemon.root) as client:
            return [report async for report in client.verify_progressive(edit)]

    assert_preview_then_final(asyncio.run(streamed()))


def test_a_session_keeps_a_progressive_edit_once_its_final_report_is_there(
        daemon: Daemon) -> None:
    with Client(daemon.root) as client:
        reports = list(client.verify_progressive(breaking(daemon.root), session="tiers"))
        assert_preview_then_final(reports)
        # The session holds the new signature: its own next check still sees the broken call.
        cart = (daemon.root / CART).read_text() + "\nX = 1\n"
        mine = client.verify({CART: cart}, session="tiers")
        theirs = client.verify({CART: cart})
        assert any(d.code == "reportCallIssue" for d in mine.diagnostics)
        assert not any(d.code == "reportCallIssue" for d in theirs.diagnostics)
        assert client.discard("tiers") == [CART, PRICING]
        assert client.health()["overlays"] == 0


def test_an_edit_that_cannot_apply_is_an_ordinary_error_answer(daemon: Daemon) -> None:
    missing = f"{PRICING}\n<<<<<<< SEARCH\nno such line\n=======\nx = 1\n>>>>>>> REPLACE\n"
    with Client(daemon.root) as client:
        with pytest.raises(EditApplyError) as info:
            list(client.verify_progressive(missing))
        assert info.value.path == PRICING
        with pytest.raises(PathOutsideWorkspace):
            list(client.verify_progressive({"../elsewhere.py": "x = 1\n"}))
        with pytest.raises(DaemonError) as invalid:
            list(client.verify_progressive([PRICING], session="s"))
        assert invalid.value.status == 400 and invalid.value.error == "InvalidRequest"
        assert client.health()["overlays"] == 0
    answer = httpx.post(f"{daemon.url}/v1/verify/progressive", json={"changes": missing},
                        headers=daemon.headers(), timeout=TIMEOUT)
    assert answer.status_code == 400 and answer.headers["content-type"] == "application/json"
    assert answer.json()["error"] == "EditApplyError"


def test_candidates_confirmed_on_every_server_only_as_far_as_needed(daemon: Daemon) -> None:
    harmless = {PRICING: (daemon.root / PRICING).read_text() + "\n# harmless\n"}
    with Client(daemon.root) as client:
        ranked = client.verify_candidates([breaking(daemon.root), harmless], confirm=1)
        assert [c.index for c in ranked] == [1, 0]
        best, other = ranked
        assert best.report.final and best.ok and "pyright" in best.report.servers
        assert not other.report.final and not other.report.complete  # the fast tier's word
        assert set(other.report.servers) == {"ruff", "ty"}
        with pytest.raises(DaemonError) as info:
            client.verify_candidates([harmless], confirm=0)
        assert info.value.status == 422
        assert client.health()["overlays"] == 0


# ---- the command line ---------------------------------------------------------------------------

PATCH = (f"{PRICING}\n<<<<<<< SEARCH\n{SIGNATURE}\n=======\n"
         f"{SIGNATURE.replace('percent: int)', 'percent: int, currency: str)')}\n>>>>>>> REPLACE\n")


def test_cli_verify_progressive_prints_each_report_as_it_comes(daemon: Daemon) -> None:
    as_json = cli("verify", "--progressive", "--json", "--verbose", "--patch", "-",
                  cwd=daemon.root, stdin=PATCH)
    assert as_json.returncode == 1, as_json.stderr
    assert f"using the daemon at {daemon.info.url}" in as_json.stderr
    lines = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert [line["final"] for line in lines] == [False, True]
    assert_preview_then_final([Report.from_dict(line) for line in lines])
    text = cli("verify", "--progressive", "--patch", "-", cwd=daemon.root, stdin=PATCH)
    assert text.returncode == 1, text.stderr
    first, *rest = text.stdout.splitlines()
    assert first.startswith("preview from ") and "not final" in first
    assert rest[0].startswith(f"  {CART}:27:16: error:") and "[ty " in rest[0]
    assert rest[-1].startswith(f"{CART}:27:16: error:") and "[pyright reportCallIssue]" in rest[-1]
    # Without --progressive: one report, as before.
    plain = cli("verify", "--json", "--patch", "-", cwd=daemon.root, stdin=PATCH)
    assert plain.returncode == 1 and json.loads(plain.stdout)["final"] is True


def test_cli_verify_progressive_through_the_daemon_stays_light(daemon: Daemon) -> None:
    proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "lspfeedback", "verify",
                           "--progressive", "-v", "--patch", "-"], cwd=daemon.root, input=PATCH,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1 and f"using the daemon at {daemon.info.url}" in proc.stderr
    imported = {line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
                if line.startswith("import time:") and "|" in line}
    assert "lspfeedback._daemon.wire" in imported  # the measurement saw the command's imports
    heavy = {"httpx", "lsprotocol", "pygls", "anyio", "lspfeedback._engine",
             "lspfeedback._verifier", "lspfeedback._daemon.client", "lspfeedback.servers",
             "fastapi", "pydantic", "rich"}
    assert imported & heavy == set()
    assert "preview from " in proc.stdout  # and it did stream


# ---- faults mid-stream ---------------------------------------------------------------------------

HANG_DAEMON = """
import sys
from dataclasses import dataclass
sys.path.insert(0, {repo!r})
from lspfeedback import VerifierOptions
from lspfeedback._daemon.server import serve
from lspfeedback.servers.base import ServerContext, ServerSpec

@dataclass(frozen=True)
class Slow(ServerSpec):
    def command(self, ctx: ServerContext) -> list[str]:
        return [sys.executable, {server!r}]

slow = Slow(name="slow", summary="hangs on the edited state", checks=("lint",), install_hint="-")
options = VerifierOptions(servers=(slow, "ruff"), previews={{"slow": ("ruff",)}}, timeout=600.0)
sys.exit(serve({root!r}, options, announce=lambda info: print(info.url, flush=True)))
"""
HANGING_EDIT = "import json\nHANG_HERE = 1\n"
"""Added to shop/cart.py: ruff (the preview) reports F401 at once; the slow server never
answers for it."""


@pytest.fixture
def hanging(shop: Path, tmp_path: Path) -> Iterator[Daemon]:
    """A daemon whose final reports never come (until it is stopped); stopped at the end,
    and its language servers killed if it was killed."""
    script = HANG_DAEMON.format(repo=str(REPO), server=str(HANG_SERVER), root=str(shop))
    running = start_daemon(shop, ["-c", script], tmp_path)
    children = descendants(running.proc.pid)
    yield running
    running.stop()
    for pid in children:  # a daemon killed on purpose leaves its servers: end them here
        with contextlib.suppress(psutil.NoSuchProcess):
            psutil.Process(pid).kill()


def hanging_edit(root: Path) -> dict[str, str]:
    return {CART: HANGING_EDIT + (root / CART).read_text()}


def test_sigterm_mid_stream_is_an_error_line_and_leaves_no_server(hanging: Daemon) -> None:
    children = descendants(hanging.proc.pid)
    assert len(children) >= 2  # slow and ruff
    body = {"changes": hanging_edit(hanging.root)}
    with httpx.stream("POST", f"{hanging.url}/v1/verify/progressive", json=body,
                      headers=hanging.headers(), timeout=TIMEOUT) as answer:
        lines = answer.iter_lines()
        preview = Report.from_dict(json.loads(next(lines)))
        assert not preview.final and preview.servers == ("ruff",)
        assert "F401" in {d.code for d in preview.introduced}
        hanging.proc.send_signal(signal.SIGTERM)
        rest = [json.loads(line) for line in lines if line]
    assert rest == [{"error": "ShuttingDown", "status": 503, "message": rest[0]["message"]}]
    assert hanging.proc.wait(timeout=60) in (0, -signal.SIGTERM)
    assert [pid for pid in children if pid_alive(pid)] == []


def test_the_client_raises_when_the_stream_breaks_after_its_preview(hanging: Daemon) -> None:
    with Client(hanging.root) as client:
        reports = client.verify_progressive(hanging_edit(hanging.root))
        assert next(reports).final is False
        hanging.proc.send_signal(signal.SIGTERM)
        with pytest.raises(DaemonError) as info:
            next(reports)
    assert info.value.status == 503 and info.value.error == "ShuttingDown"


def test_a_reader_that_leaves_mid_stream_gets_the_edit_taken_back(hanging: Daemon) -> None:
    with Client(hanging.root) as client:
        reports = client.verify_progressive(hanging_edit(hanging.root))
        assert next(reports).final is False
        reports.close()  # the connection closes: the daemon stops the work and takes it back
        # Nothing announces the end of the clean-up, so ask the daemon (bounded).
        for _ in range(10_000):
            if client.health()["in_flight"] == 0:
                break
        else:
            pytest.fail("the abandoned verify never ended")
        assert client.health()["overlays"] == 0
        # The engine is free again: an edit the slow server answers gets its final report.
        cart = (hanging.root / CART).read_text()
        last = list(client.verify_progressive({CART: "import json\n" + cart}))[-1]
        assert last.final and "F401" in {d.code for d in last.introduced}
        assert set(last.servers) == {"ruff", "slow"}


def test_cli_ends_with_an_unknown_report_when_the_daemon_dies_mid_stream(
        hanging: Daemon) -> None:
    first_line = (hanging.root / CART).read_text().splitlines()[0]
    patch = (f"{CART}\n<<<<<<< SEARCH\n{first_line}\n=======\n{HANGING_EDIT}{first_line}\n"
             ">>>>>>> REPLACE\n")
    proc = subprocess.Popen([sys.executable, "-m", "lspfeedback", "verify", "--progressive",
                             "--json", "--patch", "-"], cwd=hanging.root, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(patch)
    proc.stdin.close()
    preview = json.loads(proc.stdout.readline())  # printed (and flushed) as it came
    assert preview["final"] is False and preview["servers"] == ["ruff"]
    hanging.proc.kill()  # no goodbye: the stream just ends
    rest = proc.stdout.read()
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 3, err
    [last] = [json.loads(line) for line in rest.splitlines()]
    assert last["final"] is True and last["status"] == "unknown" and last["ok"] is False
    assert "stopped after its preview" in last["unknown"][0]["reason"]


def test_async_client_stream_ending_without_a_final_report_is_an_error(hanging: Daemon) -> None:
    async def scenario() -> tuple[Report, BaseException]:
        async with AsyncClient(hanging.root) as client:
            reports = client.verify_progressive(hanging_edit(hanging.root))
            first = await anext(reports)
            hanging.proc.kill()
            try:
                await anext(reports)
            except BaseException as exc:  # noqa: BLE001 - what it raised is the point
                return first, exc
            pytest.fail("the stream went on after the daemon died")

    first, error = asyncio.run(scenario())
    assert first.final is False
    assert isinstance(error, DaemonUnreachable), error


# ---- MCP -----------------------------------------------------------------------------------------

def mcp_run(root: Path, scenario: Any) -> Any:
    async def connected() -> Any:
        options = VerifierOptions(timeout=TIMEOUT, replicas=1)
        async with McpClient(create_server(root, options)) as client:
            return await scenario(client)

    return asyncio.run(connected())


def test_mcp_verify_sends_the_preview_as_progress_and_returns_the_final(shop: Path) -> None:
    edit = breaking(shop)
    progress: list[tuple[float, float | None, str | None]] = []

    async def note(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async def scenario(client: McpClient) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        result = await client.call_tool("verify", {"changes": edit}, progress_callback=note,
                                        meta={"progress_token": "tiers"})
        assert not result.is_error and result.structured_content is not None
        after = await client.call_tool("diagnostics", {"paths": [CART]})
        kept = await client.call_tool("verify", {"changes": edit, "speculative": False},
                                      progress_callback=note, meta={"progress_token": "kept"})
        assert kept.structured_content is not None and after.structured_content is not None
        return result.structured_content, after.structured_content, kept.structured_content

    final, after, kept = mcp_run(shop, scenario)
    assert final["final"] is True and set(final["servers"]) == {"pyright", "ruff"}
    assert [(d["path"], d["code"]) for d in final["introduced"]] == [(CART, "reportCallIssue")]
    assert after["status"] == "clean"  # speculative: taken back
    assert kept["final"] is True and kept["ok"] is False
    assert len(progress) == 2
    for done, total, message in progress:
        assert (done, total) == (1, 2) and message is not None
        assert message.startswith("preview errors:") and f"+ {CART}:27:16" in message
        assert "[ty missing-argument]" in message


def test_mcp_verify_without_a_progress_token_answers_once(shop: Path) -> None:
    progress: list[object] = []

    async def note(done: float, total: float | None, message: str | None) -> None:
        progress.append(message)

    async def scenario(client: McpClient) -> dict[str, Any]:
        result = await client.call_tool("verify", {"changes": breaking(shop)},
                                        progress_callback=note)
        assert result.structured_content is not None
        return result.structured_content

    final = mcp_run(shop, scenario)
    assert final["final"] is True and "ty" not in final["servers"] and progress == []


# ---- the local transport, against a scripted socket (fault injection) ----------------------------

Step = Any  # a function of one accepted connection


def read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += conn.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += conn.recv(65536)
    return head


def answer(conn: socket.socket, payload: bytes, *, length: int | None = None) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d"
                 b"\r\n\r\n%b" % (len(payload) if length is None else length, payload))


def scripted(path: Path, steps: list[Step]) -> threading.Thread:
    """A Unix socket at ``path`` running one step per connection it accepts, in order."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen()

    def run() -> None:
        with listener:
            for step in steps:
                conn, _ = listener.accept()
                with conn:
                    step(conn)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


HEALTH = json.dumps({"status": "ok", "pid": 1}).encode()


def test_a_kept_alive_connection_the_daemon_closed_is_retried_once(tmp_path: Path) -> None:
    path = tmp_path / "d.sock"
    heads: list[bytes] = []

    def once_then_close(conn: socket.socket) -> None:
        heads.append(read_request(conn))
        answer(conn, HEALTH)  # keep-alive by HTTP/1.1's default, then closed: stale

    thread = scripted(path, [once_then_close, once_then_close])
    with Client(socket=path, token="t" * 43, timeout=TIMEOUT) as client:
        assert client.health()["pid"] == 1
        assert client.health()["pid"] == 1  # the stale connection failed; a new one answered
    thread.join(timeout=TIMEOUT)
    assert len(heads) == 2 and all(h.startswith(b"GET /v1/health HTTP/1.1\r\n") for h in heads)
    assert all(b"\r\nAuthorization: Bearer " + b"t" * 43 + b"\r\n" in h for h in heads)


def test_an_answer_cut_off_mid_body_is_daemon_unreachable(tmp_path: Path) -> None:
    path = tmp_path / "d.sock"

    def cut(conn: socket.socket) -> None:
        read_request(conn)
        answer(conn, HEALTH[:5], length=len(HEALTH))  # then the connection closes

    thread = scripted(path, [cut])
    with (Client(socket=path, token="t" * 43, timeout=TIMEOUT) as client,
          pytest.raises(DaemonUnreachable, match="closed the connection")):
        client.health()
    thread.join(timeout=TIMEOUT)


def test_a_stream_the_daemon_ends_after_a_preview_is_never_taken_as_final(
        tmp_path: Path) -> None:
    path = tmp_path / "d.sock"
    preview = json.dumps({**full_report(final=False).to_dict()}).encode() + b"\n"

    def preview_only(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-ndjson\r\n"
                     b"transfer-encoding: chunked\r\n\r\n%x\r\n%b\r\n0\r\n\r\n"
                     % (len(preview), preview))

    thread = scripted(path, [preview_only, preview_only])
    with Client(socket=path, token="t" * 43, timeout=TIMEOUT) as client:
        reports = client.verify_progressive({PRICING: "x = 1\n"})
        assert next(reports).final is False
        with pytest.raises(DaemonUnreachable, match="before its final report"):
            next(reports)

    async def streamed() -> None:
        async with AsyncClient(socket=path, token="t" * 43, timeout=TIMEOUT) as client:
            seen = []
            with pytest.raises(DaemonUnreachable, match="before its final report"):
                async for report in client.verify_progressive({PRICING: "x = 1\n"}):
                    seen.append(report.final)
            assert seen == [False]

    asyncio.run(streamed())
    thread.join(timeout=TIMEOUT)


def test_mcp_and_cli_candidates_confirm_only_as_far_as_needed(shop: Path,
                                                             tmp_path: Path) -> None:
    harmless = {PRICING: (shop / PRICING).read_text() + "\n# harmless\n"}

    async def scenario(client: McpClient) -> dict[str, Any]:
        result = await client.call_tool("verify_candidates", {
            "candidates": [breaking(shop), harmless], "confirm": 1})
        assert not result.is_error and result.structured_content is not None
        return result.structured_content

    best, other = mcp_run(shop, scenario)["candidates"]
    assert best["index"] == 1 and best["report"]["final"] is True and best["report"]["ok"]
    assert other["report"]["final"] is False and set(other["report"]["servers"]) == {"ruff", "ty"}

    folder = tmp_path / "edits"
    folder.mkdir()
    signature = SIGNATURE.replace("percent: int)", "percent: int, currency: str)")
    (folder / "a-breaking.txt").write_text(
        f"{PRICING}\n<<<<<<< SEARCH\n{SIGNATURE}\n=======\n{signature}\n>>>>>>> REPLACE\n")
    (folder / "b-harmless.txt").write_text(
        f"{PRICING}\n<<<<<<< SEARCH\n{SIGNATURE}\n=======\n# harmless\n{SIGNATURE}\n"
        ">>>>>>> REPLACE\n")
    ranked = cli("candidates", "--confirm", "1", "--root", str(shop), str(folder), cwd=shop)
    assert ranked.returncode == 0, ranked.stderr
    first, *rest = ranked.stdout.splitlines()
    assert first.startswith("#1 ") and "b-harmless.txt: clean," in first
    assert any("a-breaking.txt: errors (not confirmed: " in line for line in rest)
