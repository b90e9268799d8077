"""`VerifierOptions`: the one statement of how a verifier is configured.

`AsyncVerifier`, `Verifier`, the daemon's settings and the MCP server all take a
`VerifierOptions`; the first two also take its fields as keyword arguments
(``Verifier(root, timeout=5)``), typed by `OptionFields`, whose keys a test pins to the
dataclass's fields.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypedDict

from lspfeedback._environment import PythonEnvironment
from lspfeedback._sandbox import SandboxMode
from lspfeedback._supervisor import RestartPolicy
from lspfeedback.servers import ServerSpec
from lspfeedback.servers import get as get_server

__all__ = [
    "DEFAULT_FALLBACKS", "DEFAULT_PREVIEWS", "DEFAULT_SERVERS", "OptionFields", "VerifierOptions", "default_replicas",
    "trusted_python",
]

DEFAULT_SERVERS: tuple[str, ...] = ("pyright", "ruff")
DEFAULT_FALLBACKS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    # A type checker down: another type checker (ty is a core dependency: it starts in a
    # fraction of a second), then at least jedi's syntax check.
    "pyright": ("ty", "jedi"),
    "basedpyright": ("ty", "jedi"),
    "pyrefly": ("ty", "jedi"),
    "ty": ("pyright", "jedi"),
    # The linter down: nobody else lints; jedi still catches syntax errors (lint stays
    # unanswered, so the report stays unknown).
    "ruff": ("jedi",),
})
"""Who stands in for a server that cannot answer (see `VerifierOptions.fallbacks`)."""

DEFAULT_PREVIEWS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    # pyright takes 10-30x ty's time on the same edit (docs/benchmarks.md): ty's type check
    # comes first, pyright's supersedes it. ruff, ty, pyrefly, tsc and biome are fast already.
    "pyright": ("ty",),
    "basedpyright": ("ty",),
})
"""Who answers first for a slow server in `verify_progressive` (see
`VerifierOptions.previews`)."""


def default_replicas() -> int:
    """One warm server set per core, at most 4, and at most one per 2 GiB of free memory
    (pyright on a large project takes 1-2 GiB)."""
    cores = os.cpu_count() or 1
    try:
        pages = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        by_memory = max(1, pages // (2 * 1024**3))
    except (ValueError, OSError):
        by_memory = 1
    return max(1, min(4, cores, by_memory))


def trusted_python(explicit: str | None, trust_workspace: bool,
                   env: PythonEnvironment | None) -> str | None:
    """The interpreter servers may run (see `ServerContext.python`): ``explicit`` if given; the
    project's own (``env``'s) only when ``trust_workspace``; the running interpreter when the
    project has no environment of its own; else None (its environment is read, not run)."""
    if explicit is not None:
        return explicit
    if env is None:
        return sys.executable
    return str(env.interpreter) if trust_workspace else None


@dataclass(frozen=True, kw_only=True)
class VerifierOptions:
    """How a verifier runs. Every field has a sane default; `replace` makes a changed copy.

    Construction validates: an unknown server name raises `UnknownServer`, a bad number
    `ValueError`.
    """

    servers: Sequence[str | ServerSpec] = DEFAULT_SERVERS
    """Registry names (see `lspfeedback.servers.available`) or `ServerSpec` objects."""
    timeout: float = 10.0
    """Seconds a server gets to answer for the current version before the report says
    ``unknown``, per check."""
    max_dependents: int = 100
    """Importers of the edited files to check at most, nearest first. Measured per importer:
    about 3 ms with pyright, under 1 ms with ty (docs/benchmarks.md, "The importer bound"); a
    check past the bound is reported as not `complete`."""
    python: str | None = None
    """An interpreter the servers may run to learn the project's search paths (you trust
    it). None: the project's environment (``.venv``, ``venv``, ...) is found and read from its
    files, never run; without one, lspfeedback's own interpreter is used."""
    trust_workspace: bool = False
    """Run the project's own interpreter (its ``.venv/bin/python``) to learn its search paths,
    as an editor would. Off by default: a workspace's interpreter, ``.pth`` files and
    ``sitecustomize`` are code from the workspace."""
    startup_timeout: float = 60.0
    """Seconds a server gets to start and initialize."""
    include_hints: bool = False
    """Keep hint-severity diagnostics (unused-variable fades and the like) in reports."""
    replicas: int | None = None
    """Warm server sets `verify_candidates` may use in parallel (started lazily); None: one
    per core, at most 4, bounded by free memory."""
    watch: bool = True
    """Follow the disk with watchfiles, so that files changed by someone else are seen."""
    sandbox: SandboxMode = "auto"
    """``"auto"``: servers run in a bubblewrap sandbox where it works (Linux), else unsandboxed
    with a notice in every report; ``"require"``: refuse to run without one; ``"off"``."""
    fallbacks: Mapping[str, Sequence[str]] = dataclasses.field(
        default_factory=lambda: DEFAULT_FALLBACKS)
    """server -> the servers that answer in its place, in order, while it cannot (restarting,
    unresponsive, given up). A stand-in starts on first need; the report says who stood in
    (`Report.degraded`). ``{}`` turns failover off."""
    restarts: RestartPolicy = dataclasses.field(default_factory=RestartPolicy)
    """When a crashed or hung server is restarted, and when that is given up."""
    previews: Mapping[str, Sequence[str]] = dataclasses.field(
        default_factory=lambda: DEFAULT_PREVIEWS)
    """slow server -> fast servers whose answer `verify_progressive` yields first, as a
    preview its own answer supersedes (``{}``: no preview; `verify` never asks them). A
    preview server starts on first need, like a stand-in."""
    quick_fixes: bool = True
    """Ask the servers for quick fixes of what an edit introduced (`Report.fixes`): one
    ``textDocument/codeAction`` per introduced diagnostic, answered in parallel (4-8 ms on
    httpx edits that broke something, timed per stage; within noise in docs/benchmarks.md's
    floor table). False: reports list no fixes."""

    def __post_init__(self) -> None:
        if not self.servers:
            raise ValueError("at least one server is needed")
        object.__setattr__(self, "servers", tuple(self.servers))
        for server in self.servers:
            if not isinstance(server, ServerSpec):
                get_server(server)  # raises UnknownServer, naming the known ones
        if self.timeout <= 0 or self.startup_timeout <= 0:
            raise ValueError("timeout and startup_timeout must be positive (seconds)")
        if self.max_dependents < 0:
            raise ValueError("max_dependents must be 0 or more")
        if self.replicas is not None and self.replicas < 1:
            raise ValueError("replicas must be at least 1")
        object.__setattr__(self, "fallbacks", MappingProxyType(
            {name: tuple(stand_ins) for name, stand_ins in dict(self.fallbacks).items()}))
        object.__setattr__(self, "previews", MappingProxyType(
            {name: tuple(fast) for name, fast in dict(self.previews).items()}))
        for name in {n for helpers in (*self.fallbacks.values(), *self.previews.values())
                     for n in helpers}:
            get_server(name)  # a typo in a fallback is an error now, not during an outage
        if self.sandbox not in ("auto", "require", "off"):
            raise ValueError(f"sandbox must be 'auto', 'require' or 'off', not {self.sandbox!r}")

    def __repr__(self) -> str:
        changed = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)
                   if getattr(self, f.name) != _default(f)]
        return f"VerifierOptions({', '.join(changed)})"

    def replace(self, **changes: object) -> VerifierOptions:
        """A copy with ``changes`` (field names as keywords) applied."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"unknown verifier options: {', '.join(sorted(unknown))}; "
                            f"known: {', '.join(f.name for f in dataclasses.fields(self))}")
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

    @property
    def specs(self) -> list[ServerSpec]:
        """The servers as `ServerSpec` objects."""
        return [s if isinstance(s, ServerSpec) else get_server(s) for s in self.servers]

    @property
    def server_names(self) -> list[str]:
        """The servers' names, in order."""
        return [s.name for s in self.specs]

    @property
    def replica_count(self) -> int:
        """`replicas`, or the default for this machine when it is None."""
        return self.replicas if self.replicas is not None else default_replicas()


def _default(f: dataclasses.Field[object]) -> object:
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def add_trust_arguments(parser: argparse.ArgumentParser) -> None:
    """``--python`` and ``--trust-workspace``: the explicit ways to let servers run an
    interpreter of the workspace (off by default; see docs/security.md)."""
    parser.add_argument("--python", metavar="PATH", default=None,
                        help="an interpreter you trust, run by the servers to learn the project's "
                        "search paths (default: the project's venv is read, never run)")
    parser.add_argument("--trust-workspace", action="store_true",
                        help="let the servers run the project's own .venv/bin/python (it, its "
                        ".pth files and sitecustomize are code from the workspace)")


class OptionFields(TypedDict, total=False):
    """`VerifierOptions`' fields as keyword arguments (see there for each one's meaning)."""

    servers: Sequence[str | ServerSpec]
    timeout: float
    max_dependents: int
    python: str | None
    trust_workspace: bool
    startup_timeout: float
    include_hints: bool
    replicas: int | None
    watch: bool
    sandbox: SandboxMode
    fallbacks: Mapping[str, Sequence[str]]
    restarts: RestartPolicy
    previews: Mapping[str, Sequence[str]]
    quick_fixes: bool
