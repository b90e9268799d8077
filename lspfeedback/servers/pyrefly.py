"""pyrefly: Meta's type checker. Push-only here, versioned.

Its language server reports no type errors unless the type-checking mode is set, so we set
the CLI's default preset. Measured here: after an unsaved change to a module, pyrefly
re-published an open importer without the new error (its CLI reports it once the change is on
disk), so its cross-file results on overlays are not trustworthy; same-file results are.
With overlays written as files in a shadow root it still lagged: the importer's error appeared
one verify late (measured 2026-12-01, pyrefly 1.5), so it stays marked.
"""

from __future__ import annotations

import sys
from typing import Any

from lspfeedback.servers.base import ServerContext, ServerSpec

_PYREFLY = {"typeCheckingMode": "default", "displayTypeErrors": "force-on"}


class Pyrefly(ServerSpec):
    """The pyrefly language server."""

    def command(self, ctx: ServerContext) -> list[str]:
        """``pyrefly lsp`` over stdio."""
        return [self.executable("pyrefly"), "lsp"]

    def configuration(self, ctx: ServerContext, section: str | None) -> Any:
        """The ``python.pyrefly`` section: type checking on (the LSP reports none by default)."""
        if section == "python":
            # pyrefly finds a project's .venv by itself and runs its interpreter: name a
            # trusted one instead (lspfeedback's own), and hand it the project's search paths.
            python = ctx.python if ctx.python is not None else sys.executable
            env = ctx.environment
            extra = [str(p) for p in env.search_paths] if env is not None and ctx.python is None else []
            return {"pythonPath": python, "analysis": {"extraPaths": extra},
                    "pyrefly": dict(_PYREFLY)}
        if section == "python.pyrefly":
            return dict(_PYREFLY)
        return None


SPEC = Pyrefly(
    name="pyrefly",
    summary="Meta's type checker pyrefly (push; cross-file results on overlays not trusted)",
    checks=("types", "syntax"),
    install_hint="install it with: pip install pyrefly",
    sees_overlays_across_files=False,
)
