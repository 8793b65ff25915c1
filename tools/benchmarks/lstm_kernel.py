"""Where batch-1 time goes: the bundle's model against onnxruntime's bare LSTM op and the arithmetic floor.

    python tools/benchmarks/lstm_kernel.py [--bundle DIR] [--repeats 300] [--rounds 5] [--data ARCHIVE]
                                     [--json | --json-file tools/benchmarks/results/lstm_kernel.json]

Each figure is the slope of batch-1 time against sequence length (a least-squares fit over several
lengths), in microseconds per word step, so fixed per-call costs drop out:
- bundle fp32 / int8: the bundle's whole model (embedding lookup, padding skip, LSTM, pooling, dense);
- bundle fp32 unpadded: the fast path's graph for texts without pads (model.unpadded.onnx, where the
  bundle has one), fed the embedded words: no mask, the LSTM, pooling, dense;
- bare LSTM op: one ONNX `LSTM` with the bundle's weights and direction(s), fed embeddings directly;
- no-recurrence floor: the same multiply-adds as one MatMul over all steps at once, which a real LSTM
  cannot do (step t needs h from step t-1), and without the gate arithmetic: no LSTM kernel on this
  core can take less time per word.
With --data, it also splits whole-test-set throughput (2 threads, batch 64) into the tokenizer alone,
the model alone (token ids in) and both (text in, as `bench` measures it).
Needs the `[train]` extra (onnx builds the bare graphs). Within a round every engine is timed at one
length before the next length (in alternating order); the median over rounds is shown.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from edge_sentiment import Predictor
from edge_sentiment.bench.stats import time_calls
from edge_sentiment.data import load_imdb, resolve_data_path
from edge_sentiment.runtime.bundle import load_bundle

LENGTHS = (16, 64, 128, 172, 256, 400)


def _session(model_bytes: bytes) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def _bare_graphs(model: onnx.ModelProto) -> tuple[dict[str, bytes], int, int]:
    """A bare LSTM op with the bundle's weights and activations, and the no-recurrence MatMul floor."""
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    lstm = next(n for n in model.graph.node if n.op_type == "LSTM")
    w, r, b = (inits[name] for name in lstm.input[1:4])
    hidden, features = r.shape[2], w.shape[2]
    opset = [helper.make_opsetid("", 17)]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["steps", 1, features])
    attrs = {a.name: helper.get_attribute_value(a) for a in lstm.attribute}
    bare = helper.make_graph(
        [helper.make_node("LSTM", ["x", "W", "R", "B"], ["y", "y_h"], **attrs)],
        "bare_lstm",
        [x],
        [
            helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
            helper.make_tensor_value_info("y_h", TensorProto.FLOAT, None),
        ],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R"), numpy_helper.from_array(b, "B")],
    )
    # The same multiply-adds per step and direction (x·Wᵀ and h·Rᵀ), batched over all steps: no
    # dependency between them.
    xs = helper.make_tensor_value_info("xs", TensorProto.FLOAT, ["steps", features])
    hs = helper.make_tensor_value_info("hs", TensorProto.FLOAT, ["steps", hidden])
    nodes, outputs, weights = [], [], []
    for d in range(w.shape[0]):  # 1 direction, or 2 for a bidirectional LSTM
        nodes += [
            helper.make_node("MatMul", ["xs", f"Wt{d}"], [f"gx{d}"]),
            helper.make_node("MatMul", ["hs", f"Rt{d}"], [f"gh{d}"]),
            helper.make_node("Add", [f"gx{d}", f"gh{d}"], [f"gates{d}"]),
        ]
        outputs.append(helper.make_tensor_value_info(f"gates{d}", TensorProto.FLOAT, None))
        weights += [
            numpy_helper.from_array(np.ascontiguousarray(w[d].T), f"Wt{d}"),
            numpy_helper.from_array(np.ascontiguousarray(r[d].T), f"Rt{d}"),
        ]
    floor = helper.make_graph(nodes, "floor", [xs, hs], outputs, weights)
    return (
        {
            "bare LSTM op": helper.make_model(bare, opset_imports=opset).SerializeToString(),
            "no-recurrence floor": helper.make_model(floor, opset_imports=opset).SerializeToString(),
        },
        hidden,
        features,
    )


