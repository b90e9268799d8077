"""`Fleet`: warm verifiers on Ray actors, and the driver that streams one record per
repository as each finishes.

The driver calls the codemod for a repository, routes it (`Router`), sends its candidates to
that actor and waits on the object refs (`ray.wait`), never on a clock. An actor that dies is
restarted by Ray (``max_restarts``) and the repositories it held are sent again, at most
``retries`` more times; a repository that still has no answer, that timed out, or whose check
raised, is a record with status ``unknown`` and the reason: never dropped, never ``ok``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

from lspfeedback._options import VerifierOptions
from lspfeedback.edits import Changes
from lspfeedback.fleet._actor import ApplyRequest, HostAnswer, VerifierHost
from lspfeedback.fleet._placement import Router, actor_memory_bytes, actors_that_fit
from lspfeedback.fleet._records import RepoResult, repo_key
from lspfeedback.servers import ServerSpec

DEFAULT_SERVERS = ("pyright", "ruff")
LOCAL_RAY: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                             "object_store_memory": 128 * 1024**2}
"""``ray.init`` settings when the fleet starts Ray itself on this machine: no dashboard, a
small object store (records are small). Usage statistics are off
(``RAY_USAGE_STATS_ENABLED=0``) whoever starts Ray from this process, and a local Ray listens
on the loopback address only (`LOCAL_ENV`)."""
LOCAL_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
"""Set (unless already set) before Ray is imported for a local fleet. The second makes Ray
bind its services to 127.0.0.1 instead of the machine's address (Ray's single-machine mode;
read when ``ray`` is first imported)."""


@dataclass
class _Job:
    repo: str
    candidates: Sequence[Changes]
    codemod_ms: float
    actor: int = -1
    attempts: int = 0
    errors: list[str] = field(default_factory=list)
    first_sent: float = 0.0
    sent: float = 0.0


class Fleet:
    """Warm verifiers for many repositories on Ray actors.

    Each actor holds up to ``max_warm`` repositories' `AsyncVerifier`s (``servers``, with
    ``replicas`` warm server sets each, for the candidates to run in parallel), and asks Ray
    for the memory they need (`actor_memory_bytes`). ``actors`` defaults to what the cluster's
    memory and CPUs hold. ``address`` connects to a cluster (``"auto"``, ``"ray://..."``);
    without it, and with Ray not yet started in this process, a local Ray starts with
    ``ray_init`` (over `LOCAL_RAY`). ``retries``: how many more times a repository is sent
    after its actor died; ``repo_timeout``: seconds a repository may take before it is
    recorded ``unknown``.
    """

    def __init__(self, *, servers: Sequence[str | ServerSpec] = DEFAULT_SERVERS,
                 options: VerifierOptions | None = None, actors: int | None = None,
                 max_warm: int = 2, replicas: int = 1, actor_cpus: float = 1.0,
                 per_repo_gib: float | None = None, retries: int = 2,
                 max_restarts: int = 8, repo_timeout: float = 600.0,
                 address: str | None = None, ray_init: Mapping[str, Any] | None = None) -> None:
        base = options or VerifierOptions(watch=False)
        self.options: VerifierOptions = base.replace(servers=tuple(servers), replicas=replicas)
        self.max_warm = max_warm
        self.replicas = replicas
        self.actor_cpus = actor_cpus
        self.actor_memory: int = actor_memory_bytes(self.options.server_names, replicas=replicas,
                                               max_warm=max_warm, per_repo_gib=per_repo_gib)
        self.retries = retries
        self.max_restarts = max_restarts
        self.repo_timeout = repo_timeout
        self.address = address
        self.ray_init: dict[str, Any] = dict(ray_init or {})
        self._wanted_actors = actors
        self._actors: list[Any] = []
        self._router: Router | None = None
        self._started_ray = False

    def __repr__(self) -> str:
        return (f"<Fleet actors={len(self._actors)} servers={self.options.server_names} "
                f"max_warm={self.max_warm} replicas={self.replicas} "
                f"memory/actor={self.actor_memory / 1024**3:.2f} GiB>")

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Start (or connect to) Ray and create the actors; idempotent."""
        if self._actors:
            return self
        local = self.address is None and not os.environ.get("RAY_ADDRESS")
        ray = _ray(local=local)
        if not ray.is_initialized():
            if not local:
                ray.init(address=self.address, **self.ray_init)
            else:
                ray.init(**{**LOCAL_RAY, **self.ray_init})
            self._started_ray = True
        count = self._wanted_actors or actors_that_fit(
            ray.cluster_resources().get("memory", 0.0), ray.cluster_resources().get("CPU", 1.0),
            actor_memory=self.actor_memory, actor_cpus=self.actor_cpus, repos=1 << 30)
        remote = ray.remote(VerifierHost).options(  # type: ignore[union-attr]
            num_cpus=self.actor_cpus, memory=self.actor_memory,
            max_restarts=self.max_restarts, max_task_retries=0, max_concurrency=64)
        self._actors = [remote.remote(i, self.options, max_warm=self.max_warm)
                        for i in range(count)]
        self._router = Router(count)
        return self

    def close(self) -> None:
        """Stop every verifier and actor; shut Ray down if this fleet started it."""
        ray = _ray()
        if self._actors:
            closing = [actor.close.remote() for actor in self._actors]
            ray.wait(closing, num_returns=len(closing), timeout=30)
            for actor in self._actors:
                ray.kill(actor, no_restart=True)
        self._actors = []
        if self._started_ray:
            ray.shutdown()
            self._started_ray = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def actors(self) -> list[Any]:
        """The actor handles (``ray.kill(fleet.actors[0], no_restart=False)`` restarts one)."""
        return list(self._actors)

    @property
    def router(self) -> Router:
        """Which actor holds which repository warm, as far as the driver knows."""
        if self._router is None:
            raise RuntimeError("the fleet is not started: call start() or use 'with'")
        return self._router

    def info(self) -> list[dict[str, object]]:
        """Each actor's name, pid, warm repositories and servers' resident memory."""
        return list(_ray().get([actor.info.remote() for actor in self._actors]))

    # ---- the driver ------------------------------------------------------------------------

    def run(self, repos: Iterable[str | os.PathLike[str]],
            codemod: Callable[[Path], Sequence[Changes]], *, skip: Collection[str] = (),
            apply: ApplyRequest | None = None) -> Iterator[RepoResult]:
        """Check ``codemod(repo)``'s candidates for each repository; yield one `RepoResult`
        per repository as each finishes (not in order). ``skip``: keys (`repo_key`) of
        repositories already done (a resumed run). ``apply``: write each ok winner to a new
        branch (nothing is written without it)."""
        self.start()
        ray, router = _ray(), self.router
        from ray.exceptions import GetTimeoutError, RayActorError, RayTaskError, TaskCancelledError

        todo = iter(dict.fromkeys(k for k in map(repo_key, repos) if k not in skip))
        window = 2 * len(self._actors)
        pending: dict[Any, _Job] = {}

        def send(job: _Job) -> None:
            job.actor = router.route(job.repo)
            job.attempts += 1
            job.sent = time.perf_counter()
            job.first_sent = job.first_sent or job.sent
            ref = self._actors[job.actor].check.remote(job.repo, job.candidates, apply)
            pending[ref] = job

        try:
            while True:
                while len(pending) < window:
                    repo = next(todo, None)
                    if repo is None:
                        break
                    job_or_result = _propose(repo, codemod)
                    if isinstance(job_or_result, RepoResult):
                        yield job_or_result
                    else:
                        send(job_or_result)
                if not pending:
                    return
                now = time.perf_counter()
                wait = max(0.0, min(j.sent + self.repo_timeout for j in pending.values()) - now)
                ready, _ = ray.wait(list(pending), num_returns=1, timeout=wait)
                if not ready:
                    yield from self._time_out(pending, router)
                    continue
                ref = ready[0]
                job = pending.pop(ref)
                try:
                    answer: HostAnswer = ray.get(ref, timeout=self.repo_timeout)
                except RayActorError as error:
                    router.done(job.actor, job.repo, warm=False)
                    router.lost(job.actor)
                    job.errors.append(f"attempt {job.attempts}: actor {job.actor} died: "
                                      f"{_first_line(error)}")
                    if job.attempts <= self.retries:
                        send(job)
                    else:
                        yield _final(job, RepoResult(
                            job.repo, "unknown", reason=f"the actor died on each of "
                            f"{job.attempts} attempts; last: {_first_line(error)}"))
                except (RayTaskError, TaskCancelledError, GetTimeoutError) as error:
                    router.done(job.actor, job.repo, warm=False)
                    job.errors.append(f"attempt {job.attempts}: {_first_line(error)}")
                    yield _final(job, RepoResult(job.repo, "unknown",
                                                 reason=f"the check raised: {_first_line(error)}"))
                else:
                    router.done(job.actor, job.repo, warm=answer.warm, evicted=answer.evicted)
                    yield _final(job, answer.result)
        finally:
            for ref in pending:  # an interrupted run: stop the work nobody will read
                ray.cancel(ref)

    def _time_out(self, pending: dict[Any, _Job], router: Router) -> Iterator[RepoResult]:
        ray, now = _ray(), time.perf_counter()
        for ref, job in list(pending.items()):
            if now - job.sent < self.repo_timeout:
                continue
            del pending[ref]
            ray.cancel(ref)
            self._actors[job.actor].evict.remote(job.repo)  # its state is in doubt
            router.done(job.actor, job.repo, warm=False)
            job.errors.append(f"attempt {job.attempts}: no answer in {self.repo_timeout:g} s")
            yield _final(job, RepoResult(job.repo, "unknown", reason=(
                f"timed out: no answer from actor {job.actor} in {self.repo_timeout:g} s")))


