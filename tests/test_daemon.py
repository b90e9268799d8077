"""The verify daemon end to end: `lspfeedback serve` as a subprocess on an ephemeral loopback
port, real pyright and ruff, the typed client, the security checks, many concurrent agents,
sessions, and a clean shutdown (no language server left behind).

One daemon serves the module (starting pyright costs seconds); the tests that stop a daemon
start their own.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from lspfeedback import (
    AsyncClient,
    CandidateReport,
    Client,
    DaemonError,
    DaemonNotRunning,
    DaemonUnreachable,
    EditApplyError,
    EditError,
    PathOutsideWorkspace,
    Report,
    Verifier,
)
from lspfeedback._daemon.state import DaemonInfo, read_state, state_path
from lspfeedback._schema import CandidateModel, ReportModel

from .conftest import FIXTURES, REPO, TIMEOUT, pid_alive

pytestmark = pytest.mark.slow

CHECKOUT = "shop/checkout.py"  # nothing imports it: a verify of it checks one file
RETURNS_INT = (f"{CHECKOUT}\n<<<<<<< SEARCH\n    return \"\\n\".join(lines)\n=======\n"
               "    return len(lines)\n>>>>>>> REPLACE\n")
"""A SEARCH/REPLACE edit that makes `receipt` return an int: a pyright reportReturnType."""


@dataclass
class Daemon:
    """A daemon subprocess and what its state file says."""

    proc: subprocess.Popen[str]
    root: Path
    info: DaemonInfo
    stderr: Path

    @property
    def url(self) -> str:
        return self.info.url or "http://localhost"

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.info.token}", **extra}

    def stop(self) -> int:
        """SIGTERM unless it has exited already; wait for it. Idempotent."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.stdout is not None:
                self.proc.stdout.close()


