"""ruff server: the linter. Declares pull diagnostics statically; answers in milliseconds."""

from __future__ import annotations

from lspfeedback.servers.base import ServerContext, ServerSpec


class Ruff(ServerSpec):
    """The ruff language server (the default linter)."""

    def command(self, ctx: ServerContext) -> list[str]:
        """``ruff server`` over stdio."""
        return [self.executable("ruff"), "server"]


SPEC = Ruff(
    name="ruff",
    summary="Astral's linter (the rules the project's ruff config selects)",
    checks=("lint", "syntax"),
    install_hint="install it with: pip install ruff",
    # Its rules look at one file at a time; isort's first-party test and INP001 look at which
    # files exist, which a created or deleted file changes (and those still count).
    file_local=True,
)
