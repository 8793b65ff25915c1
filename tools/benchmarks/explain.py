"""What `predict --explain` costs, and whether the words it marks matter (runtime/explain.py).

    python tools/benchmarks/explain.py [--data aclImdb.tar.gz] [--bundle PATH] [--repeats 31] [--reviews 3000] \
        [--seed 0] [--threads 1] [--json-file tools/benchmarks/results/explain.json] [--doc docs/explain.md]

1. Cost: the benchmark's 172-word test review (the first test review of 172 ids, as `edge-sentiment bench`
   picks it) through Predictor.predict and Predictor.explain, interleaved, `--repeats` rounds in one process;
   the medians and the median of each round's ratio.
2. Deletion check: `--reviews` IMDB test reviews drawn with `--seed`. For each, explain it; its top word is the
   one that supports the predicted label most (largest effect towards it). Then, re-scored apart from explain
   (Predictor.predict_proba of the texts without them): the score's move towards the other label when the top k
   words are left out, against k words drawn at random from the examined ones (k = 1, 3, 5). Reported: mean move
   of each, the fraction of reviews where the top words' move is larger, and how often the label flips. k = 1
   checks the effects against fresh scores (the top word has the largest effect by construction); k = 3 and 5
   check that single-word effects still pick the words that matter when several go at once.
Writes the figures to --json-file and a table between `<!-- explain-benchmark: begin/end -->` in --doc.
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
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

KS = (1, 3, 5)


def sample_review(texts: list[str], tokenizer: Any) -> str:
    """The benchmark's 172-word review: the first test review of 172 ids (as `edge-sentiment bench` picks it)."""
    return next(t for t in texts if len(tokenizer.encode(t)) == 172)


def cost(predictor: Any, text: str, repeats: int) -> dict[str, Any]:
    """Median ms of predict and of explain on one text, interleaved, and the median of their per-round ratio."""
    predictor.predict(text), predictor.explain(text)  # warm: sessions, pools, caches
    plain, explained, plain_cpu, explained_cpu = [], [], [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.thread_time()
        predictor.predict(text)
        plain.append((time.perf_counter() - start) * 1000)
        plain_cpu.append((time.thread_time() - cpu) * 1000)
        start, cpu = time.perf_counter(), time.thread_time()
        result = predictor.explain(text)
        explained.append((time.perf_counter() - start) * 1000)
        explained_cpu.append((time.thread_time() - cpu) * 1000)
    cpu_figures = {}
    if predictor.threads == 1:  # all the work is on this thread: its CPU time, steadier than wall time on a busy machine
        cpu_figures = {
            "predict_cpu_ms": round(statistics.median(plain_cpu), 3),
            "explain_cpu_ms": round(statistics.median(explained_cpu), 3),
            "cpu_ratio": round(statistics.median(e / p for e, p in zip(explained_cpu, plain_cpu) if p > 0), 1),
        }
    return cpu_figures | {
        "words": len(text.split()),
        "ids": len(predictor.tokenizer.encode(text)),
        "variants": result.variants,
        "unchanged": result.unchanged,
        "predict_ms": round(statistics.median(plain), 3),
        "explain_ms": round(statistics.median(explained), 3),
        "ratio": round(statistics.median(e / p for e, p in zip(explained, plain)), 1),
        "ms_per_text_scored": round(statistics.median(explained) / (result.variants + 1), 4),
        "repeats": repeats,
    }


def deletion_check(predictor: Any, texts: list[str], reviews: int, seed: int) -> dict[str, Any]:
    """The top words' removal against random words' removal, re-scored apart from explain (module docstring)."""
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(texts), size=min(reviews, len(texts)), replace=False)
    moves: dict[str, dict[int, list[float]]] = {"top": {k: [] for k in KS}, "random": {k: [] for k in KS}}
    flips: dict[str, dict[int, int]] = {"top": dict.fromkeys(KS, 0), "random": dict.fromkeys(KS, 0)}
    variants, unchanged, examined, ms = [], [], [], []
    counted = 0
    for index in picked:
        text = texts[int(index)]
        result = predictor.explain(text)
        n = len(result.words)  # the examined words: the last ones (a tokenizer keeping a text's end) or the first
        words = list(range(n - result.examined, n) if predictor.tokenizer.truncation == "pre" else range(result.examined))
        if len(words) < max(KS):
            continue
        towards = result.score >= predictor.threshold  # which way the label leans (two labels)
        sign = 1.0 if towards else -1.0  # a move towards the other label, as a positive number
        order = sorted(words, key=lambda i: -sign * (result.words[i].effect or 0.0))
        chosen = {"top": {k: order[:k] for k in KS}, "random": {k: list(rng.choice(words, size=k, replace=False)) for k in KS}}
        variant_texts = [text] + [
            " ".join(w.word for i, w in enumerate(result.words) if i not in set(chosen[kind][k])) for kind in moves for k in KS
        ]
        scores = predictor.predict_proba(variant_texts)
        row = 1
        for kind in moves:
            for k in KS:
                moves[kind][k].append(sign * float(scores[0] - scores[row]))
                flips[kind][k] += int((scores[row] >= predictor.threshold) != towards)
                row += 1
        variants.append(result.variants)
        unchanged.append(result.unchanged)
        examined.append(result.examined)
        ms.append(result.ms)
        counted += 1
    out: dict[str, Any] = {"reviews": counted, "seed": seed, "by_k": {}}
    for k in KS:
        top, rand = np.asarray(moves["top"][k]), np.asarray(moves["random"][k])
        out["by_k"][str(k)] = {
            "top_mean_move": round(float(top.mean()), 4),
            "random_mean_move": round(float(rand.mean()), 4),
            "top_mean_abs_delta": round(float(np.abs(top).mean()), 4),
            "random_mean_abs_delta": round(float(np.abs(rand).mean()), 4),
            "top_moves_more": round(float((top > rand).mean()), 4),
            "ties": round(float((top == rand).mean()), 4),
            "top_flips": round(flips["top"][k] / counted, 4),
            "random_flips": round(flips["random"][k] / counted, 4),
        }
    out["explain_ms_median"] = round(statistics.median(ms), 2)
    out["examined_words_median"] = int(statistics.median(examined))
    out["variants_median"] = int(statistics.median(variants))
    out["unchanged_share"] = round(sum(unchanged) / max(sum(examined), 1), 4)
    return out


