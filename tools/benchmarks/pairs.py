"""Two bundles' batch-1 latency (or throughput), measured in alternating pairs so the machine's drift hits both alike.

    python tools/benchmarks/pairs.py bundles/large src/edge_sentiment/assets/default --pairs 6 \
        --data ../shared/data/aclImdb.tar.gz --json-file runs/pairs-large.json

Each measurement is one `edge-sentiment bench --bundle B --threads T --batch-sizes 1 --cold-repeats 0
--json` in a fresh process (T from --threads, default 1; the same 172-word review for both bundles when
--data is given). Pair i runs A then B when i is odd and B then A when it is even, so neither bundle
always goes first. Prints every
pair's end-to-end p50 of A and B and their ratio A/B, then the median ratio: quote that, not one pair.
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
from datetime import datetime, timezone


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle_a", help="the bundle measured (numerator of the ratio)")
    parser.add_argument("bundle_b", help="the baseline bundle (denominator)")
    parser.add_argument("--pairs", type=int, default=6, help="alternating pairs to run (default 6)")
    parser.add_argument("--data", default=None, help="the IMDB archive (default: $EDGE_SENTIMENT_DATA)")
    parser.add_argument("--repeats", type=int, default=200, help="timed calls per figure (bench --repeats)")
    parser.add_argument("--threads", type=int, default=1, help="the Predictor's threads (bench --threads; default 1)")
    parser.add_argument(
        "--figure",
        choices=["latency", "throughput"],
        default="latency",
        help="latency: batch-1 end-to-end p50, ms (default); throughput: texts/s, text in, batches of --batch-size "
        "over --throughput-texts texts (median of bench's 3 rounds)",
    )
    parser.add_argument("--precision-a", choices=["fp32", "int8"], default="fp32", help="bundle A's precision (default fp32)")
    parser.add_argument("--precision-b", choices=["fp32", "int8"], default="fp32", help="bundle B's precision (default fp32)")
    parser.add_argument("--batch-size", type=int, default=32, help="with --figure throughput (default 32, the Predictor's)")
    parser.add_argument("--throughput-texts", type=int, default=25000, help="with --figure throughput (default 25000)")
    parser.add_argument("--json-file", default=None, help="also write every figure and the median here")
    args = parser.parse_args(argv)
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")

    throughput = args.figure == "throughput"
    base = [
        "bench",
        "--threads",
        str(args.threads),
        "--batch-sizes",
        str(args.batch_size if throughput else 1),
        "--cold-repeats",
        "0",
        "--repeats",
        str(10 if throughput else args.repeats),
        "--throughput-texts",
        str(args.throughput_texts if throughput else 1),
        "--json",
    ]
    if args.data:
        base += ["--data", args.data]
    pairs = []
    for i in range(1, args.pairs + 1):
        order = ("a", "b") if i % 2 else ("b", "a")
        p50 = {}
        for side in order:
            bundle = args.bundle_a if side == "a" else args.bundle_b
            precision = args.precision_a if side == "a" else args.precision_b
            command = base + ["--bundle", bundle, "--precision", precision]
            p50[side] = _bench_figure(command, f"onnx-{precision}-t{args.threads}", args)
        pair = {"pair": i, "first": order[0], "a_ms": p50["a"], "b_ms": p50["b"], "ratio": p50["a"] / p50["b"]}
        pairs.append(pair)
        unit = "texts/s" if throughput else "ms"
        print(
            f"pair {i} ({order[0].upper()} first): A {pair['a_ms']:.3f} {unit}, B {pair['b_ms']:.3f} {unit}, "
            f"A/B {pair['ratio']:.2f}",
            flush=True,
        )

    result = {
        "command": shlex.join(["python", "tools/benchmarks/pairs.py", *(argv if argv is not None else sys.argv[1:])]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "measure": ("throughput, texts/s" if throughput else "batch-1 end-to-end p50, ms")
        + " (the a_ms/b_ms fields): "
        + shlex.join(["edge-sentiment", *base, "--bundle", "B"]),
        "bundle_a": args.bundle_a,
        "bundle_b": args.bundle_b,
        "precision_a": args.precision_a,
        "precision_b": args.precision_b,
        "pairs": pairs,
        "median_a_ms": statistics.median(p["a_ms"] for p in pairs),
        "median_b_ms": statistics.median(p["b_ms"] for p in pairs),
        "median_ratio": statistics.median(p["ratio"] for p in pairs),
    }
    print(
        f"median of {len(pairs)} pairs: A {result['median_a_ms']:.3f}, B {result['median_b_ms']:.3f}, "
        f"A/B ratio {result['median_ratio']:.2f} (pair ratios " + ", ".join(f"{p['ratio']:.2f}" for p in pairs) + ")"
    )
    if args.json_file:
        with open(args.json_file, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
            f.write("\n")
    return result


def _bench_figure(args: list[str], engine: str, options: argparse.Namespace) -> float:
    """One `edge-sentiment bench` in a fresh process; its batch-1 end-to-end p50 in ms, or its throughput."""
    out = subprocess.run([sys.executable, "-m", "edge_sentiment", *args], check=True, stdout=subprocess.PIPE, text=True).stdout
    report = json.loads(out)
    if options.figure == "throughput":
        return float(report["throughput"][engine][str(options.batch_size)]["texts_per_s"])
    return float(report["latency_batch1"][engine]["end_to_end"]["p50_ms"])


if __name__ == "__main__":
    main()
