"""Supervision and failover: crash loops are capped, hung servers are replaced, and a server
that cannot answer is stood in for, with the report saying so (docs/design.md, §8).

Faults come from the fake server (tests/servers/fake_server.py) or from signals sent to a
real server; recovery and stand-ins are real servers.
"""

from __future__ import annotations

import os
import signal
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from lspfeedback import Verifier
from lspfeedback._supervisor import RestartPolicy

from .conftest import TIMEOUT, fake, pid_alive

BAD = {"shop/pricing.py": "X = 'BAD'\n"}
QUICK = RestartPolicy(backoff=0.05, max_backoff=0.05, probe_timeout=1.0)
"""Back-offs short enough for a test to reach the crash cap in well under a second."""


def test_a_server_that_dies_at_start_is_given_up_after_the_cap(shop: Path) -> None:
    v = Verifier(shop, servers=[fake("no-start")], timeout=TIMEOUT, restarts=QUICK)
    try:
        first = v.verify(BAD)
        settled = v.wait_settled(TIMEOUT).servers[0]
        given_up = v.verify(BAD)
        after = v.status().servers[0]
        v.reset("fake")
        reset = v.wait_settled(TIMEOUT).servers[0]
    finally:
        v.close()
    assert first.status == "unknown" and "refuses to start" in first.unknown[0].reason
    # Five starts in all (the cap), then no more: the next call is answered at once.
    assert (settled.state, settled.restarts + 1, settled.gave_up) == ("failed", 5, 1)
    assert "refuses to start" in settled.stderr_tail
    assert given_up.status == "unknown"
    assert "gave up after 5 crashes" in given_up.unknown[0].reason
    assert after.restarts == settled.restarts
    # reset() forgets the crashes and tries again, up to the cap once more.
    assert (reset.state, reset.restarts + 1, reset.gave_up) == ("failed", 10, 2)


def test_a_failed_server_is_tried_again_after_retry_after(shop: Path) -> None:
    policy = replace(QUICK, max_crashes=1, retry_after=0.0)
    v = Verifier(shop, servers=[fake("no-start")], timeout=TIMEOUT, restarts=policy)
    try:
        v.verify(BAD)
        before = v.wait_settled(TIMEOUT).servers[0]
        v.diagnostics(["shop/pricing.py"])  # retry_after has passed: one check, one retry
        after = v.wait_settled(TIMEOUT).servers[0]
    finally:
        v.close()
    assert before.state == after.state == "failed"
    assert (after.restarts - before.restarts, after.gave_up - before.gave_up) == (1, 1)


def test_a_stopped_server_ends_the_call_by_its_deadline_and_is_replaced(shop: Path) -> None:
    text = "import os\n"  # ruff: F401 unused import
    with Verifier(shop, servers=["ruff"], fallbacks={}, timeout=2.0, restarts=QUICK) as v:
        warm = v.verify({"shop/pricing.py": text})
        pid = v.status().servers[0].pid
        assert pid is not None
        os.killpg(pid, signal.SIGSTOP)  # alive, never answering
        stuck = v.verify({"shop/pricing.py": text + "import sys\n"})
        status = v.wait_settled(TIMEOUT).servers[0]
        fresh = v.verify({"shop/pricing.py": text + "import re\nimport sys\n"})
    assert [d.code for d in warm.introduced] == ["F401"]
    assert stuck.status == "unknown" and "deadline" in stuck.unknown[0].reason
    # The probe went unanswered: killed with its process group and restarted.
    assert not pid_alive(pid)
    assert (status.state, status.restarts) == ("running", 1)
    assert "did not answer a probe" in (status.last_error or "")
    # Answered fresh by the new process, which was given the overlay again.
    assert fresh.status != "unknown"
    assert sorted(d.code or "" for d in fresh.diagnostics) == ["F401", "F401", "F401"]


