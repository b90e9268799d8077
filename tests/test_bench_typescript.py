"""The TypeScript benchmark's parts (lspfeedback/_bench/typescript.py): the edit generator,
the tables, and a tiny real run on fixtures/web. Nothing here asserts how fast anything is."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from lspfeedback._bench import typescript as ts

from .conftest import FIXTURES

WEB = FIXTURES / "web"


def test_the_fixture_gives_a_leaf_and_a_widely_imported_module() -> None:
    p = ts.fixture_web()
    assert p.leaf == "src/view.tsx"  # imported by nothing, with a call to break
    assert p.widely == "src/lib/money.ts"
    assert {"src/cart.ts", "src/checkout.ts", "src/index.ts"} <= set(p.importers)
    assert p.files == 7  # jsx.d.ts is a declaration file


def test_every_state_is_new_and_every_fix_restores_the_original() -> None:
    p = ts.fixture_web()
    steps = ts.script(p, pairs=6, seed=0)
    assert len(steps) == 24
    texts = [e.text for _, e in steps]
    assert len(set(texts)) == len(texts)  # no state twice: no cache can answer
    numbers = [e.number for _, e in steps]
    assert len(set(numbers)) == len(numbers)
    for target, edit in steps:
        original = (WEB / edit.path).read_text()
        assert edit.path == (p.leaf if target == "leaf" else p.widely)
        assert edit.text.endswith(f"{ts.MARKER} {edit.number}\n")
        body = edit.text.removesuffix(f"\n{ts.MARKER} {edit.number}\n")
        assert (body == original) == (edit.kind == ts.FIX)
    kinds = {(t, e.kind) for t, e in steps}
    # The signature mistake only where importers call the function; every other kind on both.
    assert ("widely", "signature") in kinds and ("leaf", "signature") not in kinds
    assert {"type", "lint", "syntax"} <= {k for t, k in kinds if t == "leaf"}
    assert ts.script(p, pairs=6, seed=0) == steps  # deterministic


def test_a_signature_mistake_adds_a_first_parameter_past_generics(tmp_path: Path) -> None:
    (tmp_path / "a.ts").write_text(
        "// header\nexport function pick<T extends (x: number) => string>(f: T): T {\n"
        "  return f;\n}\nexport function none(): void {}\n"
        "function self(this: Window, n: number) { return n; }\n")
    (tmp_path / "b.ts").write_text('import { pick, none } from "./a";\npick((x) => "");\n'
                                   "none();\n")
    edits = ts.make_edits(tmp_path, "a.ts", pairs=5, seed=1,
                          importers=["b.ts"])
    mistakes = [e for e in edits if e.kind == "signature"]
    by_name = {e.description.split(" for ")[1]: e.text for e in mistakes}
    assert "pick<T extends (x: number) => string>(extra" in by_name["pick()"]
    assert ": number, f: T)" in by_name["pick()"]
    assert re.search(r"none\(extra\d+: number\): void", by_name["none()"])
    assert all("self(extra" not in e.text for e in edits)  # a `this` parameter stays first
    typed = next(e for e in edits if e.kind == "type")
    assert typed.text.startswith("// header\nexport const bench")  # after the header comment


def test_a_syntax_error_hides_the_clis_semantic_errors_and_is_compared_alone(
        tmp_path: Path) -> None:
    from lspfeedback import _cold
    from lspfeedback._report import Diagnostic

    def row(code: str) -> Diagnostic:
        return Diagnostic(path="a.ts", line=1, column=1, end_line=1, end_column=1,
                          severity="error", message="m", source="typescript", code=code)

    assert ts.syntax_only(_cold.ColdRun("typescript", (row("1005"),), 1.0))
    assert not ts.syntax_only(_cold.ColdRun("typescript", (row("1005"), row("2322")), 1.0))
    assert not ts.syntax_only(_cold.ColdRun("typescript", (), 1.0))
    assert ts.is_syntactic("1005") and not ts.is_syntactic("2322") and not ts.is_syntactic(None)


def _doc() -> dict[str, object]:
    sample = {"project": "p", "target": "leaf", "step": 1, "kind": "type", "path": "a.ts",
              "order": 0, "status": "errors", "checked": 3, "complete": True,
              "match": True, "cold_ms": {}, "differences": [],
              "syntax_only": False}
    samples = [
        {**sample, "side": "typescript+biome", "ms": 30.0,
         "cold_ms": {"typescript": 100.0, "biome": 50.0}},
        {**sample, "side": "typescript+biome", "ms": 50.0, "match": False,
         "cold_ms": {"typescript": 120.0, "biome": 60.0}},
        {**sample, "side": "typescript raw", "ms": 4.0, "status": None, "checked": None,
         "complete": None, "match": None},
        {**sample, "side": "typescript 1 file", "ms": 6.5, "checked": 1},
        {**sample, "side": "cold", "ms": 150.0, "status": None, "checked": None,
         "complete": None, "match": None, "cold_ms": {"typescript": 100.0, "biome": 50.0}},
    ]
    doc: dict[str, object] = {
        "machine": {"cpus": 2, "cpu_model": "x"}, "date": "2026-12-01", "elapsed_s": 60.0,
        "versions": {"lspfeedback": "0", "typescript": "7", "biome": "2"},
        "projects": [{"project": {"name": "p", "leaf": "a.ts", "widely": "b.ts", "files": 2,
                                  "importers": ["a.ts"]},
                      "pairs": 1, "samples": samples, "load_1min": [1.0, 3.0]}]}
    doc["summary"] = ts.summarize(doc)
    return doc


def test_the_tables_render_from_a_document() -> None:
    doc = _doc()
    warm = ts.warm_rows(doc)
    assert warm == [["p", "leaf `a.ts`", "typescript+biome", "3.0", "2", "40", "50",
                     "tsc + biome", "165", "180", "4.1x", "1/2", "0", "0"]]
    floor = ts.floor_rows(doc)
    assert floor == [["p", "leaf `a.ts`", "typescript", "4.0", "4.0", "6.5", "6.5", "+2.5"]]
    page = ts.markdown(doc, "lspfeedback bench --only typescript")
    assert page.startswith(ts.START + "\n## TypeScript\n") and page.endswith(ts.END + "\n")
    assert "| p | leaf `a.ts` | typescript+biome | 3.0 | 2 | 40 | 50 |" in page
    assert "load average over the steps 1.0 to 3.0" in page
    assert len(ts.mismatches(doc)) == 1


@pytest.mark.slow
def test_a_tiny_run_on_the_fixture_agrees_with_the_cold_clis(tmp_path: Path) -> None:
    shutil.copytree(WEB, tmp_path / "web")
    p = ts.project("web", tmp_path / "web")
    doc = ts.run([p], pairs=1, seed=0)
    samples = doc["projects"][0]["samples"]
    # 2 files x 2 steps, every side once a step.
    assert len(samples) == 4 * len(ts.SIDES)
    assert {s["side"] for s in samples} == {side.name for side in ts.SIDES}
    compared = [s for s in samples if s["match"] is not None]
    assert len(compared) == 4 * sum(side.kind == "warm" for side in ts.SIDES)  # each warm one
    assert ts.mismatches(doc) == []
    assert all(s["status"] != "unknown" for s in samples)
    # The widely imported module's report checks its importers; the 1-file side does not.
    widely = {s["side"]: s["checked"] for s in samples if s["target"] == "widely"}
    assert widely["typescript+biome"] > 1 and widely["typescript 1 file"] == 1
    assert ts.warm_rows(doc) and ts.floor_rows(doc)