def start_daemon(root: Path, args: list[str], logs: Path) -> Daemon:
    """Start a daemon and return once it is ready.

    ``args`` is what follows ``python`` (``-m lspfeedback serve ...`` or ``-c SCRIPT``). The
    daemon prints one line on stdout once its servers are warm and its state file is written:
    reading that line is the wait (no polling); EOF instead means it died.
    """
    stderr = logs / f"daemon-{root.name}.stderr"
    with stderr.open("w") as err:
        proc = subprocess.Popen([sys.executable, *args], cwd=REPO, stdout=subprocess.PIPE,
                                stderr=err, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(timeout=60)
        pytest.fail(f"the daemon did not start (exit {proc.returncode}):\n{stderr.read_text()}")
    info = read_state(root)
    assert info is not None and info.pid == proc.pid
    return Daemon(proc, root, info, stderr)


def serve_args(root: Path, *extra: str) -> list[str]:
    return ["-m", "lspfeedback", "serve", "--root", str(root), "--timeout", str(TIMEOUT), *extra]


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    base = tmp_path_factory.mktemp("daemon")
    root = base / "shop"
    shutil.copytree(FIXTURES / "shop", root)
    running = start_daemon(root, serve_args(root, "--port", "0"), base)
    yield running
    running.stop()


Spawn = Callable[[Path, list[str]], Daemon]


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start a daemon of the test's own; whatever happens, it is stopped at the end."""
    started: list[Daemon] = []

    def start(root: Path, args: list[str]) -> Daemon:
        started.append(start_daemon(root, args, tmp_path))
        return started[-1]

    yield start
    for running in started:
        running.stop()


@pytest.fixture(scope="module")
def client(daemon: Daemon) -> Iterator[Client]:
    with Client(daemon.root) as c:
        yield c


def checkout_text(root: Path) -> str:
    return (root / CHECKOUT).read_text()


def descendants(pid: int) -> list[int]:
    return [p.pid for p in psutil.Process(pid).children(recursive=True)]


# ---- discovery and the state file -----------------------------------------------------------


def test_state_file_is_private_ignored_and_points_at_loopback(daemon: Daemon) -> None:
    path = state_path(daemon.root)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert (path.parent / ".gitignore").read_text() == "*\n"
    assert daemon.info.url is not None and daemon.info.url.startswith("http://127.0.0.1:")
    assert len(daemon.info.token) >= 43  # token_urlsafe(32): 256 bits
    assert daemon.info.token not in repr(daemon.info)


def test_health_lists_warm_servers(client: Client, daemon: Daemon) -> None:
    health = client.health()
    assert health["status"] == "ok" and health["pid"] == daemon.proc.pid
    assert set(health["servers"]) == {"pyright", "ruff"}
    for server in health["servers"].values():
        assert server["state"] == "running" and server["restarts"] == 0
        assert server["last_error"] is None
        assert server["pid"] in descendants(daemon.proc.pid)
    assert health["replicas"]["started"] >= 1 and health["overlays"] == 0


def test_client_without_a_daemon_says_so(tmp_path: Path) -> None:
    with pytest.raises(DaemonError) as info:
        Client(tmp_path)
    assert isinstance(info.value, DaemonNotRunning) and "lspfeedback serve" in str(info.value)
    with socket.socket() as unused:  # a port nobody listens on (bound, never listening)
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
        with Client(url=f"http://127.0.0.1:{port}", token="x" * 43) as c, \
                pytest.raises(DaemonError) as info:
            c.health()
    assert isinstance(info.value, DaemonUnreachable) and info.value.status is None


# ---- security -------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["/v1/health", "/metrics", "/openapi.json", "/v1/nope"])
def test_every_route_needs_the_token(daemon: Daemon, route: str) -> None:
    missing = httpx.get(daemon.url + route)
    wrong = httpx.get(daemon.url + route, headers={"Authorization": "Bearer " + "A" * 43})
    basic = httpx.get(daemon.url + route, auth=("user", daemon.info.token))
    for response in (missing, wrong, basic):
        assert response.status_code == 401
        assert response.json()["error"] == "Unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"
    verify = httpx.post(daemon.url + "/v1/verify", json={"changes": {CHECKOUT: "x = 1\n"}})
    assert verify.status_code == 401


def test_openapi_and_metrics_with_the_token(daemon: Daemon, client: Client) -> None:
    client.health()
    spec = httpx.get(daemon.url + "/openapi.json", headers=daemon.headers()).json()
    assert {"/v1/verify", "/v1/candidates", "/v1/commit", "/v1/discard", "/v1/diagnostics",
            "/v1/health", "/metrics"} <= set(spec["paths"])
    text = httpx.get(daemon.url + "/metrics", headers=daemon.headers()).text
    assert 'lspfeedback_requests_total{route="/v1/health",method="GET",status="200"}' in text
    assert 'lspfeedback_request_duration_seconds_bucket{route="/v1/health",le="+Inf"}' in text
    assert 'lspfeedback_server_restarts_total{replica="primary",server="pyright"} 0' in text
    assert 'lspfeedback_reports_total{status="unknown"}' in text
    assert "lspfeedback_requests_total" in text and 'status="401"' in text  # refusals count too


@pytest.mark.parametrize(("headers", "allowed"), [
    ({"Host": "evil.example"}, False),
    ({"Host": "evil.example:80"}, False),
    ({"Host": "127.0.0.1:1"}, False),  # a loopback name but not our port
    ({"Host": "127.0.0.1.nip.io"}, False),
    ({"Origin": "http://evil.example"}, False),
    ({"Origin": "null"}, False),
    ({"Origin": "http://127.0.0.1:1"}, False),
    ({"Host": "localhost"}, True),
    ({"Origin": "http://localhost:{port}"}, True),
])
def test_host_and_origin_must_be_loopback(daemon: Daemon, headers: dict[str, str],
                                          allowed: bool) -> None:
    port = str(daemon.info.url).rsplit(":", 1)[1]
    sent = {k: v.format(port=port) for k, v in headers.items()}
    response = httpx.get(daemon.url + "/v1/health", headers=daemon.headers(**sent))
    assert response.status_code == (200 if allowed else 403), response.text
    if not allowed:
        assert response.json()["error"] == "Forbidden"
        assert "access-control-allow-origin" not in response.headers


@pytest.fixture(scope="module")
def outside(daemon: Daemon) -> Path:
    """A file outside the daemon's root, and a symlink in the root pointing at its folder."""
    folder = daemon.root.parent / "outside"
    folder.mkdir(exist_ok=True)
    secret = folder / "secret.py"
    secret.write_text("SECRET = 1\n")
    link = daemon.root / "escape"
    if not link.is_symlink():
        link.symlink_to(folder, target_is_directory=True)
    return secret


def bad_requests(secret: Path) -> list[tuple[str, str, dict[str, object] | None]]:
    """(method, raw path and query, JSON body): each names a path outside the root."""
    diff = ("--- a/../outside/secret.py\n+++ b/../outside/secret.py\n@@ -1 +1 @@\n"
            "-SECRET = 1\n+SECRET = 2\n")
    workspace_edit = {"changes": {secret.as_uri(): [
        {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
         "newText": "# x\n"}]}}
    return [
        ("POST", "/v1/verify", {"changes": {"../outside/secret.py": "SECRET = 2\n"}}),
        ("POST", "/v1/verify", {"changes": {str(secret): "SECRET = 2\n"}}),
        ("POST", "/v1/verify", {"changes": {"shop/cart\x00.py": "x = 1\n"}}),
        ("POST", "/v1/verify", {"changes": {"escape/secret.py": "SECRET = 2\n"}}),
        ("POST", "/v1/verify", {"changes": diff}),
        ("POST", "/v1/verify", {"changes": workspace_edit}),
        ("POST", "/v1/verify", {"changes": ["../outside/secret.py"]}),
        ("POST", "/v1/verify", {"changes": {"../outside/secret.py": "SECRET = 2\n"},
                                "session": "intruder"}),
        ("POST", "/v1/candidates", {"candidates": [{"escape/secret.py": "SECRET = 2\n"}]}),
        ("GET", "/v1/diagnostics?path=%2e%2e/outside/secret.py", None),
        ("GET", "/v1/diagnostics?path=..%2Foutside%2Fsecret.py", None),
        ("GET", f"/v1/diagnostics?path={secret}", None),
        ("GET", "/v1/diagnostics?path=shop/cart.py%00", None),
        ("GET", "/v1/diagnostics?path=escape/secret.py", None),
        ("GET", "/v1/diagnostics?path=shop/cart.py&path=/etc/passwd", None),
    ]


def test_paths_outside_the_root_are_400(daemon: Daemon, client: Client, outside: Path) -> None:
    before = client.health()["sessions"]
    for method, target, body in bad_requests(outside):
        # Percent escapes in the query reach the daemon as written (httpx keeps them).
        response = httpx.request(method, daemon.url + target, json=body, headers=daemon.headers())
        assert response.status_code == 400, (target, body, response.text)
        assert response.json()["error"] == "PathOutsideWorkspace", (target, body, response.text)
    assert outside.read_text() == "SECRET = 1\n"
    health = client.health()
    assert health["sessions"] == before and health["overlays"] == 0  # nothing was kept
    with pytest.raises(PathOutsideWorkspace):
        client.verify({"../outside/secret.py": "SECRET = 2\n"})
    with pytest.raises(PathOutsideWorkspace):
        client.diagnostics(outside)


def test_bad_edits_are_400_edit_errors(client: Client, daemon: Daemon) -> None:
    with pytest.raises(EditError, match="neither a unified diff"):
        client.verify("not an edit at all")
    with pytest.raises(EditApplyError) as info:
        client.verify(f"{CHECKOUT}\n<<<<<<< SEARCH\nno such text\n=======\nx\n>>>>>>> REPLACE\n")
    # Over HTTP the error keeps what an agent needs to fix its edit: file, block, message.
    assert info.value.path == CHECKOUT and info.value.block == 1
    assert "Nothing was applied" in str(info.value)
    with pytest.raises(EditApplyError) as info:
        client.verify(f"{CHECKOUT}\n<<<<<<< SEARCH\n    lines.append(f\"sum: {{cart.sum()}}\")\n"
                      "=======\nx\n>>>>>>> REPLACE\n")
    near = info.value
    assert near.closest is not None and near.closest_line is not None
    assert near.closest in checkout_text(daemon.root) and str(near.closest_line) in str(near)
    response = httpx.post(daemon.url + "/v1/verify", json={"changes": 42}, headers=daemon.headers())
    assert response.status_code == 422 and response.json()["error"] == "InvalidRequest"
    response = httpx.post(daemon.url + "/v1/verify", headers=daemon.headers(),
                          json={"changes": {CHECKOUT: "x = 1\n"}, "session": "../../etc"})
    assert response.status_code == 422


def test_huge_bodies_are_413(daemon: Daemon, client: Client) -> None:
    nine_mib = json.dumps({"changes": {CHECKOUT: "x" * (9 * 1024 * 1024)}}).encode()
    announced = httpx.post(daemon.url + "/v1/verify", content=nine_mib,
                           headers=daemon.headers(**{"Content-Type": "application/json"}))
    assert announced.status_code == 413 and announced.json()["error"] == "PayloadTooLarge"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit holds on the stream too
        yield b'{"changes": {"shop/checkout.py": "'
        for _ in range(9):
            yield b"x" * (1024 * 1024)
        yield b'"}}'

    streamed = httpx.post(daemon.url + "/v1/verify", content=chunks(),
                          headers=daemon.headers(**{"Content-Type": "application/json"}))
    assert streamed.status_code == 413
    assert client.health()["status"] == "ok"


# ---- many agents at once --------------------------------------------------------------------


def probe(base: str, agent: int, step: int) -> tuple[str, str]:
    """An edit only this (agent, step) makes: a call of a name nobody else uses."""
    name = f"undefined_{agent}_{step}"
    return name, base + f"\n\ndef probe_{agent}_{step}() -> None:\n    print({name})\n"


def test_concurrent_clients_each_get_their_own_report(daemon: Daemon, client: Client) -> None:
    base = checkout_text(daemon.root)
    line = base.count("\n") + 4  # the print line of `probe`
    agents, steps = 20, 10

    def agent(number: int) -> list[str]:
        problems = []
        with Client(daemon.root) as own:
            for step in range(steps):
                name, text = probe(base, number, step)
                report = own.verify({CHECKOUT: text})
                mine = [d for d in report.introduced if name in d.message]
                if (report.status != "errors" or report.changed_files != (CHECKOUT,)
                        or sorted(d.source for d in mine) != ["pyright", "ruff"]
                        or any(d.line != line for d in mine)
                        or len(report.introduced) != 2
                        or any("undefined_" in d.message and name not in d.message
                               for d in report.diagnostics)):
                    problems.append(f"{name}: {report}")
        return problems

    with ThreadPoolExecutor(agents) as pool:
        problems = [p for result in pool.map(agent, range(agents)) for p in result]
    assert problems == []
    assert checkout_text(daemon.root) == base  # nothing written
    health = client.health()
    assert health["status"] == "ok" and health["pid"] == daemon.proc.pid
    assert health["overlays"] == 0 and health["in_flight"] == 0
    assert all(s["restarts"] == 0 for s in health["servers"].values())
    assert client.diagnostics(CHECKOUT).diagnostics == ()  # the base is as clean as before


# ---- sessions -------------------------------------------------------------------------------


def test_sessions_are_isolated_and_commit_or_discard(daemon: Daemon) -> None:
    pricing = (daemon.root / "shop/pricing.py").read_text()
    cart = (daemon.root / "shop/cart.py").read_text()
    breaking = pricing.replace("percent: int) -> int:", "percent: int, currency: str) -> int:")
    unused = "import json\n" + cart

    async def scenario() -> None:
        async with AsyncClient(daemon.root) as c:
            # Session a breaks cart.py's call; the report says so.
            report = await c.verify({"shop/pricing.py": breaking}, session="a")
            introduced = [(d.path, d.code) for d in report.introduced]
            assert introduced == [("shop/cart.py", "reportCallIssue")]
            # Session b and speculative checks do not see a's overlay.
            other = await c.verify({"shop/cart.py": unused}, session="b")
            assert {d.code for d in other.introduced} <= {"F401", "I001"}
            assert not any(d.code == "reportCallIssue" for d in other.diagnostics)
            speculative = await c.verify({"shop/cart.py": unused})
            assert not any(d.code == "reportCallIssue" for d in speculative.diagnostics)
            # a's overlay persists for a: its error is current but not introduced again.
            again = await c.verify({"shop/cart.py": unused}, session="a")
            assert any(d.code == "reportCallIssue" for d in again.diagnostics)
            assert not any(d.code == "reportCallIssue" for d in again.introduced)
            # Candidates on a's base compare with it and keep nothing.
            ranked = await c.verify_candidates([{"shop/pricing.py": pricing}], session="a")
            assert [d.code for d in ranked[0].report.resolved] == ["reportCallIssue"]
            # Discarding a leaves b alone; committing b writes its file and ends it.
            assert await c.discard("a") == ["shop/cart.py", "shop/pricing.py"]
            assert (await c.health())["sessions"] == 1
            assert await c.commit("b") == ["shop/cart.py"]
            with pytest.raises(DaemonError) as info:
                await c.commit("b")
            assert info.value.status == 404 and info.value.error == "UnknownSession"

    try:
        asyncio.run(scenario())
        assert (daemon.root / "shop/cart.py").read_text() == unused
        assert (daemon.root / "shop/pricing.py").read_text() == pricing
    finally:
        (daemon.root / "shop/cart.py").write_text(cart)  # the daemon re-reads the disk


def test_a_session_can_hold_a_deletion(client: Client) -> None:
    deleting = "--- a/shop/checkout.py\n+++ /dev/null\n@@ -1,10 +0,0 @@\n" + "".join(
        "-" + line for line in (FIXTURES / "shop" / CHECKOUT).read_text().splitlines(keepends=True))
    try:
        first = client.verify(deleting, session="deleter")
        assert first.changed_files == (CHECKOUT,)
        cart = (FIXTURES / "shop/shop/cart.py").read_text() + "\n"
        report = client.verify({"shop/cart.py": cart}, session="deleter")
        assert report.status != "unknown"
        assert CHECKOUT not in report.checked_files  # deleted in this session's view
    finally:
        client.discard("deleter")


# ---- same answers as in-process ---------------------------------------------------------------


def test_response_models_describe_exactly_the_report_dicts() -> None:
    report = Report(status="clean")
    assert set(ReportModel.model_fields) == set(report.to_dict())
    candidate = CandidateReport(index=0, rank=1, report=report, changes={}, changed_lines=0)
    assert set(CandidateModel.model_fields) == set(candidate.to_dict())


def test_client_reports_equal_the_in_process_verifier(daemon: Daemon, client: Client) -> None:
    root = daemon.root
    pricing = (root / "shop/pricing.py").read_text()
    edits: list[object] = [
        {"shop/pricing.py": pricing.replace("percent: int)", "percent: int, currency: str)")},
        ("--- a/shop/cart.py\n+++ b/shop/cart.py\n@@ -1,3 +1,4 @@\n"
         '+import os\n """A cart holds line items and totals them with the current discount."""\n'
         " \n from dataclasses import dataclass, field\n"),
        RETURNS_INT,
        {"changes": {(root / "shop/pricing.py").as_uri(): [
            {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
             "newText": "import sys\n"}]}},
    ]
    with Verifier(root, timeout=TIMEOUT, watch=False) as verifier:
        local = [verifier.verify_speculative(edit) for edit in edits]
    remote = [client.verify(edit) for edit in edits]

    def essence(report: Report) -> tuple[object, ...]:
        return (report.status, report.diagnostics, report.introduced, report.resolved,
                report.checked_files, report.changed_files)

    assert [essence(r) for r in remote] == [essence(r) for r in local]
    assert all(r.introduced for r in local)  # every edit did something to compare


# ---- the command line -----------------------------------------------------------------------


def cli(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lspfeedback", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


def test_cli_verify_and_status_use_the_running_daemon(daemon: Daemon) -> None:
    clean = cli("verify", "--verbose", "shop/cart.py", cwd=daemon.root)
    assert clean.returncode == 0, clean.stderr
    assert f"using the daemon at {daemon.info.url}" in clean.stderr
    broken = cli("verify", "-v", "--json", "--root", str(daemon.root), "--patch", "-",
                 cwd=daemon.root.parent, stdin=RETURNS_INT)
    assert broken.returncode == 1 and "using the daemon" in broken.stderr
    assert Report.from_dict(json.loads(broken.stdout)).introduced[0].code == "reportReturnType"
    assert "return len(lines)" not in checkout_text(daemon.root)
    status = cli("status", "--json", "--root", str(daemon.root), cwd=REPO)
    assert status.returncode == 0 and json.loads(status.stdout)["pid"] == daemon.proc.pid
    other = cli("verify", "-v", "--server", "ruff", "shop/cart.py", cwd=daemon.root)
    assert other.returncode == 0 and "not ruff; checking in-process" in other.stderr


def test_stop_over_a_unix_socket_leaves_nothing_behind(shop: Path, tmp_path: Path,
                                                       spawn: Spawn) -> None:
    sock = tmp_path / "d.sock"
    running = spawn(shop, serve_args(shop, "--socket", str(sock), "--server", "ruff"))
    assert running.info.url is None and running.info.socket == str(sock)
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    with Client(shop) as c:
        report = c.verify({"shop/cart.py": "import json\n" + (shop / "shop/cart.py").read_text()})
        assert "F401" in {d.code for d in report.introduced}
        servers = [s["pid"] for s in c.health()["servers"].values()]
    children = descendants(running.proc.pid)
    assert set(servers) <= set(children)
    stopped = cli("stop", "--root", str(shop), cwd=REPO)
    assert stopped.returncode == 0, stopped.stderr
    running.proc.wait(timeout=60)
    assert not sock.exists() and not state_path(shop).exists()
    assert [pid for pid in children if pid_alive(pid)] == []
    assert cli("status", "--root", str(shop), cwd=REPO).returncode == 1


# ---- shutdown during a request ---------------------------------------------------------------

HANGING_DAEMON = """
import sys
sys.path.insert(0, {repo!r})
from tests.conftest import fake
from lspfeedback._daemon.server import serve
sys.exit(serve({root!r}, servers=("pyright", "ruff", fake("hang")), timeout=600.0,
               announce=lambda info: print(info.url, flush=True)))
"""


def test_sigterm_during_a_verify_is_a_clear_error_and_leaves_no_server(shop: Path,
                                                                      spawn: Spawn) -> None:
    # The fake server never answers diagnostics, so the verify is still running when the signal
    # comes, for as long as it takes to come.
    script = HANGING_DAEMON.format(repo=str(REPO), root=str(shop))
    running = spawn(shop, ["-c", script])
    outcome: list[DaemonError | Report] = []
    with Client(shop) as c:
        servers = {name: s["pid"] for name, s in c.health()["servers"].items()}

        def verify() -> None:
            try:
                outcome.append(c.verify({CHECKOUT: checkout_text(shop) + "x = 1\n"}))
            except DaemonError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=verify)
        thread.start()
        # Nothing announces that the request reached the engine, so ask the daemon (bounded).
        for _ in range(10_000):
            if c.health()["in_flight"] == 1:
                break
        else:
            pytest.fail("the verify never reached the engine")
        children = descendants(running.proc.pid)
        running.proc.send_signal(signal.SIGTERM)
        thread.join(timeout=60)
    assert not thread.is_alive()
    [error] = outcome
    assert isinstance(error, DaemonError), error
    assert error.status == 503 and error.error == "ShuttingDown" and "shutting down" in str(error)
    assert running.proc.wait(timeout=60) in (0, -signal.SIGTERM)
    assert set(servers.values()) <= set(children) and len(servers) == 3
    assert [pid for pid in children if pid_alive(pid)] == []
    assert not state_path(shop).exists()
    with pytest.raises(DaemonError) as info:
        Client(shop)
    assert isinstance(info.value, DaemonNotRunning)
