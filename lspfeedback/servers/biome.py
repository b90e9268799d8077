"""biome: Biome's linter (``biome lsp-proxy``) for TypeScript and JavaScript files.

It pushes diagnostics only, each carrying the version it describes (measured: every push of
an open document is versioned), about 250 ms after a change. ``lsp-proxy`` forwards stdio to
a Biome daemon it starts, reached through a socket under ``$XDG_CACHE_HOME/biome``; each
proxy is given a private ``XDG_CACHE_HOME`` (a fresh folder in its temporary folder), so
that two sessions (replicas, a restart beside a dying one) never share a daemon, and its
daemon watches no files (``--watcher-kind=none``: the client announces every change). The
daemon runs with ``--stop-on-disconnect`` and, sandboxed, in the proxy's pid namespace: it
ends with the proxy. Installed from the npm registry into the cache (`lspfeedback._npm`).
"""

from __future__ import annotations

from lspfeedback import _npm
from lspfeedback.servers.base import ServerContext, ServerSpec

_PRIVATE_DAEMON = ('dir="$(mktemp -d "${TMPDIR:-/tmp}/lspfeedback-biome-XXXXXX")" || exit 70; '
                   'XDG_CACHE_HOME="$dir" "$0" "$@"; code=$?; rm -rf "$dir"; exit "$code"')
"""A shell around the proxy: a fresh cache folder (hence socket path) for it and its daemon,
removed when the proxy exits (a killed process group leaves it in the temporary folder)."""


class Biome(ServerSpec):
    """Biome's language server."""

    def command(self, ctx: ServerContext) -> list[str]:
        """``biome lsp-proxy`` (the platform binary) with a daemon of its own."""
        return ["/bin/sh", "-c", _PRIVATE_DAEMON, biome_executable(self.name), "lsp-proxy",
                "--watcher-kind=none", "--log-level=none"]


def biome_executable(server: str = "biome") -> str:
    """The native ``biome`` of the pinned Biome (installed first if needed)."""
    return _npm.native_executable(server, "@biomejs", "cli", "biome")


SPEC = Biome(
    name="biome",
    summary=f"Biome {_npm.PACKAGES['@biomejs/biome']}'s linter (the rules the project's "
            "biome.json selects), for TypeScript and JavaScript",
    checks=("lint", "syntax"),
    install_hint=f"install it with: {_npm.INSTALL_COMMAND}",
    languages=("typescript",),
)
