"""Python: ``.py`` and ``.pyi`` files; importers from ``ruff analyze graph`` (`_imports`)."""

from __future__ import annotations

from pathlib import Path

from lspfeedback._imports import CONFIG_FILES, PYTHON_SUFFIXES, ImportGraph
from lspfeedback._sandbox import Sandbox
from lspfeedback.languages.base import ImportGraphProvider, Language


class Python(Language):
    """The Python language."""

    def import_graph(self, root: Path, sandbox: Sandbox) -> ImportGraphProvider:
        """ruff's import graph of ``root`` (run in the servers' sandbox: it reads the tree)."""
        from lspfeedback import servers

        return ImportGraph(root, servers.get("ruff").executable("ruff"), sandbox=sandbox)


LANGUAGE = Python(
    name="python",
    suffixes=dict.fromkeys(PYTHON_SUFFIXES, "python"),
    config_files=tuple(CONFIG_FILES),
)
