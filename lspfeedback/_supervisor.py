"""`Supervisor`: keeps one language server up, and says what state it is in.

    stopped ─► starting ─► running ◄──────────────┐
                  │           │ missed a deadline │ answered the probe
                  │           ▼                   │
                  │      unresponsive ────────────┘
                  │           │ no answer to the probe: killed with its process group
                  ▼           ▼
    a failed start, a crash, a kill ─► restarting (in the background, backed off) ─► running
                                            │ max_crashes within window
                                            ▼
                                          failed ─► (retry_after passed, or reset()) ─► restarting

The policy is vscode-languageclient's (it stops restarting after 5 crashes in 3 minutes) plus a
back-off between restarts and a way back: a failed server is tried again later, or at once on
`reset`. Restarts run in the background so that the call that saw the fault ends by its own
deadline and the next call finds the server warm; the session replays its documents.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal

from lspfeedback._deadline import Deadline
from lspfeedback._exceptions import (
    RequestTimeout,
    ServerCrashed,
    ServerError,
    ServerNotFound,
    ServerStartError,
    ServerUnavailable,
)

ServerState = Literal["stopped", "starting", "running", "unresponsive", "restarting", "failed"]
IMPAIRED: frozenset[str] = frozenset({"unresponsive", "restarting", "failed"})
"""States in which a server is not trusted to answer this call (a stand-in may answer)."""


@dataclass(frozen=True)
class RestartPolicy:
    """When a server that crashed or hung is started again, and when that is given up."""

    max_crashes: int = 5
    """Crashes (exits, failed starts, kills for not answering) within `window` that make the
    server ``failed`` (vscode-languageclient's figure)."""
    window: float = 180.0
    """Seconds over which crashes are counted."""
    backoff: float = 0.5
    """Seconds before the second restart in a window; doubled for each further one (the first
    restart is immediate: one crash is an accident, a series is a loop)."""
    max_backoff: float = 10.0
    retry_after: float = 300.0
    """Seconds after which a ``failed`` server is tried again by the next call that needs it."""
    probe_timeout: float = 5.0
    """Seconds a server that missed a call's deadline gets to answer a probe (a request for
    an unknown ``$/`` method, which LSP says every server must answer with an error) before it
    is taken for hung, killed and restarted."""

    def __post_init__(self) -> None:
        if self.max_crashes < 1 or min(self.window, self.backoff, self.max_backoff,
                                       self.retry_after, self.probe_timeout) < 0:
            raise ValueError("RestartPolicy: max_crashes must be at least 1 and every "
                             "duration 0 or more (seconds)")

    def delay(self, crashes: int) -> float:
        """Seconds to wait before the restart that follows the ``crashes``-th crash."""
        if crashes <= 1:
            return 0.0
        return min(self.max_backoff, self.backoff * 2 ** (crashes - 2))


class Supervisor:
    """The restart policy of one server. The session supplies how to start, kill and probe."""

    def __init__(self, name: str, policy: RestartPolicy, *,
                 start: Callable[[], Awaitable[None]], kill: Callable[[], None],
                 alive: Callable[[], bool], probe: Callable[[float], Awaitable[None]]) -> None:
        self.name = name
        self.policy = policy
        self._start, self._kill, self._alive, self._probe_once = start, kill, alive, probe
        self.state: ServerState = "stopped"
        self.starts = 0
        """Start attempts, the first one included."""
        self.gave_up = 0
        """How often the crash cap was reached (the server became ``failed``)."""
        self.last_error: str | None = None
        """Why it last failed to answer or to start."""
        self.stderr_tail = ""
        """The server's last stderr when it last crashed or failed to start."""
        self.failed_at: float | None = None
        self._crashes: collections.deque[float] = collections.deque()
        self._task: asyncio.Task[None] | None = None
        self._probe: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self._changed: asyncio.Event | None = None

    def __repr__(self) -> str:
        return (f"<Supervisor {self.name} {self.state} starts={self.starts} "
                f"crashes={len(self._crashes)}/{self.policy.max_crashes}>")

    @property
    def restarts(self) -> int:
        return max(0, self.starts - 1)

    @property
    def impaired(self) -> bool:
        """Not to be relied on for this call: hung, restarting, given up, or found dead."""
        return self.state in IMPAIRED or (self.state == "running" and not self._alive())

    def describe(self) -> str:
        """Why the server is impaired, for reports."""
        if self.state == "failed":
            return (f"gave up after {self.policy.max_crashes} crashes within "
                    f"{self.policy.window:g} s (last: {self.last_error}); it is tried again "
                    f"{self.policy.retry_after:g} s after giving up, or at once on reset()")
        if self.state == "restarting":
            return f"restarting (restart {self.starts}) after: {self.last_error}"
        if self.state == "unresponsive":
            return f"missed a deadline and is being probed ({self.last_error})"
        return self.last_error or self.state

    # ---- what callers do -------------------------------------------------------------------

    async def ready(self, deadline: Deadline | None = None, *, patient: bool = True) -> None:
        """Return once the server runs, or raise.

        A first start is waited for in full (it is bounded by the startup timeout: a cold start
        is no fault) and raises its own error, unless not ``patient`` (a stand-in: the call it
        stands in for keeps its deadline). A restart is waited for until ``deadline``
        only; `ServerUnavailable` then says it is still restarting, and it goes on in the
        background. A ``failed`` server raises `ServerUnavailable` at once.
        """
        if self.state in ("running", "unresponsive") and self._alive():
            return
        if self.state in ("running", "unresponsive"):
            self.crashed("the server process exited between calls")
        if self.state == "failed":
            if self.failed_at is not None and time.monotonic() - self.failed_at < self.policy.retry_after:
                raise ServerUnavailable(self.name, self.describe(), self.stderr_tail)
            self._crashes.clear()
            self._launch(first=False)
        elif self.state == "stopped":
            self._launch(first=True)
        task = self._task
        if task is None:  # pragma: no cover - every branch above leaves a task or returned
            raise ServerUnavailable(self.name, self.describe())
        if self.state == "starting" and patient:
            await asyncio.shield(task)  # raises the start's own error
        else:  # a restart, or a stand-in's first start: this call waits no longer than its own
            remaining = deadline.remaining() if deadline is not None else None
            with contextlib.suppress(TimeoutError, ServerError):
                await asyncio.wait_for(asyncio.shield(task), remaining)
        if self.state != "running":
            by = f" by {deadline.describe()}" if deadline is not None else ""
            raise ServerUnavailable(self.name, f"{self.describe()}; not running{by}",
                                    self.stderr_tail)

    def crashed(self, reason: str, stderr: str = "") -> None:
        """The server died (or was killed): count it and restart in the background."""
        if self.state in ("stopped", "failed") or (self.state == "restarting" and self._task
                                                   and not self._task.done()):
            return  # already being dealt with
        self._record(reason, stderr)
        if self.state != "failed":
            self._launch(first=False)

    def missed_deadline(self, reason: str) -> None:
        """A call's deadline passed without the server's answer: probe it in the background;
        if it does not answer the probe either, kill it (process group) and restart it."""
        if self.state != "running" or (self._probe is not None and not self._probe.done()):
            return
        self.last_error = reason
        self._set("unresponsive")
        self._probe = _background(self._run_probe())

    def reset(self) -> None:
        """Forget past crashes; a ``failed`` server is started again now, a backed-off
        restart happens at once."""
        self._crashes.clear()
        self.failed_at = None
        if self.state == "failed":
            self._launch(first=False)
        if self._wake is not None:
            self._wake.set()

    async def settled(self, timeout: float) -> ServerState:
        """Wait until the server runs, was given up on, or is stopped (for status checks and
        tests: restarts happen in the background); returns the state, or the current one when
        ``timeout`` passes first."""
        await self.wait_for(
            lambda s: s.state not in ("starting", "restarting", "unresponsive"), timeout)
        return self.state

    async def wait_for(self, condition: Callable[[Supervisor], bool], timeout: float) -> bool:
        """Wait until ``condition(self)`` holds, checked on every state change; False if
        ``timeout`` seconds pass first (the benchmark times recoveries so)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not condition(self):
            remaining = end - loop.time()
            if remaining <= 0:
                return False
            changed = self._event("_changed")
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
        return True

    async def stop(self) -> None:
        """Cancel any restart or probe in flight; the state becomes ``stopped`` first, so that
        an exit seen meanwhile starts nothing (`crashed` ignores a stopped server)."""
        self._set("stopped")
        while (pending := [t for t in (self._task, self._probe) if t is not None and not t.done()]):
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        self._task = self._probe = None
        self._set("stopped")

    # ---- internals -------------------------------------------------------------------------

    def _event(self, attribute: str) -> asyncio.Event:
        event = getattr(self, attribute)
        if event is None:
            event = asyncio.Event()
            setattr(self, attribute, event)
        return event

    def _set(self, state: ServerState) -> None:
        self.state = state
        if self._changed is not None:
            self._changed.set()

    def _record(self, reason: str, stderr: str) -> None:
        now = time.monotonic()
        self._crashes.append(now)
        while self._crashes and now - self._crashes[0] > self.policy.window:
            self._crashes.popleft()
        self.last_error = reason
        self.stderr_tail = stderr
        if len(self._crashes) >= self.policy.max_crashes:
            self.gave_up += 1
            self.failed_at = now
            self._set("failed")

    def _give_up(self, exc: ServerError) -> None:
        self.last_error, self.stderr_tail = exc.reason, exc.stderr
        self.gave_up += 1
        self.failed_at = time.monotonic()
        self._set("failed")

    def _launch(self, *, first: bool) -> None:
        self._set("starting" if first else "restarting")
        self._task = _background(self._run(first))

    async def _run(self, first: bool) -> None:
        while True:
            if not first:
                delay = self.policy.delay(len(self._crashes))
                if delay > 0:  # a back-off between restarts: reset() cuts it short
                    wake = self._event("_wake")
                    wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(wake.wait(), delay)
            self.starts += 1
            try:
                try:
                    await self._start()
                except (ServerError, asyncio.CancelledError):
                    raise
                except Exception as exc:  # an OSError installing it, say: a failed start too
                    raise ServerStartError(self.name, f"{type(exc).__name__}: {exc}") from exc
            except ServerNotFound as exc:
                self._give_up(exc)  # not installed: no restart can help
                raise
            except ServerError as exc:
                self._record(f"failed to start: {exc.reason}", exc.stderr)
                if self.state == "failed":
                    raise
                if first:
                    # The caller gets this error; restarts go on behind it, backed off.
                    self._set("restarting")
                    self._task = _background(self._run(False))
                    raise
                continue
            self._set("running")
            return

    async def _run_probe(self) -> None:
        try:
            await self._probe_once(self.policy.probe_timeout)
        except RequestTimeout:
            self._kill()
            self.crashed(f"unresponsive: {self.last_error}; it did not answer a probe within "
                         f"{self.policy.probe_timeout:g} s either, so it was killed")
            return
        except ServerCrashed as exc:
            self.crashed(exc.reason, exc.stderr)
            return
        if self.state == "unresponsive":
            self._set("running")  # slow, not hung


def _background(work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
    """A task whose failure is kept in the supervisor's state: its exception is read here so
    that nobody needs to await it (a restart nobody waits for is normal)."""
    task = asyncio.get_running_loop().create_task(work)
    task.add_done_callback(lambda t: t.cancelled() or t.exception())
    return task
