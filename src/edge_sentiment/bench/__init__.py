"""Honest CPU benchmarks: latency, throughput and cold start, onnxruntime against Keras in one run."""

from __future__ import annotations

from typing import Any

from .config import BenchConfig

__all__ = ["BenchConfig", "run_bench"]


def __getattr__(name: str) -> Any:
    # run_bench brings numpy and onnxruntime: imported when asked for, so the CLI can read BenchConfig's defaults cheaply
    if name == "run_bench":
        from .runner import run_bench

        return run_bench
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
