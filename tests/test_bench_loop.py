"""The loop benchmark's parts: its tasks, its scripted model, the cold critic, the baton and
the summaries (no wall-clock assertions: the numbers checked are the ones given)."""

from __future__ import annotations

import argparse
import ast
import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from lspfeedback._bench import cli as bench_cli
from lspfeedback._bench import loop
from lspfeedback._bench.workloads import Workload
from lspfeedback.edits import parse_edits
from lspfeedback.loop import Feedback


def read(root: Path) -> Callable[[str], str | None]:
    return lambda rel: (root / rel).read_text() if (root / rel).exists() else None


def test_targets_are_functions_other_modules_import_and_call(shop: Path) -> None:
    targets = {(t.path, t.name) for t in loop.find_targets(shop, "shop")}
    # apply_discount: cart.py imports and calls it; format_price: checkout.py does.
    assert targets == {("shop/pricing.py", "apply_discount"), ("shop/pricing.py", "format_price")}


def test_the_scripted_model_breaks_then_fixes_on_top_with_new_names(shop: Path) -> None:
    [target] = [t for t in loop.find_targets(shop, "shop") if t.name == "apply_discount"]
    turns: list[int] = []
    model = loop.ScriptedModel(shop, target, episode=7, k=3, before_round=turns.append)
    first = [model("task", None) for _ in range(3)]
    assert turns == [1] and len(set(first)) == 3
    texts = [parse_edits(edit, read(shop))["shop/pricing.py"] or "" for edit in first]
    for i, text in enumerate(texts):
        ast.parse(text)
        assert f"percent: int, *, lf7c{i}: int) -> int:" in text
    # Round 2 builds on the kept candidate (here the second): one gets a default, two do not.
    kept = Feedback(1, "broke cart.py", first[1], True, None)
    on_top = {"shop/pricing.py": texts[1]}
    second = [model("task", kept) for _ in range(3)]
    assert turns == [1, 2]
    fixed = [parse_edits(edit, on_top.get)["shop/pricing.py"] or "" for edit in second]
    good = 7 % 3
    assert "lf7c1: int = 7)" in fixed[good]
    assert all("= 7" not in f and "lf7c1x" in f for i, f in enumerate(fixed) if i != good)


def test_the_cold_critic_ranks_like_the_warm_one_and_names_the_broken_caller(
        shop: Path, tmp_path: Path) -> None:
    [target] = [t for t in loop.find_targets(shop, "shop") if t.name == "apply_discount"]
    model = loop.ScriptedModel(shop, target, episode=2, k=2, before_round=lambda _n: None)
    first = model("task", None)
    bad = parse_edits(first, read(shop))
    # Round 2's first candidate is the good one (episode 2 % k 2 == 0), on top of ``bad``.
    good = parse_edits(model("task", Feedback(1, "", first, True, None)),
                       {"shop/pricing.py": bad["shop/pricing.py"]}.get)
    critic = loop.ColdCritic(shop, "shop", copies=2, work=tmp_path / "work")
    try:
        assert critic.files_for(["shop/pricing.py"])[0] == "shop/pricing.py"
        assert "shop/cart.py" in critic.files_for(["shop/pricing.py"])
        ranked = critic.verify_candidates([bad, good])
    finally:
        critic.close()
    assert [c.index for c in ranked] == [1, 0] and [c.rank for c in ranked] == [1, 2]
    assert ranked[0].ok and not ranked[1].ok
    assert [d.path for d in ranked[1].report.introduced] == ["shop/cart.py"]
    # Every copy is back to the start state.
    for copy in (tmp_path / "work").iterdir():
        assert (copy / "shop/pricing.py").read_text() == (shop / "shop/pricing.py").read_text()


def test_the_baton_makes_two_threads_take_turns() -> None:
    baton = loop.Baton("a", "b")
    order: list[str] = []

    def run(me: str) -> None:
        for _ in range(3):
            baton.wait(me)
            order.append(me)
            baton.give(me)
        baton.finish(me)

    threads = [threading.Thread(target=run, args=(name,)) for name in ("b", "a")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert order == ["a", "b"] * 3


def episode(critic: str, k: int, n: int, ms: list[float], ok: int | None,
            warmup: bool = False) -> loop.Episode:
    rounds = [{"critic_ms": m, "verify_ms": m, "checked_files": 3, "ok": False} for m in ms]
    return loop.Episode(critic, k, n, "m.py:f", rounds, ok, warmup)


def test_the_summary_counts_rounds_and_time_to_the_first_ok() -> None:
    eps = [episode("warm", 1, 0, [999.0, 999.0], 2, warmup=True),
           episode("warm", 1, 1, [10.0, 20.0], 2), episode("cold", 1, 1, [100.0, 200.0], 2),
           episode("warm", 1, 2, [30.0, 40.0, 50.0], None), episode("cold", 1, 2, [300.0], 1)]
    w = Workload("w", Path("."), "pkg", (), 5)
    doc = loop.document(w, eps, (1,), 1.0)
    warm, cold = doc["cells"]["warm K=1"], doc["cells"]["cold K=1"]
    assert warm["episodes"] == 2 and warm["per_round"]["n"] == 5
    assert warm["per_round"]["p50"] == 30.0 and warm["to_first_ok"]["n"] == 1
    assert warm["to_first_ok"]["p50"] == 30.0 and warm["ok_rounds"] == {"2": 1, "None": 1}
    assert cold["to_first_ok"]["p50"] == 300.0
    assert doc["agreement"] == {"same": 1, "different": 1}
    rows = loop.rows(doc)
    assert [r[0] for r in rows] == ["warm", "cold"] and "1x never" in rows[0][9]
    assert "| warm | 1 | 2 |" in loop.markdown(doc, "cmd", {"pyright": "1"}, 2)


def test_only_loop_writes_its_key_and_section_and_keeps_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out, md = tmp_path / "b.json", tmp_path / "b.md"
    out.write_text(json.dumps({"workloads": {"x": 1}, "fidelity": {"y": 2}}))
    md.write_text(f"# B\n\nbefore\n\n{bench_cli.LOOP_START}\nold\n{bench_cli.LOOP_END}\n\nafter\n")
    fake = {"workload": "w", "files": 5, "cells": {}, "agreement": {"same": 0, "different": 0},
            "elapsed_s": 1.0, "episodes": []}
    seen: dict[str, object] = {}

    def run(w: Workload, **kwargs: object) -> dict[str, object]:
        seen.update(kwargs, workload=w.name)
        return fake

    monkeypatch.setattr(loop, "run", run)
    monkeypatch.setattr(bench_cli, "loop_workload", lambda args: Workload("w", tmp_path, "pkg", (), 5))
    args = argparse.Namespace(fidelity=False, only="loop", quick=False, loop_k=None,
                              loop_episodes=None, no_cold=False, json=out, markdown=md)
    assert bench_cli.run(args, ["bench", "--only", "loop"]) == 0
    assert seen["ks"] == (1, 4) and seen["episodes"] == 20 and seen["cold"] is True
    data = json.loads(out.read_text())
    assert data["workloads"] == {"x": 1} and data["fidelity"] == {"y": 2}
    assert data["loop"]["workload"] == "w" and data["loop"]["command"] == "lspfeedback bench --only loop"
    page = md.read_text()
    assert page.startswith("# B\n\nbefore\n\n") and page.endswith("\n\nafter\n") and "old" not in page
    assert "## The generate -> check -> regenerate loop" in page
