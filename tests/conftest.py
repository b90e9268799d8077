"""Shared fixtures: copies of the fixture projects, and a fake-server spec for fault cases."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from lspfeedback.servers.base import ServerContext, ServerSpec

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
FAKE_SERVER = Path(__file__).resolve().parent / "servers" / "fake_server.py"

# Generous: the machines are shared and noisy, and a timeout here would be a flaky test,
# not a finding. The fault tests set their own short timeouts on purpose.
TIMEOUT = 60.0


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """A private copy of fixtures/shop."""
    root = tmp_path / "shop"
    shutil.copytree(FIXTURES / "shop", root)
    return root


@dataclass(frozen=True)
class FakeSpec(ServerSpec):
    """The fault-injection server of tests/servers/fake_server.py in one of its modes."""

    mode: str = "ok"
    marker: str = ""

    def command(self, ctx: ServerContext) -> list[str]:
        extra = ["--marker", self.marker] if self.marker else []
        return [sys.executable, str(FAKE_SERVER), "--mode", self.mode, *extra]


def fake(mode: str, marker: str = "") -> FakeSpec:
    return FakeSpec(
        name="fake", summary="fault injection", checks=("lint",), install_hint="-",
        mode=mode, marker=marker,
    )


def kill_and_wait(pid: int, timeout: float = 10.0) -> None:
    """SIGKILL a process group and wait (on a pidfd, no polling) until its leader is gone."""
    import os
    import select
    import signal

    fd = os.pidfd_open(pid)
    try:
        os.killpg(pid, signal.SIGKILL)
        readable, _, _ = select.select([fd], [], [], timeout)
        assert readable, f"process {pid} survived SIGKILL for {timeout} s"
    finally:
        os.close(fd)


def pid_alive(pid: int) -> bool:
    """Whether a process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"
