"""The shipped bundle against LiteRT: the same weights in both engines, text in -> probability out.

    python tools/benchmarks/litert.py [--quick] [--bundle DIR] [--data aclImdb.tar.gz]

Needs `pip install -e '.[litert]'` (ai-edge-litert, and the [train] extra for TensorFlow's converter).

The LiteRT model: model.onnx's weights (embedding, the LSTM's two directions, the dense layer, the pad-state
table) rebuilt as a tf-keras model and converted with tf.lite.TFLiteConverter, which fuses each direction into
one UNIDIRECTIONAL_SEQUENCE_LSTM op. LiteRT gets a text's ids unpadded, the input resized to its length, and
the forward direction starts from the state the missing pads would leave (the bundle's own pad table, looked
up in the graph from the input's length), so both engines do the same work: the words only. The mean and the
maximum over time do not depend on the order, so the backward direction's outputs are pooled unreversed.

Both sides tokenize with edge_sentiment.runtime.tokenizer (checked: the LiteRT process never imports onnxruntime) and
report the model's own probability (no calibration). Scores are compared on IMDB test reviews before anything
is timed. Then, the two engines alternating within each round (who goes first alternates too):
latency by length (batch 1, one and two threads), throughput on reviews (texts/s), and cold start (a fresh
process per engine: import, load, first prediction; wall time and peak RSS). Every figure is a median over
rounds, and every ratio is ours / LiteRT per round, then the median. Writes results/litert.json and
results/litert.md (the section RESULTS.md shows). The converted model is kept in $TMPDIR, keyed by the
hashes of model.onnx and this script (--reconvert converts again); TensorFlow runs in a subprocess only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parents[2]
LENGTHS = (10, 50, 172, 500)
ATOL = 1e-5  # the export parity gate's limit
INSTALL = "pip install -e '.[litert]'"
MODES = {  # (parity reviews, latency rounds, calls per block, throughput reviews, throughput rounds, cold-start pairs)
    "quick": (300, 3, 40, 300, 2, 3),
    "full": (2000, 9, 200, 1000, 5, 15),
}


# ---------------------------------------------------------------- the weights and the conversion (TensorFlow)


def bundle_weights(bundle: Path) -> dict[str, Any]:
    """The arrays of a bundle's fp32 model.onnx that the LiteRT model needs, found by the ops that read them.

    Supports what the shipped bundle is: Embedding -> (Bi)LSTM over the words -> mean-max or max pooling ->
    one sigmoid; anything else raises BundleError naming what differs."""
    import onnx
    from onnx import numpy_helper

    from edge_sentiment.errors import BundleError

    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    model = manifest["model"]
    pooling = (manifest.get("fast_path") or {}).get("pooling")
    if pooling not in ("mean-max", "max") or model.get("pads") not in (None, "skipped") or int(model.get("classes", 1)) != 1:
        raise BundleError(
            f"{bundle}: the LiteRT conversion supports one-probability models pooled over the words (mean-max or max) "
            f"with the pad skip; this one has pooling {pooling!r}, pads {model.get('pads')!r}, classes {model.get('classes', 1)}"
        )
    graph = onnx.load(str(bundle / model["file"])).graph
    init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    lstms = [n for n in graph.node if n.op_type == "LSTM"]
    matmuls = [n for n in graph.node if n.op_type == "MatMul" and n.input[1] in init]
    if len(lstms) != 1 or len(matmuls) != 1:
        raise BundleError(f"{bundle}: expected one LSTM and one dense MatMul, found {len(lstms)} and {len(matmuls)}")
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in lstms[0].attribute}
    if [a.decode() for a in attrs.get("activations", [])] not in ([], ["Sigmoid", "Tanh", "Tanh"] * len(init[lstms[0].input[1]])):
        raise BundleError(f"{bundle}: the LSTM's activations {attrs['activations']} are not sigmoid/tanh")
    missing = [name for name in ("embedding", "padskip/h_table", "padskip/c_table") if name not in init]
    if missing:
        raise BundleError(f"{bundle}: model.onnx has no {', '.join(missing)}; re-export it with this version's exporter")
    adds = [n for n in graph.node if n.op_type == "Add" and n.input[0] == matmuls[0].output[0] and n.input[1] in init]
    return {
        "embedding": init["embedding"],
        "W": init[lstms[0].input[1]],  # [directions, 4 * hidden, width], gates i, o, f, c
        "R": init[lstms[0].input[2]],
        "B": init[lstms[0].input[3]],
        "dense_w": init[matmuls[0].input[1]],
        "dense_b": init[adds[0].input[1]] if adds else np.zeros(1, np.float32),
        "h_table": init["padskip/h_table"],  # rows: the forward state after 0, 1, ... pads
        "c_table": init["padskip/c_table"],
        "max_len": int(model["max_len"]),
        "pooling": pooling,
    }


def _keras_lstm(w: dict[str, Any], d: int) -> list[np.ndarray]:
    """One direction's ONNX weights (gates i, o, f, c; two biases) as Keras's (i, f, c, o; one bias)."""
    hidden = w["R"].shape[2]

    def reorder(x: np.ndarray) -> np.ndarray:
        i, o, f, c = np.split(x, 4, axis=0)
        return np.concatenate([i, f, c, o], axis=0)

    bias = reorder(w["B"][d][: 4 * hidden]) + reorder(w["B"][d][4 * hidden :])
    return [reorder(w["W"][d]).T.copy(), reorder(w["R"][d]).T.copy(), bias.astype(np.float32)]


def keras_twin(w: dict[str, Any]) -> Any:
    """The bundle's model in tf-keras, fed unpadded ids [1, length]: what TFLiteConverter fuses."""
    import tensorflow as tf
    import tf_keras as keras

    hidden, max_len = w["R"].shape[2], w["max_len"]

    class PadState(keras.layers.Layer):
        """The forward state after the (max_len - length) pads the text lacks: a row of the bundle's table."""

        def __init__(self, table: np.ndarray, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.table = tf.constant(table)

        @tf.autograph.experimental.do_not_convert  # plain tensor ops: nothing for autograph to rewrite
        def call(self, tokens: Any, training: Any = None) -> Any:  # (the wrapper's **kwargs pass Keras's training)
            row = tf.minimum(max_len - tf.shape(tokens)[1], len(self.table) - 1)
            return tf.tile(tf.gather(self.table, row)[None, :], [tf.shape(tokens)[0], 1])

    tokens = keras.Input(shape=(None,), batch_size=1, dtype="int32", name="tokens")
    x = keras.layers.Embedding(*w["embedding"].shape, name="embedding")(tokens)
    forward = keras.layers.LSTM(hidden, return_sequences=True, name="forward")
    lstms = [forward]
    initial = [PadState(w["h_table"])(tokens), PadState(w["c_table"])(tokens)]
    seq = forward(x, initial_state=initial)
    if len(w["W"]) == 2:
        # An explicit zero state: without one the fused op keeps its state in a variable tensor, and a call
        # would start from the previous call's final state whenever the length (so the allocation) is unchanged.
        # (Computed from the forward one, times 0: two equal constants would be merged, and the converter
        # refuses one tensor as both states.)
        zero = keras.layers.Lambda(lambda state: state * 0.0)
        lstms.append(keras.layers.LSTM(hidden, return_sequences=True, go_backwards=True, name="backward"))
        backward = lstms[1](x, initial_state=[zero(state) for state in initial])
        seq = keras.layers.Concatenate()([seq, backward])  # pooled over time: order does not matter
    pooled = keras.layers.GlobalMaxPooling1D()(seq)
    if w["pooling"] == "mean-max":
        pooled = keras.layers.Concatenate()([keras.layers.GlobalAveragePooling1D()(seq), pooled])
    dense = keras.layers.Dense(1, activation="sigmoid", name="probability")
    model = keras.Model(tokens, dense(pooled))
    model.get_layer("embedding").set_weights([w["embedding"]])
    for d, layer in enumerate(lstms):
        layer.set_weights(_keras_lstm(w, d))
    dense.set_weights([w["dense_w"], w["dense_b"].reshape(1)])
    return model


def empty_text_score(w: dict[str, Any]) -> float:
    """The bundle's score for a text without words (the Predictor runs one pad token, which the pooling's mask
    leaves out: the mean of no words is 0, their maximum -1), from the weights; the LiteRT host returns it."""
    width = len(w["W"]) * w["R"].shape[2]
    pooled = np.full((1, width), -1.0, np.float32)
    if w["pooling"] == "mean-max":
        pooled = np.concatenate([np.zeros_like(pooled), pooled], axis=1)
    return float(1.0 / (1.0 + np.exp(-(pooled @ w["dense_w"] + w["dense_b"])))[0, 0])


def convert(bundle: Path) -> tuple[bytes, dict[str, int]]:
    """The bundle's model.onnx as a LiteRT flatbuffer, and its op census."""
    try:
        import tensorflow as tf
        import tf_keras  # noqa: F401
    except ImportError:
        raise SystemExit(f"error: converting needs TensorFlow and tf-keras: {INSTALL}") from None

    blob = tf.lite.TFLiteConverter.from_keras_model(keras_twin(bundle_weights(bundle))).convert()
    return blob, op_census(blob)


def op_census(blob: bytes) -> dict[str, int]:
    from ai_edge_litert.interpreter import Interpreter

    census: dict[str, int] = {}
    for op in Interpreter(model_content=blob)._get_ops_details():
        census[op["op_name"]] = census.get(op["op_name"], 0) + 1
    return dict(sorted(census.items()))


# ---------------------------------------------------------------- LiteRT, text in -> probability out


class LiteRTPredictor:
    """Tokenizes with the bundle's tokenizer and runs a LiteRT model on one text's ids at a time."""

    def __init__(self, tflite: str | Path, bundle: Path, empty: float, threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        from edge_sentiment.runtime.tokenizer import load_tokenizer

        manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
        self._encode = load_tokenizer(bundle / "tokenizer.json").encode
        self._empty = float((manifest["model"].get("empty_text") or [empty])[0])  # a text without words
        self._it = Interpreter(model_path=str(tflite), num_threads=threads)
        self._in = self._it.get_input_details()[0]["index"]
        self._out = self._it.get_output_details()[0]["index"]
        self._length = -1

    def score_ids(self, ids: list[int]) -> float:
        if not ids:
            return self._empty
        if len(ids) != self._length:  # a new length: resize and reallocate (once per length)
            self._it.resize_tensor_input(self._in, [1, len(ids)])
            self._it.allocate_tensors()
            self._length = len(ids)
        self._it.set_tensor(self._in, np.asarray([ids], dtype=np.int32))
        self._it.invoke()
        return float(self._it.get_tensor(self._out)[0, 0])

    def predict_proba(self, text: str) -> float:
        return self.score_ids(self._encode(text))


# ---------------------------------------------------------------- measuring


def _converted(bundle: Path, reconvert: bool) -> tuple[Path, dict[str, Any]]:
    """The cached LiteRT model for this bundle and this script (converting it in a TensorFlow subprocess when
    needed; the scores are checked on every run all the same)."""
    digest = hashlib.sha256((bundle / "model.onnx").read_bytes() + Path(__file__).read_bytes()).hexdigest()[:16]
    folder = Path(tempfile.gettempdir()) / "edge-sentiment-litert"
    folder.mkdir(exist_ok=True)
    path, meta = folder / f"{digest}.tflite", folder / f"{digest}.json"
    if reconvert or not (path.exists() and meta.exists()):
        print(f"converting {bundle}/model.onnx to LiteRT (TensorFlow, in a subprocess)", file=sys.stderr)
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run([sys.executable, __file__, "--convert-to", str(path), "--bundle", str(bundle)], env=env)
        if done.returncode:
            raise SystemExit(f"error: converting {bundle}/model.onnx to LiteRT failed (its messages are above)")
    return path, json.loads(meta.read_text(encoding="utf-8"))


def _convert_to(path: Path, bundle: Path) -> None:
    started = time.perf_counter()
    blob, census = convert(bundle)
    import tensorflow as tf
    import tf_keras

    path.write_bytes(blob)
    meta = {"bytes": len(blob), "ops": census, "seconds": round(time.perf_counter() - started, 1)}
    meta["empty_text_score"] = empty_text_score(bundle_weights(bundle))
    meta["converter"] = {"tensorflow": tf.__version__, "tf-keras": tf_keras.__version__}
    path.with_suffix(".json").write_text(json.dumps(meta), encoding="utf-8")


def texts_of_length(reviews: list[str], n: int, tokenizer: Any, count: int = 1) -> list[str]:
    """count real reviews' first n words, as texts whose ids number exactly n."""
    from edge_sentiment.runtime.tokenizer import words

    found = []
    for review in reviews:
        text = " ".join(words(review)[:n])
        if len(tokenizer.encode(text)) == n:
            found.append(text)
            if len(found) == count:
                return found
    raise ValueError(f"fewer than {count} reviews have {n} words")


def stateless(lite: LiteRTPredictor, texts: list[str]) -> bool:
    """Whether scoring texts twice over gives the same scores: no call starts from the one before's state
    (texts of one length in a row reuse the interpreter's allocation, where a fused LSTM's state lives)."""
    return [lite.predict_proba(t) for t in texts] == [lite.predict_proba(t) for t in texts]


def _block(fn: Any, arg: Any, calls: int) -> float:
    """p50 seconds of `calls` calls of fn(arg), after 5 unrecorded ones."""
    for _ in range(5):
        fn(arg)
    seconds = []
    for _ in range(calls):
        start = time.perf_counter()
        fn(arg)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds)


def _pairs(ours: list[float], litert: list[float]) -> dict[str, float]:
    """Medians of each side over the rounds and the median of their per-round ratio (ours / LiteRT)."""
    return {
        "ours": statistics.median(ours),
        "litert": statistics.median(litert),
        "ratio": statistics.median(a / b for a, b in zip(ours, litert)),
    }


def parity(ours: Any, lite: LiteRTPredictor, texts: list[str]) -> dict[str, Any]:
    a = np.asarray([ours.predict_proba(t)[0] for t in texts], dtype=np.float64)
    b = np.asarray([lite.predict_proba(t) for t in texts], dtype=np.float64)
    diff = np.abs(a - b)
    return {
        "texts": len(texts),
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "labels_agreeing": int(((a >= 0.5) == (b >= 0.5)).sum()),
        "atol": ATOL,
    }


COLD = {  # what a user's fresh process does; each prints its phases, its score and its peak RSS
    "ours": "from edge_sentiment import Predictor\n"
    "mark('import')\n"
    "p = Predictor.load({bundle!r}, threads=1, calibrated=False)\n"
    "mark('load')\n"
    "score = float(p.predict_proba({text!r})[0])\n",
    "litert": "from ai_edge_litert.interpreter import Interpreter\n"
    "from edge_sentiment.runtime.tokenizer import load_tokenizer\n"
    "mark('import')\n"
    "encode = load_tokenizer({bundle!r} + '/tokenizer.json').encode\n"
    "it = Interpreter(model_path={tflite!r}, num_threads=1)\n"
    "mark('load')\n"
    "ids = encode({text!r})\n"
    "it.resize_tensor_input(it.get_input_details()[0]['index'], [1, len(ids)])\n"
    "it.allocate_tensors()\n"
    "it.set_tensor(it.get_input_details()[0]['index'], np.asarray([ids], dtype=np.int32))\n"
    "it.invoke()\n"
    "score = float(it.get_tensor(it.get_output_details()[0]['index'])[0, 0])\n",
}
COLD_HEAD = "import time\nt0 = time.perf_counter()\nmarks = {}\ndef mark(name): marks[name] = time.perf_counter() - t0\n"
# Peak RSS from /proc/self/status's VmHWM: getrusage's ru_maxrss keeps the parent's high-water mark across
# the fork and exec, so every child would report the benchmark's own size.
COLD_TAIL = (
    "mark('first prediction')\nimport json, sys\n"
    "hwm = [line for line in open('/proc/self/status') if line.startswith('VmHWM:')][0].split()[1]\n"
    "print(json.dumps({'marks': marks, 'score': score, 'peak_rss_kib': int(hwm),"
    " 'onnxruntime': 'onnxruntime' in sys.modules, 'tensorflow': 'tensorflow' in sys.modules}))\n"
)


def cold_start(bundle: Path, tflite: Path, text: str, pairs: int) -> dict[str, Any]:
    """Fresh processes, the engines alternating (one unrecorded pair first): wall seconds, phases, peak RSS."""
    runs: dict[str, list[dict[str, Any]]] = {"ours": [], "litert": []}
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for i in range(pairs + 1):
        for engine in ("ours", "litert") if i % 2 == 0 else ("litert", "ours"):
            code = COLD[engine].format(bundle=str(bundle), tflite=str(tflite), text=text)
            code = COLD_HEAD + ("import numpy as np\n" if engine == "litert" else "") + code + COLD_TAIL
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env)
            wall = time.perf_counter() - start
            report = json.loads(done.stdout.strip().splitlines()[-1])
            if i:
                runs[engine].append({"wall_s": wall, **report})
    out: dict[str, Any] = {"pairs": pairs, "text_words": len(text.split())}
    for figure, get in (("wall_s", lambda r: r["wall_s"]), ("peak_rss_mib", lambda r: r["peak_rss_kib"] / 1024)):
        out[figure] = _pairs([get(r) for r in runs["ours"]], [get(r) for r in runs["litert"]])
    out["phases_s"] = {e: {k: statistics.median(r["marks"][k] for r in rs) for k in rs[0]["marks"]} for e, rs in runs.items()}
    out["scores"] = {e: rs[0]["score"] for e, rs in runs.items()}
    if abs(out["scores"]["ours"] - out["scores"]["litert"]) > ATOL:
        raise SystemExit(f"error: the fresh processes' first scores differ: {out['scores']}")
    out["litert_imports_onnxruntime"] = any(r["onnxruntime"] for r in runs["litert"])
    if out["litert_imports_onnxruntime"]:
        print("warning: the LiteRT process imported onnxruntime (through edge_sentiment's tokenizer)", file=sys.stderr)
    out["imports_tensorflow"] = any(r["tensorflow"] for rs in runs.values() for r in rs)
    return out


