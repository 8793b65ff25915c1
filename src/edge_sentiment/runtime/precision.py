"""precision="auto": fp32 or int8, whichever is faster on this machine, measured once and remembered.

Which is faster depends on the CPU: int8 took 0.75-0.79x fp32's time on a 2-core AMD EPYC and more
than fp32 on an Intel Xeon (tools/benchmarks/results/RESULTS.md). "auto" chooses among what the bundle holds and
its gates passed: fp32 always, int8 when the export's accuracy gate passed. The measurement is short
(batch-1 calls on TEXTS texts of random known words, 16 to 256 words long, both precisions
interleaved over ROUNDS rounds, on the predictor's threads; the lower median of the mean wins) and its figures are kept in
$XDG_CACHE_HOME/edge-sentiment/precision.json, keyed by the bundle's manifest, the CPU, the
onnxruntime version and the threads, so later loads on the same machine read them instead.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np

from .bundle import Bundle, load_bundle
from .files import cache_dir, manifest_sha256, parse_json, read_regular

__all__ = ["choose_precision", "cache_path", "ROUNDS"]

CACHE_VERSION = 1
ROUNDS = 5
TEXTS = 16  # texts timed per round and precision, of these lengths in words (capped at the bundle's max_len):
LENGTHS = (16, 64, 128, 256)


class TimedPredictor(Protocol):
    """What choose_precision needs of a predictor (runtime/predictor.py's Predictor, passed in as a class so
    this module does not import the one that imports it)."""

    precision_choice: dict[str, Any] | None

    def score_ids(self, id_lists: Sequence[Sequence[int]]) -> np.ndarray: ...

    def close(self) -> None: ...


P = TypeVar("P", bound=TimedPredictor)


def cache_path() -> Path:
    return cache_dir() / "precision.json"


def _cpu() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _key(bundle: Bundle, threads: int) -> str:
    import onnxruntime as ort  # type: ignore[import-untyped]

    manifest = manifest_sha256(bundle.manifest)[:16]
    return f"{manifest} {_cpu()} x{os.cpu_count()} onnxruntime {ort.__version__} threads {threads}"


def int8_passed(manifest: dict[str, Any]) -> bool:
    """Whether the bundle holds an int8 model whose accuracy gate passed."""
    section = manifest.get("int8") or {}
    loss, limit = section.get("accuracy_loss_pp"), section.get("max_loss_pp")
    return (
        "int8" in manifest.get("precisions", {})
        and isinstance(loss, (int, float))
        and isinstance(limit, (int, float))
        and loss <= limit
    )


def _read_cache() -> dict[str, Any]:
    try:  # a cache that is not a regular file, not JSON or nested too deep is measured over, never waited on
        data = parse_json(read_regular(cache_path(), 16 * 1024 * 1024), str(cache_path()))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != CACHE_VERSION or not isinstance(data.get("choices"), dict):
        return {}
    choices: dict[str, Any] = data["choices"]
    return choices


def _write_cache(key: str, record: dict[str, Any]) -> None:
    """Best effort: a cache that cannot be written means measuring again next time, never an error."""
    choices = _read_cache()
    choices[key] = record
    path = cache_path()
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps({"version": CACHE_VERSION, "choices": choices}, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def _timing_ids(bundle: Bundle) -> list[list[int]]:
    """Random known words (seeded), TEXTS texts of LENGTHS words (up to max_len): short texts and reviews."""
    rng = np.random.default_rng(0)
    rows = min(int(bundle.manifest["model"]["vocab_size"]), bundle.tokenizer.vocab_size)
    lengths = [min(n, bundle.max_len) for n in LENGTHS]
    return [rng.integers(2, max(rows, 3), size=n).tolist() for n in lengths for _ in range(TEXTS // len(lengths))]


def _measure(predictors: Mapping[str, TimedPredictor], ids: list[list[int]]) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in predictors}
    for predictor in predictors.values():  # warm up
        for row in ids[:4]:
            predictor.score_ids([row])
    for r in range(ROUNDS):
        for name in predictors if r % 2 == 0 else reversed(list(predictors)):
            score = predictors[name].score_ids
            times = []
            for row in ids:
                start = time.perf_counter()
                score([row])
                times.append(time.perf_counter() - start)
            samples[name].append(sum(times) / len(times))
    return {name: statistics.median(values) * 1e3 for name, values in samples.items()}


def choose_precision(
    path: str | os.PathLike[str] | None,
    *,
    threads: int,
    batch_size: int,
    predictor_class: Callable[..., P],
    fast: bool = True,
) -> P:
    """A Predictor on the faster of the bundle's gated precisions; its .precision_choice says why."""
    if not fast:  # the predictor's other options reach every predictor made here
        predictor_class = functools.partial(predictor_class, fast=False)
    fp32 = load_bundle(path, precision="fp32")
    if not int8_passed(fp32.manifest):
        predictor = predictor_class(fp32, threads=threads, batch_size=batch_size)
        predictor.precision_choice = {"precision": "fp32", "reason": "the bundle has no int8 model that passed its accuracy gate"}
        return predictor
    key = _key(fp32, threads)
    cached = _read_cache().get(key)
    if isinstance(cached, dict) and cached.get("precision") in ("fp32", "int8"):
        chosen = cached["precision"]
        bundle = fp32 if chosen == "fp32" else load_bundle(path, precision="int8")
        predictor = predictor_class(bundle, threads=threads, batch_size=batch_size)
        predictor.precision_choice = {**cached, "reason": f"measured on this machine before ({cache_path()})"}
        return predictor
    predictors: dict[str, P] = {
        "fp32": predictor_class(fp32, threads=threads, batch_size=batch_size),
        "int8": predictor_class(load_bundle(path, precision="int8"), threads=threads, batch_size=batch_size),
    }
    figures = _measure(predictors, _timing_ids(fp32))
    chosen = min(figures, key=lambda name: figures[name])
    record = {
        "precision": chosen,
        "batch1_ms": {name: round(value, 4) for name, value in figures.items()},
        "measured": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "texts": TEXTS,
        "rounds": ROUNDS,
    }
    _write_cache(key, record)
    for name, other in predictors.items():
        if name != chosen:
            other.close()
    predictor = predictors[chosen]
    predictor.precision_choice = {**record, "reason": "measured now"}
    return predictor
