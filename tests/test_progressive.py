"""The progressive verdict (`verify_progressive`): the fast tier first, the thorough one last.

Real servers: pyright + ruff configured, ty as pyright's preview (the default).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
from pathlib import Path

import pytest

from lspfeedback import AsyncVerifier, Report, Verifier

from .conftest import TIMEOUT

pytestmark = pytest.mark.slow

PRICING = "shop/pricing.py"
OLD_SIGNATURE = "def apply_discount(price_cents: int, percent: int) -> int:"


def _breaking_edit(shop: Path, parameter: str = "extra") -> dict[str, str]:
    """A new required parameter: the importer shop/cart.py's call breaks (a type error)."""
    text = (shop / PRICING).read_text()
    assert OLD_SIGNATURE in text
    return {PRICING: text.replace(OLD_SIGNATURE, OLD_SIGNATURE.replace(
        "percent: int)", f"percent: int, {parameter}: int)"))}


def _sources(report: Report) -> set[str]:
    return {d.source for d in report.diagnostics}


def _facts(report: Report) -> tuple[object, ...]:
    return (report.status, report.diagnostics, report.introduced, report.resolved,
            report.checked_files, report.complete)


def test_preview_from_the_fast_tier_then_the_final_as_verify_answers(shop: Path,
                                                                     tmp_path: Path) -> None:
    edit = _breaking_edit(shop)
    with Verifier(shop, timeout=TIMEOUT) as v:
        reports = list(v.verify_progressive(edit))
    preview, final = reports
    assert (preview.final, final.final) == (False, True)
    assert set(preview.servers) == {"ruff", "ty"} and set(final.servers) == {"ruff", "pyright"}
    # The preview already names the broken caller, from ty, and says it is a preview.
    assert [(d.path, d.source) for d in preview.introduced] == [("shop/cart.py", "ty")]
    assert not preview.complete and "preview" in preview.incompleteness()
    assert any(n.startswith("preview: ty answered for pyright") for n in preview.notes)
    # Superseded, not merged: the final report holds no diagnostic of the preview server.
    assert "ty" not in _sources(final)
    assert [(d.path, d.source) for d in final.introduced] == [("shop/cart.py", "pyright")]
    # And the final answer is what `verify` says of the same edit on a fresh verifier.
    other = tmp_path / "other"
    other.mkdir()
    twin = other / "shop"
    shutil.copytree(shop, twin)
    with Verifier(twin, timeout=TIMEOUT) as w:
        plain = w.verify(edit)
    assert _facts(final) == _facts(plain)
    # The same files; a version is this store's counter (the progressive check lays the
    # state before again for the thorough tier's baseline, so its count is higher), and the
    # final one is never older than the preview's.
    assert final.versions.keys() == plain.versions.keys()
    assert all(final.versions[p] >= preview.versions[p] for p in preview.versions)


def test_no_previews_or_no_slow_server_yields_the_final_report_alone(shop: Path) -> None:
    edit = _breaking_edit(shop)
    with Verifier(shop, previews={}, timeout=TIMEOUT) as v:
        (only,) = v.verify_progressive(edit)
        assert only.final and set(only.servers) == {"pyright", "ruff"}
        assert "ty" not in {s.name for s in v.status().servers}  # never started
    with Verifier(shop, servers=["ty", "ruff"], timeout=TIMEOUT) as v:
        (only,) = v.verify_progressive(_breaking_edit(shop, "other"))
    assert only.final and only.complete
    assert [d.source for d in only.introduced] == ["ty"]


def test_stopping_after_the_preview_keeps_the_edit_and_frees_the_verifier(shop: Path) -> None:
    async def run() -> tuple[Report, Report, dict[str, str | None]]:
        async with AsyncVerifier(shop, timeout=TIMEOUT) as v:
            stream = v.verify_progressive(_breaking_edit(shop))
            preview = await anext(stream)
            await stream.aclose()  # the caller has what it needed
            overlays = v.overlays
            # The lock is free, and the state is the edit's.
            cart = (shop / "shop/cart.py").read_text()
            touched = await asyncio.wait_for(v.verify({"shop/cart.py": cart + "\n"}),
                                             TIMEOUT * 2)
            return preview, touched, overlays

    preview, after, overlays = asyncio.run(run())
    assert not preview.final
    assert set(overlays) == {PRICING}
    # The pricing edit is still laid: the caller is still broken in the next report.
    assert any(d.path == "shop/cart.py" and d.severity == "error" for d in after.diagnostics)
    assert after.final and after.status == "errors"


