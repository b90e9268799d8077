"""ImportGraph on a small real package, with the real ``ruff analyze graph``."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lspfeedback import servers
from lspfeedback._imports import _IMPORT, ImportGraph, import_statements  # pyright: ignore[reportPrivateUsage]

RUFF = servers.get("ruff").executable("ruff")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """
    pkg/a.py          defines thing
    pkg/b.py          imports pkg.a            (distance 1 from a)
    pkg/c.py          imports pkg.b            (distance 2 from a, through b)
    pkg/far.py        imports pkg.c            (distance 3 from a)
    pkg/__init__.py   re-exports thing from .a (distance 1 from a)
    d.py              imports thing from pkg   (distance 2 from a, through __init__)
    alone.py          imports nothing of these
    """
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "ruff.toml").write_text("")  # keep any outer configuration out
    (root / "pkg" / "__init__.py").write_text("from .a import thing\n\n__all__ = ['thing']\n")
    (root / "pkg" / "a.py").write_text("thing = 1\n")
    (root / "pkg" / "b.py").write_text("from pkg.a import thing\n\nother = thing\n")
    (root / "pkg" / "c.py").write_text("from pkg import b\n\nprint(b.other)\n")
    (root / "pkg" / "far.py").write_text("from pkg import c\n\nprint(c)\n")
    (root / "d.py").write_text("from pkg import thing\n\nprint(thing)\n")
    (root / "alone.py").write_text("import os\n")
    return root


def dependents(graph: ImportGraph, changed: list[str], limit: int = 100) -> tuple[list[str], int]:
    return asyncio.run(graph.dependents(changed, limit))


DISTANCE_1 = {"pkg/__init__.py", "pkg/b.py"}
DISTANCE_2 = {"pkg/c.py", "d.py"}
DISTANCE_3 = {"pkg/far.py"}
ALL = DISTANCE_1 | DISTANCE_2 | DISTANCE_3


def test_dependents_are_transitive_and_nearest_first(project: Path) -> None:
    graph = ImportGraph(project, RUFF)
    found, omitted = dependents(graph, ["pkg/a.py"])
    assert graph.error is None
    assert omitted == 0
    assert len(found) == len(set(found)) == len(ALL)
    # Alphabetically "d.py" would come first; nearest first puts it after both direct importers,
    # and a depth-first walk would reach pkg/far.py (through b, c) before d.py.
    assert set(found[:2]) == DISTANCE_1
    assert set(found[2:4]) == DISTANCE_2
    assert set(found[4:]) == DISTANCE_3


def test_re_export_through_package_init_is_followed(project: Path) -> None:
    found, _ = dependents(ImportGraph(project, RUFF), ["pkg/__init__.py"])
    assert found == ["d.py"]


def test_leaf_and_unknown_files_have_no_dependents(project: Path) -> None:
    graph = ImportGraph(project, RUFF)
    assert dependents(graph, ["pkg/far.py"]) == ([], 0)
    assert dependents(graph, ["alone.py"]) == ([], 0)
    assert dependents(graph, ["does/not/exist.py"]) == ([], 0)


def test_changed_files_are_not_their_own_dependents(project: Path) -> None:
    graph = ImportGraph(project, RUFF)
    found, omitted = dependents(graph, ["pkg/a.py", "pkg/b.py", "pkg/a.py"])
    assert "pkg/a.py" not in found and "pkg/b.py" not in found
    assert set(found) == ALL - {"pkg/b.py"}
    assert omitted == 0


@pytest.mark.parametrize("limit", [0, 1, 2, 3, 4, 5, 10])
def test_limit_cuts_the_farthest_and_counts_the_rest(project: Path, limit: int) -> None:
    graph = ImportGraph(project, RUFF)
    everything, _ = dependents(graph, ["pkg/a.py"])
    found, omitted = dependents(graph, ["pkg/a.py"], limit)
    assert found == everything[:limit]
    assert len(found) == min(limit, len(ALL))
    assert omitted == len(ALL) - len(found)
    if limit == 2:
        assert set(found) == DISTANCE_1
    if limit == 4:
        assert set(found) == DISTANCE_1 | DISTANCE_2


def test_graph_is_cached_until_invalidate(project: Path) -> None:
    graph = ImportGraph(project, RUFF)
    assert dependents(graph, ["alone.py"]) == ([], 0)
    (project / "e.py").write_text("import alone\n")
    (project / "pkg" / "b.py").write_text("other = 2\n")  # b no longer imports a
    # Still the graph read before the change.
    assert dependents(graph, ["alone.py"]) == ([], 0)
    assert set(dependents(graph, ["pkg/a.py"])[0]) == ALL
    graph.invalidate()
    assert dependents(graph, ["alone.py"]) == (["e.py"], 0)
    assert set(dependents(graph, ["pkg/a.py"])[0]) == {"pkg/__init__.py", "d.py"}


def test_missing_ruff_gives_no_dependents_and_an_error(project: Path) -> None:
    graph = ImportGraph(project, str(project / "no-such-ruff"))
    assert dependents(graph, ["pkg/a.py"]) == ([], 0)
    assert graph.error is not None and "ruff" in graph.error


def test_failing_ruff_gives_no_dependents_and_an_error(project: Path) -> None:
    (project / "ruff.toml").write_text("this is = = not toml\n")
    graph = ImportGraph(project, RUFF)
    assert dependents(graph, ["pkg/a.py"]) == ([], 0)
    assert graph.error is not None and graph.error.startswith("ruff analyze graph failed")
    (project / "ruff.toml").write_text("")
    graph.invalidate()
    assert set(dependents(graph, ["pkg/a.py"])[0]) == ALL
    assert graph.error is None


def test_the_graph_follows_edits_incrementally(project: Path) -> None:
    from lsprotocol.types import FileChangeType

    changed = FileChangeType.Changed
    graph = ImportGraph(project, RUFF)
    assert dependents(graph, ["alone.py"])[0] == []
    assert graph.full_reads == 1
    # An edit that leaves the imports alone needs no ruff run at all...
    (project / "pkg" / "far.py").write_text("from pkg import c\n\nprint(c, 2)\n")
    graph.note([("pkg/far.py", changed)])
    dependents(graph, ["pkg/c.py"])
    graph.note([("pkg/far.py", changed)])  # ... once its import statements are known
    dependents(graph, ["pkg/c.py"])
    first_partial = graph.partial_reads
    (project / "pkg" / "far.py").write_text("from pkg import c\n\nprint(c, 3)\n")
    graph.note([("pkg/far.py", changed)])
    dependents(graph, ["pkg/c.py"])
    assert graph.partial_reads == first_partial and graph.full_reads == 1
    # ...one that adds an import re-reads that file's edges only.
    (project / "alone.py").write_text("import os\nfrom pkg import (\n    far,\n)\n")
    graph.note([("alone.py", changed)])
    assert dependents(graph, ["pkg/far.py"])[0] == ["alone.py"]
    assert graph.partial_reads == first_partial + 1 and graph.full_reads == 1
    # ...and removing it takes the edge away again.
    (project / "alone.py").write_text("import os\n")
    graph.note([("alone.py", changed)])
    assert dependents(graph, ["pkg/far.py"])[0] == []
    # A new module can change how any import resolves: the whole graph is read again.
    (project / "pkg" / "new.py").write_text("from pkg import far\n")
    graph.note([("pkg/new.py", FileChangeType.Created)])
    assert dependents(graph, ["pkg/far.py"])[0] == ["pkg/new.py"]
    assert graph.full_reads == 2


def test_files_naming_a_created_module_are_its_importers(project: Path) -> None:
    (project / "d.py").write_text("from pkg import fresh\n")  # does not resolve yet
    graph = ImportGraph(project, RUFF)
    found = asyncio.run(graph.importers_of_new(["pkg/fresh.py"]))
    assert found == ["d.py"]
    assert asyncio.run(graph.importers_of_new(["pkg/__init__.py"])) != []  # "pkg" is named


def test_a_file_no_configured_server_checks_is_not_a_target() -> None:
    import asyncio

    from lspfeedback._imports import plan

    class NoGraph:
        error = None

        async def dependents(self, changed, limit, also=()):  # type: ignore[no-untyped-def]
            return [], 0

        async def importers_of_new(self, created):  # type: ignore[no-untyped-def]
            return []

    scope = asyncio.run(plan({"python": NoGraph()}, ["a.py", "web/app.ts", "README.md"], 10))
    # Only Python is configured: the .ts file would read "checked, clean" if it were a target.
    assert scope.targets == ["a.py"] and scope.changed == ["a.py", "web/app.ts", "README.md"]


def test_an_edited_files_own_imports_are_read_after_its_importers_are_found(
        project: Path) -> None:
    """Who imports a file never depends on what it imports: its importers are answered at
    once, its new edges are read in the background and serve the next call."""
    from lsprotocol.types import FileChangeType

    async def scenario() -> tuple[int, int, int, list[str]]:
        graph = ImportGraph(project, RUFF)
        await graph.dependents(["pkg/a.py"], 100)  # the whole graph read
        graph.note([("alone.py", FileChangeType.Changed)])
        await graph.dependents(["pkg/a.py"], 100)  # alone.py's statements learnt
        (project / "alone.py").write_text("import os\nfrom pkg import far\n")
        graph.note([("alone.py", FileChangeType.Changed)])
        before = graph.partial_reads
        answer = await graph.dependents(["alone.py"], 100)
        assert answer == ([], 0)
        during = graph.partial_reads
        found = (await graph.dependents(["pkg/far.py"], 100))[0]
        after = graph.partial_reads
        await graph.close()
        return before, during, after, found

    before, during, after, found = asyncio.run(scenario())
    assert during == before  # not read before the answer...
    assert found == ["alone.py"] and after == before + 1  # ...read once, for the next call



def test_a_background_read_that_raises_becomes_an_error_and_is_read_again(
        project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lsprotocol.types import FileChangeType

    async def scenario() -> None:
        graph = ImportGraph(project, RUFF)
        await graph.dependents(["pkg/a.py"], 100)
        graph.note([("alone.py", FileChangeType.Changed)])
        await graph.dependents(["pkg/a.py"], 100)  # alone.py's statements learnt
        real = graph._read_edges
        calls: list[list[str]] = []

        async def failing(dirty: list[str], timeout: float | None = None) -> None:
            calls.append(dirty)
            raise PermissionError("an unreadable folder")

        monkeypatch.setattr(graph, "_read_edges", failing)
        (project / "alone.py").write_text("import os\nfrom pkg import far\n")
        graph.note([("alone.py", FileChangeType.Changed)])
        # The failure is a note on the plans, never an exception of a call or of note().
        assert (await graph.dependents(["pkg/far.py"], 100))[0] == []
        assert calls and all(c == ["alone.py"] for c in calls)
        assert graph.error is not None and "could not be updated" in graph.error
        monkeypatch.setattr(graph, "_read_edges", real)
        # ...and the file is read again by the next call, which finds the new edge and
        # clears the error.
        assert (await graph.dependents(["pkg/far.py"], 100))[0] == ["alone.py"]
        assert graph.error is None
        await graph.close()

    asyncio.run(scenario())


_PIECES = st.sampled_from([
    "import os", "from a import b", "from a import (b,\n c)", "    import x  # import y",
    "x = 1; import z", "s = 'import'", "from . import (\n", "important = 2", "c_import)",
    "import", "\timport\tq", ")", "from  a  import  b", "# import in a comment", "",
    "from a import (b,", "import c); import d", "from important import x",
])


@given(st.lists(_PIECES, max_size=12), st.sampled_from(["\n", "\r\n", " "]))
def test_import_statements_are_what_the_pattern_finds_on_every_line(
        pieces: list[str], sep: str) -> None:
    text = sep.join(pieces)
    scanned = frozenset(" ".join(m.group(0).split()) for m in _IMPORT.finditer(text))
    assert import_statements(text) == scanned