def test_a_slow_server_that_answers_the_probe_is_kept(shop: Path) -> None:
    with Verifier(shop, servers=[fake("hang")], timeout=0.5, restarts=QUICK) as v:
        pid = v.status().servers[0].pid
        report = v.verify(BAD)
        status = v.wait_settled(TIMEOUT).servers[0]
    # It reads and answers (the probe), it only never finishes a pull: not restarted.
    assert report.status == "unknown"
    assert (status.state, status.restarts, status.pid) == ("running", 0, pid)


def test_every_type_checker_down_leaves_jedi_s_syntax_check_and_unknown(shop: Path) -> None:
    typed = replace(fake("no-start"), checks=("types", "syntax"))
    broken = {"shop/pricing.py": "def f(:\n    pass\n"}
    v = Verifier(shop, servers=[typed], fallbacks={"fake": ("jedi",)}, timeout=TIMEOUT,
                 restarts=QUICK)
    try:
        v.verify({"shop/pricing.py": "X = 1\n"})
        v.wait_settled(TIMEOUT)
        report = v.verify(broken)
    finally:
        v.close()
    # jedi answered for syntax (its error is shown), nobody for types: never clean.
    assert report.status == "unknown" and not report.ok
    assert [(d.server, d.stand_ins, d.uncovered) for d in report.degraded] == [
        ("fake", ("jedi",), ("types",))]
    assert {d.source for d in report.introduced} == {"jedi"}
    assert "gave up" in report.unknown[0].reason


def test_a_stand_in_is_used_only_while_it_is_needed(shop: Path) -> None:
    spec = replace(fake("no-start"), checks=("lint",))
    v = Verifier(shop, servers=[spec, "ruff"], fallbacks={}, timeout=TIMEOUT, restarts=QUICK)
    try:
        report = v.verify({"shop/pricing.py": "import os\n"})
    finally:
        v.close()
    # No fallback configured: the fake server's failure is unknown, ruff's finding is kept.
    assert report.status == "unknown" and report.degraded == ()
    assert [d.code for d in report.introduced] == ["F401"]


def test_status_names_stand_ins_and_their_state(shop: Path) -> None:
    typed = replace(fake("no-start"), checks=("types", "syntax"))
    v = Verifier(shop, servers=[typed], fallbacks={"fake": ("ty",)}, timeout=TIMEOUT,
                 restarts=QUICK)
    try:
        v.verify(BAD)
        v.wait_settled(TIMEOUT)
        report = v.verify({"shop/pricing.py": "X: int = 'text'\n"})
        status = v.status()
    finally:
        v.close()
    assert report.status == "errors" and not report.complete
    assert [(d.server, d.stand_ins, d.uncovered) for d in report.degraded] == [
        ("fake", ("ty",), ())]
    assert {d.source for d in report.introduced} == {"ty"}
    by_name = {s.name: s for s in status.servers}
    assert by_name["ty"].stand_in and by_name["ty"].state == "running"
    assert by_name["fake"].state == "failed" and not by_name["fake"].stand_in
    assert "stand-in" in str(status)


@pytest.mark.parametrize("bad", [
    {"max_crashes": 0}, {"backoff": -1.0}, {"probe_timeout": -0.5},
])
def test_restart_policy_rejects_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="RestartPolicy"):
        RestartPolicy(**bad)  # type: ignore[arg-type]


def test_restart_policy_backs_off_exponentially_with_a_cap() -> None:
    policy = RestartPolicy(backoff=0.5, max_backoff=3.0)
    assert [policy.delay(n) for n in range(1, 6)] == [0.0, 0.5, 1.0, 2.0, 3.0]


