"""Quick fixes: the servers' code actions for introduced diagnostics, as `Fix`es laid on the
overlays by `apply_fixes` and checked by the next `verify`.

Measured with ruff 0.17.6 and pyright 1.1.414: ruff offers, for an unused import (F401), a
preferred "Remove unused import" and a non-preferred "Disable for this line" (a noqa comment);
pyright declares quick fixes but offered none for any simple case tried (missing import,
`int = None`, optional operand, unknown attribute, undefined name, return type): it is asked,
and answers with an empty list.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lspfeedback import Diagnostic, EditApplyError, Fix, Report, Verifier
from lspfeedback._exceptions import RequestTimeout
from lspfeedback._fixes import combine
from lspfeedback._report import text_hash
from lspfeedback._schema import DiagnosticModel, FixModel, ReportModel
from lspfeedback._session import ServerSession

from .conftest import FIXTURES, TIMEOUT

CART = "shop/cart.py"


def _fix(title: str, base: str, new: str, path: str = "m.py") -> Fix:
    d = Diagnostic(path, 1, 1, 1, 2, "warning", title, "ruff", "F401")
    return Fix(title, "ruff", d, {path: new}, {path: text_hash(base)}, preferred=True)


# ---- without servers -------------------------------------------------------------------------


def test_fixes_of_one_file_are_merged_on_its_text() -> None:
    base = "import a\nimport b\nimport c\nx = 1\n"
    first = _fix("drop a", base, "import b\nimport c\nx = 1\n")
    second = _fix("drop b", base, "import a\nimport c\nx = 1\n")
    texts = {"m.py": base}
    assert combine([first, second], texts.get) == {"m.py": "import c\nx = 1\n"}
    assert combine([first, first], texts.get) == {"m.py": "import b\nimport c\nx = 1\n"}


def test_overlapping_fixes_are_refused() -> None:
    base = "from x import a, b\n"
    first = _fix("drop a", base, "from x import b\n")
    second = _fix("drop b", base, "from x import a\n")
    with pytest.raises(EditApplyError, match=r"cannot both apply: both change line 1") as info:
        combine([first, second], {"m.py": base}.get)
    assert info.value.path == "m.py" and "Nothing was applied" in str(info.value)


def test_a_fix_for_another_text_is_refused() -> None:
    fix = _fix("drop a", "import a\n", "")
    with pytest.raises(EditApplyError, match="made for another text of this file"):
        combine([fix], {"m.py": "import a\nimport b\n"}.get)


def test_fix_and_report_round_trip_through_json() -> None:
    fix = _fix("drop a", "import a\n", "")
    diag = Diagnostic("m.py", 1, 8, 1, 9, "warning", "unused", "ruff", "F401",
                      url="https://docs.astral.sh/ruff/rules/unused-import", fixable=True)
    report = Report(status="clean", diagnostics=(diag,), introduced=(diag,), fixes=(fix,))
    data = json.loads(json.dumps(report.to_dict()))
    assert Report.from_dict(data) == report
    assert Fix.from_dict(json.loads(json.dumps(fix.to_dict()))) == fix
    # The schemas the daemon and MCP publish describe exactly these dicts.
    assert set(DiagnosticModel.model_fields) == set(diag.to_dict())
    assert set(FixModel.model_fields) == set(fix.to_dict())
    ReportModel.model_validate(data)
    assert str(diag).endswith("[ruff F401] (fixable)")
    assert str(fix) == "fix for m.py:1:1 [ruff F401]: drop a (changes m.py)"


# ---- with ruff and pyright -------------------------------------------------------------------


@pytest.fixture(scope="module")
def verifier(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Verifier]:
    root = tmp_path_factory.mktemp("fixes") / "shop"
    shutil.copytree(FIXTURES / "shop", root)
    with Verifier(root, servers=("pyright", "ruff"), timeout=TIMEOUT, watch=False) as v:
        yield v


@pytest.fixture
def v(verifier: Verifier) -> Iterator[Verifier]:
    yield verifier
    verifier.discard()


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The servers asked for code actions, one entry per request."""
    calls: list[str] = []
    original = ServerSession.code_actions

    async def counting(self: ServerSession, *args: Any, **kwargs: Any) -> Any:
        calls.append(self.name)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(ServerSession, "code_actions", counting)
    return calls


def _base(v: Verifier) -> str:
    return (v.root / CART).read_text()


def test_an_introduced_unused_import_gets_ruffs_fix(v: Verifier, asked: list[str]) -> None:
    base = _base(v)
    report = v.verify({CART: base.replace("from dataclasses", "import json\nfrom dataclasses")})
    [f401] = report.introduced
    assert f401.code == "F401" and f401.fixable
    assert f401.url == "https://docs.astral.sh/ruff/rules/unused-import"
    assert f401 in report.diagnostics  # marked there too: the same diagnostic
    preferred = [f for f in report.fixes if f.preferred]
    assert [(f.server, f.diagnostic) for f in preferred] == [("ruff", f401)]
    assert preferred[0].changes == {CART: base}
    assert "Remove unused import" in preferred[0].title
    assert all(not f.preferred for f in report.fixes[1:])  # ruff's noqa comment, listed after
    assert asked == ["ruff"]  # pyright had nothing introduced; only ruff was asked
    assert Report.from_dict(json.loads(json.dumps(report.to_dict()))).fixes == report.fixes


