"""The fast path at batch 1, by text length: model.onnx, the unpadded graph, and the two directions on two threads.

    python tools/benchmarks/fastpath.py [--bundle DIR] [--lengths 8,16,...] [--rounds 7] [--repeats 200] \
        [--json-file tools/benchmarks/results/fastpath.json]

One process, one Predictor per path over the same bundle (default: the shipped one), each fed the same
token ids (random words, seeded) of each length: score_ids([ids]), so only the model's part is timed.
Paths: "model.onnx" (fast=False), "unpadded" (threads=1), "split" (threads=2, every length split).
Rounds alternate the order of the paths; each figure is the median over rounds of a round's p50.
Prints the ratio of each path to model.onnx by length, and the break-even: the shortest length from
which the split path is faster than the unpadded one at every longer length measured (what the
runtime's SPLIT_MIN_WORDS should be on this machine).

--profile also runs onnxruntime's profiler on model.onnx and model.unpadded.onnx at --profile-words
words (one thread, 300 runs, the first 50 left out) and prints the time of each op type per run.
The profiler adds a cost to every node, so small ops look dearer than they are: read it for where
the time goes, the unprofiled figures above for how much.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import statistics
import sys
import time
from datetime import datetime, timezone

import numpy as np

from edge_sentiment import Predictor
from edge_sentiment.runtime.bundle import load_bundle


def p50_ms(fn, ids: list[int], repeats: int) -> float:
    for _ in range(20):
        fn([ids])
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn([ids])
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def profile(bundle, words: int) -> dict[str, dict[str, float]]:
    """Per-op-type kernel time (µs per run) from onnxruntime's profiler, for model.onnx and the unpadded graph."""
    import os
    import tempfile

    import onnxruntime as ort

    rng = np.random.default_rng(1)
    tokens = rng.integers(2, int(bundle.manifest["model"]["vocab_size"]), size=(1, words)).astype(np.int32)
    graphs = {
        "model.onnx": (bundle.model_bytes, {"tokens": tokens}),
        "model.unpadded.onnx": (bundle.fast["unpadded"], {"words": bundle.embedding()[tokens.T]}),
    }
    out = {}
    for name, (model, feed) in graphs.items():
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "profile")
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        for _ in range(300):
            session.run(None, feed)
        path = session.end_profiling()
        with open(path, encoding="utf-8") as f:
            events = json.load(f)
        os.remove(path)
        per_op: dict[str, list[float]] = {}
        runs = [e["dur"] for e in events if e.get("cat") == "Session" and e["name"] == "model_run"][50:]
        for e in events:
            if e.get("cat") == "Node" and e["name"].endswith("_kernel_time"):
                per_op.setdefault(e["args"]["op_name"], []).append(e["dur"])
        kept = 250  # runs after the first 50
        table = {op: sum(durs[-kept * len(durs) // 300 :]) / kept for op, durs in per_op.items()}
        out[name] = {
            "run_p50_us_profiled": float(statistics.median(runs)),
            "kernels_us": round(sum(table.values()), 1),
            **{op: round(us, 1) for op, us in sorted(table.items(), key=lambda kv: -kv[1])},
        }
    return out


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default=None, help="a bundle with a split fast path (default: the shipped one)")
    parser.add_argument("--lengths", default="8,16,32,48,64,100,172,250,350,500")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeats", type=int, default=200)
    parser.add_argument("--json-file", default=None)
    parser.add_argument("--profile", action="store_true", help="also run onnxruntime's profiler (see above)")
    parser.add_argument("--profile-words", type=int, default=172)
    args = parser.parse_args(argv)
    bundle = load_bundle(args.bundle)
    if "forward" not in bundle.fast:
        parser.error(f"{bundle.path} has no split fast path (export it again with the fast path)")
    paths = {
        "model.onnx": Predictor(bundle, threads=1, fast=False),
        "unpadded": Predictor(bundle, threads=1),
        "split": Predictor(bundle, threads=2, split_min_words=1),
    }
    rng = np.random.default_rng(0)
    rows = int(bundle.manifest["model"]["vocab_size"])
    lengths = [int(n) for n in args.lengths.split(",")]
    ids = {n: rng.integers(2, rows, size=n).tolist() for n in lengths}
    samples: dict[tuple[str, int], list[float]] = {(p, n): [] for p in paths for n in lengths}
    for r in range(args.rounds):
        order = list(paths) if r % 2 == 0 else list(reversed(paths))
        for n in lengths:
            for name in order:
                samples[(name, n)].append(p50_ms(paths[name].score_ids, ids[n], args.repeats))
        print(f"round {r + 1}/{args.rounds}", file=sys.stderr, flush=True)
    table = []
    for n in lengths:
        base = samples[("model.onnx", n)]
        row = {"words": n}
        for name in paths:
            row[f"{name}_ms"] = round(statistics.median(samples[(name, n)]), 4)
            row[f"{name}_ratio"] = round(statistics.median(a / b for a, b in zip(samples[(name, n)], base)), 3)
        row["split_over_unpadded"] = round(
            statistics.median(a / b for a, b in zip(samples[("split", n)], samples[("unpadded", n)])), 3
        )
        table.append(row)
    break_even = None
    for i, row in enumerate(table):
        if all(r["split_over_unpadded"] < 1 for r in table[i:]):
            break_even = row["words"]
            break
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "tools/benchmarks/fastpath.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}",
        "onnxruntime": __import__("onnxruntime").__version__,
        "bundle": str(bundle.path),
        "rounds": args.rounds,
        "repeats": args.repeats,
        "by_length": table,
        "split_break_even_words": break_even,
    }
    print(f"{'words':>6} {'model.onnx ms':>14} {'unpadded':>9} {'split':>9} {'split/unpadded':>15}")
    for row in table:
        print(
            f"{row['words']:>6} {row['model.onnx_ms']:>14.3f} {row['unpadded_ratio']:>8.2f}x {row['split_ratio']:>8.2f}x"
            f" {row['split_over_unpadded']:>14.2f}x"
        )
    print(f"split pays from {break_even} words on" if break_even else "split never pays at every longer length")
    if args.profile:
        result["profile"] = {"words": args.profile_words, **profile(bundle, args.profile_words)}
        for name, ops in result["profile"].items():
            if name != "words":
                print(f"{name}, profiled, µs per run: " + ", ".join(f"{op} {us}" for op, us in ops.items()))
    if args.json_file:
        with open(args.json_file, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
            f.write("\n")
    return result


if __name__ == "__main__":
    main()
