"""typescript: TypeScript 7's own language server (``tsc --lsp --stdio``), the type checker of
TypeScript and JavaScript files.

TypeScript 7 is the native compiler; it ships no ``tsserver``, and its ``tsc`` speaks LSP
itself. It declares pull diagnostics statically (``diagnosticProvider``, identifier
``typescript``, inter-file dependencies), so freshness is proven the way it is for ruff: the
answer to a pull sent after a change describes that change. It negotiates UTF-8 positions
and incremental sync. Installed from the npm registry into the cache (`lspfeedback._npm`).
typescript-language-server (over TypeScript 5/6's tsserver) was measured and not taken: it
pushes diagnostics without a ``version`` and offers no pull, so none of its results can be
tied to the text sent (docs/servers.md, "TypeScript and JavaScript").
"""

from __future__ import annotations

from lspfeedback import _npm
from lspfeedback.servers.base import ServerContext, ServerSpec


class TypeScript(ServerSpec):
    """TypeScript's native language server."""

    def command(self, ctx: ServerContext) -> list[str]:
        """``tsc --lsp --stdio``, the platform binary (no Node.js runs)."""
        return [tsc_executable(self.name), "--lsp", "--stdio"]


def tsc_executable(server: str = "typescript") -> str:
    """The native ``tsc`` of the pinned TypeScript (installed first if needed)."""
    return _npm.native_executable(server, "@typescript", "typescript", "lib/tsc")


SPEC = TypeScript(
    name="typescript",
    summary=f"TypeScript {_npm.PACKAGES['typescript']}'s type checker (tsc --lsp), "
            "for TypeScript and JavaScript",
    checks=("types", "syntax"),
    install_hint=f"install it with: {_npm.INSTALL_COMMAND}",
    languages=("typescript",),
)
