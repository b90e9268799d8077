"""What a language module declares: its files, and how to find who imports whom.

A language is the unit the engine routes by: a file goes to the servers that check its
language (`ServerSpec.languages`), and the importers of an edited file come from its
language's import graph. Adding a language is adding a module to this package (with its
servers in `lspfeedback.servers`): nothing in the engine names a language.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lsprotocol import types

from lspfeedback._sandbox import Sandbox

Change = tuple[str, types.FileChangeType]
"""A file changed in the root the graph reads: (workspace-relative path, what happened)."""


class ImportGraphProvider(Protocol):
    """Who imports whom among one language's files in a root (the replica's shadow root)."""

    error: str | None
    """Why the graph could not be read (then importers are not checked: say so)."""
    timeout: float
    """Seconds one read may take (the engine lowers it to what is left of a call)."""

    def note(self, changes: Sequence[Change]) -> None:
        """Files changed in the root (every language's: ignore the others)."""

    def prefetch(self) -> None:
        """Start reading the graph in the background if that is worth it (at start-up)."""

    async def close(self) -> None:
        """Stop any read under way."""

    async def dependents(self, changed: Sequence[str], limit: int,
                         also: Sequence[str] = ()) -> tuple[list[str], int]:
        """Importers of ``changed`` (transitively, nearest first) and ``also``, at most
        ``limit``; and how many more were cut."""
        ...

    async def importers_of_new(self, created: Sequence[str]) -> list[str]:
        """Files that may import one of ``created`` (new files: their imports did not resolve
        before, so the graph cannot list them). Over-approximate: never fewer."""
        ...


@dataclass(frozen=True)
class Language:
    """One language. Subclass it in a module of `lspfeedback.languages` with a ``LANGUAGE``."""

    name: str
    """Registry name, as servers name it in `ServerSpec.languages`."""
    suffixes: Mapping[str, str]
    """File suffix -> the LSP ``languageId`` of such a file."""
    config_files: tuple[str, ...] = ()
    """File names whose change may change how every file resolves its imports."""

    def handles(self, rel: str) -> bool:
        """Whether the file at ``rel`` is of this language (by its suffix)."""
        return rel.endswith(tuple(self.suffixes))

    def language_id(self, rel: str) -> str:
        """The LSP ``languageId`` a ``didOpen`` of ``rel`` carries."""
        for suffix, language_id in self.suffixes.items():
            if rel.endswith(suffix):
                return language_id
        return self.name

    def import_graph(self, root: Path, sandbox: Sandbox) -> ImportGraphProvider:
        """A graph of ``root``'s files of this language, read in ``sandbox``."""
        raise NotImplementedError
