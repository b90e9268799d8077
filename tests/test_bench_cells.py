"""The benchmark's interleaved cells, its statistics and its page: the order sides run in,
that every state is new, what each tier is said to catch, what the page says about how its
figures were obtained. No wall-clock assertion: the numbers checked are the ones given."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from lspfeedback._bench import cells, output, scaling
from lspfeedback._bench import cli as bench_cli
from lspfeedback._bench.edit_scripts import FIX, EditStep, make_script
from lspfeedback._bench.stats import percentile, summary

from .test_bench_parts import synth


def test_rotation_runs_each_side_first_equally_often_and_all_every_step() -> None:
    sides = ("raw", "library", "cold")
    orders = [cells.rotation(sides, step) for step in range(30)]
    assert all(sorted(o) == sorted(sides) for o in orders)
    assert Counter(o[0] for o in orders) == {"raw": 10, "library": 10, "cold": 10}
    assert Counter(o[-1] for o in orders) == {"raw": 10, "library": 10, "cold": 10}
    assert cells.rotation(("a", "b"), 0) == ["a", "b"] and cells.rotation(("a", "b"), 1) == ["b", "a"]
    assert cells.rotation((), 3) == []


def test_every_state_of_a_cell_is_new(tmp_path: Path) -> None:
    synth.generate(tmp_path, 100, seed=2)
    files = ["synth/core/models.py", "synth/core/money.py"]
    steps = make_script(tmp_path, files, seed=2, count=10)
    tagged = cells.unique_states(steps, "floor ruff")
    originals = {f: (tmp_path / f).read_text() for f in files}
    # A fix restores the original text: untagged, fixes of one file repeat a state.
    assert len({(s.path, s.new_text) for s in steps}) < len(steps)
    states = [(s.path, s.new_text) for s in tagged]
    assert len(set(states)) == len(tagged) == 20
    assert all(text != originals[path] for path, text in states)
    assert [s.kind for s in tagged] == [s.kind for s in steps]
    # Two cells tag differently: no state of one answers the other from a cache.
    other = cells.unique_states(steps, "tiers")
    assert not {s.new_text for s in other} & {s.new_text for s in tagged}


def test_percentile_is_nearest_rank_and_summary_counts() -> None:
    values = [float(v) for v in range(1, 21)]  # 1..20
    assert percentile(values, 50) == 10 and percentile(values, 95) == 19
    assert percentile(values, 100) == 20 and percentile([5.0], 95) == 5
    assert summary(values) == {"n": 20, "p50": 10.5, "p95": 19, "max": 20}
    assert summary([]) == {"n": 0, "p50": None, "p95": None, "max": None}


def _sample(tier: str, step: int, kind: str, introduced: list[tuple[str, int, str]],
            status: str = "errors") -> dict[str, Any]:
    return {"tier": tier, "step": step, "kind": kind, "status": status, "introduced": introduced}


def test_catches_counts_flagged_mistakes_and_lines_only_one_tier_found() -> None:
    a, b = "ty+ruff", "pyright+ruff"
    samples = [
        _sample(a, 1, "signature", [("m.py", 3, "ty x")]),
        _sample(b, 1, "signature", [("m.py", 3, "pyright y"), ("n.py", 9, "pyright y")]),
        _sample(a, 2, FIX, []), _sample(b, 2, FIX, [("m.py", 1, "pyright z")]),
        _sample(a, 3, "arg_type", []),
        _sample(b, 3, "arg_type", [("m.py", 5, "pyright w")]),
        # One tier unknown on a step: the step is not counted for anyone.
        _sample(a, 5, "rename", [], status="unknown"),
        _sample(b, 5, "rename", [("m.py", 7, "pyright q")]),
    ]
    out = cells.catches(samples, [a, b])
    assert set(out) == {"signature", "arg_type", "all"}
    assert out["signature"]["flagged"] == {a: 1, b: 1}
    assert out["signature"]["only"] == {a: 0, b: 1}  # n.py:9 only pyright found
    assert out["arg_type"]["flagged"] == {a: 0, b: 1}
    assert out["arg_type"]["recall"] == {a: 0.0, b: 1.0}
    assert out["all"]["mistakes"] == 2 and out["all"]["recall"] == {a: 0.5, b: 1.0}
    assert out["all"]["lines"] == {a: 1, b: 3}


def test_summarize_tiers_speedup_first_verdict_and_preview_agreement() -> None:
    rows = []
    for step, (warm, first, cold, preview_ok, ok) in enumerate(
            [(100, 20, 1000, True, True), (200, 40, 3000, False, False), (300, 60, 2000, True, False)]):
        rows.append({"tier": "p", "step": step, "kind": "signature", "status": "errors",
                     "warm_ms": warm, "first_ms": first, "cold_ms": {"pyright": cold - 10, "ruff": 10},
                     "preview_ok": preview_ok, "ok": ok})
    s = cells.summarize_tiers(rows)["p"]
    assert s["warm"]["p50"] == 200 and s["cold"]["p50"] == 2000 and s["speedup"] == 10.0
    assert s["first"]["p50"] == 40 and s["first_speedup"] == 50.0
    assert (s["preview_agreed"], s["previews"]) == (2, 3)


def test_summarize_pairs_added_median_and_pulls() -> None:
    pairs = [cells.Pair(i, "fix", "a.py", raw, lib, i % 2 == 0, 1, pulls, "clean", 1)
             for i, (raw, lib, pulls) in enumerate([(1, 4, 1), (2, 6, 1), (3, 5, 3)])]
    s = cells.summarize_pairs(pairs)
    assert s["raw"]["p50"] == 2 and s["library"]["p50"] == 5 and s["added_p50_ms"] == 3
    assert s["library_pulls_per_verify"] == round(5 / 3, 2) and s["raw_pulls_per_edit"] == 1
    assert s["raw_first"] == 2 and s["samples"] == 3
    assert s["default"]["n"] == 0  # no third side measured


def test_the_paired_median_is_the_median_of_each_steps_own_difference() -> None:
    # One slow outlier step of the library's: the medians' difference says +3 ms, the paired
    # median (each step against the raw client on the same state) +1.
    pairs = [cells.Pair(i, "edit", "a.py", raw, lib, True, default_ms=lib + 5)
             for i, (raw, lib) in enumerate([(1.0, 5.0), (2.0, 3.0), (30.0, 31.0)])]
    s = cells.summarize_pairs(pairs)
    assert s["added_p50_ms"] == 3 and s["added_paired_p50_ms"] == 1
    assert s["default"]["p50"] == s["library"]["p50"] + 5


def _doc(n: int, quick: bool) -> dict[str, Any]:
    stat = summary([float(v) for v in range(1, n + 1)])
    return {
        "machine": {"platform": "Linux", "python": "3.11", "cpus": 2, "cpu_model": "EPYC",
                    "memory_gib": 23.5},
        "versions": {"pyright": "1"}, "command": "lspfeedback bench", "quick": quick,
        "load_1min": {"start": 1.0, "end": 2.0}, "elapsed_s": 600,
        "workloads": {"w": {"summary": {
            "files": 10, "edits": n, "mismatches": 0, "unknown": 0, "degraded": 0,
            "warm": stat, "cold": stat, "speedup": 1.0, "dependents_checked": stat,
            "backends": {"pyright+ruff": {"warm": stat, "unknown": 0}},
            "floor": {"ruff": cells.summarize_pairs([cells.Pair(i, "fix", "a.py", 1, 2, True)
                                                      for i in range(n + 5)])},
            "startup_ms": {}, "peak_rss_mb": {}, "notes": []},
            "cells": {}, "samples": []}},
    }


def test_the_page_states_sample_counts_machine_and_interleaving() -> None:
    page = output.markdown(_doc(20, quick=False), None)
    assert "every cell has 20 or more (from 20 to 25" in page
    assert "2 cores (EPYC), 23.5 GiB RAM" in page and "load average 1.0 at the start" in page
    assert "order rotated step by step" in page and "Every state is" in page
    assert "Quick run" not in page
    quick = output.markdown(_doc(4, quick=True), None)
    assert "**Quick run** (`--quick`): 4 to 9 samples a cell" in quick
    assert output.sample_counts(_doc(4, quick=True)) == [4, 4, 9]


def test_a_full_run_keeps_the_sections_other_commands_write() -> None:
    old = "\n\n".join(f"{a}\nold {a}\n{b}" for a, b in (
        *bench_cli.KEPT_SECTIONS, (bench_cli.START, bench_cli.END),
        (bench_cli.TS_START, bench_cli.TS_END), (bench_cli.LOOP_START, bench_cli.LOOP_END)))
    assert ("<!-- fleet:start -->", "<!-- fleet:end -->") in bench_cli.KEPT_SECTIONS
    page = bench_cli.keep_sections("# Benchmarks\n\nnew\n", old, keep_loop=True)
    for start, _ in (*bench_cli.KEPT_SECTIONS, (bench_cli.LOOP_START, "")):
        assert f"{start}\nold {start}" in page
    assert bench_cli.LOOP_START not in bench_cli.keep_sections("# B\n", old, keep_loop=False)


def test_the_full_plan_has_twenty_samples_a_cell_and_quick_says_fewer() -> None:
    args = argparse.Namespace(quick=True, pairs=None, seed=0, backends=None, root=None,
                              project=None, synth=None)
    ((_, quick),) = bench_cli.plan(args)
    assert quick["pairs"] * 2 < 20 and quick["floor"] and quick["multi"]
    assert bench_cli.scaling_sizes(args) == list(bench_cli.QUICK_SIZES)
    full = argparse.Namespace(**{**vars(args), "quick": False})
    assert bench_cli.PAIRS * 2 >= 20
    assert bench_cli.scaling_sizes(full) == list(scaling.SIZES) and max(scaling.SIZES) == 50000


def test_progress_lines_from_the_sessions_hook() -> None:
    from lspfeedback._lsp.progress import Progress

    class Session:
        name = "pyright"
        on_progress = None

    lines: list[str] = []
    session = Session()
    assert scaling.attach_progress([session, object()], lines.append) == ["pyright"]
    session.on_progress(Progress("pyright", "Analyzing", "120 files", 40))  # type: ignore[misc]
    session.on_progress(Progress("pyright", "Analyzing", done=True))  # type: ignore[misc]
    assert lines == ["pyright: Analyzing 120 files 40%", "pyright: Analyzing (done)"]


def test_leaf_of_is_imported_by_nothing_and_rss_of_a_tree(tmp_path: Path) -> None:
    project = synth.generate(tmp_path, 100, seed=1)
    leaf = scaling.leaf_of(tmp_path)
    assert leaf.startswith("synth/leaf/") and (tmp_path / leaf).is_file()
    module = leaf.removesuffix(".py").replace("/", ".")
    assert not any(module in p.read_text() for p in (tmp_path / "synth").rglob("*.py"))
    assert project.leaves
    own = scaling.rss_mib(os.getpid())
    assert own is not None and (scaling.tree_rss_mib(os.getpid()) or 0) >= own


@pytest.mark.slow
def test_floor_cell_interleaves_raw_and_library_on_the_real_ruff_server(tmp_path: Path) -> None:
    synth.generate(tmp_path / "p", 30, seed=1)
    root = tmp_path / "p"
    steps: list[EditStep] = make_script(root, ["synth/core/money.py"], seed=1, count=1)
    cell = asyncio.run(cells.floor_cell(root, "ruff", steps, rounds=cells.Rounds(3, 3)))
    s = cell["summary"]
    # The script (a mistake and its fix) three times over.
    assert cell["mode"] == "pull" and s["samples"] == 6 and s["raw_first"] == 2
    assert cell["rounds"] == 3 and s["added_paired_by_path"]["synth/core/money.py"]["samples"] == 6
    # Three sides rotated (raw, the library without quick fixes, the library by default):
    # over the three rounds each step runs raw first once.
    assert [p["raw_first"] for p in cell["pairs"]] == [True, False, False, False, False, True]
    assert s["raw"]["n"] == s["library"]["n"] == s["default"]["n"] == 6 and s["unknown"] == 0
    assert all(p["default_ms"] > 0 for p in cell["pairs"])
    # One pull per edit: one file edited, so never a baseline to pull first, and no retries.
    assert s["raw_pulls_per_edit"] == 1
    if s["library_pulls_per_verify"] is not None:
        assert s["library_pulls_per_verify"] >= 1
    assert all(p["checked"] == 1 for p in cell["pairs"])
    shutil.rmtree(root)


def test_the_fidelity_section_gives_ty_and_pyright_recall_per_mutation_kind() -> None:
    from lspfeedback._bench import fidelity

    a, b = "ty+ruff", "pyright+ruff"
    samples = [_sample(a, 1, "arg_type", []), _sample(b, 1, "arg_type", [("m.py", 2, "pyright x")]),
               _sample(a, 3, "syntax", [("m.py", 4, "ty s")]),
               _sample(b, 3, "syntax", [("m.py", 4, "pyright s")])]
    m = {"project": "click", "release": "7.0", "files": ["click/core.py"], "steps": 4,
         "catches": cells.catches(samples, [a, b]),
         "summary": {a: {"warm": {"p50": 12}}, b: {"warm": {"p50": 300}}}}
    text = "\n".join(fidelity.mutation_markdown(m))
    assert "| arg_type | 1 | 0 (0%) | 1 (100%) | 0 | 1 |" in text
    assert "| syntax | 1 | 1 (100%) | 1 (100%) | 0 | 0 |" in text
    assert "| all | 2 | 1 (50%) | 2 (100%) | 0 | 1 |" in text
    doc = {"command": "c", "machine": {"cpus": 2}, "versions": {}, "elapsed_s": 1, "results": [],
           "totals": {}, "mutations": m}
    section = bench_cli.fidelity_markdown(doc)
    assert "ty vs pyright on the same mutation corpus" in section
    assert section.rstrip().endswith(bench_cli.END)


def test_a_full_run_keeps_hand_written_sections_and_notes_once() -> None:
    fidelity = f"{bench_cli.START}\n## Warm equals cold\nold table\n{bench_cli.END}"
    lines = ["# Benchmarks", "", "old intro", "", "## Warm vs cold, per edit (ms)", "",
             "old numbers", "", "## Candidates and the daemon", "", "old candidates", "",
             "## The importer bound", "", "measured by hand", "", fidelity, "",
             "**What the mismatches were.** a note on the run above", ""]
    old = "\n".join(lines)
    page = "# Benchmarks\n\nnew intro\n\n## Warm vs cold, per edit (ms)\n\nnew numbers\n"
    out = bench_cli.keep_sections(page, old, keep_loop=False)
    assert "new numbers" in out and "old numbers" not in out and "old intro" not in out
    assert "old candidates" not in out  # a section this generator wrote under an older name
    assert out.index("## The importer bound") < out.index(bench_cli.START)
    assert out.index(bench_cli.END) < out.index("**What the mismatches were.**")
    assert bench_cli.keep_sections(page, out, keep_loop=False) == out  # nothing doubles


def test_the_first_verdict_cell_says_why_it_is_skipped_without_verify_progressive(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lspfeedback._engine import AsyncVerifier

    (tmp_path / "work").mkdir()
    monkeypatch.delattr(AsyncVerifier, "verify_progressive", raising=False)
    preview = [t for t in cells.TIERS if t.progressive]
    assert preview
    doc = asyncio.run(cells.tiers_cell(tmp_path / "work", tmp_path / "cold", ".", [], preview))
    assert doc["skipped"] == {preview[0].name: "AsyncVerifier.verify_progressive is not in this version"}
    assert doc["summary"] == {} and doc["samples"] == []


def test_the_defaults_sentence_is_made_of_the_run_s_figures() -> None:
    doc = _doc(20, quick=False)
    s = doc["workloads"]["w"]["summary"]
    a, b = "ty+ruff", "pyright+ruff"
    s["catches"] = {"all": {"mistakes": 30, "flagged": {a: 28, b: 30}, "only": {a: 1, b: 74},
                            "lines": {a: 90, b: 160}, "recall": {a: 0.933, b: 1.0}}}
    stat = summary([40.0, 50.0, 60.0])
    s["tiers"] = {a: {"warm": stat}, b: {"warm": summary([500.0])},
                  "pyright+ruff, preview": {"warm": summary([520.0]), "first": stat,
                                            "preview_agreed": 19, "previews": 20}}
    (line, _) = output.defaults_text(doc)
    assert "of 30 mistakes ty+ruff flagged 28 (warm p50 50 ms) and pyright+ruff 30 (p50 500 ms)" in line
    assert "pyright+ruff reported 74 introduced lines ty+ruff did not, ty+ruff 1" in line
    assert "first verdict at p50 50 ms and the final one at 520 ms" in line
    assert "final's on 19 of 20 steps" in line


def test_scaling_ratios_and_a_cold_run_left_out_at_a_large_size() -> None:
    def row(size: int, servers: str, p50: float, cold: float | None, missing: list[str]) -> dict[str, Any]:
        return {"size": size, "servers": servers, "startup_ms": 100.0, "unknown": 0,
                "leaf_edits": summary([p50]), "cold_total_p50": cold, "cold_missing": missing,
                "rss_mib": {"servers": {"ty": 40.0}, "library": 50.0, "library_before_start": 45.0}}

    rows = [row(50000, "ty+ruff", 30.0, 9000.0, []), row(100, "ty+ruff", 10.0, 90.0, []),
            row(100, "pyright+ruff", 40.0, 900.0, []),
            row(50000, "pyright+ruff", 50.0, None, ["pyright"]),
            {"size": 1000, "servers": "pyright+ruff", "error": "child exited 1"}]
    scaling.add_ratios(rows)
    assert [r.get("ratio_to_smallest") for r in rows] == [3.0, 1.0, 1.0, 1.25, None]
    table = output.scaling_rows({"scaling": {"rows": rows}})
    assert table[0][:2] == ["50,000", "ty+ruff"] and table[0][-2:] == ["9,000", "300.0x"]
    assert table[3][-2:] == ["not run: pyright", "-"]
    assert table[4][2].startswith("failed: child exited 1")


def test_the_paired_median_comes_with_a_bootstrap_interval_around_it() -> None:
    differences = [1.0, 2.0, 2.0, 3.0, 9.0, 2.5, 1.5, 2.0, 40.0, 2.2] * 3
    pairs = [cells.Pair(i, "edit", "a.py", 10.0, 10.0 + d, True)
             for i, d in enumerate(differences)]
    s = cells.summarize_pairs(pairs)
    low, high = s["added_paired_interval_ms"]
    assert low <= s["added_paired_p50_ms"] <= high < 9  # the outliers do not drag it
    assert low < high
    assert cells.summarize_pairs(pairs)["added_paired_interval_ms"] == (low, high)  # seeded
    same = [cells.Pair(i, "edit", "a.py", 1.0, 3.0, True) for i in range(20)]
    assert cells.summarize_pairs(same)["added_paired_interval_ms"] == (2.0, 2.0)


def test_the_event_loops_cpu_per_side_is_paired_too() -> None:
    pairs = [cells.Pair(i, "edit", "a.py", 10.0, 12.0, True, raw_cpu_ms=0.5,
                        library_cpu_ms=0.5 + extra)
             for i, extra in enumerate([1.0, 1.2, 0.8, 1.1, 30.0] * 4)]
    s = cells.summarize_pairs(pairs)
    assert s["added_cpu_paired_p50_ms"] == pytest.approx(1.1)
    low, high = s["added_cpu_paired_interval_ms"]
    assert low <= 1.1 <= high < 30
    # Cells that did not measure it say nothing rather than 0.
    bare = cells.summarize_pairs([cells.Pair(0, "edit", "a.py", 1.0, 2.0, True)])
    assert bare["added_cpu_paired_p50_ms"] is None and bare["added_cpu_paired_interval_ms"] is None


def test_the_cpu_clock_counts_this_threads_work_not_its_waits() -> None:
    clock = cells._CpuClock()  # pyright: ignore[reportPrivateUsage]
    time.sleep(0.05)
    waited = clock.lap()
    sum(i * i for i in range(300_000))
    worked = clock.lap()
    assert worked > waited  # 50 ms asleep cost the thread less CPU than the loop


def test_rounds_go_on_until_the_paired_interval_is_narrow_or_the_most() -> None:
    rounds = cells.Rounds(least=2, most=5, width_ms=3.0)
    steady = [2.0, 2.1, 1.9, 2.0] * 5
    noisy = [-80.0, 60.0, 5.0, -30.0, 90.0] * 4
    assert not rounds.enough(1, steady)  # below the least, however steady
    assert rounds.enough(2, steady)
    assert not rounds.enough(3, steady, sides=2)  # an order not run as often as the other
    assert rounds.enough(4, steady, sides=2)
    assert not rounds.enough(2, noisy) and not rounds.enough(4, noisy)
    assert rounds.enough(5, noisy, sides=2)  # the most, however noisy
    with pytest.raises(ValueError, match="least <= most"):
        cells.Rounds(least=3, most=2)


@pytest.mark.parametrize(("sides", "per_round"), [(2, 2), (2, 20), (3, 2), (3, 20), (3, 21)])
def test_every_step_runs_in_every_side_order_over_as_many_rounds_as_sides(
        sides: int, per_round: int) -> None:
    names = [f"side {k}" for k in range(sides)]
    orders: dict[int, set[tuple[str, ...]]] = {}
    for index in range(per_round * sides):
        order = tuple(cells.round_order(names, index, per_round))
        assert sorted(order) == names
        orders.setdefault(index % per_round, set()).add(order)
    assert all(len(seen) == sides for seen in orders.values())
    # A plain rotation by index gives a step one order only when per_round is a multiple.
    plain = {tuple(cells.rotation(names, i)) for i in range(0, per_round * sides, per_round)}
    assert (len(plain) == 1) == (per_round % sides == 0)


def test_the_summary_gives_each_edited_file_its_own_paired_median() -> None:
    def pair(step: int, path: str, raw: float, lib: float) -> cells.Pair:
        return cells.Pair(step, "fix", path, raw, lib, True, 1, 1, "clean", 1)

    pairs = [pair(1, "small.py", 20, 22), pair(2, "big.py", 300, 315),
             pair(3, "small.py", 21, 23), pair(4, "big.py", 280, 299)]
    by_path = cells.summarize_pairs(pairs)["added_paired_by_path"]
    assert list(by_path) == ["small.py", "big.py"]
    assert by_path["small.py"]["p50"] == 2.0 and by_path["big.py"]["p50"] == 17.0
    assert by_path["big.py"]["samples"] == 2 and by_path["big.py"]["interval"] == (15.0, 19.0)