def _throughput(bundle: str | None, precisions: list[str], texts: list[str], rounds: int) -> dict[str, dict[str, list[float]]]:
    """Texts per second over the whole test set: tokenizer alone, model alone (ids in), text in."""
    out = {}
    for precision in precisions:
        with Predictor.load(bundle, precision=precision, threads=2, batch_size=64) as predictor:
            ids = [predictor.tokenizer.encode(t) for t in texts]
            rates: dict[str, list[float]] = {"tokenizer": [], "ids": [], "texts": []}
            for _ in range(rounds):
                for part, work in (
                    ("tokenizer", lambda: [predictor.tokenizer.encode(t) for t in texts]),
                    ("ids", lambda: predictor.score_ids(ids)),
                    ("texts", lambda: predictor.predict_proba(texts)),
                ):
                    start = time.perf_counter()
                    work()
                    rates[part].append(len(texts) / (time.perf_counter() - start))
            out[precision] = rates
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default=None, help="bundle folder (default: the shipped one)")
    parser.add_argument("--repeats", type=int, default=300, help="timed calls per length and round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds; the median slope is shown")
    parser.add_argument("--data", default=None, help="IMDB archive: also split test-set throughput (see above)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--json-file", default=None, help="also write them there (tools/benchmarks/run.py puts that file into RESULTS.md)"
    )
    args = parser.parse_args()

    fp32 = load_bundle(args.bundle)
    sessions = {"bundle fp32": _session(fp32.model_bytes)}
    precisions = list(fp32.manifest["precisions"])
    if "unpadded" in fp32.fast:
        sessions["bundle fp32 unpadded"] = _session(fp32.fast["unpadded"])
        embedding = fp32.embedding()
    if "int8" in precisions:
        sessions["bundle int8"] = _session(load_bundle(args.bundle, precision="int8").model_bytes)
    bare, hidden, features = _bare_graphs(onnx.load_from_string(fp32.model_bytes))
    sessions.update({name: _session(data) for name, data in bare.items()})

    rng = np.random.default_rng(0)

    def feeds(name: str, steps: int) -> dict[str, np.ndarray]:
        if name == "bundle fp32 unpadded":
            return {"words": embedding[rng.integers(2, fp32.tokenizer.vocab_size, (steps, 1))]}
        if name.startswith("bundle"):
            return {"tokens": rng.integers(2, fp32.tokenizer.vocab_size, (1, steps), dtype=np.int32)}
        if name.startswith("bare"):
            return {"x": rng.standard_normal((steps, 1, features), dtype=np.float32) * 0.05}
        return {
            "xs": rng.standard_normal((steps, features), dtype=np.float32),
            "hs": rng.standard_normal((steps, hidden), dtype=np.float32),
        }

    slopes: dict[str, list[float]] = {name: [] for name in sessions}
    for round_ in range(args.rounds):
        ms: dict[str, list[float]] = {name: [] for name in sessions}
        for steps in LENGTHS:  # every engine at one length before the next, so drift hits them alike
            order = list(sessions) if round_ % 2 == 0 else list(reversed(sessions))
            for name in order:
                feed = feeds(name, steps)
                calls = time_calls(lambda: sessions[name].run(None, feed), repeats=args.repeats, warmup=10)
                ms[name].append(float(np.median(calls)))
        for name in sessions:
            slope, _ = np.polyfit(LENGTHS, ms[name], 1)
            slopes[name].append(slope * 1e6)
        print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)

    result = {
        "command": shlex.join(["python", "tools/benchmarks/lstm_kernel.py", *sys.argv[1:]]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rounds": args.rounds,
        "bundle": str(fp32.path),
        "onnxruntime": ort.__version__,
        "lengths": list(LENGTHS),
        "us_per_step": {name: {"median": float(np.median(v)), "rounds": [round(x, 3) for x in v]} for name, v in slopes.items()},
    }
    if args.data:
        texts = load_imdb(resolve_data_path(args.data))["test"].texts
        result["throughput"] = _throughput(args.bundle, precisions, texts, args.rounds)
    if args.json_file:
        Path(args.json_file).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    if args.json:
        print(json.dumps(result, indent=2))
        return
    floor = result["us_per_step"]["no-recurrence floor"]["median"]
    print(f"bundle: {result['bundle']}; onnxruntime {ort.__version__}; batch 1, 1 thread; lengths {LENGTHS}")
    print(f"{'engine':<22}{'µs / word step':>16}{'x floor':>9}{'172 words, ms':>15}")
    for name, figures in result["us_per_step"].items():
        us = figures["median"]
        print(f"{name:<22}{us:>16.2f}{us / floor:>9.1f}{us * 172 / 1000:>15.3f}")
    for precision, rates in result.get("throughput", {}).items():
        print(
            f"{precision} throughput, {len(rates['texts'])} rounds, 2 threads, batch 64, texts/s (median): "
            + ", ".join(f"{part} {int(np.median(v))}" for part, v in rates.items())
        )


if __name__ == "__main__":
    main()
