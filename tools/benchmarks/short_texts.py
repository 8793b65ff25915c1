"""Where a short text's time goes, end to end, against the Predictor of a baseline commit in the same run.

    python tools/benchmarks/short_texts.py [--bundle DIR] [--baseline-bundle DIR] [--baseline-commit HEAD] \
        [--words 1,5,10,25] [--rounds 15] [--calls 300] [--profile-runs 2000] \
        [--json-file tools/benchmarks/results/records/short_texts.json]

One process, one thread (threads=1). The baseline is the Predictor of --baseline-commit (`git show
COMMIT:src/edge_sentiment/runtime/predictor.py`, imported beside today's runtime, no checkout) on
--baseline-bundle (default: the shipped one); "today" is the working tree's Predictor on --bundle (default:
the shipped one; a bundle with the short-text graph shows what it saves). Texts are random known words of each
length (seeded). Each round times, in an order that rotates between rounds, `calls` calls of each part, and
every figure is the median over rounds of µs per call:

  end to end   predict_proba(text), baseline and today (and their ratio, per round, then the median)
  tokenizer    tokenizer.encode(text)
  gather       the embedding rows of the ids, as each Predictor builds its feed
  session      session.run of the graph each Predictor runs (baseline: model.unpadded.onnx; today: what
               today's Predictor picks), feed built beforehand
  binding      session.run of a one-Identity graph on the same feed: onnxruntime's per-call floor
  calibration  Decision.calibrate on the (1, 1) output: the bundle's own (identity where it has none), and T=1.5, b=0.2
  python       end to end - tokenizer - gather - session: the Predictor's own work per call

--profile-runs N: onnxruntime's profiler (SessionOptions.enable_profiling, on copies of the sessions) on
the graphs at the --profile-words length: each op type's µs per run (the profiler adds a cost to every
node, so read it for where the time goes, the unprofiled figures for how much).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from edge_sentiment import Predictor
from edge_sentiment.runtime.bundle import FAST_FILES, load_bundle
from edge_sentiment.runtime.decision import Decision

ROOT = Path(__file__).resolve().parents[2]
PREDICTOR = "src/edge_sentiment/runtime/predictor.py"


def baseline_class(commit: str) -> Any:
    """The Predictor class of a commit, imported as a module of today's runtime package (its relative imports
    resolve to today's bundle, decision and tokenizer modules)."""
    source = subprocess.run(["git", "show", f"{commit}:{PREDICTOR}"], cwd=ROOT, check=True, capture_output=True).stdout
    path = Path(tempfile.mkdtemp(prefix="short-texts-")) / "predictor_baseline.py"
    path.write_bytes(source)
    name = "edge_sentiment.runtime._predictor_baseline"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module.Predictor


def session_options(profile: str | None = None) -> Any:
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if profile:
        options.enable_profiling = True
        options.profile_file_prefix = profile
    return options


def identity_session(width: int) -> Any:
    """A graph of one Identity on words [length, 1, width]: what onnxruntime's Python call costs by itself."""
    from onnx import TensorProto, helper

    words = helper.make_tensor_value_info("words", TensorProto.FLOAT, ["length", 1, width])
    out = helper.make_tensor_value_info("out", TensorProto.FLOAT, ["length", 1, width])
    graph = helper.make_graph([helper.make_node("Identity", ["words"], ["out"])], "identity", [words], [out])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return ort.InferenceSession(model.SerializeToString(), session_options(), providers=["CPUExecutionProvider"])


def texts_of(tokenizer: Any, lengths: list[int], seed: int = 7) -> dict[int, str]:
    """A text of each length made of known words (each one id)."""
    rng = np.random.default_rng(seed)
    known = [w for w in tokenizer.known_words()[:5000] if w.isascii() and "'" not in w]
    texts = {n: " ".join(rng.choice(known, size=n)) for n in lengths}
    for n, text in texts.items():
        assert len(tokenizer.encode(text)) == n, (n, text)
    return texts


