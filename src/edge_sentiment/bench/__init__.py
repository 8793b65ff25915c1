"""Honest CPU benchmarks: latency, throughput and cold start, onnxruntime against Keras in one run."""

from .runner import BenchConfig, run_bench

__all__ = ["BenchConfig", "run_bench"]
