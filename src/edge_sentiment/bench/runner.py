"""Runs the benchmark: batch-1 latency (split tokenizer/model), latency by length, throughput, cold start."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, EdgeSentimentError
from ..runtime.bundle import Bundle, load_bundle
from ..runtime.tokenizer import TokenizerBase, words
from .config import BenchConfig
from .engines import Engine, KerasEngine, OnnxEngine
from .stats import summarize, time_calls
from .system import machine_info

__all__ = ["BenchConfig", "run_bench", "build_report", "LENGTH_BUCKETS"]

KERAS_BATCH1_TEXTS = 1000
LENGTH_BUCKETS = ((1, 25), (26, 50), (51, 100), (101, 200), (201, 300), (301, 500), (501, 2500))


def _texts(config: BenchConfig, tokenizer: TokenizerBase) -> tuple[list[str], str]:
    if config.text_file:
        with open(config.text_file, encoding="utf-8", errors="replace") as fh:
            texts = [line.rstrip("\n") for line in fh if line.strip()]
        if not texts:
            raise EdgeSentimentError(f"{config.text_file} holds no texts (one per line)")
        return texts, f"{len(texts)} texts from {config.text_file}"
    try:
        from ..data import load_imdb

        reviews = load_imdb(config.data, splits=("test",))["test"]
        return reviews.texts, f"{len(reviews)} IMDB test reviews"
    except DataError:
        if config.data:
            raise
    # No data: texts generated from the bundle's own vocabulary, with IMDB-like lengths.
    rng = np.random.default_rng(0)
    lengths = np.clip(rng.lognormal(np.log(172), 0.75, size=2000).astype(int), 1, 2400)
    vocab = np.asarray(tokenizer.known_words()[:3000] or ["film"])
    texts = [" ".join(rng.choice(vocab, size=int(k))) for k in lengths]
    return texts, "2000 texts generated from the bundle's vocabulary (no IMDB data given: pass --data)"


def _median_text(texts: list[str], counts: np.ndarray) -> str:
    return texts[int(np.argmin(np.abs(counts - np.median(counts))))]


def _cold_start(cmd: list[str], repeats: int) -> dict[str, Any]:
    """Wall time and peak resident memory of a fresh process, median over repeats."""
    walls, peaks, inner = [], [], []
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for _ in range(repeats):
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        err = proc.stderr.read() if proc.stderr else b""  # the child's figures come on stderr
        _, status, usage = os.wait4(proc.pid, 0)
        walls.append(time.perf_counter() - start)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise EdgeSentimentError(f"cold-start process failed ({' '.join(cmd[:4])} ...): {err.decode()[-500:]}")
        try:
            phases = json.loads(err.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise EdgeSentimentError(f"cold-start process printed no figures: {err.decode()[-300:]}") from None
        # VmHWM is this process's own peak; ru_maxrss would also count the parent's pages before exec.
        peaks.append(phases.pop("peak_rss_mib", None) or usage.ru_maxrss / 1024.0)
        if phases:
            inner.append(phases)
    result = {
        "runs": repeats,
        "wall_s": float(np.median(walls)),
        "wall_s_all": [round(w, 3) for w in walls],
        "peak_rss_mib": float(np.median(peaks)),
    }
    if inner:
        result["phases_s"] = {k: float(np.median([r[k] for r in inner])) for k in inner[0]}
    return result


_PEAK = """
def _peak_rss_mib():
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
"""

_ONNX_COLD = (
    _PEAK
    + """
import sys, time, json
t0 = time.perf_counter()
from edge_sentiment import Predictor
t1 = time.perf_counter()
p = Predictor.load(sys.argv[1] or None, threads=1, precision=sys.argv[2])
t2 = time.perf_counter()
p.predict_proba("A wonderful, moving film.")
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "first_prediction": t3 - t2,
                  "peak_rss_mib": _peak_rss_mib()}), file=sys.stderr)
"""
)

# The CLI as a user runs it, with its own peak memory printed on the way out.
_CLI_COLD = (
    _PEAK
    + """
import atexit, json, runpy, sys
atexit.register(lambda: print(json.dumps({"peak_rss_mib": _peak_rss_mib()}), file=sys.stderr))
sys.argv = ["edge-sentiment", *sys.argv[1:]]
runpy.run_module("edge_sentiment", run_name="__main__")
"""
)

_KERAS_COLD = (
    _PEAK
    + """
import sys, time, json
t0 = time.perf_counter()
import keras, tensorflow
from edge_sentiment import load_tokenizer
from edge_sentiment.export.kerasfile import load_keras_model  # Keras 3 or Keras 2 (tf-keras) files
t1 = time.perf_counter()
model = load_keras_model(sys.argv[1])
tok = load_tokenizer(sys.argv[2])
t2 = time.perf_counter()
model.predict(tok.encode_batch(["A wonderful, moving film."]), verbose=0)
t3 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "load": t2 - t1, "first_prediction": t3 - t2,
                  "peak_rss_mib": _peak_rss_mib()}), file=sys.stderr)