def per_call(fn: Callable[[], Any], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def short_graph(predictor: Any) -> tuple[str, Any] | None:
    """The graph today's Predictor runs for one short text, and its bytes."""
    fast = predictor.bundle.fast
    if "short" in fast and getattr(predictor, "short_words", 0):
        return FAST_FILES["short"], fast["short"]
    if "unpadded" in fast:
        return FAST_FILES["unpadded"], fast["unpadded"]
    return None


def profile_ops(model: bytes, feed: dict[str, Any], runs: int) -> dict[str, float]:
    """µs per run of each op type under onnxruntime's profiler (the first tenth of the runs left out)."""
    prefix = os.path.join(tempfile.mkdtemp(prefix="short-texts-profile-"), "run")
    session = ort.InferenceSession(model, session_options(prefix), providers=["CPUExecutionProvider"])
    for _ in range(runs):
        session.run(None, feed)
    events = json.loads(Path(session.end_profiling()).read_text())
    runs_seen = [e for e in events if e.get("name") == "model_run"]
    skip_before = runs_seen[len(runs_seen) // 10]["ts"] if runs_seen else 0
    kept = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time") and e["ts"] >= skip_before]
    counted = max(1, len([e for e in runs_seen if e["ts"] >= skip_before]))
    by_op: dict[str, float] = {}
    for event in kept:
        op = event.get("args", {}).get("op_name", "?")
        by_op[op] = by_op.get(op, 0.0) + event["dur"]
    total = sum(e["dur"] for e in runs_seen if e["ts"] >= skip_before)
    figures = {op: round(us / counted, 2) for op, us in sorted(by_op.items(), key=lambda kv: -kv[1])}
    figures["(kernels)"] = round(sum(by_op.values()) / counted, 2)
    figures["(model_run)"] = round(total / counted, 2)
    return figures


def measure(args: argparse.Namespace) -> dict[str, Any]:
    Baseline = baseline_class(args.baseline_commit)
    base = Baseline(load_bundle(args.baseline_bundle), threads=1)
    today = Predictor(load_bundle(args.bundle), threads=1)
    tokenizer = today.tokenizer
    texts = texts_of(tokenizer, args.words)
    graph = short_graph(today)
    sessions = {
        "baseline": ort.InferenceSession(base.bundle.fast["unpadded"], session_options(), providers=["CPUExecutionProvider"]),
        "today": ort.InferenceSession(graph[1], session_options(), providers=["CPUExecutionProvider"]) if graph else None,
    }
    identity = identity_session(today._embedding.shape[1])
    bundle_calibration = today.decision  # the bundle's own: identity for a bundle without a calibration
    other_calibration = Decision(temperature=1.5, bias=0.2)
    out = np.asarray([[0.7]], dtype=np.float32)
    results: dict[str, Any] = {}
    for n, text in texts.items():
        ids = tokenizer.encode(text)
        batch = np.asarray([ids], dtype=np.int32)
        feed = {"words": base._embedding[batch.T]}
        assert np.array_equal(base.predict_proba(text), today.predict_proba(text)), "the scores differ"
        parts: dict[str, Callable[[], Any]] = {
            "end to end, baseline": lambda: base.predict_proba(text),
            "end to end, today": lambda: today.predict_proba(text),
            "tokenizer": lambda: tokenizer.encode(text),
            "gather, baseline": lambda: base._embedding[np.asarray([ids], dtype=np.int32).T],
            "gather, today": lambda: today._words.take(ids, axis=0),
            "session, baseline": lambda: sessions["baseline"].run(["probability"], feed),
            "session, today": (lambda: sessions["today"].run(["probability"], feed)) if sessions["today"] else (lambda: None),
            "binding": lambda: identity.run(["out"], feed),
            "calibration, the bundle's": lambda: bundle_calibration.calibrate(out),
            "calibration, T=1.5 b=0.2": lambda: other_calibration.calibrate(out),
        }
        times: dict[str, list[float]] = {name: [] for name in parts}
        ratios = []
        names = list(parts)
        for name in names:  # warm up: every session opened and its first runs done
            per_call(parts[name], 50)
        for round_ in range(args.rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                times[name].append(per_call(parts[name], args.calls))
            ratios.append(times["end to end, today"][-1] / times["end to end, baseline"][-1])
        medians = {name: round(statistics.median(v), 2) for name, v in times.items()}
        for side in ("baseline", "today"):
            medians[f"python, {side}"] = round(
                medians[f"end to end, {side}"] - medians["tokenizer"] - medians[f"gather, {side}"] - medians[f"session, {side}"],
                2,
            )
        results[str(n)] = {"us": medians, "today_over_baseline": round(statistics.median(ratios), 3)}
        print(f"{n:3d} words: today / baseline {results[str(n)]['today_over_baseline']:.3f}", file=sys.stderr)
    record: dict[str, Any] = {
        "by_words": results,
        "graphs": {"baseline": FAST_FILES["unpadded"], "today": graph[0] if graph else None},
    }
    if args.profile_runs:
        n = args.profile_words
        ids = tokenizer.encode(texts_of(tokenizer, [n])[n])
        feed = {"words": base._embedding[np.asarray([ids], dtype=np.int32).T]}
        record["profile"] = {
            "words": n,
            "runs": args.profile_runs,
            "baseline": profile_ops(base.bundle.fast["unpadded"], feed, args.profile_runs),
        }
        if graph:
            record["profile"]["today"] = profile_ops(graph[1], feed, args.profile_runs)
    return record


def report(record: dict[str, Any]) -> str:
    rows = [
        "end to end, baseline",
        "end to end, today",
        "tokenizer",
        "gather, baseline",
        "gather, today",
        "session, baseline",
        "session, today",
        "binding",
        "calibration, the bundle's",
        "calibration, T=1.5 b=0.2",
        "python, baseline",
        "python, today",
    ]
    words = list(record["by_words"])
    lines = ["| µs per call | " + " | ".join(f"{n} words" for n in words) + " |", "|---" * (len(words) + 1) + "|"]
    for row in rows:
        lines.append(f"| {row} | " + " | ".join(f"{record['by_words'][n]['us'][row]:.1f}" for n in words) + " |")
    lines.append(
        "| **today / baseline** (median of rounds) | "
        + " | ".join(f"**{record['by_words'][n]['today_over_baseline']:.2f}**" for n in words)
        + " |"
    )
    if "profile" in record:
        profile = record["profile"]
        lines.append(f"\nonnxruntime's profiler, {profile['words']} words, µs per run by op type:")
        for side in ("baseline", "today"):
            if side in profile:
                lines.append(f"  {side}: " + ", ".join(f"{op} {us}" for op, us in profile[side].items()))
    return "\n".join(lines)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            return next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default=None, help="today's bundle (default: the shipped one)")
    parser.add_argument("--baseline-bundle", default=None, help="the baseline's bundle (default: the shipped one)")
    parser.add_argument("--baseline-commit", default="HEAD")
    parser.add_argument("--words", default="1,5,10,25")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--profile-runs", type=int, default=0)
    parser.add_argument("--profile-words", type=int, default=10)
    parser.add_argument("--json-file", default=None)
    args = parser.parse_args()
    args.words = [int(n) for n in args.words.split(",")]
    record = measure(args)
    commit = subprocess.run(["git", "rev-parse", "--short", args.baseline_commit], cwd=ROOT, capture_output=True, text=True)
    record = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "tools/benchmarks/short_texts.py", *sys.argv[1:]]),
        "machine": f"{cpu_name()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the end",
        "versions": {"onnxruntime": ort.__version__, "numpy": np.__version__, "python": platform.python_version()},
        "baseline_commit": commit.stdout.strip(),
        "rounds": args.rounds,
        "calls": args.calls,
        **record,
    }
    print(report(record))
    if args.json_file:
        Path(args.json_file).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
