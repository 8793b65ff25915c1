"""Accuracy per microsecond: validation accuracy against batch-1 latency for the shipped recipe and cheaper shapes.

    python tools/benchmarks/accuracy_latency.py --data ../shared/data/aclImdb.tar.gz --runs runs/shapes \
        [--shapes lstm64,bilstm32,...] [--rounds 7] [--json-file tools/benchmarks/results/accuracy_latency.json] \
        [--plot tools/benchmarks/results/accuracy_latency.png]

Each shape is `edge-sentiment train` with the options in SHAPES (a recipe of the shipped family: a
256-wide word2vec embedding folded to 16, crops, cosine rate, early stopping on a 10 % validation
split, seed 7), then `edge-sentiment export` (fast path on). A run or bundle already in --runs is
reused; --extra adds bundles made elsewhere. Then, in one process, every bundle's batch-1 latency is
measured in interleaved rounds (text in -> score out, the same 172-word test review,
Predictor(threads=1) and (threads=2)); figures are medians over rounds. Accuracy is on the recipe's
validation reviews (never the test set), whole and cut to their first and last 10 words, scored by
each bundle (the runtime equals Keras to 1e-6; Keras's own figures from each run's metrics.json are
kept beside them as a check).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

CUTS = {"full": "full review", "first_10": "first 10 words", "last_10": "last 10 words"}
# Each shape: the train options. The shipped bundle (bilstm32 since 2026-12-01) and the one shipped before
# it (bilstm64, give its folder with --extra bilstm64=PATH) need no training here.
SHAPES: dict[str, list[str]] = {
    "bilstm32": ["--recipe", "bilstm32-w2v256-fold16"],  # the shipped bundle's recipe
    "lstm64": ["--recipe", "bilstm64-w2v256-fold16", "--forward-only"],
    "lstm32": ["--recipe", "bilstm64-w2v256-fold16", "--forward-only", "--lstm-units", "32"],
    "lstm48": ["--recipe", "bilstm64-w2v256-fold16", "--forward-only", "--lstm-units", "48"],
    "bilstm48": ["--recipe", "bilstm64-w2v256-fold16", "--lstm-units", "48"],
    "bigru32": ["--recipe", "bilstm32-w2v256-fold16", "--cell", "gru"],
    "bilstm32-fold8": ["--recipe", "bilstm32-w2v256-fold16", "--embedding-rank", "8"],
}


def run(cmd: list[str], log: Path) -> None:
    print("$ " + shlex.join(cmd), file=sys.stderr, flush=True)
    with open(log, "w", encoding="utf-8") as out:
        subprocess.run(cmd, check=True, stdout=out, stderr=subprocess.STDOUT)


def build(name: str, runs: Path, data: str) -> Path:
    """Train and export one shape (each step skipped when its output is already there); the bundle's path."""
    if name == "bilstm32":
        from edge_sentiment.runtime.bundle import default_bundle_path

        return default_bundle_path()  # the shipped bundle: this recipe's seed-7 run, exported with every gate
    folder = runs / name
    cli = [sys.executable, "-m", "edge_sentiment"]
    if not (folder / "metrics.json").is_file():
        run(
            [*cli, "train", "--recipe", "default", *SHAPES[name], "--data", data, "--out", str(folder), "--force"],
            runs / f"{name}.train.log",
        )
    bundle = runs / f"{name}-bundle"
    if not (bundle / "manifest.json").is_file():
        run([*cli, "export", str(folder), "--data", data, "--out", str(bundle), "--force"], runs / f"{name}.export.log")
    return bundle


def sample_review(data: str) -> str:
    """The benchmark's 172-word review (as `edge-sentiment bench` picks it: the first test review of 172 ids)."""
    from edge_sentiment.data import load_imdb, resolve_data_path
    from edge_sentiment.runtime.bundle import load_bundle

    tok = load_bundle(None).tokenizer
    texts = load_imdb(resolve_data_path(data), splits=("test",))["test"].texts
    return next(t for t in texts if len(tok.encode(t)) == 172)


def validation_accuracy(bundles: dict[str, Path], data: str) -> dict[str, dict[str, float]]:
    """Each bundle's accuracy on the recipe's validation reviews (never the test set), scored by the runtime:
    whole, and cut to their first and last 10 words (the cuts of `evaluate`)."""
    import numpy as np

    from edge_sentiment import Predictor
    from edge_sentiment.data import load_imdb, resolve_data_path
    from edge_sentiment.evaluate import text_variants
    from edge_sentiment.train.recipes import get_recipe
    from edge_sentiment.train.trainer import validation_rows

    train = load_imdb(resolve_data_path(data), splits=("train",))["train"]
    rows = validation_rows(len(train.texts), get_recipe("default"))  # every shape keeps the recipe's seed and split
    labels = np.asarray([train.labels[i] for i in rows])
    cuts = {key: text_variants()[name] for key, name in CUTS.items()}
    out = {}
    for name, path in bundles.items():
        predictor = Predictor.load(path, threads=2)
        out[name] = {
            key: round(float(np.mean((predictor.predict_proba([cut(train.texts[i]) for i in rows]) >= 0.5) == labels)), 4)
            for key, cut in cuts.items()
        }
        out[name]["reviews"] = len(rows)
        print(f"validation accuracy of {name}: {out[name]}", file=sys.stderr, flush=True)
    return out


