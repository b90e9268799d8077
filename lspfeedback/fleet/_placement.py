"""Where repositories go: what an actor asks Ray for, and which actor a repository goes to.

An actor holds up to ``max_warm`` repositories' verifiers, each with ``replicas`` warm server
sets, so its Ray ``memory`` request is that many times its servers' per-project footprint
(measured; see `SERVER_MEMORY_GIB`) plus the actor process itself. Ray schedules an actor only
on a node with that much unreserved memory, so it never packs more warm servers on a node
than fit. The `Router` sends a repository to the actor already warm for it, else to the least
loaded one; an actor evicts its least recently used verifier when it needs room and says so,
and the router forgets that repository's warmth.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

GIB = 1024**3

SERVER_MEMORY_GIB: dict[str, float] = {
    "pyright": 1.0,
    "basedpyright": 1.0,
    "pyrefly": 0.5,
    "ty": 0.15,
    "jedi": 0.15,
    "ruff": 0.05,
    "typescript": 1.0,
    "biome": 0.1,
}
"""Resident memory of one warm server on one project, GiB, the upper end of what was measured:
pyright 0.3-1 GiB per project (the 1 GiB of django-sized projects; small ones sit near 0.3),
ty about 0.1, ruff tens of MiB. A server not listed counts as 0.5."""

UNLISTED_GIB = 0.5
ACTOR_BASE_GIB = 0.25
"""The actor process itself (Python, lspfeedback, the import graph)."""


def verifier_memory_gib(servers: Iterable[str], replicas: int = 1) -> float:
    """What one repository's warm verifier needs: its servers times its replicas."""
    per_set = sum(SERVER_MEMORY_GIB.get(name, UNLISTED_GIB) for name in servers)
    return per_set * max(1, replicas)


def actor_memory_bytes(servers: Iterable[str], *, replicas: int, max_warm: int,
                       per_repo_gib: float | None = None) -> int:
    """The Ray ``memory`` request of an actor holding ``max_warm`` warm verifiers
    (``per_repo_gib`` overrides the table, e.g. with a figure measured on your projects)."""
    each = per_repo_gib if per_repo_gib is not None else verifier_memory_gib(servers, replicas)
    return int((ACTOR_BASE_GIB + each * max(1, max_warm)) * GIB)


def actors_that_fit(cluster_memory: float, cluster_cpus: float, *, actor_memory: int,
                    actor_cpus: float, repos: int) -> int:
    """How many actors to create: no more than the cluster's memory and CPUs hold (Ray would
    leave the rest pending) and no more than there are repositories; at least one."""
    by_memory = int(cluster_memory // max(1, actor_memory))
    by_cpu = int(cluster_cpus // actor_cpus) if actor_cpus > 0 else by_memory
    return max(1, min(by_memory, by_cpu, max(1, repos)))


@dataclass
class _Load:
    warm: set[str]
    in_flight: int = 0


class Router:
    """Sends each repository to the actor already warm for it, else to the least loaded
    actor (fewest repositories in flight, then fewest warm, then the lowest index)."""

    def __init__(self, actors: int) -> None:
        if actors < 1:
            raise ValueError(f"a fleet needs at least one actor, got {actors}")
        self._loads = [_Load(set()) for _ in range(actors)]

    def __repr__(self) -> str:
        loads = ", ".join(f"{i}: {len(load.warm)} warm/{load.in_flight} busy"
                          for i, load in enumerate(self._loads))
        return f"<Router {loads}>"

    def __len__(self) -> int:
        return len(self._loads)

    def warm_actor(self, repo: str) -> int | None:
        """The actor holding warm servers for ``repo``, if any."""
        for index, load in enumerate(self._loads):
            if repo in load.warm:
                return index
        return None

    def route(self, repo: str) -> int:
        """The actor for ``repo``; counts it as in flight there until `done`."""
        index = self.warm_actor(repo)
        if index is None:
            index = min(range(len(self._loads)),
                        key=lambda i: (self._loads[i].in_flight, len(self._loads[i].warm), i))
        self._loads[index].in_flight += 1
        return index

    def done(self, index: int, repo: str, *, warm: bool, evicted: Sequence[str] = ()) -> None:
        """``repo`` came back from actor ``index``; ``warm``: the actor keeps its servers;
        ``evicted``: repositories the actor closed to make room."""
        load = self._loads[index]
        load.in_flight = max(0, load.in_flight - 1)
        load.warm.difference_update(evicted)
        if warm:
            load.warm.add(repo)
        else:
            load.warm.discard(repo)

    def lost(self, index: int) -> None:
        """Actor ``index`` died: it holds nothing warm any more (Ray restarts it empty)."""
        self._loads[index].warm.clear()

    def in_flight(self, index: int) -> int:
        """Repositories sent to actor ``index`` and not yet back."""
        return self._loads[index].in_flight

    def warm(self, index: int) -> frozenset[str]:
        """The repositories actor ``index`` holds warm, as far as the driver knows."""
        return frozenset(self._loads[index].warm)
