"""`lspfeedback bench --quick` as a smoke test: well-formed output and no warm/cold mismatch.
It never checks timings (the machines are shared and noisy)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lspfeedback._bench import cli as bench_cli
from lspfeedback._bench import fidelity
from lspfeedback._report import Diagnostic


def test_quick_bench_output_is_well_formed(tmp_path: Path) -> None:
    out, png, md = tmp_path / "bench.json", tmp_path / "bench.png", tmp_path / "bench.md"
    env = {**os.environ, "LSPFEEDBACK_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "lspfeedback", "bench", "--quick", "--json", str(out),
         "--plot", str(png), "--markdown", str(md)],
        capture_output=True, text=True, timeout=600, env=env, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["machine"]["cpus"] >= 1 and doc["versions"]["pyright"] != "not installed"
    (workload,) = doc["workloads"].values()
    summary = workload["summary"]
    assert summary["mismatches"] == 0
    assert summary["edits"] == 4 and len(workload["samples"]) == 4
    assert summary["warm"]["p50"] is not None and summary["cold"]["p50"] is not None
    assert summary["speedup"] is not None
    kinds = [s["kind"] for s in workload["samples"]]
    assert kinds[1::2] == ["fix", "fix"] and "fix" not in kinds[0::2]
    for sample in workload["samples"]:
        assert sample["status"] in ("clean", "errors")
        assert sample["match"] is True
        assert set(sample["cold_ms"]) == {"pyright", "ruff"}
    floor = summary["floor"]["ruff"]
    assert floor["raw"]["n"] == floor["library"]["n"] == floor["samples"] > 0
    # Interleaved: the raw client ran first on half the steps.
    assert floor["raw_first"] == -(-floor["samples"] // 3)  # three sides, rotated
    assert summary["multi"]["files"] > 1 and summary["multi"]["summary"]["unknown"] == 0
    tiers = summary["tiers"]
    assert {"ty+ruff", "pyright+ruff"} <= set(tiers)
    assert all(t["samples"] == 4 and t["cold"]["n"] == 4 for t in tiers.values())
    if "pyright+ruff, preview" in tiers:  # verify_progressive present
        assert tiers["pyright+ruff, preview"]["first"]["n"] == 4
    assert summary["catches"]["all"]["mistakes"] > 0
    assert doc["quick"] is True
    rows = doc["scaling"]["rows"]
    assert [r["size"] for r in rows] == [100, 1000]
    assert all(r["unknown"] == 0 and r["rss_mib"]["library"] for r in rows)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = md.read_text()
    assert "| synth-100 |" in page and "**Quick run**" in page and "## Synthetic scaling" in page
    memory = workload["cells"]["memory"]
    assert memory["leaf_edits"]["n"] == 4 and memory["rss_mib"]["library"]


# ---- bench --fidelity: warm equals cold over a (synthetic) history -------------------------

CORE_1 = '''def total(prices: list[int]) -> int:
    return sum(prices)
'''
CORE_2 = '''def total(prices: list[int], discount: int) -> int:
    return sum(prices) - discount
'''
UTIL = '''def label(cents: int) -> str:
    """Cents as a price label."""
    whole, rest = divmod(cents, 100)
    return f"${whole}.{rest:02d}"


def labels(prices: list[int]) -> list[str]:
    return [label(p) for p in prices]


def cheapest(prices: list[int]) -> int:
    return min(prices)
'''
CLI_1 = '''import os

from pkg.core import total
from pkg.util import label


def main(prices: list[int]) -> str:
    return label(total(prices))
'''
CLI_2 = CLI_1.replace("pkg.util", "pkg.helpers").replace("total(prices)", "total(prices, 5)")
MAIN = '''from pkg.core import total
from pkg.helpers import label


def run(prices: list[int]) -> str:
    return label(total(prices, 0))
'''

RELEASES: list[tuple[str, dict[str, str]]] = [
    ("1.0", {"__init__.py": "from pkg.core import total\n\n__all__ = ['total']\n",
             "core.py": CORE_1, "util.py": UTIL, "cli.py": CLI_1}),
    # cli.py first, alone: it calls total() with the new argument and imports helpers, which
    # the second step makes true (a rename of util.py with a small change).
    ("1.1", {"__init__.py": "from pkg.core import total\n\n__all__ = ['total']\n",
             "core.py": CORE_2, "helpers.py": UTIL + "\n\nNAME = 'helpers'\n", "cli.py": CLI_2}),
    # __init__ first, alone: it imports pkg.main before the next step adds it and deletes cli.
    ("1.2", {"__init__.py": "from pkg.core import total\nfrom pkg.main import run\n\n"
             "__all__ = ['run', 'total']\n",
             "core.py": CORE_2, "helpers.py": UTIL + "\n\nNAME = 'helpers'\n", "main.py": MAIN}),
]


def synthetic_history(tmp_path: Path) -> fidelity.History:
    folders = []
    for version, files in RELEASES:
        folder = tmp_path / "releases" / version / "pkg"
        folder.mkdir(parents=True)
        for name, text in files.items():
            (folder / name).write_text(text)
        folders.append((version, folder))
    return fidelity.local_history("synthetic", folders)


def test_releases_become_steps_of_one_to_three_files_of_every_kind(tmp_path: Path) -> None:
    history = synthetic_history(tmp_path)
    kinds = [[c.kind for c in s.changes] for s in history.steps]
    assert kinds == [["modify"], ["modify", "rename"], ["modify"], ["delete", "add"]]
    rename = history.steps[1].changes[1]
    assert (rename.old_path, rename.path) == ("pkg/util.py", "pkg/helpers.py")
    assert history.steps[1].edit() == {"pkg/core.py": CORE_2, "pkg/util.py": None,
                                       "pkg/helpers.py": UTIL + "\n\nNAME = 'helpers'\n"}
    assert [s.release for s in history.steps] == ["1.0->1.1"] * 2 + ["1.1->1.2"] * 2
    # Replaying the steps over the first release gives the last one exactly.
    state = {f"pkg/{k}": v for k, v in RELEASES[0][1].items()}
    for step in history.steps:
        for path, text in step.edit().items():
            if text is None:
                del state[path]
            else:
                state[path] = text
    assert state == {f"pkg/{k}": v for k, v in RELEASES[-1][1].items()}


def test_a_dissimilar_pair_is_a_delete_and_an_add_not_a_rename() -> None:
    changes = fidelity.diff_releases({"a.py": UTIL}, {"b.py": CORE_1})
    assert [(c.kind, c.path) for c in changes] == [("delete", "a.py"), ("add", "b.py")]
    same = fidelity.diff_releases({"a.py": UTIL, "c.py": CORE_1}, {"b.py": UTIL, "c.py": CORE_1})
    assert [(c.kind, c.old_path, c.path) for c in same] == [("rename", "a.py", "b.py")]


def test_the_comparison_sees_one_differing_row_and_ignores_ty_wording() -> None:
    warm = (Diagnostic("m.py", 1, 1, 1, 5, "error", "Name `x` is not defined", "ty", "unresolved"),
            Diagnostic("m.py", 2, 1, 2, 3, "warning", "`os` imported but unused\nhelp: remove",
                       "ruff", "F401"))
    cold = (Diagnostic("m.py", 1, 1, 1, 5, "error", "Name `x` used when not defined", "ty",
                       "unresolved"),
            Diagnostic("m.py", 2, 1, 2, 3, "error", "`os` imported but unused", "ruff", "F401"))
    assert fidelity.differing_rows(warm, cold, ["ty", "ruff"]) == {}
    moved = (cold[0], Diagnostic("m.py", 3, 1, 3, 3, "error", "`os` imported but unused", "ruff",
                                 "F401"))
    assert fidelity.differing_rows(warm, moved, ["ty", "ruff"]) == {"ruff": {
        "warm_only": [("m.py", 2, 1, 2, 3, "F401", "`os` imported but unused")],
        "cold_only": [("m.py", 3, 1, 3, 3, "F401", "`os` imported but unused")]}}


def test_the_fidelity_section_replaces_only_what_is_between_its_markers() -> None:
    page = f"# Benchmarks\n\nbefore\n\n{bench_cli.START}\nold\n{bench_cli.END}\n\nafter\n"
    section = f"{bench_cli.START}\nnew\n{bench_cli.END}\n"
    assert bench_cli._replace_section(page, section) == (
        f"# Benchmarks\n\nbefore\n\n{bench_cli.START}\nnew\n{bench_cli.END}\n\nafter\n")
    assert bench_cli._replace_section("# B\n", section) == f"# B\n\n{section}"


@pytest.mark.slow
def test_fidelity_replays_a_history_with_warm_equal_to_cold(tmp_path: Path) -> None:
    history = synthetic_history(tmp_path)
    doc = fidelity.run([history], quick=True)
    assert set(doc["totals"]) == {"pyright+ruff", "ty+ruff"}
    for pair, totals in doc["totals"].items():
        assert totals["steps"] == 4, pair
        assert totals["mismatching_steps"] == 0, doc["mismatches"]
        assert totals["state_drift_steps"] == totals["unknown_steps"] == 0, doc["mismatches"]
        # Steps 1 (a call with an extra argument, an import of a module not there yet) and 3
        # (the same) introduce errors; warm must report every one of them.
        assert totals["introduced_errors"] >= 2 and totals["false_ok"] == 0, pair
        assert totals["found"] == totals["introduced_errors"], doc["steps"]
    steps = doc["steps"]["synthetic pyright+ruff"]
    assert [s["introduced_errors"] > 0 for s in steps] == [True, False, True, False]
    assert fidelity.failures(doc) == 0
    section = bench_cli.fidelity_markdown({**doc, "command": "test", "machine": {"cpus": 2},
                                           "versions": {}})
    assert "| synthetic | 1.0..1.2 (3) | 4 | pyright+ruff | 4 | 3/1/1/1 | 0 |" in section


@pytest.mark.slow
def test_fidelity_counts_a_state_warm_was_not_shown_as_a_mismatch(tmp_path: Path) -> None:
    history = synthetic_history(tmp_path)

    def behind_the_verifiers_back(step: fidelity.Step, state: Path) -> None:
        if step.number == 2:
            with (state / "pkg/core.py").open("a") as f:
                f.write("\nBROKEN: int = 'not an int'\n")

    doc = fidelity.run([history], pairs=[("ty", "ruff")], alter_state=behind_the_verifiers_back)
    (mismatch,) = doc["mismatches"]
    assert (mismatch["step"], mismatch["files"]) == (2, ["pkg/core.py", "pkg/util.py -> pkg/helpers.py"])
    assert list(mismatch["rows"]) == ["ty"]
    assert mismatch["rows"]["ty"]["warm_only"] == []
    (row,) = mismatch["rows"]["ty"]["cold_only"]
    assert row[0] == "pkg/core.py" and row[-1] == "invalid-assignment"
    # An error the cold runs see appear and warm did not report: a false ok as well.
    assert mismatch["false_ok"] is True
    assert doc["totals"]["ty+ruff"]["mismatching_steps"] == doc["totals"]["ty+ruff"]["false_ok"] == 1
    assert fidelity.failures(doc) == 1
