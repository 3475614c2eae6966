"""Helpers shared by benchmarks: wall time over repeats (median) and this process's peak memory."""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median_seconds(fn: Callable[[], object], repeats: int = 3) -> tuple[float, object]:
    """Median wall time of `fn` over `repeats` runs, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result