"""
)


def _engines(config: BenchConfig, bundle: Bundle, say: Callable[[str], Any]) -> tuple[list[Engine], str | None]:
    """The engines to measure, onnxruntime's first, and the Keras model's path when Keras is compared."""
    engines: list[Engine] = [OnnxEngine(config.bundle, threads=t, precision=p) for p in config.precisions for t in config.threads]
    if not config.compare_keras:
        return engines, None
    recorded = (bundle.manifest.get("source") or {}).get("model")
    keras_path = config.keras_model or recorded
    if not config.keras_model and (not recorded or not Path(recorded).is_file()):
        raise EdgeSentimentError(
            "--compare keras runs the Keras model the bundle was exported from, and "
            + (f"its file ({recorded}, as the manifest records it) is not here" if recorded else "the manifest names none")
            + ": pass --keras-model PATH (a bundle holds no Keras model of its own)"
        )
    say("loading Keras")
    engines.append(KerasEngine(str(keras_path), bundle.tokenizer))
    return engines, str(keras_path)


def _header(config: BenchConfig, bundle: Bundle, text_source: str, sample: str, engines: list[Engine]) -> dict[str, Any]:
    """When, where and on what the run measured."""
    return {
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "bundle": str(bundle.path),
        "bundle_created": bundle.manifest.get("created"),
        "texts": text_source,
        "sample_text_words": int(len(words(sample))),
        "engines": {e.key: e.name for e in engines},
        "config": config.to_dict(),
    }


def _latency_batch1(engines: list[Engine], sample: str, repeats: int) -> dict[str, Any]:
    """Batch-1 latency of the median-length text: end to end, tokenizer alone, model alone."""
    latency = {}
    samples: dict[str, list[float]] = {}
    for e in engines:
        ids = e.tokenize(sample)
        e2e = time_calls(lambda: e.e2e(sample), repeats=repeats)
        samples[e.key] = [round(t * 1000, 4) for t in e2e]
        latency[e.key] = {
            "end_to_end": summarize(e2e),
            "tokenizer": summarize(time_calls(lambda: e.tokenize(sample), repeats=repeats)),
            "model": summarize(time_calls(lambda: e.infer(ids), repeats=repeats)),
        }
    return {"latency_batch1": latency, "latency_batch1_samples_ms": samples}


def _latency_by_length(engines: list[Engine], texts: list[str], counts: np.ndarray, per_bucket: int) -> dict[str, Any]:
    """End-to-end latency of up to per_bucket texts from each LENGTH_BUCKETS bucket, and every (words, ms) point."""
    rng = np.random.default_rng(0)
    by_length: dict[str, Any] = {e.key: {} for e in engines}
    points: dict[str, list[tuple[int, float]]] = {e.key: [] for e in engines}
    for lo, hi in LENGTH_BUCKETS:
        members = np.flatnonzero((counts >= lo) & (counts <= hi))
        if not len(members):
            continue
        chosen = rng.choice(members, size=min(per_bucket, len(members)), replace=False)
        for e in engines:
            timings = []
            for i in chosen:
                t = time_calls(lambda: e.e2e(texts[i]), repeats=5, warmup=1)
                timings += t
                points[e.key].append((int(counts[i]), float(np.median(t) * 1000)))
            by_length[e.key][f"{lo}-{hi}"] = summarize(timings)
    return {"latency_by_length": by_length, "latency_points": points}


def _throughput_text_in(engines: list[Engine], pool: list[str], batch_sizes: Sequence[int]) -> dict[str, Any]:
    """Texts a second, text in, at each batch size."""
    throughput: dict[str, Any] = {e.key: {} for e in engines}
    for e in engines:
        for b in batch_sizes:
            # Keras one text at a time is ~100x slower: a smaller sample keeps the run short (the count is reported).
            texts_b = pool[:KERAS_BATCH1_TEXTS] if e.key == "keras" and b == 1 else pool
            throughput[e.key][str(b)] = _throughput(len(texts_b), lambda: e.throughput_run(texts_b, b))
    return {"throughput": throughput}


def _throughput_parts(
    engines: list[Engine], pool: list[str], batch_sizes: Sequence[int], tokenizer: TokenizerBase
) -> dict[str, Any]:
    """Where throughput's time goes: the model alone (ids tokenized beforehand) at each batch size above 1,
    and the tokenizer alone on one thread. Text in can be no faster than both on all the threads at once."""
    model_only: dict[str, Any] = {}
    for e in engines:
        ids = e.ids_for_throughput(pool)
        model_only[e.key] = {}
        for b in (b for b in batch_sizes if b > 1):
            model_only[e.key][str(b)] = _throughput(len(pool), lambda: e.throughput_ids_run(ids, b))
    tokenize = tokenizer.encode
    tokenizer_rate = {**_throughput(len(pool), lambda: [tokenize(text) for text in pool]), "threads": 1}
    # The text-in ceiling on T threads: the model's time and the tokenizer's spread over them, no stalls.
    tok_rate = tokenizer_rate["texts_per_s"]
    ceiling = {
        e.key: {b: 1.0 / (1.0 / fig["texts_per_s"] + 1.0 / (e.predictor.threads * tok_rate)) for b, fig in rates.items()}
        for e in engines
        if isinstance(e, OnnxEngine) and (rates := model_only[e.key])
    }
    return {"throughput_model_only": model_only, "tokenizer_throughput": tokenizer_rate, "throughput_text_in_ceiling": ceiling}


def _cold_starts(config: BenchConfig, keras_path: str | None, tokenizer_file: Path) -> dict[str, Any]:
    """Fresh processes: the Predictor in each precision, the CLI's predict, and Keras when compared."""
    bundle_arg = str(config.bundle or "")
    cold = {
        f"onnx-{p}": _cold_start([sys.executable, "-c", _ONNX_COLD, bundle_arg, p], config.cold_repeats)
        for p in config.precisions
    }
    cli = [sys.executable, "-c", _CLI_COLD, "predict", "A wonderful, moving film."]
    cold["cli-predict"] = _cold_start(cli + (["--bundle", bundle_arg] if bundle_arg else []), config.cold_repeats)
    if keras_path:
        cold["keras"] = _cold_start(
            [sys.executable, "-c", _KERAS_COLD, keras_path, str(tokenizer_file)], max(2, config.cold_repeats // 2)
        )
    return {"cold_start": cold}


def build_report(header: dict[str, Any], sections: list[dict[str, Any]], engines: list[Engine]) -> dict[str, Any]:
    """The report: the header, each stage's sections in the order measured, then the ratios between engines."""
    report = dict(header)
    for section in sections:
        report.update(section)
    report["ratios"] = _ratios(report, engines)
    return report


def run_bench(config: BenchConfig, progress: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Measure every engine on the same texts in one run; returns the report as a dict."""
    say: Callable[[str], Any] = progress or (lambda _msg: None)
    bundle = load_bundle(config.bundle)
    engines, keras_path = _engines(config, bundle, say)  # first: a precision or model it cannot run fails before the data is read
    texts, text_source = _texts(config, bundle.tokenizer)
    counts = np.asarray([len(words(t)) for t in texts])
    sample = _median_text(texts, counts)
    header = _header(config, bundle, text_source, sample, engines)
    pool = [texts[i] for i in np.random.default_rng(1).permutation(len(texts))[: config.throughput_texts]]
    stages: list[tuple[str, Callable[[], dict[str, Any]]]] = [
        ("batch-1 latency", lambda: _latency_batch1(engines, sample, config.repeats)),
        ("latency by review length", lambda: _latency_by_length(engines, texts, counts, config.per_bucket)),
        ("throughput", lambda: _throughput_text_in(engines, pool, config.batch_sizes)),
        ("throughput, model alone", lambda: _throughput_parts(engines, pool, config.batch_sizes, bundle.tokenizer)),
    ]
    if config.cold_repeats:
        tokenizer_file = bundle.path / "tokenizer.json"
        stages.append(("cold start (fresh processes)", lambda: _cold_starts(config, keras_path, tokenizer_file)))
    sections = []
    for message, stage in stages:
        say(message)
        sections.append(stage())
    return build_report(header, sections, engines)


def _throughput(texts: int, run: Callable[[], Any]) -> dict[str, Any]:
    """Texts a second over `texts` texts: the median of 3 runs of run(), each run's seconds too."""
    seconds = time_calls(run, repeats=3, warmup=0)
    return {"texts": texts, "texts_per_s": texts / float(np.median(seconds)), "seconds": [round(r, 3) for r in seconds]}


def _ratios(report: dict[str, Any], engines: list[Engine]) -> dict[str, Any]:
    """Keras (or the first engine) time over each other engine's: what a noisy machine can support."""
    base = "keras" if "keras" in report["engines"] else engines[0].key
    out: dict[str, Any] = {"baseline": base}
    for e in engines:
        if e.key == base:
            continue
        lat = report["latency_batch1"]
        row = {
            "end_to_end_p50": lat[base]["end_to_end"]["p50_ms"] / lat[e.key]["end_to_end"]["p50_ms"],
            "model_p50": lat[base]["model"]["p50_ms"] / lat[e.key]["model"]["p50_ms"],
        }
        for b, fig in report["throughput"][e.key].items():
            if b in report["throughput"][base]:
                row[f"throughput_b{b}"] = fig["texts_per_s"] / report["throughput"][base][b]["texts_per_s"]
        for b, fig in report.get("throughput_model_only", {}).get(e.key, {}).items():
            if b in report["throughput_model_only"][base]:
                row[f"model_only_b{b}"] = fig["texts_per_s"] / report["throughput_model_only"][base][b]["texts_per_s"]
        out[e.key] = row
    cold = report.get("cold_start", {})
    if "keras" in cold and "onnx-fp32" in cold:
        out["cold_start_wall"] = cold["keras"]["wall_s"] / cold["onnx-fp32"]["wall_s"]
        out["cold_start_rss"] = cold["keras"]["peak_rss_mib"] / cold["onnx-fp32"]["peak_rss_mib"]
    return out