def measure(args: argparse.Namespace) -> dict[str, Any]:
    from edge_sentiment import Predictor
    from edge_sentiment.data import load_imdb, resolve_data_path
    from edge_sentiment.runtime.bundle import default_bundle_path

    n_parity, rounds, calls, n_throughput, t_rounds, pairs = MODES["quick" if args.quick else "full"]
    bundle = Path(args.bundle).resolve() if args.bundle else default_bundle_path()
    data = resolve_data_path(args.data)  # before converting: a missing archive fails at once
    tflite, conversion = _converted(bundle, args.reconvert)
    reviews = load_imdb(data, splits=("test",))["test"].texts
    ours = {t: Predictor.load(bundle, threads=t, calibrated=False) for t in (1, 2)}
    lite = {t: LiteRTPredictor(tflite, bundle, conversion["empty_text_score"], threads=t) for t in (1, 2)}
    for engine in (*ours.values(), *lite.values()):
        engine.predict_proba("warm up")

    stride = max(1, len(reviews) // n_parity)  # both labels: the test split is sorted by label
    check = parity(ours[1], lite[1], reviews[::stride][:n_parity])
    print(f"parity on {check['texts']} reviews: max |dp| {check['max_abs_diff']:.2e}", file=sys.stderr)
    if not check["max_abs_diff"] <= ATOL or check["labels_agreeing"] != check["texts"]:
        raise SystemExit(f"error: LiteRT's scores differ from the bundle's (max |dp| {check['max_abs_diff']:.2e}); nothing timed")

    pairs_of = {n: texts_of_length(reviews, n, ours[1].tokenizer, count=2) for n in LENGTHS}
    check["stateless"] = all(stateless(lite[1], texts) for texts in pairs_of.values())
    if not check["stateless"]:
        raise SystemExit("error: LiteRT's score of a text depends on the text before it; nothing timed")
    samples = {n: texts[0] for n, texts in pairs_of.items()}
    blocks: dict[str, dict[str, list[float]]] = {f"{n}w_t{t}": {"ours": [], "litert": []} for n in LENGTHS for t in (1, 2)}
    for r in range(rounds):
        for n, text in samples.items():
            for t in (1, 2):
                for engine in ("ours", "litert") if r % 2 == 0 else ("litert", "ours"):
                    side = ours[t] if engine == "ours" else lite[t]
                    blocks[f"{n}w_t{t}"][engine].append(_block(side.predict_proba, text, calls) * 1000)
    latency = {key: _pairs(v["ours"], v["litert"]) for key, v in blocks.items()}

    corpus = reviews[1::stride][:n_throughput]  # other reviews than the parity check's, both labels
    rates: dict[int, dict[str, list[float]]] = {t: {"ours": [], "litert": []} for t in (1, 2)}
    for r in range(t_rounds):
        for t in (1, 2):
            for engine in ("ours", "litert") if r % 2 == 0 else ("litert", "ours"):
                start = time.perf_counter()
                if engine == "ours":
                    ours[t].predict_proba(corpus)
                else:
                    for text in corpus:
                        lite[t].predict_proba(text)
                rates[t][engine].append(len(corpus) / (time.perf_counter() - start))
    throughput = {f"t{t}": _pairs(v["ours"], v["litert"]) for t, v in rates.items()}
    for engine in ours.values():
        engine.close()

    cold = cold_start(bundle, tflite, samples[10], pairs)
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "tools/benchmarks/litert.py", *sys.argv[1:]]),
        "mode": "quick" if args.quick else "full",
        "bundle": str(bundle).replace(str(ROOT) + "/", ""),
        "model_onnx_sha256": hashlib.sha256((bundle / "model.onnx").read_bytes()).hexdigest(),
        "machine": _machine(),
        "versions": _versions(conversion),
        "litert_model": {"bytes": conversion["bytes"], "ops": conversion["ops"], "convert_seconds": conversion["seconds"]},
        "how": {
            "litert_input": "the text's ids unpadded, input resized to [1, length] when the length changes; the forward "
            "LSTM starts from the bundle's pad-state row for the missing pads (looked up in the graph)",
            "ours": "Predictor.load(bundle, threads=T, calibrated=False).predict_proba(text or list)",
            "litert": "Interpreter(model_path, num_threads=T), default op resolver (XNNPACK delegate where it applies)",
            "throughput": "ours: predict_proba(list) (length-batched, batch 32, T worker threads); LiteRT: one text per "
            "invoke, in the given order",
            "alternation": "in every round each engine runs once per figure, who goes first alternating",
        },
        "parity": check,
        "latency_ms": {"rounds": rounds, "calls_per_block": calls, "figure": "p50 of a block, median over rounds", **latency},
        "throughput_texts_per_s": {"texts": len(corpus), "rounds": t_rounds, **throughput},
        "cold_start": cold,
    }


