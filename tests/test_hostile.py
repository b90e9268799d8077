"""Hostile files in the workspace (issue 10, part 3): named pipes, sockets, huge files, files
that are not UTF-8 and texts that cannot be encoded are refused clearly, by the calls that
touch them only, and nothing hangs: every subprocess the library starts has a deadline."""

from __future__ import annotations

import asyncio
import difflib
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from lsprotocol import types

from lspfeedback import EditError, Verifier, servers
from lspfeedback import _documents as documents
from lspfeedback import _imports as imports
from lspfeedback._daemon.commands import _wait_gone
from lspfeedback._documents import DocumentStore
from lspfeedback._imports import ImportGraph, Plan, plan

from .conftest import TIMEOUT

RUFF = servers.get("ruff").executable("ruff")

PRICING = "shop/pricing.py"
CART = "shop/cart.py"
CHECKOUT = "shop/checkout.py"

A = "pkg/a.py"
B = "pkg/b.py"
C = "pkg/c.py"
A_TEXT = "def double(x: int) -> int:\n    return 2 * x\n"
B_TEXT = "from pkg.a import double\n\nprint(double(1))\n"


def ruff_verifier(root: Path, timeout: float = TIMEOUT) -> Verifier:
    return Verifier(root, servers=("ruff",), timeout=timeout)


@pytest.fixture
def pkg(tmp_path: Path) -> Path:
    """pkg/a.py; pkg/b.py imports it; pkg/c.py imports nothing. Every file is tiny."""
    root = tmp_path / "proj"
    (root / "pkg").mkdir(parents=True)
    (root / "ruff.toml").write_text("")  # keep any outer configuration out
    (root / "pkg" / "__init__.py").write_text("")
    (root / A).write_text(A_TEXT)
    (root / B).write_text(B_TEXT)
    (root / C).write_text("X = 1\n")
    return root


UNUSED = "\n\ndef _unused() -> None:\n    value = 1\n"
"""Appended to a file: ruff's F841 (a local variable assigned but never used), nothing else."""


def codes(report: object) -> list[tuple[str, str | None]]:
    return [(d.path, d.code) for d in report.introduced]  # type: ignore[attr-defined]


def store_of(v: Verifier) -> DocumentStore:
    return v.engine._pool.primary.store


def search_replace(rel: str, search: str, replace: str) -> str:
    return f"{rel}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


# ---- named pipes, sockets, directories ---------------------------------------------------
# The guard against a hang is pytest-timeout's thread method: a read blocked in the verifier's
# event-loop thread would also block its close, so only ending the process ends the test.


@pytest.mark.timeout(60, method="thread")
def test_a_named_pipe_in_the_root_affects_no_call(shop: Path) -> None:
    os.mkfifo(shop / "shop" / "pipe.py")  # a module name: the graph and the watcher see it
    os.mkfifo(shop / "notes")
    with ruff_verifier(shop, timeout=20) as v:
        os.mkfifo(shop / "shop" / "late.py")  # while running: for the watcher and the rescan
        started = time.monotonic()
        report = v.verify({CART: (shop / CART).read_text() + UNUSED})
        elapsed = time.monotonic() - started
        again = v.verify([shop / CHECKOUT])  # known (an importer): not a first sight
    assert elapsed < 20
    assert codes(report) == [(CART, "F841")]
    assert report.complete and CHECKOUT in report.checked_files  # the import graph was read
    assert again.introduced == () and again.complete


@pytest.mark.timeout(60, method="thread")
def test_a_named_pipe_passed_as_a_path_is_a_clear_error(shop: Path) -> None:
    pipe = shop / "shop" / "pipe.py"
    os.mkfifo(pipe)
    (shop / "shop" / "link.py").symlink_to("pipe.py")  # a link inside the root: followed
    calls: list[Callable[[Verifier], object]] = [
        lambda v: v.verify([pipe]),
        lambda v: v.verify(["shop/link.py"]),
        lambda v: v.verify({"shop/pipe.py": "x = 1\n"}),
        lambda v: v.verify(search_replace("shop/pipe.py", "x\n", "y\n")),
        lambda v: v.verify_speculative({"shop/pipe.py": "x = 1\n"}),
        lambda v: v.apply({CHECKOUT: "x = 1\n", "shop/pipe.py": "x = 1\n"}),
        lambda v: v.diagnostics([pipe]),
    ]
    with ruff_verifier(shop) as v:
        v.verify({PRICING: (shop / PRICING).read_text() + "\n"})
        overlays = v.overlays
        for call in calls:
            with pytest.raises(EditError, match=r"'shop/pipe.py' is a named pipe, not a file: "
                                                r"only regular files can be checked"):
                call(v)
            assert v.overlays == overlays  # nothing was applied, not even checkout.py
        report = v.verify({CART: (shop / CART).read_text() + UNUSED})
    assert codes(report) == [(CART, "F841")]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("kind", ["named pipe", "socket", "directory"])
