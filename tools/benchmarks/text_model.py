"""Batch-1 latency of model.text.onnx beside the Python runtime, in one run: Python with the Python
tokenizer (Predictor), Python with the text model (TextModel), Node (onnxruntime-node, and
onnxruntime-web's WASM build) and headless Chromium (examples/web), on the median-length IMDB test
review, one thread, text in and probability out (Python: predict_proba; JavaScript: run). Python's are
timed in alternating blocks in this process; Node and Chromium by js/bench/latency.mjs right after.
--before-bundle adds the text model another bundle carries (the one this one replaces) to every host:
before and after in one run. Prints the table (ratios to the Python runtime's p50) and writes every
figure to --json-file; --doc puts the table between a doc's `text_model` markers. Chromium reads
bundles from inside the repository only (e.g. bundles/, which git ignores).

    python tools/benchmarks/text_model.py --data ../shared/data/aclImdb.tar.gz \
        --json-file tools/benchmarks/results/text_model.json --doc docs/javascript.md
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from _docs import write_between
from edge_sentiment import Predictor
from edge_sentiment._meta import tool_versions
from edge_sentiment.data import load_imdb
from edge_sentiment.runtime.bundle import default_bundle_path
from edge_sentiment.runtime.textmodel import TextModel
from edge_sentiment.runtime.tokenizer import words

ROOT = Path(__file__).resolve().parents[2]  # the project's root: this file is in tools/benchmarks/


def median_review(data: str | None) -> str:
    texts = load_imdb(data, splits=("test",))["test"].texts
    counts = np.asarray([len(words(t)) for t in texts])
    return texts[int(np.argmin(np.abs(counts - np.median(counts))))]


def time_python(bundle: Path, text: str, repeats: int, blocks: int, before: Path | None = None) -> dict[str, dict[str, float]]:
    predictor = Predictor.load(bundle, threads=1)
    model = TextModel.load(bundle)
    engines = {
        "Python, Python tokenizer (Predictor)": lambda: float(predictor.predict_proba([text])[0]),
        "Python, model.text.onnx (TextModel)": lambda: float(model.predict_proba([text])[0]),
    }
    if before is not None:  # the text model it replaces, timed in the same blocks
        old = TextModel.load(before)
        engines["Python, model.text.onnx before (TextModel)"] = lambda: float(old.predict_proba([text])[0])
    times: dict[str, list[float]] = {name: [] for name in engines}
    scores = {}
    for name, call in engines.items():  # warm-up
        for _ in range(20):
            scores[name] = call()
    for block in range(blocks):  # alternating blocks, so drift hits both alike
        order = list(engines) if block % 2 == 0 else list(reversed(engines))
        for name in order:
            call = engines[name]
            for _ in range(repeats // blocks):
                start = time.perf_counter()
                call()
                times[name].append((time.perf_counter() - start) * 1000)
    return {
        name: {
            "p50_ms": statistics.median(ms),
            "p90_ms": float(np.quantile(ms, 0.9)),
            "repeats": len(ms),
            "score": scores[name],
        }
        for name, ms in times.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default=str(default_bundle_path()))
    parser.add_argument("--data", default=None, help="the IMDB archive (default: $EDGE_SENTIMENT_DATA)")
    parser.add_argument("--repeats", type=int, default=400)
    parser.add_argument("--blocks", type=int, default=8)
    parser.add_argument("--json-file", default=None)
    parser.add_argument("--doc", default=None)
    parser.add_argument(
        "--before-bundle", default=None, help="a bundle whose model.text.onnx this one replaces: timed beside it in every host"
    )
    args = parser.parse_args()
    bundle = Path(args.bundle).resolve()
    load = os.getloadavg()[0]
    text = median_review(args.data)
    before = Path(args.before_bundle).resolve() if args.before_bundle else None
    rows = time_python(bundle, text, args.repeats, args.blocks, before)
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as fh:
        fh.write(text)
    node: dict[str, dict[str, float]] = {}
    # the JavaScript hosts one bundle after the other (Chromium loads bundles inside the repository only)
    for which, path in [("", bundle)] + ([(" before", before)] if before else []):
        done = subprocess.run(
            ["node", "bench/latency.mjs", "--bundle", str(path), "--text-file", fh.name, "--repeats", str(args.repeats)],
            cwd=ROOT / "js",
            capture_output=True,
            text=True,
            check=True,
        )
        figures = json.loads(done.stdout.strip().splitlines()[-1])
        versions = {**tool_versions(), "node": figures.pop("node"), "onnxruntime-node/web": figures.pop("onnxruntime")}
        node.update({f"{name}{which}": row for name, row in figures.items()})
    Path(fh.name).unlink()
    rows.update(dict(sorted(node.items())))
    base = rows["Python, Python tokenizer (Predictor)"]["p50_ms"]
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d")
    lines = [
        f"Made by `python tools/benchmarks/text_model.py --data $DATA{' --before-bundle OLD' if before else ''}` on {when} "
        f"({platform.machine()}, "
        f"{len(words(text))}-word median IMDB test review, batch 1, one thread, {args.repeats} timed calls each "
        f"after 20 warm-up calls; python {versions['python']}, onnxruntime {versions.get('onnxruntime')}, "
        f"node {versions['node']}, onnxruntime-node/-web {versions['onnxruntime-node/web']}; "
        f"Chromium's timer is coarsened to 0.1 ms outside cross-origin isolation; load average {load:.1f} on "
        f"{os.cpu_count()} cores at the start: other jobs were running).",
        "",
        "| engine | p50 | p90 | × Python runtime p50 | score |",
        "|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(f"| {name} | {r['p50_ms']:.3f} ms | {r['p90_ms']:.3f} ms | {r['p50_ms'] / base:.2f} | {r['score']:.6f} |")
    table = "\n".join(lines)
    print(table)
    if args.json_file:
        Path(args.json_file).write_text(
            json.dumps(
                {"date": when, "load_average": load, "text_words": len(words(text)), "versions": versions, "rows": rows}, indent=1
            )
            + "\n"
        )
    if args.doc:
        write_between(Path(args.doc), "text_model", table)


if __name__ == "__main__":
    main()
