"""Latency statistics shared by the benchmark and the demo: nearest-rank percentiles."""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def percentile(samples: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty sample."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def summary(values: Sequence[float]) -> dict[str, float | int | None]:
    """Count, median, p95 and max, in ms (None when there are no values)."""
    if not values:
        return {"n": 0, "p50": None, "p95": None, "max": None}
    return {"n": len(values), "p50": round(statistics.median(values), 2),
            "p95": round(percentile(values, 95), 2), "max": round(max(values), 2)}