def test_what_is_not_a_regular_file_is_never_opened_and_says_what_it_is(
        tmp_path: Path, kind: str) -> None:
    path = tmp_path / "thing.py"
    if kind == "named pipe":
        os.mkfifo(path)
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
        sock.close()
    else:
        path.mkdir()
    store = DocumentStore(tmp_path)
    with pytest.raises(EditError, match=rf"'thing.py' is a {kind}, not a file"):
        store.get("thing.py")
    assert not store.known("thing.py")
    with pytest.raises(EditError, match=rf"is a {kind}"):
        store.set_overlays({"ok.py": "x = 1\n", "thing.py": "x = 1\n"})
    assert store.overlays() == []  # checked before any overlay is set


# ---- the size cap ------------------------------------------------------------------------


def test_the_cap_is_pyrights_limit() -> None:
    assert documents.MAX_DOCUMENT_BYTES == 50 * 1024 * 1024


@pytest.mark.timeout(60, method="thread")
def test_a_file_over_the_cap_is_not_read_and_blocks_nothing(
        pkg: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(documents, "MAX_DOCUMENT_BYTES", 1024)
    big = pkg / "pkg" / "big.py"
    big.write_text("x = 1\n" * 400)  # 2,400 bytes
    too_large = r"'pkg/big.py' is too large to check: 2.3 KiB > 1 KiB"
    with ruff_verifier(pkg) as v:
        with pytest.raises(EditError, match=too_large):
            v.verify([big])
        with pytest.raises(EditError, match=too_large):
            v.verify({"pkg/big.py": "x = 2\n"})
        with pytest.raises(EditError, match=too_large):
            v.verify(search_replace("pkg/big.py", "x = 1\n", "x = 2\n"))
        assert v.overlays == {}
        report = v.verify({C: "X = 1\n" + UNUSED})
    assert codes(report) == [(C, "F841")]


# ---- a known file that becomes unreadable ------------------------------------------------


BREAKS = {
    "not UTF-8": r"'pkg/b\.py' is not UTF-8 text \(byte 0xe9 at line 4, byte 6 of the line",
    "named pipe": r"'pkg/b\.py' is a named pipe, not a file",
    "too large": r"'pkg/b\.py' is too large to check: 4\.9 KiB > 4 KiB",
}


@pytest.mark.timeout(120, method="thread")
@pytest.mark.parametrize("how", list(BREAKS))
def test_an_unreadable_known_file_fails_only_the_calls_that_touch_it(
        pkg: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    monkeypatch.setattr(documents, "MAX_DOCUMENT_BYTES", 4096)
    path = pkg / B
    with ruff_verifier(pkg) as v:
        first = v.verify({A: A_TEXT + "\n"})
        assert B in first.checked_files and first.introduced == ()  # known: an importer
        if how == "not UTF-8":
            path.write_bytes(B_TEXT.encode() + "# caf\xe9\n".encode("latin-1"))
        elif how == "named pipe":
            path.unlink()
            os.mkfifo(path)
        else:
            path.write_text(B_TEXT + "#" * 5000 + "\n")
        # Calls that do not touch b.py work, for this agent and for others (the daemon's).
        report = v.verify({A: A_TEXT + "\n\n"})
        assert report.introduced == () and report.status != "unknown"
        assert any(B in note for note in report.notes), report.notes  # and it says so
        assert codes(v.verify_speculative({C: "X = 1\n" + UNUSED})) == [(C, "F841")]
        notes = store_of(v).unreadable_notes()
        assert len(notes) == 1
        assert notes[0].startswith(f"'{B}'") and "last readable text" in notes[0]
        # Calls that need its text raise, saying why, and change nothing.
        overlays = v.overlays
        for call in (lambda: v.verify([path]),
                     lambda: v.verify({B: "x = 1\n"}),
                     lambda: v.verify(search_replace(B, "print(double(1))\n", "pass\n"))):
            with pytest.raises(EditError, match=BREAKS[how]):
                call()
            assert v.overlays == overlays
        # Fixed on disk: the next call sees it again.
        if how == "named pipe":
            path.unlink()
        path.write_text(B_TEXT + UNUSED)
        fixed = v.verify([path])
        assert codes(fixed) == [(B, "F841")]
        assert store_of(v).unreadable_notes() == ()
        edited = v.verify(search_replace(B, "print(double(1))\n", "print(double(2))\n"))
    assert edited.introduced == () and B in edited.changed_files


# ---- texts that cannot be encoded --------------------------------------------------------


BAD = "x = '\ud800'\n"  # a lone surrogate: no UTF-8 for it


def surrogate_edits(root: Path) -> dict[str, object]:
    old = (root / PRICING).read_text()
    first = old.splitlines(True)[0]
    insert = {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
              "newText": BAD}
    return {
        "full text": {PRICING: BAD + old},
        "TextEdit map": {PRICING: [insert]},
        "WorkspaceEdit": {"changes": {(root / PRICING).as_uri(): [insert]}},
        "unified diff": "".join(difflib.unified_diff(
            old.splitlines(True), (BAD + old).splitlines(True), f"a/{PRICING}", f"b/{PRICING}")),
        "search/replace": search_replace(PRICING, first, BAD + first),
    }


@pytest.mark.timeout(120, method="thread")
def test_a_lone_surrogate_is_an_edit_error_in_every_format_and_changes_nothing(
        shop: Path) -> None:
    on_disk = (shop / PRICING).read_bytes()
    with ruff_verifier(shop) as v:
        v.verify({CART: (shop / CART).read_text() + "\n"})
        overlays = v.overlays
        assert overlays
        for name, edit in surrogate_edits(shop).items():
            for call in (v.verify, v.verify_speculative, v.apply, v.commit):
                with pytest.raises(EditError, match=rf"^{PRICING}: the new text cannot be "
                                                    r"encoded as UTF-8 at line 1, column 6"):
                    call(edit)  # type: ignore[operator]
                assert v.overlays == overlays, (name, call)
        # ruff was never given the text: it is alive and answers the next call.
        report = v.verify({PRICING: on_disk.decode() + UNUSED})
        status = v.status()
    assert codes(report) == [(PRICING, "F841")]
    primary = status.replicas[0]
    assert report.unknown == () and [(s.name, s.state) for s in primary.servers] == [
        ("ruff", "running")]
    assert (shop / PRICING).read_bytes() == on_disk


# ---- deadlines ---------------------------------------------------------------------------


def _exited(pid: int, timeout: float = 10.0) -> bool:
    """Whether ``pid`` has exited (a zombie counts), waiting on a pidfd: no polling."""
    return _wait_gone(pid, timeout)


@pytest.mark.timeout(60, method="thread")
def test_ruff_analyze_graph_has_a_deadline_and_its_tree_is_killed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pids = tmp_path / "pids"
    ruff = tmp_path / "ruff"
    # A "ruff" that never answers, with a child of its own holding the output pipe.
    ruff.write_text(f"#!/bin/sh\necho $$ > {pids}\nsleep 1000 &\necho $! >> {pids}\nwait\n")
    ruff.chmod(0o755)
    (tmp_path / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(imports, "FULL_READ_TIMEOUT", 1.0)  # the whole read's own bound
    graph = ImportGraph(tmp_path, str(ruff), timeout=5.0)
    started = time.monotonic()
    scope = asyncio.run(plan({"python": graph}, ["a.py"], 10))
    elapsed = time.monotonic() - started
    assert elapsed < 8
    assert graph.error is not None and "did not finish within 1 s" in graph.error
    assert not scope.complete
    assert any(n.startswith("importers not checked: ruff analyze graph did not finish")
               for n in scope.notes)
    leader, child = (int(p) for p in pids.read_text().split())
    assert _exited(leader) and _exited(child)


def test_a_call_leaves_a_slow_whole_read_running_and_close_kills_its_tree(
        tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    ruff = tmp_path / "ruff"
    ruff.write_text(f"#!/bin/sh\necho $$ > {pids}\nsleep 1000 &\necho $! >> {pids}\nwait\n")
    ruff.chmod(0o755)
    (tmp_path / "a.py").write_text("x = 1\n")
    graph = ImportGraph(tmp_path, str(ruff), timeout=0.5)

    async def run() -> tuple[Plan, bool]:
        scope = await plan({"python": graph}, ["a.py"], 10)
        running = graph._full is not None and not graph._full.done()
        await graph.close()
        return scope, running

    scope, running = asyncio.run(run())
    assert running  # the call did not end the read: the next call would have used it
    assert not scope.complete and graph.error is not None
    assert graph.error.startswith("the import graph is still being read")
    leader, child = (int(p) for p in pids.read_text().split())
    assert _exited(leader) and _exited(child)


def test_after_a_failed_whole_read_the_next_use_reads_the_whole_graph_again(
        tmp_path: Path) -> None:
    hanging = tmp_path / "hanging-ruff"
    hanging.write_text("#!/bin/sh\nexec sleep 1000\n")
    hanging.chmod(0o755)
    root = tmp_path / "proj"
    root.mkdir()
    (root / "ruff.toml").write_text("")
    (root / "a.py").write_text("X = 1\n")
    (root / "b.py").write_text("from a import X\n")
    graph = ImportGraph(root, str(hanging), timeout=1.0)
    assert not asyncio.run(plan({"python": graph}, ["a.py"], 10)).complete
    # ruff works again: no empty graph was kept, so the next use reads it whole, and only
    # that clears the error (a partial read of one file could not).
    graph.ruff = RUFF
    (root / "b.py").write_text("from a import X\n\nimport os\n")
    graph.note([("b.py", types.FileChangeType.Changed)])
    again = asyncio.run(plan({"python": graph}, ["a.py"], 10))
    assert graph.full_reads == 2 and graph.partial_reads == 0
    assert again.complete and again.targets == ["a.py", "b.py"]


def test_the_import_graph_deadline_defaults_to_30_s(tmp_path: Path) -> None:
    assert ImportGraph(tmp_path, "ruff").timeout == 30.0
