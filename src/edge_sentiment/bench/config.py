"""What a benchmark run measures: one immutable options object, its defaults written once (the CLI reads them)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

__all__ = ["BenchConfig", "DEFAULT"]


@dataclass(frozen=True)
class BenchConfig:
    """The engines, texts and repeats of one `run_bench`; sequences are kept as tuples (the caller's lists are copied)."""

    bundle: str | None = None
    data: str | None = None
    text_file: str | None = None
    threads: Sequence[int] = (1,)
    batch_sizes: Sequence[int] = (1, 64)
    precisions: Sequence[str] = ("fp32",)
    compare_keras: bool = False
    keras_model: str | None = None
    repeats: int = 200  # timed calls per batch-1 figure, after warm-up
    per_bucket: int = 20  # reviews timed in each length bucket
    throughput_texts: int = 5000  # texts per throughput run
    cold_repeats: int = 5  # fresh processes for the cold-start figure (0 skips it)

    def __post_init__(self) -> None:
        for name in ("threads", "batch_sizes", "precisions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))

    def to_dict(self) -> dict[str, Any]:
        """The options as the report records them (sequences as lists)."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out


DEFAULT = BenchConfig()
