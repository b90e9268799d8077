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

from lspfeedback._bench.cells import FLOOR_ROUNDS
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
            r.workload: {"summary": r.summary(), "samples": sample_dicts(r), "cells": r.cells,
                         "daemon": r.daemon, "candidates": r.candidates}
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


def _pulls(s: Mapping[str, Any]) -> str:
    """Pulls per verify (p50, every server's summed) beside the files checked (p50)."""
    pulls = (s.get("pulls_per_verify") or {}).get("p50")
    files = (s.get("checked_files") or {}).get("p50")
    if pulls is None:
        return "not counted"
    return f"{pulls:g} ({files:g} files)" if files is not None else f"{pulls:g}"


def _x(value: object) -> str:
    return "-" if value is None else f"{value}x"


def _n(value: object) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


# ---- rows: one list of cells per table row, shared by the terminal and the page --------------

MAIN_COLUMNS = ("workload", "files", "samples", "warm p50", "warm p95", "warm max", "cold p50",
                "cold p95", "speedup", "mismatches", "unknown", "degraded", "importers checked p50",
                "pulls per verify p50")


def main_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    out = []
    for name, w in doc["workloads"].items():
        s = w["summary"]
        out.append([name, str(s["files"]), str(s["edits"]), _ms(s["warm"]["p50"]),
                    _ms(s["warm"]["p95"]), _ms(s["warm"]["max"]), _ms(s["cold"]["p50"]),
                    _ms(s["cold"]["p95"]), _x(s["speedup"]), str(s["mismatches"]),
                    str(s["unknown"]), str(s.get("degraded", 0)), _ms(s["dependents_checked"]["p50"]),
                    _pulls(s)])
    return out


BACKEND_COLUMNS = ("workload", "server", "samples", "p50", "p95", "max", "unknown",
                   "start-up to first diagnostics", "peak RSS (MiB)")


def backend_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    out = []
    for name, w in doc["workloads"].items():
        s = w["summary"]
        for backend, b in s["backends"].items():
            rss = s["peak_rss_mb"].get(backend, {})
            out.append([name, backend, str(b["warm"]["n"]), _ms(b["warm"]["p50"]),
                        _ms(b["warm"]["p95"]), _ms(b["warm"]["max"]), str(b["unknown"]),
                        _ms(s["startup_ms"].get(backend)),
                        ", ".join(f"{k} {val:.0f}" for k, val in rss.items()) or "-"])
    return out


TIER_COLUMNS = ("workload", "tier", "samples", "warm p50", "warm p95", "first verdict p50",
                "first verdict p95", "cold CI equivalent", "cold p50", "cold p95", "speedup",
                "first verdict speedup", "preview = final", "unknown")


def tier_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    out = []
    for name, w in doc["workloads"].items():
        tiers = w["summary"].get("tiers") or {}
        colds = {t["name"]: t["cold"] for t in (w.get("cells", {}).get("tiers", {}).get("tiers", []))}
        for tier, t in tiers.items():
            first = t.get("first") or {}
            agreed = (f"{t['preview_agreed']}/{t['previews']}" if t.get("previews") else "-")
            out.append([name, tier, str(t["samples"]), _ms(t["warm"]["p50"]), _ms(t["warm"]["p95"]),
                        _ms(first.get("p50")), _ms(first.get("p95")),
                        " + ".join(_CLI.get(str(c), str(c)) for c in colds.get(tier, ())),
                        _ms(t["cold"]["p50"]), _ms(t["cold"]["p95"]), _x(t["speedup"]),
                        _x(t.get("first_speedup")), agreed, str(t["unknown"])])
    return out


_CLI = {"pyright": "`pyright --outputjson`", "ruff": "`ruff check`", "ty": "`ty check`",
        "pyrefly": "`pyrefly check`"}


