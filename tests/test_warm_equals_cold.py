"""Warm must equal cold: for several states of the files, the warm report's diagnostics of the
checked files equal what ``pyright --outputjson`` and ``ruff check`` report on a fresh run."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lspfeedback import Verifier
from lspfeedback._cold import cold_check, comparable

from .conftest import TIMEOUT

PRICING = "shop/pricing.py"
CART = "shop/cart.py"
CHECKOUT = "shop/checkout.py"


def _replace(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


# Each state: path -> function(original text) -> new text. Applied in sequence on one warm
# verifier, so the servers also go through every transition between them.
STATES: list[tuple[str, dict[str, object]]] = [
    ("signature change breaks a caller", {
        PRICING: lambda t: _replace(t, "percent: int) -> int:", "percent: int, currency: str) -> int:"),
    }),
    ("unused imports and a wrong return type", {
        PRICING: lambda t: "import os\nimport sys\n" + _replace(t, "return f\"$", "return 1 or f\"$"),
        CART: lambda t: "import json\n" + t,
    }),
    ("non-ASCII text before errors on the same line", {
        CHECKOUT: lambda t: t + '\nLABEL: int = "😀 caf\u00e9 ✓"; BAD = undefined_name  # 😀😀\n',
    }),
    ("syntax error in an importer", {
        CART: lambda t: _replace(t, "def subtotal(self) -> int:", "def subtotal(self) -> int"),
    }),
    ("CRLF line endings and an attribute error", {
        CHECKOUT: lambda t: (t + "\nVALUE = receipt.nope\n").replace("\n", "\r\n"),
    }),
    ("back to the original", {}),
]


@pytest.mark.parametrize("servers", [("pyright", "ruff")])
def test_warm_equals_cold_across_states(shop: Path, tmp_path: Path, servers: tuple[str, ...]) -> None:
    originals = {p: (shop / p).read_text() for p in (PRICING, CART, CHECKOUT)}
    with Verifier(shop, servers=servers, timeout=TIMEOUT) as v:
        for title, edits in STATES:
            texts = {p: edits[p](originals[p]) if p in edits else originals[p]  # type: ignore[operator]
                     for p in originals}
            report = v.verify(texts)
            assert report.status != "unknown", (title, report.unknown)
            cold_root = tmp_path / "cold"
            if cold_root.exists():
                shutil.rmtree(cold_root)
            shutil.copytree(shop, cold_root)
            for rel, text in texts.items():
                (cold_root / rel).write_bytes(text.encode())
            runs = cold_check(cold_root, report.checked_files, servers, v.engine.python)
            for name, run in runs.items():
                assert comparable(report.diagnostics, name) == comparable(run.diagnostics, name), (
                    f"{title}: warm {name} differs from its CLI"
                )
            if title != "back to the original":
                assert report.diagnostics, f"{title}: a state meant to have diagnostics had none"
            else:
                assert report.diagnostics == () and report.status == "clean"
