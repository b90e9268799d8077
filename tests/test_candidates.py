"""Speculative verification: N candidate edits against the same base, ranked, base untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from lspfeedback import Verifier

from .conftest import TIMEOUT

PRICING = "shop/pricing.py"
CART = "shop/cart.py"


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def test_eight_candidates_ranked_and_base_unchanged(shop: Path) -> None:
    pricing = (shop / PRICING).read_text()
    cart = (shop / CART).read_text()
    sig = "def apply_discount(price_cents: int, percent: int) -> int:"
    candidates = [
        # 0: breaks the importer cart.py (required parameter)
        {PRICING: pricing.replace(sig, sig.replace("percent: int)", "percent: int, c: str)"))},
        # 1: harmless, one line
        {PRICING: pricing.replace("rounded down.", "rounded down (floor).")},
        # 2: an unused import (a warning only)
        {CART: cart.replace("from dataclasses", "import json\nfrom dataclasses")},
        # 3: breaks the importer with a wrong type, and the file itself
        {PRICING: pricing.replace("-> int:\n    \"\"\"Return", "-> str:\n    \"\"\"Return")},
        # 4: harmless but bigger (three lines)
        {PRICING: pricing + "\n\ndef double(x: int) -> int:\n    return 2 * x\n"},
        # 5: two errors in cart.py itself
        {CART: cart.replace("return apply_discount(self.subtotal(), self.discount_percent)",
                            "return apply_discount(self.subtotal(), self.discount_percent, 1) + ''")},
        # 6: a syntax error
        {PRICING: pricing.replace("def format_price(", "def format_price((")},
        # 7: harmless, default parameter added
        {PRICING: pricing.replace(sig, sig.replace("percent: int)", "percent: int, c: str = 'x')"))},
    ]
    with Verifier(shop, timeout=TIMEOUT, replicas=2) as v:
        v.verify({CART: cart + "\n"})  # an overlay in the base state must survive too
        base_overlays = v.overlays
        before = tree_digest(shop)
        ranked = v.verify_candidates(candidates)
        assert v.overlays == base_overlays
        assert tree_digest(shop) == before
        assert len(list(v.engine._pool)) == 2  # the second replica was started and used
        by_index = {c.index: c for c in ranked}
        # Candidates that break an importer say where.
        assert [(d.path, d.code) for d in by_index[0].report.introduced] == [(CART, "reportCallIssue")]
        assert any(d.path == CART for d in by_index[3].report.introduced)
        assert by_index[6].report.status == "errors"
        # Ranking: clean ones first (smallest change first), then the warning, then errors by count.
        clean = [c.index for c in ranked[:3]]
        assert clean == [1, 7, 4]
        assert ranked[3].index == 2 and ranked[3].ok
        errors = [c.report for c in ranked[4:]]
        assert all(not r.ok for r in errors)
        counts = [sum(d.severity == "error" for d in r.introduced) for r in errors]
        assert counts == sorted(counts)
        assert [c.rank for c in ranked] == list(range(1, 9))
        # The same candidate through verify() gives the same verdict.
        single = v.verify(candidates[0])
        assert single.introduced == by_index[0].report.introduced
        v.discard()
        # apply() makes a candidate the overlay without checking it.
        assert v.apply(by_index[7]) == [PRICING]
        assert v.overlays == {PRICING: candidates[7][PRICING]}
        after = v.verify({CART: cart})
        assert after.status == "clean"


def test_candidate_that_cannot_apply_runs_nothing(shop: Path) -> None:
    from lspfeedback import EditError

    with Verifier(shop, timeout=TIMEOUT, replicas=1) as v:
        with pytest.raises(EditError, match="candidate 2"):
            v.verify_candidates([{PRICING: "x = 1\n"}, ["shop/cart.py"]])
        assert v.overlays == {}


def test_speculative_verify_against_a_base_leaves_nothing_behind(shop: Path) -> None:
    pricing = (shop / PRICING).read_text()
    broken = pricing.replace("percent: int) -> int:", "percent: int, c: str) -> int:")
    cart = (shop / CART).read_text()
    fixed_cart = cart.replace("self.discount_percent)", "self.discount_percent, 'EUR')")
    with Verifier(shop, timeout=TIMEOUT, replicas=1) as v:
        # Against the disk, the broken signature breaks cart.py...
        alone = v.verify_speculative({PRICING: broken})
        assert [(d.path, d.code) for d in alone.introduced] == [(CART, "reportCallIssue")]
        # ...against a base that already broke it, fixing the caller resolves that error.
        fixed = v.verify_speculative({CART: fixed_cart}, base={PRICING: broken})
        assert fixed.introduced == () and [d.code for d in fixed.resolved] == ["reportCallIssue"]
        assert v.overlays == {}
        # commit(changes) writes an edit in one step.
        assert sorted(v.commit({PRICING: broken, CART: fixed_cart})) == [CART, PRICING]
    assert (shop / PRICING).read_text() == broken


def test_base_results_stay_cached_across_speculative_checks(
    shop: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lspfeedback._session import ServerSession

    asked: list[str] = []
    original = ServerSession.diagnostics

    async def counting(self: ServerSession, rel: str, timeout: float):  # type: ignore[no-untyped-def]
        asked.append(f"{self.name}:{rel}")
        return await original(self, rel, timeout)

    monkeypatch.setattr(ServerSession, "diagnostics", counting)
    pricing = (shop / PRICING).read_text()
    with Verifier(shop, timeout=TIMEOUT, replicas=1) as v:
        first = v.verify_speculative({PRICING: pricing + "\nA = 1\n"})
        asked.clear()
        second = v.verify_speculative({PRICING: pricing + "\nB = 2\n"})
    # Only the new state is asked for: the base state's results came from the cache. pyright
    # is asked for every checked file; ruff, a per-file linter, for the edited one alone.
    assert sorted(asked) == sorted([f"pyright:{rel}" for rel in second.checked_files]
                                   + [f"ruff:{PRICING}"])
    assert first.checked_files == second.checked_files
