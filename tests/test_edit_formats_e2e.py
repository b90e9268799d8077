"""The edit formats agents produce, through `verify()` on real servers, and the CLI."""

from __future__ import annotations

import difflib
import json
import subprocess
import sys
from pathlib import Path

import pytest
from lsprotocol import types

from lspfeedback import EditError, Verifier

from .conftest import TIMEOUT

PRICING = "shop/pricing.py"
CART = "shop/cart.py"


def unified(root: Path, rel: str, new: str) -> str:
    old = (root / rel).read_text()
    return "".join(difflib.unified_diff(old.splitlines(True), new.splitlines(True),
                                        f"a/{rel}", f"b/{rel}"))


def test_unified_diff_breaks_a_caller(shop: Path) -> None:
    new = (shop / PRICING).read_text().replace("percent: int) -> int:", "percent: int, c: str) -> int:")
    with Verifier(shop, timeout=TIMEOUT) as v:
        report = v.verify(unified(shop, PRICING, new))
        assert v.overlays == {PRICING: new}
    assert [(d.path, d.code) for d in report.introduced] == [(CART, "reportCallIssue")]


def test_search_replace_blocks_with_whitespace_drift(shop: Path) -> None:
    blocks = f"""{CART}
```python
<<<<<<< SEARCH
    def total(self) -> int:   
        return apply_discount(self.subtotal(), self.discount_percent)
=======
    def total(self) -> int:
        return apply_discount(self.subtotal(), str(self.discount_percent))
>>>>>>> REPLACE
```
"""
    with Verifier(shop, timeout=TIMEOUT) as v:
        report = v.verify(blocks)
    assert [(d.path, d.code) for d in report.introduced] == [(CART, "reportArgumentType")]


def test_missing_block_raises_and_changes_nothing(shop: Path) -> None:
    blocks = f"""{PRICING}
<<<<<<< SEARCH
def apply_discount(price_cents: int, percent: int) -> int:
=======
def apply_discount(price_cents: int, percent: int, c: str) -> int:
>>>>>>> REPLACE

{CART}
<<<<<<< SEARCH
this text is nowhere
=======
x = 1
>>>>>>> REPLACE
"""
    with Verifier(shop, timeout=TIMEOUT) as v:
        with pytest.raises(EditError, match="shop/cart.py"):
            v.verify(blocks)
        assert v.overlays == {}


def test_workspace_edit_rename_and_delete(shop: Path) -> None:
    root = shop.resolve()
    edit = types.WorkspaceEdit(document_changes=[
        types.RenameFile(old_uri=(root / "shop/checkout.py").as_uri(),
                         new_uri=(root / "shop/receipt.py").as_uri()),
        types.CreateFile(uri=(root / "shop/extra.py").as_uri()),
        types.TextDocumentEdit(
            text_document=types.OptionalVersionedTextDocumentIdentifier(
                uri=(root / "shop/extra.py").as_uri(), version=None),
            edits=[types.TextEdit(range=types.Range(start=types.Position(line=0, character=0),
                                                    end=types.Position(line=0, character=0)),
                                  new_text="from shop.pricing import format_price\n\nRESULT: int = format_price(1)\n")],
        ),
    ])
    with Verifier(shop, timeout=TIMEOUT) as v:
        report = v.verify(edit)
        overlays = v.overlays
        assert overlays["shop/checkout.py"] is None
        assert overlays["shop/receipt.py"] == (shop / "shop/checkout.py").read_text()
        assert [(d.path, d.code) for d in report.introduced if d.source == "pyright"] == [
            ("shop/extra.py", "reportAssignmentType")
        ]
        written = v.commit()
    assert sorted(written) == ["shop/checkout.py", "shop/extra.py", "shop/receipt.py"]
    assert not (shop / "shop/checkout.py").exists() and (shop / "shop/receipt.py").exists()


def _cli(*args: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "lspfeedback", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=180, check=False)


def test_cli_patch_from_stdin_leaves_the_disk_alone(shop: Path) -> None:
    disk = (shop / PRICING).read_text()
    new = disk.replace("percent: int) -> int:", "percent: int, c: str) -> int:")
    proc = _cli("verify", "--patch", "-", "--json", cwd=shop, stdin=unified(shop, PRICING, new))
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert [d["code"] for d in report["introduced"]] == ["reportCallIssue"]
    assert (shop / PRICING).read_text() == disk


def test_cli_candidates_ranks_a_directory(shop: Path, tmp_path: Path) -> None:
    text = (shop / PRICING).read_text()
    folder = tmp_path / "candidates"
    folder.mkdir()
    (folder / "a-breaks.diff").write_text(
        unified(shop, PRICING, text.replace("percent: int) -> int:", "percent: int, c: str) -> int:")))
    (folder / "b-fine.diff").write_text(
        unified(shop, PRICING, text.replace("rounded down.", "rounded down (floor).")))
    proc = _cli("candidates", "--json", "--replicas", "1", str(folder), cwd=shop)
    assert proc.returncode == 0, proc.stderr
    ranked = json.loads(proc.stdout)
    assert [Path(c["source"]).name for c in ranked] == ["b-fine.diff", "a-breaks.diff"]
    assert ranked[1]["report"]["introduced"][0]["code"] == "reportCallIssue"
