"""`lspfeedback bench --quick` as a smoke test: well-formed output and no warm/cold mismatch.
It never checks timings (the machines are shared and noisy)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


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
    assert floor["raw"]["n"] == floor["library"]["n"] > 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| synth-100 |" in md.read_text()