def test_the_daemon_keeps_serving_through_a_crash_and_says_so(shop: Path, tmp_path: Path) -> None:
    from lspfeedback import Client

    from .conftest import kill_and_wait
    from .test_daemon import cli, serve_args, start_daemon

    running = start_daemon(shop, serve_args(shop, "--port", "0"), tmp_path)
    signature = ("percent: int) -> int:", "percent: int, currency: str) -> int:")
    text = (shop / "shop/pricing.py").read_text().replace(*signature)
    try:
        with Client(shop) as c:
            kill_and_wait(c.health()["servers"]["pyright"]["pid"])
            report = c.verify({"shop/pricing.py": text})
            health = c.health()
            metrics = httpx.get(running.url + "/metrics", headers=running.headers()).text
        status = cli("status", "--root", str(shop), cwd=shop)
    finally:
        running.stop()
    # `lspfeedback status` shows each server's state, restarts and last error.
    assert status.returncode == 0, status.stderr
    assert "ty (stand-in): running" in status.stdout
    assert "pyright: " in status.stdout and "1 restarts" in status.stdout
    assert "last error: server process exited with code -9" in status.stdout
    # ty answered for pyright (both states), over HTTP as in process.
    assert [(d.server, d.stand_ins) for d in report.degraded] == [("pyright", ("ty",))]
    assert report.status == "errors" and {d.source for d in report.introduced} == {"ty"}
    assert health["servers"]["ty"]["stand_in"] is True
    assert health["servers"]["pyright"]["restarts"] == 1
    assert health["servers"]["pyright"]["state"] in ("restarting", "running")
    assert 'lspfeedback_degraded_total{server="pyright"} 1' in metrics
    assert 'lspfeedback_server_restarts_total{replica="primary",server="pyright"} 1' in metrics
    assert 'lspfeedback_server_give_ups_total{replica="primary",server="pyright"} 0' in metrics


def test_content_modified_forever_gets_bounded_pulls_and_an_honest_reason(shop: Path) -> None:
    from lspfeedback._lsp.pull import MAX_PULL_ATTEMPTS

    with Verifier(shop, servers=[fake("content-modified")], timeout=TIMEOUT) as v:
        report = v.verify(BAD)
        status = v.status().servers[0]
    assert report.status == "unknown" and not report.ok
    # Both checks of the call (before and after the edit) gave up after the bound, well
    # before the deadline, and say why in words a reader can act on.
    assert len(report.unknown) == 2
    for unknown in report.unknown:
        assert f"{MAX_PULL_ATTEMPTS} pulls" in unknown.reason
        assert "ContentModified" in unknown.reason and "gave up" in unknown.reason
    assert status.state == "running" and status.restarts == 0  # it answers: not restarted


def test_reset_of_an_unknown_server_names_the_configured_ones(shop: Path) -> None:
    from lspfeedback import UnknownServer

    with Verifier(shop, servers=["ruff"], timeout=TIMEOUT) as v, \
            pytest.raises(UnknownServer, match="known servers: ruff"):
        v.reset("pyright")


def test_a_start_that_fails_with_any_exception_is_a_failed_start_not_a_stuck_one(
        shop: Path) -> None:
    from lspfeedback.servers.base import ServerContext, ServerSpec

    class Unwritable(ServerSpec):
        def command(self, ctx: ServerContext) -> list[str]:
            raise PermissionError("cache folder is read-only")  # as an installer's OSError

    spec = Unwritable(name="unwritable", summary="-", checks=("lint",), install_hint="-")
    v = Verifier(shop, servers=[spec, "ruff"], fallbacks={}, timeout=TIMEOUT, restarts=QUICK)
    try:
        first = v.verify({"shop/cart.py": "import os\n"})
        status = v.wait_settled(TIMEOUT).servers[0]
        again = v.verify({"shop/cart.py": "import os\nimport sys\n"})
    finally:
        v.close()
    # The other server's answer is kept; the failed one is unknown with the real reason.
    assert [d.code for d in first.introduced] == ["F401"]
    assert first.status == "unknown" and "PermissionError" in first.unknown[0].reason
    assert status.state == "failed" and status.restarts + 1 == QUICK.max_crashes
    assert again.status == "unknown" and "gave up" in again.unknown[0].reason
