"""The chaos run, small: verifies while real servers are killed and stopped at random. Every
report is right (equal to the cold CLIs of the servers that answered) or labelled unknown or
degraded; no overlay is lost; every configured server comes back. The 200-step run and its
recovery times are in docs/benchmarks.md ("Chaos")."""

from __future__ import annotations

import asyncio

import pytest

from lspfeedback._bench.chaos import EDITS, SHOP, answered, chaos, markdown, next_text
from lspfeedback._report import Degraded, Report


def test_every_step_is_a_new_state_and_edits_undo_each_other() -> None:
    text = (SHOP / "shop/pricing.py").read_text()
    states = set()
    for step in range(12):
        edit = EDITS[step % len(EDITS)]
        if edit[0] == "shop/pricing.py":
            text = next_text(text, edit, step)
            states.add(text)
    assert len(states) == 4  # every visit to the file is a new text
    assert "currency" not in text.split("# chaos step")[0]  # the last edit undid the first


def test_a_degraded_report_rests_on_its_stand_ins() -> None:
    report = Report(status="errors", degraded=(Degraded("pyright", "restarting", ("ty",)),))
    assert answered(report) == ["ruff", "ty"]


@pytest.mark.slow
def test_a_small_chaos_run_loses_nothing_and_lies_never() -> None:
    result = asyncio.run(chaos(SHOP, steps=30, seed=7, fault_rate=0.3)).to_dict()
    assert result["faults"] >= 3  # the seed makes faults happen (and the run reproducible)
    assert result["wrong"] == [] and result["unlabelled"] == 0
    assert result["overlays_lost"] == 0 and result["not_recovered"] == 0
    assert result["right"] + result["unknown"] == 30
    assert "| SIGKILL |" in markdown(result)