def catch_rows(doc: Mapping[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Per mistake kind: how many mistakes each tier flagged, and the introduced lines each
    found that no other tier did (the same mutation corpus)."""
    for name, w in doc["workloads"].items():
        catches = w["summary"].get("catches")
        if not catches:
            continue
        tiers = list(next(iter(catches.values()))["flagged"])
        columns = ["workload", "mistake kind", "mistakes",
                   *(f"flagged by {t}" for t in tiers), *(f"lines {t}" for t in tiers),
                   *(f"lines only {t}" for t in tiers)]
        rows = []
        for kind in sorted(catches, key=lambda k: (k == "all", k)):
            r = catches[kind]
            rows.append([name, kind, str(r["mistakes"]),
                         *(f"{r['flagged'][t]} ({r['recall'][t]:.0%})" for t in tiers),
                         *(str(r["lines"][t]) for t in tiers), *(str(r["only"][t]) for t in tiers)])
        return columns, rows
    return [], []


FLOOR_COLUMNS = ("workload", "server", "files per edit", "raw answers by", "samples", "raw p50",
                 "raw p95", "library p50", "library p95", "added p50", "added p50, paired",
                 "paired, 95 % interval", "paired, by edited file",
                 "event loop CPU added, paired (95 %)",
                 "with quick fixes p50", "raw pulls per edit", "library pulls per verify")


def floor_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    out = []
    for name, w in doc["workloads"].items():
        cells = w.get("cells", {})
        entries = [(server, cell, 1) for server, cell in cells.get("floor", {}).items()]
        if "multi" in cells:
            multi = cells["multi"]
            entries.append((multi["servers"], multi | {"mode": "pull"}, multi["files"]))
        for server, cell, files in entries:
            f = cell["summary"]
            out.append([name, server, str(files), cell.get("mode", "-"), str(f["samples"]),
                        _ms(f["raw"]["p50"]), _ms(f["raw"]["p95"]), _ms(f["library"]["p50"]),
                        _ms(f["library"]["p95"]),
                        "-" if f["added_p50_ms"] is None else f"{f['added_p50_ms']:+.1f}",
                        "-" if f.get("added_paired_p50_ms") is None
                        else f"{f['added_paired_p50_ms']:+.1f}",
                        _interval(f.get("added_paired_interval_ms")),
                        _by_path(f.get("added_paired_by_path") or {}),
                        _with_interval(f.get("added_cpu_paired_p50_ms"),
                                       f.get("added_cpu_paired_interval_ms")),
                        _ms((f.get("default") or {}).get("p50")),
                        _n(f["raw_pulls_per_edit"]),
                        _n(f["library_pulls_per_verify"]) if f["library_pulls_per_verify"] is not None
                        else "not counted"])
    return out


def rounds_text(doc: Mapping[str, Any]) -> str:
    """``server N`` for every floor and multi-file cell of the run: the rounds it ran."""
    out = []
    for w in doc["workloads"].values():
        cells = w.get("cells", {})
        out += [f"{server} {cell.get('rounds', '-')}" for server, cell in
                cells.get("floor", {}).items()]
        if "multi" in cells:
            out.append(f"{cells['multi']['servers']} {cells['multi'].get('rounds', '-')}")
    return ", ".join(out) or "-"


def _by_path(by_path: Mapping[str, Mapping[str, Any]]) -> str:
    """``name +m (lo to hi)`` per edited file, by its base name; ``-`` for one file (the
    cell's own median says it)."""
    if len(by_path) < 2:
        return "-"
    return "; ".join(f"{Path(path).name} {_with_interval(v.get('p50'), v.get('interval'))}"
                     for path, v in by_path.items())


def _interval(bounds: Sequence[float] | None) -> str:
    return "-" if not bounds else f"{bounds[0]:+.1f} to {bounds[1]:+.1f}"


def _with_interval(median: float | None, bounds: Sequence[float] | None) -> str:
    return "-" if median is None else f"{median:+.1f} ({_interval(bounds)})"


def candidates_cpu_text(c: Mapping[str, Any]) -> str:
    """What the cores allow the candidates' batches: from the CPU the library process and
    its servers used per side (empty when the run did not measure it)."""
    busy, per = c.get("cores_busy") or {}, c.get("cpu_per_candidate_s") or {}
    cores, replicas = c.get("cores"), c.get("replicas")
    if not cores or not replicas or busy.get("singles") is None or busy.get("batch") is None:
        return ""
    need = busy["singles"] * replicas
    bound = max(1.0, need / cores)
    return (f" CPU of the library process and its servers: one verify at a time keeps "
            f"{busy['singles']:.2f} of the {cores} cores busy, a batch {busy['batch']:.2f}; "
            f"CPU per candidate {per.get('singles', 0):.3f} s alone, {per.get('batch', 0):.3f} s "
            f"in a batch. {replicas} replicas at once would need {need:.2f} cores, so on this "
            f"machine a batch cannot beat {bound:.2f} x (N / replicas x single) unless the "
            f"CPU per candidate falls.")


DAEMON_COLUMNS = ("workload", "path", "samples", "p50", "p95", "max")


def daemon_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    labels = {"daemon": "HTTP daemon (`AsyncClient.verify`)", "in_process": "in-process "
              "(`verify_speculative`)", "cli": "`lspfeedback verify --patch -` process, through the daemon"}
    out = []
    for name, w in doc["workloads"].items():
        d = w["summary"].get("daemon")
        for key, label in labels.items():
            if d and key in d and d[key]["n"]:
                out.append([name, label, str(d[key]["n"]), _ms(d[key]["p50"]), _ms(d[key]["p95"]),
                            _ms(d[key]["max"])])
    return out


SCALING_COLUMNS = ("modules", "servers", "start-up to first verdict", "leaf samples", "leaf p50",
                   "leaf p95", "p50 / smallest", "each server's time p50",
                   "raw client p50 (server alone)", "unknown", "servers' peak RSS (MiB)",
                   "library process peak RSS (MiB)", "cold CLIs p50", "speedup")


def scaling_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    out = []
    for r in (doc.get("scaling") or {}).get("rows", []):
        if "error" in r:
            out.append([f"{r['size']:,}", r["servers"], "failed: " + r["error"][:80],
                        *["-"] * (len(SCALING_COLUMNS) - 3)])
            continue
        e, rss = r["leaf_edits"], r["rss_mib"]
        cold = r.get("cold_total_p50")
        speed = round(cold / e["p50"], 1) if cold and e["p50"] else None
        out.append([f"{r['size']:,}", r["servers"], _ms(r["startup_ms"]), str(e["n"]),
                    _ms(e["p50"]), _ms(e["p95"]), _x(r.get("ratio_to_smallest")),
                    ", ".join(f"{k} {_ms(v['p50'])}" for k, v in (r.get("server_ms") or {}).items()) or "-",
                    ", ".join(f"{k} {_ms(v.get('p50'))}" for k, v in (r.get("raw_ms") or {}).items()) or "-",
                    str(r["unknown"]),
                    ", ".join(f"{k} {v:.0f}" for k, v in rss["servers"].items() if v is not None) or "-",
                    f"{rss['library']:.0f} ({rss['library_before_start']:.0f} before start)"
                    if rss.get("library") is not None and rss.get("library_before_start") is not None else "-",
                    _ms(cold) if cold else "not run: " + ", ".join(r.get("cold_missing", [])),
                    _x(speed)])
    return out


MEMORY_COLUMNS = ("workload", "servers", "edited file", "start-up to first verdict", "samples",
                  "p50", "p95", "servers' peak RSS (MiB)", "library process peak RSS (MiB)")


def memory_rows(doc: Mapping[str, Any]) -> list[list[str]]:
    out = []
    for name, w in doc["workloads"].items():
        r = (w.get("cells") or {}).get("memory")
        if not r:
            continue
        e, rss = r["leaf_edits"], r["rss_mib"]
        out.append([name, r["servers"], f"`{r['leaf']}`", _ms(r["startup_ms"]), str(e["n"]),
                    _ms(e["p50"]), _ms(e["p95"]),
                    ", ".join(f"{k} {v:.0f}" for k, v in rss["servers"].items() if v is not None) or "-",
                    f"{rss['library']:.0f} ({rss['library_before_start']:.0f} before start)"
                    if rss.get("library") is not None and rss.get("library_before_start") is not None
                    else "-"])
    return out


def _rich(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], console: Console) -> None:
    if not rows:
        return
    t = Table(title=title)
    for i, column in enumerate(columns):
        t.add_column(column, justify="left" if i < 2 else "right")
    for row in rows:
        t.add_row(*row)
    console.print(t)


def table(doc: Mapping[str, Any], console: Console) -> None:
    _rich("warm lspfeedback verify() vs cold CLIs, per edit (ms)", MAIN_COLUMNS, main_rows(doc), console)
    _rich("tiers beside their cold CI equivalents (ms)", TIER_COLUMNS, tier_rows(doc), console)
    columns, rows = catch_rows(doc)
    _rich("what each tier catches, same mistakes", columns, rows, console)
    _rich("the floor: raw JSON-RPC client vs the library, interleaved (ms)", FLOOR_COLUMNS,
          floor_rows(doc), console)
    _rich("each server alone on the same edits (ms)", BACKEND_COLUMNS, backend_rows(doc), console)
    _rich("the daemon and the CLI (ms)", DAEMON_COLUMNS, daemon_rows(doc), console)
    _rich("start-up and memory, the library in a process of its own", MEMORY_COLUMNS,
          memory_rows(doc), console)
    _rich("synthetic scaling (ms)", SCALING_COLUMNS, scaling_rows(doc), console)
    for name, w in doc["workloads"].items():
        c = w["summary"].get("candidates")
        if c:
            console.print(f"{name}: {c['candidates']} candidates on {c['replicas']} replicas, "
                          f"{c['batches']} batches p50 {c['total_ms']:.0f} ms; one verify p50 "
                          f"{c['single_p50_ms']:.0f} ms; ratio {c['ratio_to_n_over_replicas']}")
        for note in w["summary"].get("notes", []):
            console.print(f"[yellow]{name}: {note}[/]")


def plot(doc: Mapping[str, Any], path: Path) -> None:
    """Six small panels, a few series each, labelled directly or with a legend below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = doc["workloads"]
    fig, axes = plt.subplots(2, 3, figsize=(16, 9))
    fig.suptitle(f"lspfeedback bench{' --quick' if doc.get('quick') else ''}: p50 bars, "
                 "p95 whiskers (ms, log)", fontsize=11)

    def bars(ax: Any, labels: list[str], series: list[tuple[str, list[Any], list[Any]]],
             title: str) -> None:
        width = 0.8 / max(1, len(series))
        for k, (label, p50, p95) in enumerate(series):
            xs = [i + (k - (len(series) - 1) / 2) * width for i in range(len(labels))]
            ys = [v or 0 for v in p50]
            err = [max(0, (hi or 0) - (lo or 0)) for lo, hi in zip(p50, p95, strict=True)]
            ax.bar(xs, ys, width, label=label, yerr=[[0] * len(err), err], capsize=2)
        ax.set_xticks(range(len(labels)), labels, rotation=20, ha="right", fontsize=8)
        ax.set_yscale("log")
        positive = [v for _, p50, _ in series for v in p50 if v]
        if positive:  # bars start well below the smallest, so every bar shows its height
            ax.set_ylim(bottom=min(positive) / 3)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22),
                  ncol=min(3, len(series)), frameon=False)

    names = list(workloads)
    sums = [workloads[n]["summary"] for n in names]
    bars(axes[0][0], names, [("warm pyright+ruff", [s["warm"]["p50"] for s in sums],
                              [s["warm"]["p95"] for s in sums]),
                             ("cold CLIs", [s["cold"]["p50"] for s in sums],
                              [s["cold"]["p95"] for s in sums])],
         "per edit: warm verify() vs cold CLIs")
    tiers = [(n, t) for n in names[:1]  # the first project has every tier beside its cold CLIs
             for t in (workloads[n]["summary"].get("tiers") or {}).items()]
    if tiers:
        labels = [t for _, (t, _) in tiers]
        rows = [r for _, (_, r) in tiers]
        bars(axes[0][1], labels, [
            ("warm", [r["warm"]["p50"] for r in rows], [r["warm"]["p95"] for r in rows]),
            ("first verdict", [(r.get("first") or {}).get("p50") for r in rows],
             [(r.get("first") or {}).get("p95") for r in rows]),
            ("cold CI equivalent", [r["cold"]["p50"] for r in rows], [r["cold"]["p95"] for r in rows])],
            f"tiers ({tiers[0][0]})")
    else:
        axes[0][1].set_axis_off()
    floors = floor_entries(doc)
    if floors:
        bars(axes[0][2], [f[0] for f in floors], [
            ("raw client", [f[1]["raw"]["p50"] for f in floors], [f[1]["raw"]["p95"] for f in floors]),
            ("library", [f[1]["library"]["p50"] for f in floors],
             [f[1]["library"]["p95"] for f in floors])],
            "the floor: raw client vs library, interleaved")
    else:
        axes[0][2].set_axis_off()
    rows = [r for r in (doc.get("scaling") or {}).get("rows", []) if "leaf_edits" in r]
    panels = ((axes[1][0], "leaf edit p50 (ms)", lambda r: r["leaf_edits"]["p50"]),
              (axes[1][1], "start-up to first verdict (ms)", lambda r: r["startup_ms"]),
              (axes[1][2], "peak RSS (MiB)", None))
    for ax, title, value in panels:
        if not rows:
            ax.set_axis_off()
            continue
        for servers in dict.fromkeys(r["servers"] for r in rows):
            mine = sorted((r for r in rows if r["servers"] == servers), key=lambda r: r["size"])
            xs = [r["size"] for r in mine]
            if value is None:
                lib = [r["rss_mib"]["library"] for r in mine]
                srv = [sum(v for v in r["rss_mib"]["servers"].values() if v) for r in mine]
                (line,) = ax.plot(xs, srv, marker="o", label=f"{servers} servers")
                ax.annotate(f"{servers} servers", (xs[-1], srv[-1]), fontsize=7)
                ax.plot(xs, lib, marker="s", linestyle="--", color=line.get_color(),
                        label=f"library process ({servers})")
                ax.annotate("library", (xs[-1], lib[-1]), fontsize=7)
            else:
                ys = [value(r) for r in mine]
                ax.plot(xs, ys, marker="o", label=servers)
                ax.annotate(servers, (xs[-1], ys[-1]), fontsize=7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("modules in the synthetic project (log)", fontsize=8)
        ax.set_title(f"scaling: {title}", fontsize=10)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2,
                  frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def floor_entries(doc: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    out = []
    for w in doc["workloads"].values():
        cells = w.get("cells", {})
        out += [(server, cell["summary"]) for server, cell in cells.get("floor", {}).items()]
        if "multi" in cells:
            out.append((f"{cells['multi']['servers']} x{cells['multi']['files']}",
                        cells["multi"]["summary"]))
    return out


def _md_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns),
            *("| " + " | ".join(r) + " |" for r in rows)]


def sample_counts(doc: Mapping[str, Any]) -> list[int]:
    """The sample count of every measured cell of the run (warm sides; cold runs of the
    scaling section are counted apart)."""
    counts = []
    for w in doc["workloads"].values():
        s = w["summary"]
        counts.append(s["edits"])
        counts += [b["warm"]["n"] for b in s["backends"].values()]
        counts += [t["samples"] for t in (s.get("tiers") or {}).values()]
        counts += [f["samples"] for f in s["floor"].values()]
        if s.get("multi"):
            counts.append(s["multi"]["summary"]["samples"])
        counts += [d["n"] for d in (s.get("daemon") or {}).values()]
        if s.get("candidates"):
            counts.append(s["candidates"]["batches"])
        memory = (w.get("cells") or {}).get("memory")
        if memory:
            counts.append(memory["leaf_edits"]["n"])
    counts += [r["leaf_edits"]["n"] for r in (doc.get("scaling") or {}).get("rows", [])
               if "leaf_edits" in r]
    return [c for c in counts if c]


def method(doc: Mapping[str, Any]) -> list[str]:
    """How every figure of the page was obtained: the bullets under the title."""
    m, v = doc["machine"], doc["versions"]
    counts = sample_counts(doc)
    load = doc.get("load_1min") or {}
    lines = [
        (f"- Machine (read from the OS): {m['cpus']} cores ({m['cpu_model'] or 'unknown CPU'}), "
         f"{m['memory_gib']} GiB RAM, {m['platform']}, Python {m['python']}"
         + (f"; load average {load.get('start')} at the start, {load.get('end')} at the end"
            if load else "")
         + (f"; run time {doc['elapsed_s'] / 60:.0f} min" if doc.get("elapsed_s") else "")),
        "- Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()),
        f"- Command: `{doc['command']}`",
    ]
    if counts:
        if doc.get("quick"):
            lines.append(f"- **Quick run** (`--quick`): {min(counts)} to {max(counts)} samples a "
                         "cell, too few for a meaningful p95; a smoke test, not a measurement.")
        else:
            lines.append(f"- Samples: every cell has {min(counts)} or more (from {min(counts)} "
                         f"to {max(counts)}; each table's `samples` column says how many). p50 is "
                         "the median, p95 the nearest-rank 95th percentile.")
    lines += [
        ("- Edits: mistakes an agent makes (changed signature, wrong argument type, wrong return "
         "type, rename without updating callers, unused import, broken syntax), each followed by "
         "its fix, in widely imported modules and leaves, from a seeded script. Every state is "
         "new: each text ends with a comment carrying its step number (and its cell's and "
         "side's name), so no cache answers. `verify()` checks the edited file and its "
         "importers (at most 100, the default)."),
        ("- Interleaving: within a cell, the sides being compared run one after the other on "
         "each step, their order rotated step by step (each side runs first equally often), "
         "so they see the same machine load; the cold CLIs run on a copy of the same state."),
    ]
    for name, w in doc["workloads"].items():
        parts = w["summary"].get("elapsed_s") or {}
        if parts:
            lines.append(f"- Time per part, {name} (start-ups and cold runs included): "
                         + ", ".join(f"{k} {v:.0f} s" for k, v in parts.items()))
    return lines


def defaults_text(doc: Mapping[str, Any]) -> list[str]:
    """What the tiers' figures say about the defaults (pyright + ruff, previewed by ty +
    ruff in `verify_progressive`), in numbers from this run."""
    for name, w in doc["workloads"].items():
        s = w["summary"]
        catches, tiers = (s.get("catches") or {}).get("all"), s.get("tiers") or {}
        fast, full = "ty+ruff", "pyright+ruff"
        if not catches or fast not in catches["flagged"] or full not in catches["flagged"] \
                or fast not in tiers or full not in tiers:
            continue
        n = catches["mistakes"]
        line = (f"On {name}, of {n} mistakes {fast} flagged {catches['flagged'][fast]} "
                f"(warm p50 {_ms(tiers[fast]['warm']['p50'])} ms) and {full} "
                f"{catches['flagged'][full]} (p50 {_ms(tiers[full]['warm']['p50'])} ms); "
                f"{full} reported {catches['only'][full]} introduced lines {fast} did not, "
                f"{fast} {catches['only'][fast]} that {full} did not.")
        preview = tiers.get("pyright+ruff, preview")
        if preview and preview.get("first"):
            line += (f" The default, {full} previewed by {fast} (`verify_progressive`), gave a "
                     f"first verdict at p50 {_ms(preview['first']['p50'])} ms and the final one "
                     f"at {_ms(preview['warm']['p50'])} ms; the preview's verdict was the final's "
                     f"on {preview['preview_agreed']} of {preview['previews']} steps.")
        return [line, ""]
    return []


OWN_HEADINGS = (
    "## Warm vs cold, per edit (ms)", "## The tiers: what each costs and catches",
    "## The floor: what the library adds",
    "## Each server alone on the same edits (ms), start-up and peak RSS",
    "## Candidates, the daemon and the CLI", "## Candidates and the daemon",
    "## Synthetic scaling", "## Not measured in this run",
    "## Start-up and memory of the library process")
"""The sections `markdown` writes (and wrote under earlier names): a run replaces them, and
keeps any other section of the page (see `cli.keep_sections`)."""


def markdown(doc: Mapping[str, Any], plot_name: str | None) -> str:
    """docs/benchmarks.md, written from one run's JSON: no number is typed by hand."""
    lines = [
        "# Benchmarks",
        "",
        ("Edit-to-feedback latency of warm `lspfeedback` `verify()` beside the cold CLIs a CI job "
         "runs on the same state (`pyright --outputjson` on the package + `ruff check`), in the "
         "same run on the same machine. Generated by `lspfeedback bench` from its JSON output; "
         "do not edit by hand."),
        "",
        *method(doc),
        "",
        "## Warm vs cold, per edit (ms)",
        "",
        *_md_table(MAIN_COLUMNS, main_rows(doc)),
        "",
        ("`mismatches` counts edits where the warm diagnostics of the checked files differ from "
         "the cold CLIs' (place, code, message); it must be 0. `degraded`: edits a stand-in "
         "answered for a configured server (`Report.degraded`: its diagnostics are the "
         "stand-in's, so they may differ from the configured CLI's)."),
        "",
    ]
    if plot_name:
        lines += [f"![latency per edit, tiers, the floor and scaling]({plot_name})", ""]
    rows = tier_rows(doc)
    if rows:
        lines += [
            "## The tiers: what each costs and catches", "",
            ("Each server set an agent can run, on the same steps, interleaved, beside the cold "
             "CLIs a CI job runs for the same checks (on the whole package, on a copy of the same "
             "state; `speedup` = cold p50 / warm p50). `pyright+ruff, preview` is "
             "`verify_progressive()`: `first verdict` is the time to its first report (the fast "
             "tier's preview, ruff + ty, when pyright is previewed; `final=False`), `warm` the "
             "time to the final one; `preview = final` counts the steps where the preview's "
             "verdict (`ok` or not) was the final report's. The larger projects run the fast "
             "tier and the progressive verdict only, without the cold CLIs on every step "
             "(pyright alone takes 16 s a run on django; the warm-vs-cold table has the cold "
             "runs)."), "",
            *_md_table(TIER_COLUMNS, rows), "",
        ]
        columns, crows = catch_rows(doc)
        if crows:
            corpus = next((w["summary"].get("corpus") for w in doc["workloads"].values()
                           if w["summary"].get("corpus")), None)
            size = (f"{next(iter(corpus.values()))['samples']} steps (mistakes and their fixes), "
                    if corpus else "")
            lines += [
                ("**What each tier catches: ty vs pyright on the same mutation corpus.** A seeded "
                 f"corpus of {size}balanced over the mistake kinds, in the same files, each step "
                 "verified by every tier in turn (rotated), every state new: `flagged` = mistakes "
                 "for which the tier's report introduced at least one diagnostic, with its recall "
                 "(the mistakes are real by construction: tests/test_bench_parts.py checks that "
                 "the cold CLIs complain about every kind); `lines` = introduced (path, line) "
                 "pairs; `lines only` = those no other tier reported."), "",
                *_md_table(columns, crows), "",
                *defaults_text(doc),
            ]
        for w in doc["workloads"].values():
            for tier, why in (w["summary"].get("tiers_skipped") or {}).items():
                lines.append(f"- {tier}: not measured ({why})")
    rows = floor_rows(doc)
    if rows:
        lines += [
            "", "## The floor: what the library adds", "",
            ("A minimal raw JSON-RPC client (`lspfeedback/_bench/floor.py`, no code shared with "
             "the library), kept open, sends the same full-text `didChange` and waits for the "
             "same fresh answer: the answer to a pull sent after it, or (push servers: pyrefly) "
             "the push carrying the version sent. The library does the same edits with "
             "`max_dependents=0` (one file) and `quick_fixes=False`. The same work on both "
             "sides: where the library pulls the state before an edit as its baseline (a file "
             "not pulled since another file changed), the raw client pulls it too, timed. "
             "`added p50` is the library's p50 minus the raw client's; `added p50, paired` the "
             "median of each step's own difference, robust where the edits' times cluster "
             "apart (a small file and a large one), with its 95 % bootstrap interval "
             "(2,000 resamples of the pairs). Each cell runs its edit script round after "
             "round, every state still new, until that interval is narrow enough or a most "
             f"is reached (`cells.Rounds`, by default at least {FLOOR_ROUNDS.least} and at "
             f"most {FLOOR_ROUNDS.most} rounds, narrow: {FLOOR_ROUNDS.width_ms:g} ms; "
             "stopped on the interval's width, never its value, and only when every step "
             f"has run in every side order equally often); rounds run here: {rounds_text(doc)}. "
             "`paired, by edited file`: the same median for each file's steps alone (a "
             "server's time, and its variance, differ between a small module and a large "
             "one). "
             "`event loop CPU added`: the same paired median for the CPU time this process's "
             "thread (the event loop both sides run on) spent during each side, the servers' "
             "processes excluded: the library's own work per verify, which the servers' "
             "variance between edits does not reach (what a side's server sends after its "
             "answer is read during the next side, so both sides carry some of the other's). "
             "`with quick fixes p50`: a third side, the "
             "library as configured by default, which also asks the servers for quick fixes of "
             "what an edit introduced. Every side on every step, interleaved edit by edit, the "
             "order rotated. "
             "The multi-file row: an edit of the most imported module checked with its nearest "
             "importers (`max_dependents=20`), the raw clients (one per server, both at once) "
             "pulling every one of those files after each change, pipelined (ruff, a per-file "
             "linter, the edited file only, on both sides: `ServerSpec.file_local`). Pulls are counted "
             "per edit (the library's from its sessions' counters, `not counted` where the "
             "sessions have none)."), "",
            *_md_table(FLOOR_COLUMNS, rows), "",
        ]
    rows = backend_rows(doc)
    if rows:
        lines += ["## Each server alone on the same edits (ms), start-up and peak RSS", "",
                  *_md_table(BACKEND_COLUMNS, rows), ""]
    extra = [(n, w["summary"]) for n, w in doc["workloads"].items()
             if w["summary"].get("candidates") or w["summary"].get("daemon")]
    if extra:
        lines += ["## Candidates, the daemon and the CLI", ""]
        for name, s in extra:
            c = s.get("candidates")
            if c:
                lines.append(
                    f"- {name}: {c['candidates']} candidates on {c['replicas']} replicas, "
                    f"{c['batches']} batches, each beside the 8 single speculative verifies of "
                    f"its candidates (interleaved): batch p50 {_ms(c['total']['p50'])} ms, p95 "
                    f"{_ms(c['total']['p95'])} ms; single p50 {_ms(c['single']['p50'])} ms "
                    f"({c['single']['n']} samples); batch p50 / (N / replicas x single p50) = "
                    f"**{c['ratio_to_n_over_replicas']}**.{candidates_cpu_text(c)}")
        drows = daemon_rows(doc)
        if drows:
            codes = {n: s.get("daemon_exit_codes") for n, s in extra if s.get("daemon")}
            lines += ["", ("The same speculative checks through the HTTP daemon, in-process, and "
                           "as a whole `lspfeedback verify --patch -` process (a unified diff on "
                           "stdin, answered by the daemon running for the root; whole process "
                           "timed), rotated per edit, each side on a state of its own. CLI exit "
                           "codes seen: " + ", ".join(f"{n} {c}" for n, c in codes.items()) + "."),
                      "", *_md_table(DAEMON_COLUMNS, drows)]
        lines.append("")
    rows = memory_rows(doc)
    if rows:
        lines += [
            "## Start-up and memory of the library process", "",
            ("Each project once more with pyright + ruff, the library in a child process of its "
             "own (`python -m lspfeedback._bench.scaling`, as in the scaling section below): "
             "start-up to the first verdict on the edited file (a leaf, imported by nothing, "
             "where the project has one), edits of that file (every state new), "
             "the servers' peak RSS and the library process's alone (`VmHWM`; before start: "
             "the interpreter and its imports)."), "",
            *_md_table(MEMORY_COLUMNS, rows), "",
        ]
    scaling = doc.get("scaling")
    if scaling:
        lines += [
            "## Synthetic scaling", "",
            ("Projects of fixtures/synth.py (generated once per size into the cache), "
             f"{scaling['edits']} edits of a leaf (a module nothing imports) per size and server "
             "set, each set in a child process of its own (`python -m "
             "lspfeedback._bench.scaling`), so the library's memory is that process's alone "
             "(`VmHWM`; before start: the interpreter and its imports). Start-up to first "
             "verdict: from creating the verifier (the shadow root mirrored, the servers "
             "started) to the first diagnostics of the leaf; the start-up phases are shown "
             "while it runs (the shadow, each server running, the servers' `$/progress` where "
             "the session exposes it). `p50 / smallest`: the leaf edit's p50 over the same "
             "server set's at the smallest size; `each server's time`: the servers' share of a "
             "verify (`Report.timings_ms`), the rest is the library's; `raw client`: each "
             "server alone on the same leaf texts through the floor's raw JSON-RPC client, "
             "after the verifier stopped (what the server itself takes at this size). Cold: the CLIs on the whole package, "
             f"{scaling['cold_runs']} run(s) per size, summed over the set; `pyright` cold only "
             f"up to {scaling['cold_pyright_max']:,} modules (on 50,000 it ran over 5 minutes "
             "and 4 GiB, measured, before it was stopped)."), "",
            *_md_table(SCALING_COLUMNS, scaling_rows(doc)), "",
        ]
    notes = [(n, note) for n, w in doc["workloads"].items() for note in w["summary"].get("notes", [])]
    if notes:
        lines += ["## Not measured in this run", "", *(f"- {n}: {note}" for n, note in notes), ""]
    return "\n".join(lines).rstrip("\n") + "\n"
