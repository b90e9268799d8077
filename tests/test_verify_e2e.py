"""End to end on the shop fixture with the real pyright and ruff servers."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

import lspfeedback
from lspfeedback import AsyncVerifier, EditError, PathOutsideWorkspace, Verifier

from .conftest import TIMEOUT

PRICING = "shop/pricing.py"
CART = "shop/cart.py"
SIGNATURE = ("percent: int) -> int:", "percent: int, currency: str) -> int:")


def edited(root: Path, rel: str, old: str, new: str) -> str:
    text = (root / rel).read_text()
    assert old in text, f"fixture changed: {old!r} not in {rel}"
    return text.replace(old, new, 1)


@pytest.fixture
def verifier(shop: Path):
    with Verifier(shop, timeout=TIMEOUT) as v:
        yield v


def codes(diagnostics) -> list[tuple[str, str | None, str]]:
    return sorted((d.path, d.code, d.source) for d in diagnostics)


def test_type_error_in_the_edited_file(verifier: Verifier, shop: Path) -> None:
    text = edited(shop, PRICING, "return price_cents * (100 - percent) // 100", 'return "free"')
    report = verifier.verify({PRICING: text})
    assert report.status == "errors" and not report.ok
    assert [(d.path, d.code) for d in report.introduced] == [(PRICING, "reportReturnType")]
    (diag,) = report.introduced
    assert text.splitlines()[diag.line - 1][diag.column - 1:].startswith('"free"')
    assert report.versions[PRICING] > 1


def test_caller_broken_in_an_unedited_importer(verifier: Verifier, shop: Path) -> None:
    report = verifier.verify({PRICING: edited(shop, PRICING, *SIGNATURE)})
    assert report.changed_files == (PRICING,)
    assert CART in report.checked_files and "shop/checkout.py" in report.checked_files
    assert codes(report.introduced) == [(CART, "reportCallIssue", "pyright")]
    assert "currency" in report.introduced[0].message
    assert report.introduced[0].line == 27


def test_lint_warning_is_introduced_but_ok(verifier: Verifier, shop: Path) -> None:
    report = verifier.verify({CART: "import json\n" + (shop / CART).read_text()})
    assert ("shop/cart.py", "F401", "ruff") in codes(report.introduced)
    assert all(d.severity == "warning" for d in report.introduced)
    assert report.ok and report.status == "clean"


def test_syntax_error_then_fix_resolves_everything(verifier: Verifier, shop: Path) -> None:
    original = (shop / PRICING).read_text()
    broken = verifier.verify({PRICING: original + "\ndef broken(:\n"})
    assert broken.status == "errors"
    assert {d.source for d in broken.introduced} == {"pyright", "ruff"}
    fixed = verifier.verify({PRICING: original})
    assert fixed.status == "clean" and fixed.introduced == ()
    assert sorted(fixed.resolved) == sorted(broken.introduced)


def test_line_shift_introduces_nothing(shop: Path) -> None:
    # An error already on disk, then lines inserted above it: it moved, it is not new.
    cart = shop / CART
    cart.write_text(cart.read_text() + '\n\nWRONG: int = "not an int"\n')
    with Verifier(shop, timeout=TIMEOUT) as v:
        before = v.diagnostics([CART])
        (existing,) = [d for d in before.diagnostics if d.source == "pyright"]
        report = v.verify({CART: "# one\n# two\n# three\n" + cart.read_text()})
    assert report.introduced == () and report.resolved == ()
    (moved,) = [d for d in report.diagnostics if d.source == "pyright"]
    assert moved.line == existing.line + 3 and moved.message == existing.message


def test_overlay_is_not_written_and_discard_restores(verifier: Verifier, shop: Path) -> None:
    disk = (shop / PRICING).read_bytes()
    broken = verifier.verify({PRICING: edited(shop, PRICING, *SIGNATURE)})
    assert broken.introduced
    assert (shop / PRICING).read_bytes() == disk
    assert list(verifier.overlays) == [PRICING]
    assert verifier.discard() == [PRICING]
    assert verifier.overlays == {}
    again = verifier.diagnostics([PRICING, CART])
    assert again.diagnostics == () and again.status == "clean"


def test_commit_writes_atomically_and_keeps_mode(verifier: Verifier, shop: Path) -> None:
    os.chmod(shop / PRICING, 0o640)
    text = edited(shop, PRICING, *SIGNATURE)
    verifier.verify({PRICING: text, "shop/new_module.py": "from shop.pricing import format_price\n"})
    written = verifier.commit()
    assert sorted(written) == sorted([PRICING, "shop/new_module.py"])
    assert (shop / PRICING).read_text() == text
    assert stat.S_IMODE((shop / PRICING).stat().st_mode) == 0o640
    assert not [p for p in (shop / "shop").iterdir() if p.name.endswith(".tmp")]
    assert verifier.overlays == {}
    # Committing changes nothing the servers see: the next identical verify is a no-op.
    report = verifier.verify({PRICING: text})
    assert report.introduced == () and report.resolved == ()
    # The committed new module imports pricing, so it is now checked as a dependent.
    assert codes(report.diagnostics) == [
        (CART, "reportCallIssue", "pyright"), ("shop/new_module.py", "F401", "ruff")
    ]


def test_paths_changed_on_disk_are_reread(verifier: Verifier, shop: Path) -> None:
    assert verifier.diagnostics([PRICING, CART]).status == "clean"
    (shop / PRICING).write_text(edited(shop, PRICING, *SIGNATURE))
    report = verifier.verify([shop / PRICING])
    assert codes(report.introduced) == [(CART, "reportCallIssue", "pyright")]


def test_bad_input_raises_and_changes_nothing(verifier: Verifier, shop: Path) -> None:
    good = edited(shop, PRICING, *SIGNATURE)
    with pytest.raises(PathOutsideWorkspace):
        verifier.verify({PRICING: good, "../outside.py": "x = 1\n"})
    with pytest.raises(PathOutsideWorkspace):
        verifier.verify({"/etc/passwd": "x"})
    with pytest.raises(EditError):
        verifier.verify({PRICING: b"bytes are not text"})  # type: ignore[dict-item]
    with pytest.raises(EditError):
        verifier.verify(PRICING)  # type: ignore[arg-type]
    assert verifier.overlays == {}
    assert not (shop.parent / "outside.py").exists()


def test_dependents_are_bounded_and_the_report_says_so(shop: Path) -> None:
    with Verifier(shop, timeout=TIMEOUT, max_dependents=1) as v:
        report = v.verify({PRICING: edited(shop, PRICING, *SIGNATURE)})
    assert len(report.checked_files) == 2
    assert report.dependents_omitted == 2
    assert any("max_dependents=1" in note for note in report.notes)
    # The bound is part of the verdict: wherever the report is printed, it says so.
    assert not report.complete
    assert "incomplete: 2 importers not checked" in str(report)
    assert report.to_dict()["complete"] is False
    assert "complete=False" in repr(report)


def test_async_verifier_gives_the_same_report(shop: Path) -> None:
    text = edited(shop, PRICING, *SIGNATURE)

    async def main() -> lspfeedback.Report:
        async with AsyncVerifier(shop, timeout=TIMEOUT) as v:
            return await v.verify({PRICING: text})

    async_report = asyncio.run(main())
    with Verifier(shop, timeout=TIMEOUT) as v:
        sync_report = v.verify({PRICING: text})
    assert async_report.diagnostics == sync_report.diagnostics
    assert async_report.introduced == sync_report.introduced


def test_module_level_verify_reuses_one_warm_verifier(shop: Path) -> None:
    from lspfeedback import _verifier as module

    first = lspfeedback.verify(shop, {PRICING: edited(shop, PRICING, *SIGNATURE)})
    (shared,) = [v for key, v in module._shared.items() if key[0] == shop.resolve()]
    second = lspfeedback.verify(shop, {PRICING: (shop / PRICING).read_text()})
    assert [v for key, v in module._shared.items() if key[0] == shop.resolve()] == [shared]
    assert first.introduced and second.resolved == first.introduced
    shared.close()
    module._shared.pop((shop.resolve(), ("pyright", "ruff")))


def test_servers_stop_with_the_verifier(shop: Path) -> None:
    from .conftest import pid_alive

    with Verifier(shop, timeout=TIMEOUT) as v:
        pids = [s.client.pid for s in v.engine._primary.sessions.values() if s.client is not None]
        assert len(pids) == 2 and all(pid_alive(p) for p in pids if p)
    assert not any(pid_alive(p) for p in pids if p)


def test_open_documents_are_bounded_without_losing_results(
    verifier: Verifier, shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lspfeedback import _workspace as workspace

    monkeypatch.setattr(workspace, "MAX_OPEN_DOCUMENTS", 1)
    first = verifier.verify({PRICING: edited(shop, PRICING, *SIGNATURE)})
    second = verifier.verify({"shop/checkout.py": (shop / "shop/checkout.py").read_text() + "\n"})
    held = verifier.engine._primary.sessions["pyright"].held_paths()
    # Only the overlays and the files of the last check stay open.
    assert set(held) <= {PRICING, "shop/checkout.py"}
    assert codes(first.introduced) == [(CART, "reportCallIssue", "pyright")]
    assert second.introduced == ()
    third = verifier.diagnostics([CART])
    assert codes(third.diagnostics) == [(CART, "reportCallIssue", "pyright")]