def _machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), cpu)
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform()}


def _versions(conversion: dict[str, Any]) -> dict[str, str]:
    from importlib.metadata import version

    found = {"python": platform.python_version()}
    for name in ("edge-sentiment", "numpy", "onnxruntime", "ai-edge-litert"):
        found[name] = version(name)
    return {**found, **conversion["converter"]}


# ---------------------------------------------------------------- the Markdown section


def render(r: dict[str, Any]) -> str:
    """The RESULTS.md section for one run's litert.json."""
    v, lat, thr, cold, par = r["versions"], r["latency_ms"], r["throughput_texts_per_s"], r["cold_start"], r["parity"]
    ops = ", ".join(f"{k} {n}" for k, n in r["litert_model"]["ops"].items())
    out = [
        "## Against LiteRT",
        "",
        f"From `{r['command']}` ({r['date']}, {r['mode']} mode; {r['machine']['cpu']}, {r['machine']['cores']} cores; "
        f"onnxruntime {v['onnxruntime']}, ai-edge-litert {v['ai-edge-litert']}, converted with tensorflow {v['tensorflow']} / "
        f"tf-keras {v['tf-keras']}). The shipped bundle's weights in both engines, text in -> probability out, both "
        "tokenizing with edge_sentiment's tokenizer. LiteRT gets the text's ids unpadded (input resized to the length) "
        "and its forward LSTM starts from the bundle's pad-state row, so both run over the words only. "
        f"LiteRT model: {r['litert_model']['bytes'] / 1024:,.0f} KiB; ops: {ops}.",
        "",
        f"Scores checked first: {par['texts']} IMDB test reviews, max |Δp| {par['max_abs_diff']:.1e} (limit {par['atol']:g}), "
        f"labels agree {par['labels_agreeing']}/{par['texts']}; "
        f"{'the same' if par.get('stateless') else 'NOT the same'} when texts of one length are scored twice over.",
        "",
        "The engines alternate within every round; each figure is the median over rounds, each ratio the median of the "
        "per-round ratios (ours / LiteRT: for times and memory below 1 means ours is less; for throughput "
        "above 1 means ours is faster).",
        "",
        "| figure | ours | LiteRT | ours / LiteRT |",
        "|---|---|---|---|",
    ]
    for n in LENGTHS:
        for t in (1, 2):
            f, threads = lat[f"{n}w_t{t}"], f"{t} thread" + ("s" if t > 1 else "")
            out.append(f"| {n} words, batch 1, {threads}, p50 ms | {f['ours']:.3f} | {f['litert']:.3f} | {f['ratio']:.2f} |")
    for t in (1, 2):
        f, threads = thr[f"t{t}"], f"{t} thread" + ("s" if t > 1 else "")
        out.append(
            f"| throughput, {thr['texts']} reviews, {threads}, texts/s (higher is faster) "
            f"| {f['ours']:.0f} | {f['litert']:.0f} | {f['ratio']:.2f} |"
        )
    w, m = cold["wall_s"], cold["peak_rss_mib"]
    out += [
        f"| cold start, fresh process to first prediction, wall s | {w['ours']:.3f} | {w['litert']:.3f} | {w['ratio']:.2f} |",
        f"| cold start, peak RSS MiB | {m['ours']:.1f} | {m['litert']:.1f} | {m['ratio']:.2f} |",
        "",
        f"Latency: {lat['rounds']} rounds of {lat['calls_per_block']} calls per engine and figure (p50 of each block). "
        f"Throughput: {thr['rounds']} rounds; ours is `predict_proba(list)` (length-batched), LiteRT one text per invoke. "
        f"Cold start: {cold['pairs']} pairs of fresh processes (a {cold['text_words']}-word text, one thread); "
        "inside the process (median s from the first line): "
        + "; ".join(f"{e} " + ", ".join(f"{k} {s:.3f}" for k, s in phases.items()) for e, phases in cold["phases_s"].items())
        + f". The LiteRT process imports onnxruntime: {'yes' if cold['litert_imports_onnxruntime'] else 'no'}.",
    ]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer reviews, rounds and pairs (about a minute)")
    parser.add_argument("--bundle", default=None, help="the bundle (default: the shipped one)")
    parser.add_argument("--data", default=None, help="the IMDB archive (default: $EDGE_SENTIMENT_DATA)")
    parser.add_argument("--reconvert", action="store_true", help="convert again even if the converted model is cached")
    parser.add_argument("--out", default=str(RESULTS / "litert.json"), help="the JSON to write (the .md goes beside it)")
    parser.add_argument("--render-only", action="store_true", help="measure nothing: rewrite the .md from the JSON")
    parser.add_argument("--convert-to", default=None, help=argparse.SUPPRESS)  # the TensorFlow subprocess
    args = parser.parse_args()
    try:
        import ai_edge_litert  # noqa: F401
    except ImportError:
        raise SystemExit(f"error: ai-edge-litert is not installed: {INSTALL}") from None
    if args.convert_to:
        _convert_to(Path(args.convert_to), Path(args.bundle))
        return
    out = Path(args.out)
    if args.render_only:
        result = json.loads(out.read_text(encoding="utf-8"))
    else:
        from edge_sentiment.errors import EdgeSentimentError

        try:
            result = measure(args)
        except EdgeSentimentError as exc:
            raise SystemExit(f"error: {exc}") from None
        out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    text = render(result)
    out.with_suffix(".md").write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
