"""Files changed on disk behind the verifier's back are picked up; overlays are never
silently overwritten."""

from __future__ import annotations

import os
from pathlib import Path

from lspfeedback import Verifier

from .conftest import TIMEOUT

PRICING = "shop/pricing.py"
CART = "shop/cart.py"


def test_external_write_is_reflected_in_the_next_report(shop: Path) -> None:
    with Verifier(shop, timeout=TIMEOUT) as v:
        assert v.diagnostics([PRICING, CART]).status == "clean"
        path = shop / PRICING
        text = path.read_text()
        # A same-size rewrite with the old mtime put back: only the content tells.
        broken = text.replace("percent: int) -> int:", "percent: str) -> int:")
        assert len(broken) == len(text)
        stat = path.stat()
        path.write_text(broken)
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        report = v.diagnostics([PRICING, CART])
    assert report.status == "errors"
    assert {d.path for d in report.errors} >= {PRICING}


def test_external_change_to_an_unopened_module_reaches_its_importer(shop: Path) -> None:
    # Only cart.py is open in the servers; pricing.py changes on disk; a verify of cart.py
    # must see the new signature (the rescan re-reads known files, the watcher tells the
    # servers about the others).
    with Verifier(shop, servers=("pyright",), timeout=TIMEOUT) as v:
        first = v.verify({CART: (shop / CART).read_text() + "\n"})
        assert first.status == "clean"
        path = shop / PRICING
        path.write_text(path.read_text().replace("percent: int) -> int:", "percent: int, c: int) -> int:"))
        report = v.verify([path])
    assert [(d.path, d.code) for d in report.introduced] == [(CART, "reportCallIssue")]


def test_disk_change_under_an_overlay_is_a_conflict_and_the_overlay_wins(shop: Path) -> None:
    with Verifier(shop, timeout=TIMEOUT) as v:
        overlay = (shop / CART).read_text() + "\nOVERLAY = 1\n"
        v.verify({CART: overlay})
        (shop / CART).write_text("GARBAGE = (\n")
        report = v.verify({PRICING: (shop / PRICING).read_text() + "\n"})
        assert report.conflicts == (CART,)
        assert v.overlays[CART] == overlay
        assert not any(d.path == CART and d.severity == "error" for d in report.diagnostics)
        again = v.verify({PRICING: (shop / PRICING).read_text() + "\n\n"})
        assert again.conflicts == ()
        # Discarding shows the disk: now the broken file is seen.
        v.discard()
        after = v.diagnostics([CART])
    assert after.status == "errors"


def test_a_change_by_someone_else_is_surfaced_not_folded_into_the_baseline(shop: Path) -> None:
    checkout = "shop/checkout.py"
    with Verifier(shop, timeout=TIMEOUT) as v:
        first = v.verify({CART: (shop / CART).read_text() + "\n"})
        assert first.status == "clean" and checkout in first.checked_files
        # Someone else breaks checkout.py on disk; the next edit of cart.py is harmless.
        path = shop / checkout
        path.write_text(path.read_text().replace('return "\\n".join(lines)', "return len(lines)"))
        report = v.verify({CART: (shop / CART).read_text() + "\n\n"})
    assert report.external_changes == (checkout,)
    assert [(d.path, d.code) for d in report.external_introduced] == [
        (checkout, "reportReturnType")]
    assert report.introduced == () and report.ok  # not this edit's doing
    assert f"external: {checkout} changed on disk by someone else" in str(report)
    assert report.to_dict()["external_introduced"][0]["path"] == checkout


def test_a_module_deleted_on_disk_reports_the_importers_it_breaks(shop: Path) -> None:
    with Verifier(shop, watch=False, timeout=TIMEOUT) as v:
        v.diagnostics(["shop/pricing.py"])
        (shop / "shop/pricing.py").unlink()
        report = v.verify(["shop/pricing.py"])
    # Its importers no longer resolve it, so only the graph from before can name them.
    assert {"shop/cart.py", "shop/checkout.py"} <= set(report.checked_files)
    assert {(d.path, d.code) for d in report.introduced if d.source == "pyright"} >= {
        ("shop/cart.py", "reportMissingImports")}
    assert not report.ok
