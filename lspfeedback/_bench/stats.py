"""Latency statistics shared by the benchmark and the demo: nearest-rank percentiles."""

from __future__ import annotations

import random
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


def median_interval(values: Sequence[float], level: float = 0.95, resamples: int = 2000,
                    seed: int = 0) -> tuple[float, float] | None:
    """A bootstrap interval of the median (percentile method, seeded: the same sample gives
    the same interval); None for no values."""
    if not values:
        return None
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values)))
                     for _ in range(resamples))
    cut = int(resamples * (1 - level) / 2)
    return round(medians[cut], 2), round(medians[resamples - 1 - cut], 2)
