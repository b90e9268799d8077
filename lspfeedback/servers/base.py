"""What a language-server module declares: how to start it and how to talk to it."""

from __future__ import annotations

import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lspfeedback._environment import PythonEnvironment
from lspfeedback._exceptions import ServerNotFound


@dataclass(frozen=True)
class ServerContext:
    """Facts about the workspace a server is started for."""

    root: Path
    python: str | None
    """A trusted interpreter the server may run to learn its search paths: one the caller
    named, lspfeedback's own when the project has no environment, the project's only when the
    caller trusts the workspace. None: do not run any; use `environment`."""
    environment: PythonEnvironment | None = None
    """The project's virtualenv as read from its files (see `lspfeedback._environment`)."""


@dataclass(frozen=True)
class ServerSpec:
    """How to run one language server. Subclass it in a module of `lspfeedback.servers`.

    Only facts about the server live here; protocol behaviour (pull or push, sync kind,
    encoding) is read from the server's capabilities at start-up, not keyed on its name.
    """

    name: str
    """Registry name, also the ``source`` of its diagnostics in reports."""
    summary: str
    checks: tuple[str, ...]
    """What its diagnostics cover: some of ``"types"``, ``"lint"``, ``"syntax"``."""
    install_hint: str
    languages: tuple[str, ...] = ("python",)
    """The languages it checks (names in `lspfeedback.languages`): it is given only files of
    those languages."""
    dynamic_pull_registration: bool = False
    """The server registers ``textDocument/diagnostic`` dynamically after start-up: wait for it
    before choosing pull or push."""
    env: dict[str, str] = field(default_factory=dict)
    sees_overlays_across_files: bool = True
    """Its results for an importer reflect the overlays (unsaved edits) of the files it
    imports, once they are files in the shadow root. False for a server measured not to: its
    importer results then do not count as proof (the report is not `complete`)."""
    file_local: bool = False
    """Its diagnostics of a file depend on that file's text alone (and on the configuration
    and which files exist): a per-file linter. Its results are kept across edits of other
    source files, so an importer is not pulled again after an edit of what it imports. A
    created or deleted file, a non-source file (configuration) and any disk change still
    count, as for every server."""

    def command(self, ctx: ServerContext) -> list[str]:
        """The argv that starts the server on stdio. Raises `ServerNotFound`."""
        raise NotImplementedError

    def configuration(self, ctx: ServerContext, section: str | None) -> Any:
        """The answer to one ``workspace/configuration`` item; None means "no opinion"."""
        return None

    def initialization_options(self, ctx: ServerContext) -> Any:
        """The ``initializationOptions`` of ``initialize``; None sends none."""
        return None

    def executable(self, name: str) -> str:
        """Find ``name`` beside the running interpreter first (the venv), then on PATH."""
        beside = Path(sys.executable).parent / name
        if beside.exists():
            return str(beside)
        found = shutil.which(name)
        if found is None:
            raise ServerNotFound(self.name, f"{name!r} is not installed; {self.install_hint}")
        return found
