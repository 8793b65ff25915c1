"""Text-in throughput on 2 threads: the Predictor's pipeline against three ways of overlapping the tokenizer.

    python tools/benchmarks/throughput_overlap.py --data ../shared/data/aclImdb.tar.gz --rounds 6 \
        --json-file tools/benchmarks/results/records/throughput_overlap.json

The Predictor tokenizes chunk k+1 on the calling thread (pure Python, holding the GIL) while its pool
scores chunk k; a pool thread whose onnxruntime call ends must then wait for the GIL. The variants:
- predictor: `Predictor.predict_proba`, as shipped;
- gil-yield: the same, the calling thread giving up the GIL (time.sleep(0)) every 8 texts;
- workers-tokenize: each pool thread tokenizes a group of 64 texts (grouped by their count of spaces,
  a proxy for words) and scores it in length-sorted batches of 32: no third thread, a GIL held briefly;
- token-budget: the Predictor's pipeline with batches of at most 1,536 ids (fewer texts a batch for
  long texts: the LSTM's buffers stay in cache);
and, for the ceiling, the model alone (ids in, `score_ids`) and the tokenizer alone (one thread).
Every variant scores the same texts in each round, in an order that alternates between rounds; the
figures are medians over rounds, with the process's CPU time over wall time ("cores busy").
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from itertools import islice
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]  # the project's root: this file is in tools/benchmarks/
sys.path.insert(0, str(ROOT / "src"))

from edge_sentiment.data import load_imdb  # noqa: E402
from edge_sentiment.runtime import predictor as runtime_predictor  # noqa: E402
from edge_sentiment.runtime.predictor import CHUNK, Predictor, batch_by_length  # noqa: E402

BUDGET, GROUP, YIELD_EVERY = 1536, 64, 8


def budget_batches(id_lists, batch_size):  # type: ignore[no-untyped-def]
    """batch_by_length with at most BUDGET ids a batch."""
    lengths = np.fromiter((len(ids) for ids in id_lists), dtype=np.int64, count=len(id_lists))
    order, start = np.argsort(lengths, kind="stable"), 0
    while start < len(order):
        n = min(batch_size, len(order) - start)
        while n > 1 and n * lengths[order[start + n - 1]] > BUDGET:
            n -= 1
        rows, start = order[start : start + n], start + n
        yield from ((rows[r], b) for r, b in batch_by_length([id_lists[i] for i in rows], n))


def pipeline(p: Predictor, texts: list[str], every: int = 0) -> np.ndarray:
    """The Predictor's predict_proba, with the GIL given up every `every` texts while tokenizing."""
    parts, pending, it = [], None, iter(texts)
    while chunk := list(islice(it, CHUNK)):
        ids = []
        for k, text in enumerate(chunk):
            ids.append(p.tokenizer.encode(text))
            if every and k % every == 0:
                time.sleep(0)
        started = p.start_scoring(ids)
        if pending is not None:
            parts.append(pending())
        pending = started
    parts.append(pending())
    return np.concatenate(parts)


def workers_tokenize(p: Predictor, pool: ThreadPoolExecutor, texts: list[str]) -> np.ndarray:
    def task(group: list[str], out: np.ndarray, rows: np.ndarray) -> None:
        ids = [p.tokenizer.encode(t) for t in group]
        for r, batch in batch_by_length(ids, p.batch_size):
            out[rows[r]] = p._score_padless(batch) if batch[:, 0].all() else p.score_batch(batch)

    parts, pending, it = [], None, iter(texts)
    while chunk := list(islice(it, CHUNK)):
        out = np.empty(len(chunk), np.float32)
        order = np.argsort(np.fromiter((t.count(" ") for t in chunk), np.int64, len(chunk)), kind="stable")
        groups = [order[s : s + GROUP] for s in range(0, len(order), GROUP)]
        futures = [pool.submit(task, [chunk[i] for i in g], out, g) for g in groups]
        if pending is not None:
            [f.result() for f in pending[0]]
            parts.append(pending[1])
        pending = (futures, out)
    [f.result() for f in pending[0]]
    parts.append(pending[1])
    return np.concatenate(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="the IMDB archive (default: $EDGE_SENTIMENT_DATA)")
    parser.add_argument("--bundle", default=None, help="bundle (default: the shipped one)")
    parser.add_argument("--texts", type=int, default=25000, help="test reviews scored per variant and round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--json-file", default=None)
    args = parser.parse_args()

    reviews = load_imdb(args.data, splits=("test",))["test"].texts
    texts = [reviews[i] for i in np.random.default_rng(1).permutation(len(reviews))[: args.texts]]
    p = Predictor.load(args.bundle, threads=2)
    pool = ThreadPoolExecutor(2)
    ids = [p.tokenizer.encode(t) for t in texts]
    reference = p.predict_proba(texts)
    original = runtime_predictor.batch_by_length

    def token_budget() -> np.ndarray:
        runtime_predictor.batch_by_length = budget_batches
        try:
            return p.predict_proba(texts)
        finally:
            runtime_predictor.batch_by_length = original

    variants = {
        "predictor": lambda: p.predict_proba(texts),
        "gil-yield": lambda: pipeline(p, texts, YIELD_EVERY),
        "workers-tokenize": lambda: workers_tokenize(p, pool, texts),
        "token-budget": token_budget,
        "model alone (ids in)": lambda: p.score_ids(ids),
        "tokenizer alone (1 thread)": lambda: [p.tokenizer.encode(t) for t in texts],
    }
    seen: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    differences = {}
    for r in range(args.rounds):
        for name, run in list(variants.items())[:: 1 if r % 2 else -1]:
            wall, cpu = time.perf_counter(), time.process_time()
            out = run()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            seen[name].append((len(texts) / wall, cpu / wall))
            if isinstance(out, np.ndarray) and out.shape == reference.shape:
                differences[name] = float(np.abs(out - reference).max())
        print(f"round {r + 1}/{args.rounds}", file=sys.stderr, flush=True)
    rows = {
        name: {
            "texts_per_s": statistics.median(v for v, _ in runs),
            "cores_busy": statistics.median(u for _, u in runs),
            "rounds": [round(v) for v, _ in runs],
            **({"max_abs_diff_vs_predictor": differences[name]} if name in differences else {}),
        }
        for name, runs in seen.items()
    }
    model, tok = rows["model alone (ids in)"]["texts_per_s"], rows["tokenizer alone (1 thread)"]["texts_per_s"]
    ceiling = 1.0 / (1.0 / model + 1.0 / (2 * tok))
    base = rows["predictor"]["texts_per_s"]
    print(f"{'variant':28s} {'texts/s':>8s} {'x predictor':>11s} {'cores busy':>10s}")
    for name, row in rows.items():
        print(f"{name:28s} {row['texts_per_s']:8.0f} {row['texts_per_s'] / base:11.2f} {row['cores_busy']:10.2f}")
    print(f"text-in ceiling (model and tokenizer spread over 2 threads, no waits): {ceiling:.0f} texts/s")
    if args.json_file:
        import onnxruntime

        record = {
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": "python tools/benchmarks/throughput_overlap.py " + " ".join(sys.argv[1:]),
            "texts": len(texts),
            "versions": {"python": sys.version.split()[0], "onnxruntime": onnxruntime.__version__, "numpy": np.__version__},
            "bundle": os.path.relpath(p.bundle.path, ROOT) if p.bundle.path.is_relative_to(ROOT) else str(p.bundle.path),
            "rows": rows,
            "text_in_ceiling": ceiling,
        }
        Path(args.json_file).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