def test_a_thorough_server_that_hangs_leaves_a_final_report_degraded_on_the_preview(
        shop: Path) -> None:
    edit = _breaking_edit(shop)
    with Verifier(shop, timeout=3.0) as v:
        v.verify({PRICING: (shop / PRICING).read_text() + "\n"})  # everyone warm
        pid = next(s.pid for s in v.status().servers if s.name == "pyright")
        assert pid is not None
        os.killpg(pid, signal.SIGSTOP)  # alive, never answering
        try:
            preview, final = v.verify_progressive(edit)
        finally:
            os.killpg(pid, signal.SIGCONT)
    assert not preview.final and [d.source for d in preview.introduced] == ["ty"]
    # pyright missed the deadline; ty, its fallback, answered for both states: degraded,
    # never clean, and the verdict stands on ty's diagnostics.
    assert final.final and not final.complete
    assert [(d.server, d.stand_ins) for d in final.degraded] == [("pyright", ("ty",))]
    assert final.status == "errors" and [d.source for d in final.introduced] == ["ty"]
    assert set(final.servers) == {"ruff", "ty"}


def test_candidates_ranked_on_the_fast_tier_and_the_best_confirmed(shop: Path) -> None:
    text = (shop / PRICING).read_text()
    # ty misses what pyright calls an error here (a function redeclared), and ruff only warns:
    # on the fast tier it looks best (one warning, fewest lines).
    redeclared = {PRICING: text + "\n\ndef format_price(price_cents: int) -> int:\n"
                                  "    return 1\n"}
    # Sound, with one warning (an unused import) and more lines.
    unused = {PRICING: "import os\n" + text + "\n\nLIMIT = 3\nFLOOR = 1\n"}
    with Verifier(shop, replicas=1, timeout=TIMEOUT) as v:
        one = v.verify_candidates([redeclared, unused], confirm=1)
        two = v.verify_candidates([redeclared, unused], confirm=2)
        assert v.overlays == {}  # candidates leave nothing behind
    # confirm=1: the fast tier's best was confirmed and pyright found the error; the other
    # is ranked first on the fast tier's word, and says it is unconfirmed.
    assert [(c.index, c.report.final) for c in one] == [(1, False), (0, True)]
    assert one[0].ok and not one[0].report.complete
    assert any("not confirmed by pyright" in n for n in one[0].report.notes)
    assert "pyright" in {d.source for d in one[1].report.introduced}
    # confirm=2: the second is confirmed too, and wins as a confirmed sound candidate.
    assert [(c.index, c.report.final) for c in two] == [(1, True), (0, True)]
    assert two[0].ok and two[0].report.complete
    assert set(two[0].report.servers) == {"pyright", "ruff"}


def test_a_created_module_and_its_importer_through_both_tiers_as_verify_answers(
        shop: Path, tmp_path: Path) -> None:
    # The thorough tier's baseline is taken after the fast tier saw the new module (created,
    # then taken away for the baseline, then laid again): pyright must see the state before,
    # or the importer's error would count as there before the edit.
    cart = (shop / "shop/cart.py").read_text()
    edit = {"shop/tax.py": "def add_tax(price_cents: int, rate: int) -> int:\n"
                           "    return price_cents * (100 + rate) // 100\n",
            "shop/cart.py": cart + "\n\nfrom shop.tax import add_tax\n\n"
                                   "TAXED: str = add_tax(100, 5)\n"}
    with Verifier(shop, timeout=TIMEOUT) as v:
        preview, final = list(v.verify_progressive(edit))
        overlays = v.overlays
    assert overlays.keys() == edit.keys()  # laid, as verify leaves them
    twin = tmp_path / "twin" / "shop"
    shutil.copytree(shop, twin)
    with Verifier(twin, timeout=TIMEOUT) as w:
        plain = w.verify(edit)
    assert _facts(final) == _facts(plain)
    assert [(d.path, d.source) for d in final.introduced if d.severity == "error"] == [
        ("shop/cart.py", "pyright")]
    assert any(d.path == "shop/cart.py" for d in preview.introduced)


