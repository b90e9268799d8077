"""TypeScript and JavaScript: one language, since they import each other (a ``.js`` file
importing a ``.ts`` one is an importer like any other). Files ``.ts``, ``.tsx``, ``.mts``,
``.cts`` (``.d.ts`` included), ``.js``, ``.jsx``, ``.mjs``, ``.cjs``; importers from
tree-sitter and the compiler's resolution rules (`lspfeedback._tsimports`)."""

from __future__ import annotations

from pathlib import Path

from lspfeedback._sandbox import Sandbox
from lspfeedback._tsimports import CONFIG_NAMES, SUFFIXES, TsImportGraph
from lspfeedback.languages.base import ImportGraphProvider, Language


class TypeScript(Language):
    """TypeScript and JavaScript."""

    def import_graph(self, root: Path, sandbox: Sandbox) -> ImportGraphProvider:
        """The graph of ``root``'s files, parsed in this process (nothing runs, so
        ``sandbox`` is not needed)."""
        return TsImportGraph(root)


LANGUAGE = TypeScript(
    name="typescript",
    suffixes=SUFFIXES,
    config_files=(*CONFIG_NAMES, "package.json"),
)
