"""Fault cases: a server that hangs, crashes, sends garbage, will not start or will not stop.

The fake server (tests/servers/fake_server.py) is used only here; the crash and recovery of a
real server is tested with pyright itself.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import pytest

from lspfeedback import ServerNotFound, ServerStartError, Verifier
from lspfeedback._session import ServerSession
from lspfeedback._shadow import cache_dir
from lspfeedback.servers import get
from lspfeedback.servers.base import ServerContext, ServerSpec

from .conftest import TIMEOUT, fake, kill_and_wait, pid_alive

BAD = {"shop/pricing.py": "X = 'BAD'\n"}


def test_hang_is_unknown_with_a_reason_never_clean(shop: Path) -> None:
    with Verifier(shop, servers=[fake("hang")], timeout=1.0) as v:
        first = v.verify(BAD)
        second = v.verify({"shop/pricing.py": "X = 'fine'\n"})
    for report in (first, second):
        assert report.status == "unknown" and not report.ok
        assert report.diagnostics == ()
        (unknown,) = {u.server for u in report.unknown}
        assert unknown == "fake"
        # One deadline for the whole call (baseline and edit), and the reason says so.
        assert any("by the call's 1 s deadline" in u.reason for u in report.unknown)
        assert report.elapsed_ms < 1900


def test_crash_mid_call_is_unknown_with_stderr(shop: Path) -> None:
    with Verifier(shop, servers=[fake("crash")], timeout=TIMEOUT) as v:
        report = v.verify(BAD)
    assert report.status == "unknown"
    reasons = " ".join(u.reason for u in report.unknown)
    assert "exited with code 3" in reasons and "crashing on purpose" in reasons


def test_crashed_server_restarts_on_next_call_and_replays_overlays(shop: Path) -> None:
    # The marker goes where a sandboxed server may write: its own cache folder.
    marker = cache_dir() / "sandbox" / "fake" / f"crashed-{uuid.uuid4().hex}"
    spec = fake("crash-once", marker=str(marker))
    with Verifier(shop, servers=[spec], timeout=TIMEOUT) as v:
        first = v.verify(BAD)
        assert first.status == "unknown"
        # The overlay from the failed call survives; the restarted server is given it again.
        second = v.verify({"shop/cart.py": "Y = 'BAD too'\n"})
        session = v.engine._primary.sessions["fake"]
        assert session.restarts == 1
    marker.unlink()  # the server wrote it (in its sandbox folder, a shared cache)
    assert second.status == "errors"
    assert sorted((d.path, d.code) for d in second.diagnostics) == [
        ("shop/cart.py", "bad-word"), ("shop/pricing.py", "bad-word")
    ] or ("shop/cart.py", "bad-word") in [(d.path, d.code) for d in second.diagnostics]


def test_garbage_on_the_wire_is_unknown(shop: Path) -> None:
    with Verifier(shop, servers=[fake("garbage")], timeout=1.0) as v:
        report = v.verify(BAD)
    assert report.status == "unknown" and report.unknown[0].server == "fake"


def test_server_that_will_not_start_raises_a_clear_error(shop: Path) -> None:
    with pytest.raises(ServerStartError) as info, Verifier(shop, servers=[fake("no-start")]):
        pass
    assert "refuses to start" in str(info.value)


def test_a_server_that_dies_once_during_its_first_start_gets_one_more_try(shop: Path) -> None:
    marker = cache_dir() / "sandbox" / "fake" / f"no-start-{uuid.uuid4().hex}"
    with Verifier(shop, servers=[fake("no-start-once", marker=str(marker))],
                  timeout=TIMEOUT) as v:
        report = v.verify(BAD)
        starts = v.engine._primary.sessions["fake"].starts
    marker.unlink()  # the first process wrote it, then refused to start
    assert report.status == "errors" and starts == 2


def test_server_that_will_not_start_makes_verify_unknown(shop: Path) -> None:
    v = Verifier(shop, servers=[fake("no-start")], timeout=TIMEOUT)
    try:
        report = v.verify(BAD)
    finally:
        v.close()
    assert report.status == "unknown"
    assert "refuses to start" in report.unknown[0].reason


def test_missing_binary_says_how_to_install(shop: Path) -> None:
    class Missing(ServerSpec):
        def command(self, ctx: ServerContext) -> list[str]:
            return [self.executable("no-such-language-server-xyz")]

    spec = Missing(name="missing", summary="-", checks=("lint",), install_hint="pip install it")
    with pytest.raises(ServerNotFound, match="pip install it"), Verifier(shop, servers=[spec]):
        pass


def test_stderr_is_drained_so_a_chatty_server_does_not_block(shop: Path) -> None:
    with Verifier(shop, servers=[fake("stderr-flood")], timeout=TIMEOUT) as v:
        reports = [v.verify({"shop/pricing.py": f"X = 'BAD {i}'\n"}) for i in range(4)]
        tail = v.engine._primary.sessions["fake"].client.stderr_tail()  # type: ignore[union-attr]
    assert all(r.status == "errors" for r in reports)
    assert 0 < len(tail.encode()) <= 64 * 1024 + 4096


def test_server_that_ignores_shutdown_is_killed(shop: Path) -> None:
    v = Verifier(shop, servers=[fake("ignore-shutdown")], timeout=TIMEOUT)
    v.start()
    pid = v.engine._primary.sessions["fake"].client.pid  # type: ignore[union-attr]
    assert pid is not None and pid_alive(pid)
    v.close()
    assert not pid_alive(pid)


def _pyright_pid(v: Verifier) -> int:
    client = v.engine._primary.sessions["pyright"].client
    assert client is not None and client.pid is not None
    return client.pid


SIGNATURE = ("percent: int) -> int:", "percent: int, currency: str) -> int:")


def test_real_server_killed_between_calls_recovers(shop: Path) -> None:
    text = (shop / "shop/pricing.py").read_text().replace(*SIGNATURE)
    with Verifier(shop, timeout=TIMEOUT) as v:
        before = v.verify({"shop/pricing.py": text})
        kill_and_wait(_pyright_pid(v))
        # The restart runs in the background; meanwhile ty (the default fallback) answers
        # for pyright, on both sides of the comparison, and the report says so.
        during = v.verify({"shop/pricing.py": text + "\n# touched\n"})
        assert v.wait_settled(TIMEOUT).servers[0].state == "running"
        after = v.verify({"shop/pricing.py": text + "\n# touched twice\n"})
        assert v.engine._primary.sessions["pyright"].restarts == 1
    assert [d.code for d in before.introduced] == ["reportCallIssue"]
    assert [(d.server, d.stand_ins, d.uncovered) for d in during.degraded] == [
        ("pyright", ("ty",), ())]
    assert during.status == "errors" and not during.complete and during.introduced == ()
    assert {d.source for d in during.diagnostics} == {"ty"}
    # The overlay was replayed into the new pyright: the caller is still broken, and it is
    # the same error as before the crash, not a new one.
    assert after.degraded == () and after.status == "errors" and after.introduced == ()
    assert [d.code for d in after.diagnostics if d.source == "pyright"] == ["reportCallIssue"]


@pytest.mark.parametrize("fallbacks", [None, {}], ids=["ty-stands-in", "no-fallback"])
def test_real_server_killed_during_a_call_then_recovers(
    shop: Path, monkeypatch: pytest.MonkeyPatch, fallbacks: dict[str, tuple[str, ...]] | None
) -> None:
    text = (shop / "shop/pricing.py").read_text().replace(*SIGNATURE)
    original = ServerSession.diagnostics
    killed: list[int] = []

    async def kill_first(self: ServerSession, rel: str, deadline):  # type: ignore[no-untyped-def]
        if self.name == "pyright" and not killed and self.client is not None and self.client.pid:
            killed.append(self.client.pid)
            os.killpg(self.client.pid, signal.SIGKILL)
        return await original(self, rel, deadline)

    options = {} if fallbacks is None else {"fallbacks": fallbacks}
    with Verifier(shop, timeout=TIMEOUT, **options) as v:  # type: ignore[arg-type]
        monkeypatch.setattr(ServerSession, "diagnostics", kill_first)
        during = v.verify({"shop/pricing.py": text})
        v.wait_settled(TIMEOUT)
        after = v.diagnostics(["shop/cart.py"])
    assert not pid_alive(killed[0])
    if fallbacks is None:
        # A second pass asked ty for both states: a verdict, labelled degraded.
        assert during.status == "errors" and not during.complete
        assert [(d.server, d.stand_ins) for d in during.degraded] == [("pyright", ("ty",))]
        assert "exited" in during.degraded[0].reason
        assert {d.source for d in during.introduced} == {"ty"}
    else:
        assert during.status == "unknown" and during.degraded == ()
        assert [u.server for u in during.unknown] == ["pyright"]
        assert "exited" in during.unknown[0].reason
    assert [d.code for d in after.diagnostics if d.source == "pyright"] == ["reportCallIssue"]
    assert after.status == "errors" and after.degraded == ()


def test_unknown_server_name_lists_the_known_ones(shop: Path) -> None:
    with pytest.raises(Exception, match="known servers: .*pyright"):
        Verifier(shop, servers=["nope"])
    assert get("ruff").name == "ruff"


def test_a_shadow_write_that_fails_is_retried_by_the_next_call(
        shop: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A full disk while the overlay is written: the call fails with the error, and the next
    # call writes the overlay again rather than believing the shadow shows it.
    from lspfeedback import _shadow

    real = _shadow.ShadowRoot.show
    failures = [OSError(28, "No space left on device")]

    def show(self: _shadow.ShadowRoot, rel: str, text: str | None) -> object:
        if failures:
            raise failures.pop()
        return real(self, rel, text)

    monkeypatch.setattr(_shadow.ShadowRoot, "show", show)
    text = "import os\n"
    with Verifier(shop, servers=["ruff"], timeout=TIMEOUT, replicas=1) as v:
        with pytest.raises(OSError, match="No space left"):
            v.verify({"shop/cart.py": text})
        report = v.verify({"shop/cart.py": text})
        shadow = v.engine._primary.shadow  # pyright: ignore[reportPrivateUsage]
        assert shadow.path("shop/cart.py").read_text() == text
    assert any(d.code == "F401" for d in report.diagnostics if d.path == "shop/cart.py")
