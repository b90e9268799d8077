"""The hot path of a check, against real servers: one pull per document and version, named by
its previous result so that an unchanged file answers ``unchanged`` (and the result stays
that of the version pulled), a hand-written structuring of pull answers that equals the
converter's, one pipe write per step, and the servers' work-done progress."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lsprotocol import types
from lsprotocol.converters import get_converter

from lspfeedback import Verifier
from lspfeedback._lsp.progress import Progress, ProgressTracker
from lspfeedback._lsp.report import structure_report
from lspfeedback._session import ServerSession

from .conftest import FIXTURES, TIMEOUT, kill_and_wait

PRICING = "shop/pricing.py"
CART = "shop/cart.py"
SHOP_FILES = ["shop/__init__.py", CART, "shop/checkout.py", PRICING]
CONVERTER = get_converter()


def sessions(v: Verifier) -> dict[str, ServerSession]:
    return v.engine._primary.sessions


def converter_report(raw: Any) -> Any:
    """What pygls's converter makes of a pull's answer (the reference)."""
    response_type = types.METHOD_TO_TYPES[types.TEXT_DOCUMENT_DIAGNOSTIC][1]
    return CONVERTER.structure({"jsonrpc": "2.0", "id": 1, "result": raw}, response_type).result


def assert_same_as_converter(raw: Any) -> None:
    fast = structure_report(raw, CONVERTER)
    reference = converter_report(raw)
    assert fast.kind == reference.kind
    assert fast.result_id == reference.result_id
    assert list(fast.items) == list(getattr(reference, "items", []))


# ---- structuring of pull answers ------------------------------------------------------------


def test_the_fast_structuring_equals_the_converter_on_real_servers_answers(shop: Path) -> None:
    text = (shop / PRICING).read_text()
    broken = ("import os\nimport sys\n" + text.replace("percent: int)", "percent: int, extra: str)")
              + "\nunused = undefined_name\n")
    raws: dict[str, list[Any]] = {}
    with Verifier(shop, servers=["pyright", "ruff", "ty"], timeout=TIMEOUT) as v:
        v.verify({PRICING: broken})
        for name, session in sessions(v).items():
            client = session.client
            assert client is not None
            for rel in SHOP_FILES:
                params = types.DocumentDiagnosticParams(
                    text_document=types.TextDocumentIdentifier(uri=session.store.uri(rel)),
                    identifier=session.capabilities.pull_identifier if session.capabilities else None)
                raws.setdefault(name, []).append(v._loop.run(client.request(
                    types.TEXT_DOCUMENT_DIAGNOSTIC, params, TIMEOUT, structure=lambda raw: raw)))
    for name, answers in raws.items():
        assert any(raw["items"] for raw in answers), f"{name} reported nothing to compare"
        for raw in answers:
            assert_same_as_converter(raw)
    # Between them the answers use the optional fields the hand-written reader handles.
    items = [item for answers in raws.values() for raw in answers for item in raw["items"]]
    for key in ("code", "codeDescription", "tags", "source", "severity"):
        assert any(key in item for item in items), key


POSITIONS = st.builds(types.Position, line=st.integers(0, 2**31 - 1),
                      character=st.integers(0, 2**31 - 1))
RANGES = st.builds(types.Range, start=POSITIONS, end=POSITIONS)
DIAGNOSTICS = st.builds(
    types.Diagnostic,
    range=RANGES,
    message=st.text(max_size=20),
    severity=st.none() | st.sampled_from(list(types.DiagnosticSeverity)),
    code=st.none() | st.integers(-5, 5) | st.text(max_size=5),
    code_description=st.none() | st.builds(types.CodeDescription, href=st.just("https://x/y")),
    source=st.none() | st.text(max_size=5),
    tags=st.none() | st.lists(st.sampled_from(list(types.DiagnosticTag)), max_size=2),
    related_information=st.none() | st.lists(st.builds(
        types.DiagnosticRelatedInformation,
        location=st.builds(types.Location, uri=st.just("file:///a.py"), range=RANGES),
        message=st.text(max_size=5)), max_size=2),
    data=st.none() | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(DIAGNOSTICS, max_size=4), st.none() | st.text(min_size=1, max_size=8))
def test_the_fast_structuring_equals_the_converter_on_any_full_report(
        diagnostics: list[types.Diagnostic], result_id: str | None) -> None:
    raw = CONVERTER.unstructure(types.FullDocumentDiagnosticReport(
        items=diagnostics, result_id=result_id))
    assert_same_as_converter(raw)


@pytest.mark.parametrize("item", [
    # Shapes the hand-written reader does not take: the converter decides, as before.
    {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}},
     "message": "m", "code": True},
    {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}},
     "message": "m", "severity": 2, "extra": {"ignored": 1}},
    {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 1}},
     "message": "m", "tags": [1, 2], "relatedInformation": []},
])
def test_unusual_items_come_out_as_the_converter_makes_them(item: dict[str, Any]) -> None:
    assert_same_as_converter({"kind": "full", "items": [item]})


@pytest.mark.parametrize("raw", [
    None, [], {"kind": "full"}, {"kind": "unchanged"}, {"kind": "other", "items": []},
    {"kind": "full", "items": [{"message": "no range"}]},
    {"kind": "full", "items": [{"range": {"start": {"line": -1, "character": 0},
                                          "end": {"line": 0, "character": 0}}, "message": "m"}]},
])
def test_what_is_not_a_report_raises(raw: Any) -> None:
    with pytest.raises((TypeError, ValueError, KeyError, ExceptionGroup)):
        structure_report(raw, CONVERTER)


# ---- one pull per document and version; unchanged answers stay fresh -------------------------


def test_each_check_pulls_each_file_once_whatever_the_refreshes(shop: Path) -> None:
    text = (shop / PRICING).read_text()
    with Verifier(shop, servers=["pyright", "ruff"], timeout=TIMEOUT) as v:
        v.verify({PRICING: text + "\n# first\n"})
        before = {name: s.pulls for name, s in sessions(v).items()}
        report = v.verify({PRICING: text.replace("percent: int)", "percent: int, c: str)")})
        # One new state checked (the state before it is cached): one pull of each file,
        # although pyright asks for a refresh after every analysis; ruff, a per-file linter
        # (file_local), only of the file edited: its importers' lint cannot have changed.
        pulled = {name: s.pulls - before[name] for name, s in sessions(v).items()}
        assert pulled == {"pyright": len(report.checked_files), "ruff": 1}
        assert all(s.pushes_waited == 0 for s in sessions(v).values())
        assert [d.path for d in report.introduced if d.source == "pyright"] == [CART]


def test_a_per_file_linter_keeps_importers_results_until_files_come_or_go(shop: Path) -> None:
    pricing, cart = (shop / PRICING).read_text(), (shop / CART).read_text()
    unused = cart.replace("from dataclasses", "import json\nfrom dataclasses")
    with Verifier(shop, servers=["ruff"], timeout=TIMEOUT) as v:
        ruff = sessions(v)["ruff"]
        [f401] = v.verify({CART: unused}).introduced
        v.verify({PRICING: pricing + "\n# one\n"})
        before = ruff.pulls
        report = v.verify({PRICING: pricing + "\nimport os\n"})
        # The importers are checked and their lint reported (cart's F401 still stands), but
        # only the edited file was pulled: the others' results are kept.
        assert CART in report.checked_files
        assert f401.identity() in {d.identity() for d in report.diagnostics}
        assert [d.code for d in report.introduced] == ["F401"]
        assert ruff.pulls - before == 1
        # A created file changes which files exist (isort's first-party test, INP001): the
        # importers are pulled again on the next edit.
        v.verify({"shop/extra.py": "from shop import cart\n"})
        before = ruff.pulls
        again = v.verify({PRICING: pricing + "\n# two\n"})
        assert ruff.pulls - before >= len(again.checked_files)
        assert f401.identity() in {d.identity() for d in again.diagnostics}


def test_unchanged_answers_stand_for_the_version_pulled(shop: Path) -> None:
    text = (shop / PRICING).read_text()
    one = text.replace("percent: int)", "percent: int, currency: str)")
    two = text.replace("percent: int)", "percent: int, currency: str, locale: str)")
    with Verifier(shop, servers=["ty"], timeout=TIMEOUT) as v:
        ty = sessions(v)["ty"]
        first = v.verify({PRICING: one})
        [error] = first.introduced
        assert error.path == CART and "currency" in error.message
        # A comment below everything: no file's diagnostics change, so ty answers unchanged
        # for every file it gave a result id (those with diagnostics), the importer with the
        # error included: the error is still reported, for the new version.
        unchanged = ty.unchanged_pulls
        named = {rel for rel, pulled in ty._pulled.items() if pulled.report.result_id}
        assert CART in named
        second = v.verify({PRICING: one + "\n# a comment\n"})
        assert ty.unchanged_pulls - unchanged == len(named)
        assert second.diagnostics == (error,) and second.introduced == ()
        assert second.versions[PRICING] > first.versions[PRICING]
        # A second missing argument changes the importer's error: a full answer for it, and
        # the report has the new error, not the one kept from before.
        unchanged = ty.unchanged_pulls
        third = v.verify({PRICING: two})
        assert ty.unchanged_pulls - unchanged < len(named)
        [new_error] = third.diagnostics
        assert new_error.path == CART and "locale" in new_error.message
        fixed = v.verify({PRICING: text})
        assert [d.path for d in fixed.resolved] == [CART] and fixed.diagnostics == ()


def test_a_restarted_server_is_not_asked_about_the_old_ones_results(shop: Path) -> None:
    text = (shop / PRICING).read_text()
    broken = text.replace("percent: int)", "percent: int, currency: str)")
    with Verifier(shop, servers=["ty"], timeout=TIMEOUT) as v:
        ty = sessions(v)["ty"]
        v.verify({PRICING: broken})
        assert CART in ty._pulled
        assert ty.client is not None and ty.client.pid is not None
        kill_and_wait(ty.client.pid)
        v.verify({PRICING: broken + "\n# a stand-in answers\n"})  # and ty is restarted
        v.wait_settled(TIMEOUT)
        # The new process has not been asked yet, and the old one's result ids are gone
        # (ty's are hashes of the diagnostics: it would answer "unchanged" to them).
        assert ty.starts == 2 and ty.state == "running" and not ty._pulled
        report = v.verify({PRICING: broken + "\n# again\n"})
        assert not report.degraded
        assert [d.path for d in report.diagnostics] == [CART]
        assert CART in ty._pulled  # named again by the next pull


def test_a_full_answer_equal_to_the_last_keeps_its_items(shop: Path) -> None:
    # ruff gives no result ids: every pull is answered in full. An importer whose JSON did
    # not change keeps the items (the objects) read from the last answer.
    text = (shop / PRICING).read_text()
    with Verifier(shop, servers=["ruff"], timeout=TIMEOUT) as v:
        ruff = sessions(v)["ruff"]
        v.verify({CART: "import os\n" + (shop / CART).read_text()})  # an unused import
        kept = ruff._pulled[CART].report.items
        assert kept and all(p.report.result_id is None for p in ruff._pulled.values())
        report = v.verify({PRICING: text + "\n# new\n"})
        assert ruff._pulled[CART].report.items is kept
        assert "F401" in [d.code for d in report.diagnostics if d.path == CART]


def test_equal_json_reuses_the_previous_items_and_other_json_does_not() -> None:
    item = {"range": {"start": {"line": 1, "character": 2}, "end": {"line": 1, "character": 4}},
            "message": "m", "severity": 1, "code": "E1", "source": "s"}
    first = structure_report({"kind": "full", "items": [item]}, CONVERTER)
    again = structure_report({"kind": "full", "items": [dict(item)]}, CONVERTER, first)
    assert again.items is first.items
    other = structure_report({"kind": "full", "items": [{**item, "message": "n"}]}, CONVERTER,
                             first)
    assert other.items is not first.items and other.items[0].message == "n"


# ---- one write per step ----------------------------------------------------------------------


def test_a_step_of_a_check_is_one_pipe_write(shop: Path) -> None:
    text = (shop / PRICING).read_text()
    # ty pulls every checked file again (ruff, a per-file linter, would pull one).
    with Verifier(shop, servers=["ty"], timeout=TIMEOUT) as v:
        v.verify({PRICING: text + "\n# warm\n"})
        client = sessions(v)["ty"].client
        assert client is not None and client.writer is not None
        messages, writes = client.writer.messages, client.writer.writes
        report = v.verify({PRICING: text + "\n# a new state\n"})
        assert report.status == "clean" and len(report.checked_files) == 4
        # The didChange and four pulls leave in one write (a request of the server's
        # meanwhile, answered at once, may take a second one).
        assert client.writer.messages - messages >= 5
        assert client.writer.writes - writes <= 2


# ---- work-done progress -----------------------------------------------------------------------


def test_progress_keeps_each_tokens_latest_state_and_calls_the_hook() -> None:
    seen: list[Progress] = []
    tracker = ProgressTracker("s")
    tracker.on_progress = seen.append
    assert tracker.update("t", {"kind": "begin", "title": "Indexing", "percentage": 0}) \
        == Progress("s", "Indexing", None, 0, token="t")
    tracker.update(7, {"kind": "begin", "title": "Other"})
    tracker.update("t", {"kind": "report", "message": "3 files", "percentage": 150})
    assert tracker.latest == Progress("s", "Indexing", "3 files", 100, token="t")
    tracker.update("t", {"kind": "end"})
    assert tracker.latest == Progress("s", "Other", token=7)
    tracker.update(7, {"kind": "end", "message": "done"})
    assert tracker.latest is None
    assert tracker.update("p", [{"partial": "result"}]) is None  # not work-done progress
    assert [(p.token, p.done) for p in seen] == [
        ("t", False), (7, False), ("t", False), ("t", True), (7, True)]


@pytest.fixture
def synth(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "synth"
    subprocess.run([sys.executable, str(FIXTURES / "synth.py"), str(root), "--modules", "300"],
                   check=True, capture_output=True)
    yield root


def test_pyright_reports_its_analysis_as_progress(synth: Path) -> None:
    files = sorted(p.relative_to(synth).as_posix() for p in synth.rglob("*.py"))[:40]
    states: list[Progress] = []
    ended = threading.Event()

    def hook(state: Progress) -> None:  # called on the verifier's loop thread
        states.append(state)
        if state.done and any(s.message for s in states):
            ended.set()

    with Verifier(synth, servers=["pyright"], timeout=TIMEOUT) as v:
        pyright = sessions(v)["pyright"]
        pyright.on_progress = hook
        report = v.diagnostics(files)
        assert report.status == "clean"
        assert ended.wait(TIMEOUT), f"no progress ended within {TIMEOUT} s: {states}"
    under_way = [s for s in states if not s.done and s.message]
    assert under_way and all(s.server == "pyright" for s in states)
    assert any((s.message or "").endswith(("file to analyze", "files to analyze")) for s in under_way)


def test_the_writers_hold_a_step_until_a_turn_passes_without_writes() -> None:
    from lspfeedback._lsp import writer as writer_module

    async def run() -> tuple[list[bytes], list[bytes], int]:
        loop = asyncio.get_running_loop()
        written: list[bytes] = []

        class Pipe:
            def write(self, data: bytes) -> None:
                written.append(data)

            def close(self) -> None:
                pass

        w = writer_module.BatchedWriter(Pipe(), loop)
        # As a check writes: a notice, then a task that syncs, then tasks that pull.
        w.write(b"notice;")
        await asyncio.sleep(0)
        w.write(b"change;")

        async def pull() -> None:  # a task: its first step runs a turn later
            w.write(b"pull;")
            await asyncio.sleep(0)

        await asyncio.gather(*(pull() for _ in range(3)))
        while w.holding:
            await asyncio.sleep(0)
        step = list(written)
        written.clear()
        # A stream that never pauses is still sent, every MAX_TURNS turns at most.
        for _ in range(3 * writer_module.MAX_TURNS):
            w.write(b"x")
            await asyncio.sleep(0)
        return step, written, w.writes

    step, stream, writes = asyncio.run(run())
    assert step == [b"notice;change;pull;pull;pull;"]
    assert 2 <= len(stream) <= 4 and b"".join(stream) == b"x" * (3 * writer_module.MAX_TURNS)
    assert writes == 1 + len(stream)


def test_the_writers_of_one_loop_flush_in_the_same_turn() -> None:
    from lspfeedback._lsp import writer as writer_module

    async def run() -> list[str]:
        loop = asyncio.get_running_loop()
        order: list[str] = []

        class Pipe:
            def __init__(self, name: str) -> None:
                self.name = name

            def write(self, data: bytes) -> None:
                order.append(f"{self.name}:{data.decode()}")

            def close(self) -> None:
                pass

        first = writer_module.BatchedWriter(Pipe("ty"), loop)
        second = writer_module.BatchedWriter(Pipe("ruff"), loop)
        first.write(b"a")
        await asyncio.sleep(0)  # the second server's step starts a turn later
        second.write(b"b")
        turns = 0
        while first.holding or second.holding:
            turns += 1
            # Neither is written alone: the first waits for the second's step.
            assert first.holding and second.holding
            await asyncio.sleep(0)
        assert turns <= writer_module.MAX_TURNS
        return order

    assert asyncio.run(run()) == ["ty:a", "ruff:b"]


def test_background_work_waits_for_the_messages_of_the_step_that_started_it() -> None:
    """`WriteBatch.step_written`: a task started before a check writes (the import graph's
    background read, whose ruff spawn blocks the loop) goes on only after the check's
    messages have left; with nothing written it goes on after its few turns."""
    from lspfeedback._lsp import writer as writer_module

    async def run() -> list[str]:
        loop = asyncio.get_running_loop()
        order: list[str] = []

        class Pipe:
            def write(self, data: bytes) -> None:
                order.append(f"written {data.decode()}")

            def close(self) -> None:
                pass

        w = writer_module.BatchedWriter(Pipe(), loop)
        batch = writer_module.batch_of(loop)

        async def background() -> None:
            await batch.step_written()
            order.append("background")

        task = asyncio.ensure_future(background())  # started first, as on a shadow change

        async def check() -> None:  # the check's tasks run a turn later
            w.write(b"change;")
            await asyncio.sleep(0)
            w.write(b"pull;")

        await asyncio.gather(check())
        await task
        # Nothing held: it does not wait for writes that never come.
        await asyncio.wait_for(batch.step_written(), 1.0)
        return order

    assert asyncio.run(run()) == ["written change;pull;", "background"]