def latencies(bundles: dict[str, Path], text: str, rounds: int, repeats: int) -> dict[str, dict[str, float]]:
    """Batch-1 p50 (ms) of every bundle at threads 1 and 2, in interleaved rounds; medians over rounds."""
    from edge_sentiment import Predictor

    predictors = {(name, t): Predictor.load(path, threads=t) for name, path in bundles.items() for t in (1, 2)}
    samples: dict[tuple[str, int], list[float]] = {key: [] for key in predictors}
    for r in range(rounds):
        keys = list(predictors) if r % 2 == 0 else list(reversed(predictors))
        for key in keys:
            predictor = predictors[key]
            for _ in range(20):
                predictor.predict_proba(text)
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                predictor.predict_proba(text)
                times.append(time.perf_counter() - start)
            samples[key].append(statistics.median(times) * 1e3)
        print(f"round {r + 1}/{rounds} done", file=sys.stderr, flush=True)
    return {name: {f"t{t}_p50_ms": round(statistics.median(samples[(name, t)]), 4) for t in (1, 2)} for name in bundles}


def plot(rows: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 4.2), sharex=True)
    for ax, (key, title) in zip(axes, [("full", "whole reviews"), ("first_10", "first 10 words"), ("last_10", "last 10 words")]):
        for row in rows:
            x, y = row["latency"]["t1_p50_ms"], row["validation"][key]
            ax.scatter(x, y, s=40, color="C3" if row["name"] == "bilstm32" else "C0")
            ax.annotate(row["name"], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set_title(f"validation accuracy, {title}")
        ax.set_xlabel("batch-1 latency, ms (p50, threads=1, 172 words)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy")
    fig.suptitle("Accuracy per microsecond (red: the shipped recipe)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("EDGE_SENTIMENT_DATA"), help="the aclImdb .tar.gz")
    parser.add_argument("--runs", default="runs/shapes", help="where runs and bundles go (reused when there)")
    parser.add_argument("--shapes", default=",".join(SHAPES), help=f"comma-separated, of: {', '.join(SHAPES)}")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--train-only", action="store_true", help="train and export, measure nothing")
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a bundle measured beside the shapes, not trained here (e.g. bilstm64=the bundle shipped before)",
    )
    parser.add_argument("--json-file", default="tools/benchmarks/results/accuracy_latency.json")
    parser.add_argument("--plot", default="tools/benchmarks/results/accuracy_latency.png")
    args = parser.parse_args()
    if not args.data:
        parser.error("--data (or $EDGE_SENTIMENT_DATA) is needed")
    names = args.shapes.split(",")
    unknown = sorted(set(names) - set(SHAPES))
    if unknown:
        parser.error(f"unknown shapes: {', '.join(unknown)}")
    runs = Path(args.runs)
    runs.mkdir(parents=True, exist_ok=True)
    bundles = {name: build(name, runs, args.data) for name in names}
    extras = dict(item.split("=", 1) for item in args.extra)
    bundles.update({name: Path(path) for name, path in extras.items()})
    names += list(extras)
    if args.train_only:
        return
    measured = latencies(bundles, sample_review(args.data), args.rounds, args.repeats)
    accuracy = validation_accuracy(bundles, args.data)
    rows = []
    for name in names:
        manifest = json.loads((bundles[name] / "manifest.json").read_text())
        training = manifest.get("training", {})
        keras_figures = None
        if (runs / name / "metrics.json").is_file():  # Keras's own figures on the same reviews, as a check
            by_length = json.loads((runs / name / "metrics.json").read_text())["validation_accuracy_by_length"]
            keras_figures = {key: by_length[label] for key, label in CUTS.items()}
        rows.append(
            {
                "name": name,
                "options": SHAPES.get(name, f"not trained here: {extras.get(name)}"),
                "validation": accuracy[name],
                "validation_keras": keras_figures,
                "test_accuracy": training.get("test_accuracy"),
                "latency": measured[name],
                "bundle_bytes": sum(f["bytes"] for f in manifest["files"].values()),
                "fit_seconds": training.get("wall_seconds"),
                "architecture": manifest["model"].get("architecture"),
            }
        )
    import importlib.metadata as md

    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "tools/benchmarks/accuracy_latency.py", *sys.argv[1:]]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "versions": {p: md.version(p) for p in ("onnxruntime", "numpy", "tensorflow", "keras", "edge-sentiment")},
        "rounds": args.rounds,
        "repeats": args.repeats,
        "rows": rows,
    }
    Path(args.json_file).write_text(json.dumps(report, indent=1) + "\n")
    plot(rows, args.plot)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
