"""ty: Astral's type checker. Registers pull diagnostics dynamically when the client allows
it (and then never pushes); reads the ``ty`` configuration section."""

from __future__ import annotations

from lspfeedback.servers.base import ServerContext, ServerSpec


class Ty(ServerSpec):
    """The ty language server."""

    def command(self, ctx: ServerContext) -> list[str]:
        """``ty server`` over stdio."""
        return [self.executable("ty"), "server"]


SPEC = Ty(
    name="ty",
    summary="Astral's type checker ty (preview)",
    checks=("types", "syntax"),
    install_hint="install it with: pip install ty",
    dynamic_pull_registration=True,
)
