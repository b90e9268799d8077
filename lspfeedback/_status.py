"""`VerifierStatus`: what a verifier's servers are doing, for health checks and humans."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lspfeedback._lsp.progress import Progress
    from lspfeedback._replicas import ReplicaPool
    from lspfeedback._session import ServerSession


@dataclass(frozen=True)
class ServerStatus:
    """One server of the primary replica."""

    name: str
    state: str
    """``"stopped"`` (not started yet, or closed), ``"starting"``, ``"running"``,
    ``"unresponsive"`` (it missed a deadline and is being probed), ``"restarting"`` (after a
    crash or a kill, in the background) or ``"failed"`` (given up after a crash loop: tried
    again later, or at once on ``reset()``). See docs/design.md, "Supervision"."""
    restarts: int
    """How often it was started again after the first start."""
    pid: int | None
    """Its process id while it runs."""
    last_error: str | None
    """Why it last failed to answer (a timeout, a crash, a failed start), if it ever did."""
    gave_up: int = 0
    """How often it reached the crash cap and was given up on."""
    stand_in: bool = False
    """A fallback started to answer for a configured server that could not."""
    stderr_tail: str = ""
    """Its last stderr lines when it last crashed or failed to start (at most 2 KB here)."""
    progress: str | None = None
    """What the server says it is doing now (its ``$/progress``: title, message, percent),
    e.g. "Analyzing 50000 files" while a large project starts; None when it says nothing."""

    def __str__(self) -> str:
        role = " (stand-in)" if self.stand_in else ""
        text = f"{self.name}{role}: {self.state}, {self.restarts} restarts"
        if self.gave_up:
            text += f", gave up {self.gave_up}x"
        if self.progress:
            text += f", {self.progress}"
        return text + (f", last error: {self.last_error}" if self.last_error else "")


@dataclass(frozen=True)
class ReplicaStatus:
    """One replica (a warm server set): the primary or one started for candidates."""

    name: str
    running: bool
    """Its servers have started (at least one runs)."""
    servers: tuple[ServerStatus, ...]


@dataclass(frozen=True)
class VerifierStatus:
    """The state of a verifier: its servers, replicas and overlays."""

    root: str
    replicas: tuple[ReplicaStatus, ...]
    """Every replica created so far, the primary first."""
    replicas_max: int
    overlays: int
    """Paths with an uncommitted in-memory edit."""
    closed: bool

    @property
    def servers(self) -> tuple[ServerStatus, ...]:
        """The primary replica's servers."""
        return self.replicas[0].servers

    @property
    def replicas_started(self) -> int:
        """Replicas whose servers have started."""
        return sum(r.running for r in self.replicas)

    def __str__(self) -> str:
        head = (f"{self.root}: {self.overlays} overlays, replicas {self.replicas_started} of "
                f"{self.replicas_max}{' (closed)' if self.closed else ''}")
        return "\n".join([head, *(f"  {s}" for s in self.servers)])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


def status_of_pool(root: Path, pool: ReplicaPool, *, closed: bool) -> VerifierStatus:
    """The status of a verifier whose replicas are ``pool``."""
    replicas = tuple(
        ReplicaStatus(name=ws.name, running=bool(ws.running()),
                      servers=tuple(_server(s, ws.standby.get(s.name) is s)
                                    for s in ws.all_sessions()))
        for ws in pool)
    return VerifierStatus(root=str(root), replicas=replicas, replicas_max=pool.size,
                          overlays=len(pool.primary.store.overlays()), closed=closed)


def _server(s: ServerSession, stand_in: bool) -> ServerStatus:
    sup = s.supervisor
    return ServerStatus(name=s.name, state=s.state, restarts=s.restarts, last_error=s.last_error,
                        pid=s.client.pid if s.client is not None and s.client.alive else None,
                        gave_up=sup.gave_up, stand_in=stand_in, stderr_tail=sup.stderr_tail[-2048:],
                        progress=_described(s.progress))


def _described(p: Progress | None) -> str | None:
    if p is None:
        return None
    parts = [p.title, p.message, None if p.percentage is None else f"{p.percentage}%"]
    return " ".join(x for x in parts if x) or None
