"""Timing loops and robust summaries (median, p95, p99, spread)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["summarize", "time_calls"]


def summarize(seconds: list[float] | np.ndarray) -> dict[str, float]:
    """Median, percentiles and spread of a list of durations, in milliseconds."""
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    q25, q50, q75, q95, q99 = np.percentile(ms, [25, 50, 75, 95, 99])
    return {
        "n": int(ms.size),
        "p50_ms": float(q50),
        "p95_ms": float(q95),
        "p99_ms": float(q99),
        "min_ms": float(ms.min()),
        "max_ms": float(ms.max()),
        "iqr_ms": float(q75 - q25),
    }


def time_calls(fn: Callable[[], Any], *, repeats: int, warmup: int = 5) -> list[float]:
    """Durations of repeats calls of fn after warmup calls (perf_counter, seconds)."""
    for _ in range(warmup):
        fn()
    out = []
    clock = time.perf_counter
    for _ in range(repeats):
        start = clock()
        fn()
        out.append(clock() - start)
    return out
