"""`VerifierOptions`: the one statement of how a verifier is configured.

`AsyncVerifier`, `Verifier`, the daemon's settings and the MCP server all take a
`VerifierOptions`; the first two also take its fields as keyword arguments
(``Verifier(root, timeout=5)``), typed by `OptionFields`, whose keys a test pins to the
dataclass's fields.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

from lspfeedback.servers import ServerSpec
from lspfeedback.servers import get as get_server

__all__ = [
    "DEFAULT_SERVERS", "OptionFields", "VerifierOptions", "default_python", "default_replicas",
]

DEFAULT_SERVERS: tuple[str, ...] = ("pyright", "ruff")


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


def default_python(root: Path) -> str:
    """The project's own virtualenv interpreter if it has one, else the running one."""
    for name in (".venv", "venv"):
        candidate = root / name / "bin" / "python"
        if candidate.exists():
            return str(candidate)
    return sys.executable


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
    """The interpreter whose environment the project is checked against; None: the project's
    own ``.venv``/``venv`` if it has one, else the running interpreter."""
    startup_timeout: float = 60.0
    """Seconds a server gets to start and initialize."""
    include_hints: bool = False
    """Keep hint-severity diagnostics (unused-variable fades and the like) in reports."""
    replicas: int | None = None
    """Warm server sets `verify_candidates` may use in parallel (started lazily); None: one
    per core, at most 4, bounded by free memory."""
    watch: bool = True
    """Follow the disk with watchfiles, so that files changed by someone else are seen."""

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

    def __repr__(self) -> str:
        changed = [f"{f.name}={getattr(self, f.name)!r}" for f in dataclasses.fields(self)
                   if getattr(self, f.name) != f.default]
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


class OptionFields(TypedDict, total=False):
    """`VerifierOptions`' fields as keyword arguments (see there for each one's meaning)."""

    servers: Sequence[str | ServerSpec]
    timeout: float
    max_dependents: int
    python: str | None
    startup_timeout: float
    include_hints: bool
    replicas: int | None
    watch: bool