def test_apply_fixes_then_verify_resolves_the_finding(v: Verifier) -> None:
    base = _base(v)
    edited = base.replace("from dataclasses", "import json\nimport os\nfrom dataclasses")
    report = v.verify({CART: edited})
    assert [d.code for d in report.introduced] == ["F401", "F401"]
    assert all(d.fixable for d in report.introduced)
    assert v.apply_fixes(report) == [CART]  # both fixes, merged on one text
    assert CART not in v.overlays  # the fixed text is the disk's: no overlay left
    after = v.verify({})  # checks the fixes, against the state before them
    assert after.ok and after.introduced == ()
    assert sorted(d.message.split("\n")[0] for d in after.resolved) == [
        "`json` imported but unused", "`os` imported but unused"]
    assert after.fixes == ()


def test_apply_fixes_only_some_codes(v: Verifier) -> None:
    base = _base(v)
    report = v.verify({CART: base.replace("from dataclasses", "import json\nfrom dataclasses")})
    assert v.apply_fixes(report, only={"E501"}) == []
    assert v.overlays[CART] != base


def test_a_clean_edit_asks_for_no_code_action(v: Verifier, asked: list[str]) -> None:
    base = _base(v)
    report = v.verify({CART: base.replace("return sum(", "return int(sum(").replace(
        "in self.items)", "in self.items))")})
    assert report.introduced == () and report.fixes == ()
    assert asked == []


def test_a_fix_for_a_file_changed_since_is_refused(v: Verifier) -> None:
    base = _base(v)
    report = v.verify({CART: base.replace("from dataclasses", "import json\nfrom dataclasses")})
    assert report.fixes
    later = base.replace("from dataclasses", "import json\nimport os\nfrom dataclasses")
    v.verify({CART: later})
    with pytest.raises(EditApplyError, match="changed since the report"):
        v.apply_fixes(report)
    assert v.overlays[CART] == later  # nothing applied


def test_no_answer_in_time_is_a_note_never_unknown(v: Verifier,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    async def late(self: ServerSession, *args: Any, **kwargs: Any) -> Any:
        raise RequestTimeout(self.name, "textDocument/codeAction got no answer (cancelled)")

    monkeypatch.setattr(ServerSession, "code_actions", late)
    base = _base(v)
    report = v.verify({CART: base.replace("from dataclasses", "import json\nfrom dataclasses")})
    assert report.status == "clean" and report.complete and report.fixes == ()
    assert not report.introduced[0].fixable
    assert any(n.startswith("fixes: ruff did not answer textDocument/codeAction")
               for n in report.notes)


def test_pyright_is_asked_and_offers_nothing_here(v: Verifier, asked: list[str]) -> None:
    base = _base(v)
    report = v.verify({CART: base.replace("def subtotal(self) -> int:",
                                          "def subtotal(self) -> str:")})
    assert report.introduced and {d.source for d in report.introduced} == {"pyright"}
    assert asked == ["pyright"] * len(report.introduced) and report.fixes == ()
    assert not any(d.fixable for d in report.introduced)


def test_the_sync_apply_fixes_carries_the_async_docstring() -> None:
    from lspfeedback import AsyncVerifier

    assert Verifier.apply_fixes.__doc__ == AsyncVerifier.apply_fixes.__doc__
    assert Verifier.apply_fixes.__doc__


def test_speculative_checks_carry_fixes_too(shop: Path) -> None:
    # The daemon serves speculative checks (candidates): their reports list the fixes, asked
    # while the servers held the candidate's text, and nothing is left behind.
    text = (shop / CART).read_text().replace("from dataclasses", "import json\nfrom dataclasses")
    with Verifier(shop, servers=["ruff"], timeout=TIMEOUT) as v:
        report = v.verify_speculative({CART: text})
        overlays = v.overlays
    [introduced] = report.introduced
    assert introduced.fixable
    assert any(f.diagnostic == introduced and f.preferred for f in report.fixes)
    assert overlays == {}


def test_quick_fixes_off_asks_no_server(shop: Path, asked: list[str]) -> None:
    # VerifierOptions.quick_fixes=False: an edit that breaks something is reported in full,
    # with no code action asked and no fix listed, in verify and in the speculative path.
    text = (shop / CART).read_text().replace("from dataclasses", "import json\nfrom dataclasses")
    with Verifier(shop, servers=["ruff"], timeout=TIMEOUT, quick_fixes=False) as v:
        speculative = v.verify_speculative({CART: text})
        laid = v.verify({CART: text})
    for report in (speculative, laid):
        [introduced] = report.introduced
        assert introduced.code == "F401" and not introduced.fixable
        assert report.fixes == ()
    assert asked == []