def section(result: dict[str, Any]) -> str:
    """The docs/explain.md table."""
    c, d = result["cost"], result["deletion"]
    lines = [
        f"Measured by `{result['command']}` on {result['date'][:10]} ({result['machine']}, threads={result['threads']}, "
        "the shipped bundle; nice'd, on a shared machine).",
        "",
        "| text | words | texts scored | | predict, ms | explain, ms | explain / predict |",
        "|---|---|---|---|---|---|---|",
        f"| the 172-word test review | {c['words']} | {c['variants'] + 1} | wall time | {c['predict_ms']:.2f} "
        f"| {c['explain_ms']:.1f} | {c['ratio']:.0f}x |",
        *(
            [f"| | | | CPU time | {c['predict_cpu_ms']:.2f} | {c['explain_cpu_ms']:.1f} | {c['cpu_ratio']:.0f}x |"]
            if "cpu_ratio" in c
            else []
        ),
        "",
        f"Load average (1, 5, 15 min) at the start: {', '.join(map(str, result.get('load_average_at_start', [])))}; "
        f"at the end: {', '.join(map(str, result.get('load_average_at_end', [])))}. Each round times predict then "
        "explain; the figures are medians over the rounds (the ratio: the median of each round's ratio). With one "
        "thread all the work runs on the calling thread, so its CPU time counts the work without the waits.",
        "",
        f"Deletion check on {d['reviews']:,} IMDB test reviews (seed {d['seed']}; median {d['examined_words_median']} words "
        f"examined and {d['variants_median']} variants scored a review; {d['unchanged_share']:.1%} of words changed no "
        f"token id and were not scored; explain's median {d['explain_ms_median']:.0f} ms). The score's move towards the "
        "other label when k words are left out, re-scored apart from explain:",
        "",
        "| k words left out | top words: mean move | random words: mean move | top moves it more | label flips: top | "
        "label flips: random |",
        "|---|---|---|---|---|---|",
    ]
    for k, row in d["by_k"].items():
        lines.append(
            f"| {k} | {row['top_mean_move']:+.4f} | {row['random_mean_move']:+.4f} | {row['top_moves_more']:.1%} "
            f"| {row['top_flips']:.1%} | {row['random_flips']:.1%} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="aclImdb.tar.gz (default: $EDGE_SENTIMENT_DATA)")
    parser.add_argument("--bundle", default=None, help="a bundle (default: the shipped one)")
    parser.add_argument("--repeats", type=int, default=31)
    parser.add_argument("--reviews", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json-file", default=str(ROOT / "tools/benchmarks/results/explain.json"))
    parser.add_argument("--doc", default=str(ROOT / "docs/explain.md"), help="'' writes no doc")
    args = parser.parse_args()

    from edge_sentiment import Predictor
    from edge_sentiment.data import load_imdb, resolve_data_path

    predictor = Predictor.load(args.bundle, threads=args.threads)
    if predictor.classes != 1:
        raise SystemExit("the deletion check reads a two-label bundle's score; this bundle has several classes")
    texts = load_imdb(resolve_data_path(args.data), splits=("test",))["test"].texts
    result: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "tools/benchmarks/explain.py", *sys.argv[1:]]).replace(
            str(args.data or "\0"), "$EDGE_SENTIMENT_DATA"
        ),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "bundle": str(predictor.bundle.path),
        "threads": args.threads,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    result["cost"] = cost(predictor, sample_review(texts, predictor.tokenizer), args.repeats)
    print(json.dumps(result["cost"]), flush=True)
    result["deletion"] = deletion_check(predictor, texts, args.reviews, args.seed)
    print(json.dumps(result["deletion"], indent=1))
    result["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    Path(args.json_file).write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    if args.doc:
        from tools.benchmarks._docs import write_between

        write_between(Path(args.doc), "explain-benchmark", section(result))


if __name__ == "__main__":
    main()
