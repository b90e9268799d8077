"""jedi-language-server: push-only, syntax errors only, with a 1 s debounce of its own.

Useful as a syntax-level fallback where no type checker can run; not a default.
"""

from __future__ import annotations

from lspfeedback.servers.base import ServerContext, ServerSpec


class Jedi(ServerSpec):
    """jedi-language-server: syntax errors only."""

    def command(self, ctx: ServerContext) -> list[str]:
        """jedi-language-server over stdio."""
        return [self.executable("jedi-language-server")]

    def initialization_options(self, ctx: ServerContext) -> dict[str, object]:
        """Diagnostics on open and change, so that edits are checked without a save."""
        return {"diagnostics": {"enable": True, "didOpen": True, "didChange": True, "didSave": True}}


SPEC = Jedi(
    name="jedi",
    summary="jedi-language-server: syntax errors only",
    checks=("syntax",),
    install_hint="install it with: pip install jedi-language-server",
)
