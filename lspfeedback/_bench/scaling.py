"""Synthetic scaling: start-up, leaf edits and memory per project size, one process per size.

Each (size, server set) runs in a child process of its own (``python -m
lspfeedback._bench.scaling ROOT ...``) so that the library's memory is that process's alone:
the child imports lspfeedback and this module, nothing of the benchmark's output (rich,
matplotlib), and reports its peak resident set (``VmHWM``) beside each server's. It writes
JSON lines on stdout: ``{"progress": ...}`` while it works (start-up phases, and the servers'
own ``$/progress`` when the session exposes it) and one ``{"result": ...}`` at the end; the
parent (`run_size`) turns the progress lines into a progress bar, so that a large project
never looks hung.

Per child, in order:

1. **start-up to first verdict**: from creating the verifier (the shadow root materialized,
   every server started) to the first diagnostics of the edited leaf;
2. one unmeasured edit of the leaf and back (an agent's first edit pays for imports);
3. ``edits`` edits of the leaf (a module nothing imports), mistakes of the edit script each
   followed by its fix, every text ending with its own step number (every state is new, no
   cache can answer): p50 and p95 of ``verify()``;
4. peak RSS of each server process and of the child itself (with the child's RSS before the
   verifier started, the interpreter and imports, for reference).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from lspfeedback._bench.edit_scripts import make_script
from lspfeedback._bench.stats import summary as stats

TIMEOUT = 300.0
"""Generous: a benchmark measures; a start-up of a 50,000-module project may take a while."""


def rss_mib(pid: int | str = "self", field: str = "VmHWM") -> float | None:
    """``field`` (VmHWM: peak resident set; VmRSS: now) of a process, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None


def tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (a sandboxed server's pid is its sandbox's,
    bubblewrap's; the server runs below it)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo += children.get(current, [])
    return out


def tree_rss_mib(pid: int) -> float | None:
    """Peak RSS (VmHWM) of ``pid`` and all its descendants, summed, in MiB."""
    values = [v for v in map(rss_mib, tree(pid)) if v is not None]
    return round(sum(values), 1) if values else None


def tree_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) ``pid`` and its live descendants have used so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for current in tree(pid):
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def _emit(kind: str, value: Any) -> None:
    sys.stdout.write(json.dumps({kind: value}) + "\n")
    sys.stdout.flush()


def _describe_progress(server: str, args: tuple[Any, ...]) -> str:
    """One line from whatever a session's progress hook hands over: a ``$/progress`` value
    (begin/report/end with title, message, percentage), as an object or a mapping."""
    value: Any = args[-1] if args else None
    inner = getattr(value, "value", None)
    if inner is not None and not isinstance(value, dict):
        value = inner
    parts = []
    for key in ("kind", "title", "message", "percentage"):
        item = value.get(key) if isinstance(value, dict) else getattr(value, key, None)
        if item not in (None, ""):
            parts.append(f"{item}%" if key == "percentage" else str(item))
    if getattr(value, "done", False):
        parts.append("(done)")
    text = " ".join(parts) if parts else repr(value)
    return f"{server}: {text}"


def attach_progress(sessions: Sequence[Any], say: Callable[[str], None]) -> list[str]:
    """Have each session report its server's ``$/progress`` through ``say``, if the session
    offers a hook (``on_progress``); the names of the sessions that do."""
    hooked = []
    for session in sessions:
        if hasattr(session, "on_progress"):
            name = session.name

            def hook(*args: Any, name: str = name) -> None:
                say(_describe_progress(name, args))

            try:
                session.on_progress = hook
            except AttributeError:  # a read-only property: the hook is not settable
                continue
            hooked.append(name)
    return hooked