def test_the_fast_tier_checks_what_it_holds_ahead_so_the_next_baseline_is_cached(
        shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """While pyright checks an edit, ty checks the documents it holds in the edited state:
    the next call's baseline (that state) is then answered from the cache, and its preview
    is the one a fresh baseline gives."""
    from lspfeedback import _progressive
    from lspfeedback._deadline import Deadline

    twin = tmp_path / "twin" / "shop"
    shutil.copytree(shop, twin)
    cart = (shop / "shop/cart.py").read_text()

    async def run(root: Path, ahead: bool) -> tuple[Report, int, int]:
        async with AsyncVerifier(root, timeout=TIMEOUT) as v:
            ws = v._primary  # pyright: ignore[reportPrivateUsage]
            pricing = (root / PRICING).read_text()
            async for _ in v.verify_progressive({PRICING: pricing + "\n# one\n"}):
                pass  # ty now holds pricing.py and its importers
            async for _ in v.verify_progressive({"shop/cart.py": cart + "\n# two\n"}):
                pass  # a new state: pricing.py's targets are not cached in it
            ty = ws.session_for("ty")
            if ahead:  # completed here: in the call it races pyright's check
                tiers = _progressive.Tiers(("ruff", "ty"), ("pyright",), {"pyright": ("ty",)})
                await _progressive.baselines_ahead(ws, tiers, Deadline(TIMEOUT))
                key = ws.store.state_key()
                assert all("ty" in ws.cached_servers([rel], key) for rel in ty.held_paths())
            pulls = ty.pulls
            stream = v.verify_progressive(_breaking_edit(root))
            preview = await anext(stream)
            pulled = ty.pulls - pulls  # at the preview: the later race does not count
            await stream.aclose()
            return preview, pulled, len(preview.checked_files)

    monkeypatch.setattr(_progressive, "baselines_ahead", _nothing_ahead)
    fresh, fresh_pulls, files = asyncio.run(run(twin, ahead=False))
    monkeypatch.undo()
    cached, cached_pulls, _ = asyncio.run(run(shop, ahead=True))
    # Without the checks ahead, ty pulls pricing.py's targets twice (the baseline, the edit);
    # with them once: the baseline came from the cache.
    assert fresh_pulls > files and cached_pulls == files
    assert _facts(cached) == _facts(fresh)
    assert [(d.path, d.source) for d in cached.introduced] == [("shop/cart.py", "ty")]


async def _nothing_ahead(*_: object) -> None:
    return None


def test_work_ahead_never_outlives_the_check_it_runs_beside() -> None:
    from lspfeedback._progressive import while_checking
    from lspfeedback._workspace import Check

    async def run() -> None:
        done = Check(timings_ms={"pyright": 1.0})
        never = asyncio.Event()
        events: list[str] = []

        async def slow_ahead() -> None:
            try:
                await never.wait()
            except asyncio.CancelledError:
                events.append("cancelled")
                raise

        async def quick_ahead() -> None:
            events.append("ahead done")

        async def check() -> Check:
            await asyncio.sleep(0)
            return done

        # Still running when the check ends: cancelled, and over before the call returns.
        assert await while_checking(check(), slow_ahead()) is done
        assert events == ["cancelled"]
        # Done first: the check's answer all the same.
        assert await while_checking(check(), quick_ahead()) is done
        assert events == ["cancelled", "ahead done"]

        async def broken_ahead() -> None:
            raise KeyError("a fault of the library's own")

        with pytest.raises(KeyError):
            await while_checking(check(), broken_ahead())

    asyncio.run(run())
