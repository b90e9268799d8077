"""``make demo``: a scripted agent session on a fixture project, warm beside cold.

The agent makes three edits in a row on a copy of the fixture: one breaks a caller in another
file, one adds an unused import, one fixes both. After each, it prints the report lspfeedback
gives and its latency, and beside it what the cold CLIs (pyright, ruff) report and take on
the same state, and whether the two agree. The script runs a few rounds to give medians.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from lspfeedback._bench.stats import percentile
from lspfeedback._cold import ColdRun, cold_check, comparable
from lspfeedback._report import Report
from lspfeedback._verifier import Verifier

SERVERS = ("pyright", "ruff")


@dataclass(frozen=True)
class Step:
    title: str
    edits: dict[str, tuple[str, str]]
    """path -> (old snippet, new snippet), applied to the fixture's original text."""


STEPS = (
    Step("add a required `currency` parameter to apply_discount (breaks cart.py)", {
        "shop/pricing.py": ("percent: int) -> int:", "percent: int, currency: str) -> int:"),
    }),
    Step("...and add an unused import to cart.py", {
        "shop/pricing.py": ("percent: int) -> int:", "percent: int, currency: str) -> int:"),
        "shop/cart.py": ("from dataclasses import", "import json\nfrom dataclasses import"),
    }),
    Step("fix both: give `currency` a default, drop the import", {
        "shop/pricing.py": ("percent: int) -> int:", 'percent: int, currency: str = "USD") -> int:'),
    }),
)


def texts_for(root: Path, step: Step, round_no: int = 1) -> dict[str, str]:
    """The full new text of each file the step touches; files it leaves out are restored.

    A comment naming the round makes every round's states new: a state seen before would be
    answered from the verifier's cache, and the demo measures the servers' work.
    """
    touched = {p for s in STEPS for p in s.edits}
    out = {}
    for rel in sorted(touched):
        text = (root / rel).read_text(encoding="utf-8")
        if rel in step.edits:
            old, new = step.edits[rel]
            if old not in text:
                raise SystemExit(f"demo script out of date: {old!r} not in {rel}")
            text = text.replace(old, new, 1)
        out[rel] = f"{text}# demo round {round_no}\n"
    return out


def run(fixture: Path, rounds: int, console: Console) -> int:
    warm_ms: list[float] = []
    cold_ms: list[float] = []
    mismatches = 0
    with tempfile.TemporaryDirectory(prefix="lspfeedback-demo-") as tmp:
        work = Path(tmp) / "warm"
        shutil.copytree(fixture, work)
        original = {p: (work / p).read_text(encoding="utf-8") for s in STEPS for p in s.edits}
        console.print(f"[bold]lspfeedback demo[/] on a copy of {fixture} (servers: {', '.join(SERVERS)})")
        verifier = Verifier(work, servers=SERVERS)
        with console.status("starting pyright and ruff..."):
            verifier.start()
        with verifier:
            warmup = verifier.diagnostics(sorted(original))
            console.print(f"servers up and warm: first check took {warmup.elapsed_ms:.0f} ms\n")
            for round_no in range(1, rounds + 1):
                for number, step in enumerate(STEPS, 1):
                    report = verifier.verify(texts_for(work, step, round_no))
                    cold_root = Path(tmp) / "cold"
                    _write_state(work, cold_root, verifier.overlays)
                    runs = cold_check(cold_root, report.checked_files, SERVERS,
                                      verifier.engine.python)
                    cold = sum(r.elapsed_ms for r in runs.values())
                    agree = all(
                        comparable(report.diagnostics, name) == comparable(run.diagnostics, name)
                        for name, run in runs.items()
                    )
                    mismatches += not agree
                    if round_no > 1 or rounds == 1:
                        warm_ms.append(report.elapsed_ms)
                        cold_ms.append(cold)
                    if round_no == 1:
                        _show(console, number, step, report, runs, cold, agree)
                verifier.discard()
                _restore(work, original)
    _summary(console, warm_ms, cold_ms, rounds, mismatches)
    return 1 if mismatches else 0


def _write_state(work: Path, cold_root: Path, overlays: Mapping[str, str | None]) -> None:
    """A fresh copy of the project with the overlays written, for the cold tools."""
    if cold_root.exists():
        shutil.rmtree(cold_root)
    shutil.copytree(work, cold_root)
    for rel, text in overlays.items():
        if text is None:
            (cold_root / rel).unlink(missing_ok=True)
        else:
            (cold_root / rel).write_bytes(text.encode("utf-8"))


def _restore(work: Path, original: dict[str, str]) -> None:
    for rel, text in original.items():
        (work / rel).write_text(text, encoding="utf-8")


def _show(console: Console, number: int, step: Step, report: Report, runs: Mapping[str, ColdRun],
          cold: float, agree: bool) -> None:
    console.rule(f"edit {number}: {step.title}")
    console.print(str(report), markup=False, highlight=False)
    verdict = "[green]same diagnostics[/]" if agree else "[red]DIFFERENT diagnostics[/]"
    console.print(
        f"warm verify: [bold]{report.elapsed_ms:.0f} ms[/]   cold CLIs on the same state: "
        f"[bold]{cold:.0f} ms[/] ({', '.join(f'{k} {v.elapsed_ms:.0f} ms' for k, v in runs.items())})"  # type: ignore[attr-defined]
        f"   {verdict}\n"
    )


def _summary(console: Console, warm: Sequence[float], cold: Sequence[float], rounds: int,
             mismatches: int) -> None:
    table = Table(title=f"per-edit latency, {len(warm)} edits ({'rounds 2..' if rounds > 1 else 'round '}{rounds})")
    table.add_column("")
    table.add_column("median ms", justify="right")
    table.add_column("p95 ms", justify="right")
    for label, samples in (("warm lspfeedback verify()", warm), ("cold pyright + ruff CLIs", cold)):
        table.add_row(label, f"{statistics.median(samples):.0f}", f"{percentile(samples, 95):.0f}")
    console.print(table)
    console.print(f"warm/cold mismatches: {mismatches}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lspfeedback._demo", description=__doc__)
    parser.add_argument("fixture", nargs="?", default="fixtures/shop")
    parser.add_argument("--rounds", type=int, default=4, help="rounds of the three edits (default 4)")
    args = parser.parse_args(argv)
    return run(Path(args.fixture), args.rounds, Console())


if __name__ == "__main__":
    raise SystemExit(main())
