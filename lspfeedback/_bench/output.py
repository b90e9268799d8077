"""Benchmark output: the terminal table (rich), the JSON file, the PNG plot (matplotlib)."""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from lspfeedback._bench.runner import WorkloadResult, sample_dicts

PACKAGES = ("lspfeedback", "pyright", "ruff", "basedpyright", "ty", "pyrefly",
            "jedi-language-server", "pygls")


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 1024**3
    return {"platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "cpu_model": model, "memory_gib": round(memory, 1)}


def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def document(results: Sequence[WorkloadResult], command: Sequence[str]) -> dict[str, Any]:
    """Everything: machine, versions, the command, and per workload a summary and every sample."""
    return {
        "machine": machine(),
        "versions": versions(),
        "command": " ".join(command),
        "workloads": {
            r.workload: {"summary": r.summary(), "samples": sample_dicts(r), "floor": r.floor,
                         "daemon": r.daemon}
            for r in results
        },
    }


def write_json(doc: Mapping[str, Any], path: Path) -> None:
    path.write_text(json.dumps(doc, indent=2) + "\n")


def _ms(value: object) -> str:
    if value is None:
        return "-"
    number = float(value)  # type: ignore[arg-type]
    return f"{number:.1f}" if number < 10 else f"{number:,.0f}"


def table(doc: Mapping[str, Any], console: Console) -> None:
    main = Table(title="warm lspfeedback verify() vs cold CLIs, per edit (ms)")
    for column in ("workload", "files", "edits", "warm p50", "warm p95", "cold p50", "cold p95",
                   "speedup", "mismatches", "unknown", "importers p50"):
        main.add_column(column, justify="right" if column != "workload" else "left")
    for name, w in doc["workloads"].items():
        s = w["summary"]
        main.add_row(name, str(s["files"]), str(s["edits"]), _ms(s["warm"]["p50"]),
                     _ms(s["warm"]["p95"]), _ms(s["cold"]["p50"]), _ms(s["cold"]["p95"]),
                     f"{s['speedup']}x" if s["speedup"] else "-", str(s["mismatches"]),
                     str(s["unknown"]), _ms(s["dependents_checked"]["p50"]))
    console.print(main)
    backends = Table(title="each server alone on the same edits (ms), start-up, peak RSS (MiB)")
    for column in ("workload", "server", "p50", "p95", "max", "unknown", "start-up", "peak RSS"):
        backends.add_column(column, justify="right" if column not in ("workload", "server") else "left")
    for name, w in doc["workloads"].items():
        s = w["summary"]
        for backend, b in s["backends"].items():
            rss = s["peak_rss_mb"].get(backend, {})
            backends.add_row(name, backend, _ms(b["warm"]["p50"]), _ms(b["warm"]["p95"]),
                             _ms(b["warm"]["max"]), str(b["unknown"]),
                             _ms(s["startup_ms"].get(backend)),
                             ", ".join(f"{k} {v:.0f}" for k, v in rss.items()) or "-")
    console.print(backends)
    floors = [(n, k, v) for n, w in doc["workloads"].items()
              for k, v in w["summary"]["floor"].items()]
    if floors:
        floor = Table(title="the floor: raw JSON-RPC client vs the library, same single-file edits (ms)")
        for column in ("workload", "server", "raw p50", "library p50", "added p50", "raw p95",
                       "library p95"):
            floor.add_column(column, justify="right" if column not in ("workload", "server") else "left")
        for name, server, f in floors:
            floor.add_row(name, server, _ms(f["raw"]["p50"]), _ms(f["library"]["p50"]),
                          "-" if f["added_p50_ms"] is None else f"{f['added_p50_ms']:+.1f}",
                          _ms(f["raw"]["p95"]), _ms(f["library"]["p95"]))
        console.print(floor)
    for name, w in doc["workloads"].items():
        c = w["summary"].get("candidates")
        if c:
            console.print(f"{name}: {c['candidates']} candidates on {c['replicas']} replicas "
                          f"took {c['total_ms']:.0f} ms; one verify p50 {c['single_p50_ms']:.0f} ms; "
                          f"ratio to N/replicas singles: {c['ratio_to_n_over_replicas']}")
        d = w["summary"].get("daemon")
        if d:
            console.print(f"{name}: daemon round trip p50 {_ms(d['daemon']['p50'])} ms vs in-process "
                          f"p50 {_ms(d['in_process']['p50'])} ms")


def plot(doc: Mapping[str, Any], path: Path) -> None:
    """Latency per edit (warm vs cold, log scale) and the scaling curve over synthetic sizes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = doc["workloads"]
    synth = sorted(((w["summary"]["files"], w["summary"]) for n, w in workloads.items()
                    if n.startswith("synth-")), key=lambda t: t[0])
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    ax = axes[0]
    for name, w in workloads.items():
        combined = [s for s in w["samples"] if s["backend"] == "pyright+ruff"]
        xs = [s["step"] for s in combined]
        (line,) = ax.plot(xs, [s["warm_ms"] for s in combined], marker="o", label=f"{name} warm")
        cold = [sum(s["cold_ms"].values()) for s in combined if s["cold_ms"]]
        if cold:
            ax.plot(xs[: len(cold)], cold, linestyle="--", color=line.get_color(),
                    label=f"{name} cold CLIs")
    ax.set_yscale("log")
    ax.set_xlabel("edit (mistake, fix, ...)")
    ax.set_ylabel("ms to fresh diagnostics (log)")
    ax.set_title("per edit: warm verify() vs cold pyright + ruff")
    ax.legend(fontsize=7)
    ax = axes[1]
    if synth:
        sizes = [n for n, _ in synth]
        ax.plot(sizes, [s["warm"]["p50"] for _, s in synth], marker="o", label="warm p50")
        ax.plot(sizes, [s["warm"]["p95"] for _, s in synth], marker="o", linestyle=":",
                label="warm p95")
        ax.plot(sizes, [s["cold"]["p50"] for _, s in synth], marker="s", linestyle="--",
                label="cold p50")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.legend()
    ax.set_xlabel("modules in the synthetic project (log)")
    ax.set_ylabel("ms (log)")
    ax.set_title("scaling with project size")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def markdown(doc: Mapping[str, Any], plot_name: str | None) -> str:
    """docs/benchmarks.md, written from one run's JSON: no number is typed by hand."""
    m, v = doc["machine"], doc["versions"]
    lines = [
        "# Benchmarks",
        "",
        ("Edit-to-feedback latency of warm `lspfeedback` `verify()` beside the cold CLIs a CI job "
        "runs on the same state (`pyright --outputjson` on the package + `ruff check`), in the "
        "same run on the same machine. Generated by `lspfeedback bench` from its JSON output; "
        "do not edit by hand."),
        "",
        (f"- Machine: {m['cpus']} cores ({m['cpu_model'] or 'unknown CPU'}), {m['memory_gib']} GiB, "
        f"{m['platform']}, Python {m['python']}"),
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- Command: `{doc['command']}`",
        ("- Each edit is a mistake an agent makes (changed signature, wrong argument type, wrong "
        "return type, rename without updating callers, unused import, broken syntax) or its fix, "
        "in widely imported modules and leaves, from a seeded script. Each state is unique (no "
        "cache hits). `verify()` checks the edited file and its importers (at most 20)."),
        "",
        "## Warm vs cold, per edit (ms)",
        "",
        ("| workload | files | edits | warm p50 | warm p95 | warm max | cold p50 | cold p95 | speedup "
        "| mismatches | unknown | importers checked p50 |"),
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, w in doc["workloads"].items():
        s = w["summary"]
        lines.append(
            f"| {name} | {s['files']} | {s['edits']} | {_ms(s['warm']['p50'])} | "
            f"{_ms(s['warm']['p95'])} | {_ms(s['warm']['max'])} | {_ms(s['cold']['p50'])} | "
            f"{_ms(s['cold']['p95'])} | {s['speedup']}x | {s['mismatches']} | {s['unknown']} | "
            f"{_ms(s['dependents_checked']['p50'])} |")
    lines += ["", ("`mismatches` counts edits where the warm diagnostics of the checked files "
              "differ from the cold CLIs' (place, code, message); it must be 0."), ""]
    if plot_name:
        lines += [f"![latency per edit and scaling]({plot_name})", ""]
    lines += ["## Each server alone on the same edits (ms), start-up and peak RSS", "",
              "| workload | server | p50 | p95 | max | unknown | start-up to first diagnostics | peak RSS (MiB) |",
              "|---|---|---|---|---|---|---|---|"]
    for name, w in doc["workloads"].items():
        s = w["summary"]
        for backend, b in s["backends"].items():
            rss = s["peak_rss_mb"].get(backend, {})
            lines.append(f"| {name} | {backend} | {_ms(b['warm']['p50'])} | {_ms(b['warm']['p95'])} | "
                         f"{_ms(b['warm']['max'])} | {b['unknown']} | {_ms(s['startup_ms'].get(backend))} | "
                         + (", ".join(f"{k} {val:.0f}" for k, val in rss.items()) or "-") + " |")
    floors = [(n, k, f) for n, w in doc["workloads"].items() for k, f in w["summary"]["floor"].items()]
    if floors:
        lines += ["", "## The floor: what the library adds", "",
                  ("A minimal raw JSON-RPC client (in the benchmark, not the library) sends the same "
                  "`didChange` and waits for the same fresh diagnostics; the library does the same "
                  "single-file edits with `max_dependents=0`."), "",
                  "| workload | server | raw p50 | library p50 | added p50 | raw p95 | library p95 |",
                  "|---|---|---|---|---|---|---|"]
        for name, server, f in floors:
            added = "-" if f["added_p50_ms"] is None else f"{f['added_p50_ms']:+.1f}"
            lines.append(f"| {name} | {server} | {_ms(f['raw']['p50'])} | {_ms(f['library']['p50'])} | "
                         f"{added} | {_ms(f['raw']['p95'])} | {_ms(f['library']['p95'])} |")
    extra = [(n, w["summary"]) for n, w in doc["workloads"].items()
             if w["summary"].get("candidates") or w["summary"].get("daemon")]
    if extra:
        lines += ["", "## Candidates and the daemon", ""]
        for name, s in extra:
            c = s.get("candidates")
            if c:
                lines.append(f"- {name}: {c['candidates']} candidates on {c['replicas']} replicas took "
                             f"{c['total_ms']:.0f} ms; one speculative verify p50 {c['single_p50_ms']:.0f} ms; "
                             f"total / (N / replicas x single) = **{c['ratio_to_n_over_replicas']}**.")
            d = s.get("daemon")
            if d:
                lines.append(f"- {name}: verify through the HTTP daemon p50 {_ms(d['daemon']['p50'])} ms, "
                             f"p95 {_ms(d['daemon']['p95'])} ms; in-process p50 {_ms(d['in_process']['p50'])} ms, "
                             f"p95 {_ms(d['in_process']['p95'])} ms on the same edits.")
    return "\n".join(lines) + "\n"