def _propose(repo: str, codemod: Callable[[Path], Sequence[Changes]]) -> _Job | RepoResult:
    """Ask the codemod for ``repo``'s candidates (the caller's code, run here)."""
    began = time.perf_counter()
    try:
        candidates = list(codemod(Path(repo)))
    except Exception as error:  # noqa: BLE001 - the caller's code: a record says why
        return RepoResult(repo, "unknown", reason=f"the codemod raised {type(error).__name__}: "
                          f"{error}", timings_ms={"codemod": _ms(began)})
    if not candidates:
        return RepoResult(repo, "no_change", reason="the codemod proposed no candidate",
                          timings_ms={"codemod": _ms(began)})
    return _Job(repo, candidates, _ms(began))


def _final(job: _Job, result: RepoResult) -> RepoResult:
    timings = {"codemod": round(job.codemod_ms, 1), **result.timings_ms,
               "total": _ms(job.first_sent) if job.first_sent else 0.0}
    return result.replace(attempts=max(1, job.attempts), errors=tuple(job.errors),
                          timings_ms=timings)


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 1)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    lines = [line for line in text.splitlines() if line.strip()]
    return f"{type(error).__name__}: {lines[0] if lines else ''}"[:300]


def _ray(*, local: bool = False) -> Any:
    """Ray, imported on first use (the ``fleet`` extra), with usage statistics off; for a
    local fleet, bound to the loopback address (`LOCAL_ENV`)."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if local:
        for name, value in LOCAL_ENV.items():
            os.environ.setdefault(name, value)
    try:
        import ray
    except ImportError as error:
        raise ImportError("lspfeedback.fleet needs Ray: pip install 'lspfeedback[fleet]'"
                          ) from error
    return ray