async def measure(root: Path, leaf: str, servers: Sequence[str], edits: int, seed: int,
                  say: Callable[[str], None]) -> dict[str, Any]:
    """The child's work (see the module docstring); the result as a JSON-ready dict."""
    from lspfeedback._engine import AsyncVerifier

    rss_before = rss_mib("self", "VmRSS")
    pairs = max(1, edits // 2)
    script = [f"{s.new_text}\n# lspfeedback bench edit {n}\n"
              for n, s in enumerate(make_script(root, [leaf], seed, pairs), 1)]
    started = time.perf_counter()
    v = AsyncVerifier(root, servers=tuple(servers), timeout=TIMEOUT, replicas=1, watch=False,
                      startup_timeout=TIMEOUT)
    ws = v._primary  # pyright: ignore[reportPrivateUsage]
    hooked = attach_progress(list(ws.sessions.values()), say)
    phases: dict[str, float] = {}
    try:
        say(f"shadow root: mirroring {root.name}")
        await ws.ensure_shadow()
        phases["shadow_ms"] = round((time.perf_counter() - started) * 1000, 1)
        say(f"shadow root ready in {phases['shadow_ms']:.0f} ms; starting {'+'.join(servers)}")

        async def start(session: Any) -> None:
            await session.ensure_started()
            ms = (time.perf_counter() - started) * 1000
            phases[f"{session.name}_started_ms"] = round(ms, 1)
            say(f"{session.name} running at {ms:.0f} ms")

        await asyncio.gather(*(start(s) for s in ws.sessions.values()))
        await v.start()
        say("first diagnostics of the leaf")
        first = await v.diagnostics([leaf])
        startup_ms = (time.perf_counter() - started) * 1000
        say(f"first verdict at {startup_ms:.0f} ms ({first.status})")
        text = (root / leaf).read_bytes().decode("utf-8")
        await v.verify({leaf: text + "\n# warm-up\n"})
        await v.verify({leaf: text})
        ms: list[float] = []
        statuses: list[str] = []
        per_server: dict[str, list[float]] = {}
        for number, new_text in enumerate(script, 1):
            report = await v.verify({leaf: new_text})
            ms.append(report.elapsed_ms)
            statuses.append(report.status)
            for name, value in report.timings_ms.items():
                per_server.setdefault(name, []).append(value)
            say(f"leaf edit {number}/{len(script)}: {report.elapsed_ms:.0f} ms")
        servers_rss = {s.name: tree_rss_mib(s.pid) for s in v.status().servers if s.pid is not None}
        python = v.python
    finally:
        await v.close()
    raw = await _raw_floor(root, leaf, servers, script, python, say)
    return {
        "servers": "+".join(servers), "leaf": leaf, "startup_ms": round(startup_ms, 1),
        "phases": phases, "progress_hooked": hooked,
        "leaf_edits": stats(ms), "samples": [round(x, 2) for x in ms],
        "server_ms": {name: stats(values) for name, values in per_server.items()},
        "raw_ms": raw,
        "unknown": statuses.count("unknown"),
        "rss_mib": {"servers": servers_rss, "library": rss_mib("self"),
                    "library_before_start": rss_before},
    }


async def _raw_floor(root: Path, leaf: str, servers: Sequence[str], script: Sequence[str],
                     python: str | None, say: Callable[[str], None]) -> dict[str, Any]:
    """Each server alone through the raw JSON-RPC client (`lspfeedback._bench.floor`), on the
    same leaf texts (tagged anew: new states), after the library's verifier has stopped: what
    the server itself takes at this size."""
    from lspfeedback._bench.floor import FloorError, RawClient

    out: dict[str, Any] = {}
    for name in servers:
        client = RawClient(name, root, [leaf], TIMEOUT, python=python)
        try:
            await client.start()
            text = (root / leaf).read_bytes().decode("utf-8")
            await client.change(leaf, text + "\n# warm-up raw\n")
            ms = [await client.change(leaf, f"{t}# raw\n") for t in script]
            out[name] = stats(ms)
            say(f"raw {name}: p50 {out[name]['p50']} ms")
        except FloorError as exc:
            out[name] = {"error": str(exc)[:300]}
        finally:
            await client.close()
    return out


def run_size(root: Path, leaf: str, servers: Sequence[str], edits: int, seed: int = 0, *,
             progress: Callable[[str], None] | None = None,
             timeout: float = 1800) -> dict[str, Any]:
    """One child process for one project and server set; its result. Raises `RuntimeError`
    with the child's stderr tail when it fails."""
    say = progress or (lambda _: None)
    command = [sys.executable, "-P", "-m", "lspfeedback._bench.scaling", str(root), leaf,
               "--servers", ",".join(servers), "--edits", str(edits), "--seed", str(seed)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    result: dict[str, Any] | None = None
    assert proc.stdout is not None and proc.stderr is not None
    started = time.monotonic()
    for line in proc.stdout:
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "progress" in message:
            say(str(message["progress"]))
        elif "result" in message:
            result = message["result"]
        if time.monotonic() - started > timeout:
            proc.kill()
            break
    err = proc.stderr.read()
    proc.wait()
    if result is None:
        raise RuntimeError(f"scaling child for {root.name} {'+'.join(servers)} exited "
                           f"{proc.returncode}: {err[-2000:]}")
    return result


def cold_package(root: Path, package: str, servers: Sequence[str],
                 python: str | None = None) -> dict[str, float]:
    """The cold CLIs of ``servers`` on the whole package (what CI runs), ms per tool."""
    from lspfeedback import _cold

    out: dict[str, float] = {}
    for name in servers:
        if name == "pyright":
            out[name] = _cold.pyright(root, [package], python).elapsed_ms
        elif name == "ruff":
            out[name] = _cold.ruff(root, [package]).elapsed_ms
        elif name == "ty":
            out[name] = _cold.ty(root, [package]).elapsed_ms
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lspfeedback._bench.scaling")
    parser.add_argument("root", type=Path)
    parser.add_argument("leaf", help="a module nothing imports, relative to ROOT")
    parser.add_argument("--servers", default="ty,ruff")
    parser.add_argument("--edits", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    result = asyncio.run(measure(args.root.resolve(), args.leaf, args.servers.split(","),
                                 args.edits, args.seed, lambda line: _emit("progress", line)))
    _emit("result", result)
    return 0


if __name__ == "__main__":
    sys.exit(main())


# ---- the section: every size, every server set -----------------------------------------------

SIZES = (100, 1000, 5000, 20000, 50000)
SERVER_SETS = (("ty", "ruff"), ("pyright", "ruff"))
COLD_PYRIGHT_MAX = 5000
"""The cold pyright CLI is run up to this size only: on 50,000 modules it ran for over
5 minutes and 4 GiB before it was stopped (measured on this machine kind), which alone
would be the whole run's budget."""
COLD_RUNS = 3


def add_ratios(rows: Sequence[dict[str, Any]]) -> None:
    """Set each row's ``ratio_to_smallest``: its leaf p50 over the same server set's at the
    smallest size measured (None where either is missing)."""
    smallest: dict[str, tuple[int, float | None]] = {}
    for r in rows:
        if "leaf_edits" in r and (r["servers"] not in smallest or r["size"] < smallest[r["servers"]][0]):
            smallest[r["servers"]] = (r["size"], r["leaf_edits"]["p50"])
    for r in rows:
        p50 = r.get("leaf_edits", {}).get("p50")
        first = smallest.get(r["servers"], (0, None))[1]
        r["ratio_to_smallest"] = round(p50 / first, 2) if p50 and first else None


def leaf_of(root: Path) -> str:
    """A module nothing imports: the first leaf of fixtures/synth.py's first leaf group."""
    group = root / "synth" / "leaf" / "g000"
    leaves = sorted(p.name for p in group.glob("*.py") if p.name != "__init__.py")
    if not leaves:
        raise RuntimeError(f"no leaf module in {group}")
    return f"synth/leaf/g000/{leaves[0]}"


def run(sizes: Sequence[int] = SIZES, edits: int = 20, seed: int = 0, *,
        server_sets: Sequence[Sequence[str]] = SERVER_SETS, cold: bool = True,
        cold_runs: int = COLD_RUNS, progress: Callable[[str], None] | None = None,
        ) -> dict[str, Any]:
    """Per size (generated once into the cache), every server set in a child process of its
    own, then the cold CLIs on the package; the JSON-ready section."""
    from lspfeedback._bench import workloads

    say = progress or (lambda _: None)
    rows: list[dict[str, Any]] = []
    for size in sizes:
        started = time.perf_counter()
        say(f"synth-{size}: generating (cached by size)")
        w = workloads.synthetic(size, seed)
        generated_s = time.perf_counter() - started
        leaf = leaf_of(w.root)
        cold_ms: dict[str, list[float]] = {}
        if cold:
            tools = [t for t in dict.fromkeys(t for s in server_sets for t in s)
                     if t != "pyright" or size <= COLD_PYRIGHT_MAX]
            for _ in range(cold_runs):
                for tool, ms in cold_package(w.root, w.package, tools).items():
                    cold_ms.setdefault(tool, []).append(round(ms, 1))
                say(f"synth-{size}: cold {', '.join(tools)}")
        for servers in server_sets:
            def tick(line: str, size: int = size, servers: Sequence[str] = servers) -> None:
                say(f"synth-{size} {'+'.join(servers)}: {line}")

            try:
                result = run_size(w.root, leaf, servers, edits, seed, progress=tick)
            except RuntimeError as exc:
                rows.append({"size": size, "servers": "+".join(servers), "error": str(exc)})
                say(f"synth-{size} {'+'.join(servers)}: failed")
                continue
            missing = [t for t in servers if t not in cold_ms]
            result.update({
                "size": size, "files": w.files, "generated_s": round(generated_s, 2),
                "cold": {t: stats(v) for t, v in cold_ms.items() if t in servers},
                "cold_total_p50": None if missing or not cold_ms else round(
                    sum(stats(cold_ms[t])["p50"] or 0 for t in servers), 1),  # type: ignore[misc]
                "cold_missing": missing,
            })
            rows.append(result)
    add_ratios(rows)
    return {"sizes": list(sizes), "edits": edits, "cold_runs": cold_runs if cold else 0,
            "cold_pyright_max": COLD_PYRIGHT_MAX, "rows": rows}
