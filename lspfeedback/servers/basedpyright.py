"""basedpyright: a pyright fork with extra rules. Same protocol behaviour as pyright."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from lspfeedback._exceptions import ServerNotFound
from lspfeedback.servers.base import ServerContext, ServerSpec
from lspfeedback.servers.pyright import node_executable


class BasedPyright(ServerSpec):
    def command(self, ctx: ServerContext) -> list[str]:
        spec = importlib.util.find_spec("basedpyright")
        if spec is None or spec.origin is None:
            raise ServerNotFound(self.name, f"basedpyright is not installed; {self.install_hint}")
        script = Path(spec.origin).parent / "langserver.index.js"
        node = node_executable()
        if script.exists() and node is not None:
            return [node, str(script), "--stdio"]
        return [self.executable("basedpyright-langserver"), "--stdio"]

    def configuration(self, ctx: ServerContext, section: str | None) -> Any:
        if section == "python":
            return {"pythonPath": ctx.python}
        if section == "basedpyright.analysis":
            return {"diagnosticMode": "openFilesOnly"}
        return None


SPEC = BasedPyright(
    name="basedpyright",
    summary="basedpyright, a pyright fork (its own defaults: stricter than pyright's)",
    checks=("types", "syntax"),
    install_hint="install it with: pip install basedpyright",
    dynamic_pull_registration=True,
)
