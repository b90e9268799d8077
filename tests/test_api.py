"""The public API's promises that need no edit: one options object, twin docstrings, one
exception tree, a closed verifier that says so, and a status that tells the truth."""

from __future__ import annotations

import dataclasses
import inspect
import os
import pickle
import typing
from pathlib import Path

import pytest

import lspfeedback
from lspfeedback import (
    AsyncVerifier,
    EditApplyError,
    LspFeedbackError,
    OptionFields,
    UnknownServer,
    Verifier,
    VerifierClosed,
    VerifierOptions,
)

from .conftest import TIMEOUT

SHARED = ["start", "verify", "verify_candidates", "verify_speculative", "apply", "diagnostics",
          "commit", "discard", "status"]


@pytest.mark.parametrize("name", SHARED)
def test_verifier_methods_carry_the_async_docstrings(name: str) -> None:
    # An IDE hover on Verifier.verify must show the real text, not "see AsyncVerifier".
    sync_doc, async_doc = getattr(Verifier, name).__doc__, getattr(AsyncVerifier, name).__doc__
    assert async_doc and sync_doc == async_doc


def test_option_keywords_are_exactly_the_options_fields() -> None:
    fields = {f.name: f.type for f in dataclasses.fields(VerifierOptions)}
    keywords = typing.get_type_hints(OptionFields)
    assert list(keywords) == list(fields)
    hints = typing.get_type_hints(VerifierOptions)
    assert all(keywords[name] == hints[name] for name in fields)


def test_options_validate_and_replace() -> None:
    with pytest.raises(UnknownServer, match="known servers: .*pyright") as info:
        VerifierOptions(servers=["nope"])
    assert isinstance(info.value, ValueError) and isinstance(info.value, LspFeedbackError)
    assert info.value.name == "nope" and "ruff" in info.value.known
    for bad in ({"replicas": 0}, {"timeout": 0}, {"max_dependents": -1}, {"servers": []}):
        with pytest.raises(ValueError):
            VerifierOptions(**bad)  # type: ignore[arg-type]
    options = VerifierOptions(timeout=3)
    changed = options.replace(servers=["ruff"])
    assert (changed.timeout, changed.servers, options.servers) == (3, ("ruff",), ("pyright", "ruff"))
    assert repr(changed) == "VerifierOptions(servers=('ruff',), timeout=3)"
    with pytest.raises(TypeError, match="unknown verifier options: tiemout"):
        options.replace(tiemout=1)


def test_keywords_override_the_options_object(tmp_path: Path) -> None:
    v = AsyncVerifier(tmp_path, VerifierOptions(timeout=3, replicas=2), timeout=7, watch=False)
    assert (v.options.timeout, v.options.replicas, v.options.watch) == (7, 2, False)
    assert v.root == tmp_path.resolve()


def test_edit_apply_error_keeps_its_fields_through_pickle() -> None:
    error = EditApplyError("a.py", "SEARCH text not found", block=2, closest="x = 1",
                           closest_line=4, unit="block")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.path, copy.block, copy.closest, copy.closest_line) == ("a.py", 2, "x = 1", 4)
    assert str(copy) == str(error) and "lines" not in str(copy) and "line 4" in str(copy)


def test_every_exported_error_is_an_lspfeedback_error() -> None:
    errors = [getattr(lspfeedback, n) for n in lspfeedback.__all__
              if inspect.isclass(getattr(lspfeedback, n))
              and issubclass(getattr(lspfeedback, n), BaseException)]
    assert len(errors) >= 15 and all(issubclass(e, LspFeedbackError) for e in errors)


@pytest.mark.slow
def test_a_closed_verifier_raises_verifier_closed(shop: Path) -> None:
    v = Verifier(shop, servers=["ruff"], timeout=TIMEOUT, watch=False)
    with v:
        status = v.status()
        [ruff] = status.servers
        assert ruff.state == "running" and ruff.restarts == 0 and ruff.last_error is None
        assert ruff.pid is not None and os.path.exists(f"/proc/{ruff.pid}")
        assert status.replicas_started == 1 and status.overlays == 0 and not status.closed
        v.verify({"shop/cart.py": "import os\n"})
        assert v.status().overlays == 1 and "1 overlays" in str(v.status())
    assert v.status().closed and v.status().servers[0].state == "stopped"
    with pytest.raises(VerifierClosed, match="closed; create a new one"):
        v.verify({"shop/cart.py": "x = 1\n"})
    with pytest.raises(RuntimeError):  # VerifierClosed is also a RuntimeError
        v.diagnostics(["shop/cart.py"])
    v.close()  # idempotent


def test_diagnostics_of_a_file_no_server_checks_is_not_clean(shop: Path) -> None:
    (shop / "app.ts").write_text("const x: number = 'text';\n")
    with Verifier(shop, servers=["ruff"], timeout=TIMEOUT) as v:
        only_ts = v.diagnostics(["app.ts"])
        mixed = v.diagnostics(["app.ts", "shop/cart.py"])
    assert only_ts.status == "unknown" and only_ts.checked_files == ()
    assert "no configured server checks app.ts" in only_ts.unknown[0].reason
    assert mixed.checked_files == ("shop/cart.py",) and mixed.status == "clean"
    assert any("not checked: app.ts" in n for n in mixed.notes)
