"""Graphs for texts without pads: the shipped model's work at batch 1 with nothing but its own ops.

model.onnx takes pre-padded batches, so its pooling computes a mask from the tokens and multiplies by
it. A batch with no pads (one text, or texts of one length) needs none of that: the mask is all ones.
From a converted, pad-skipped model this builds

- "unpadded": the same model for texts with no pads: the embedded words [length, batch, width] in (the
  runtime looks them up in model.onnx's own embedding, so no copy of it is stored), the LSTM from the
  pad-skip table's state, pooling over the words, the dense layer;
- "short": the same for one text short enough that its pad-skip state is the table's last row (at most
  max_len - last_row words: the manifest's short_words): that state a constant, 8 ops where unpadded
  has 30, so a short text's fixed cost per call is smaller;
- for a bidirectional LSTM of SPLIT_MIN_HIDDEN units or more (fewer pay too little),
  "forward" and "backward": one direction each, the embedded words in, the
  sum and the maximum of its outputs over the words out; and "head": the pooled features in, the
  dense layer out. The runtime runs the two directions on two threads (onnxruntime releases the GIL)
  and the head after.

Only the ops that were identities on unpadded input are gone (Mul by ones, Add of zeros, the mask's
Equal/Not/Cast/ReduceSum), and the sums and maxima run over the same words in the same order, so the
results are meant to equal model.onnx's bit for bit; the exporter checks that over every length.
Supported: one LSTM, forward or bidirectional, pooled over the words by WordPooling ("max" or
"mean-max"), then one dense layer (sigmoid or softmax). Other models get no fast path (None).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..runtime.bundle import EMBEDDING_NAME, FAST_IO, OUTPUT_NAME

__all__ = ["fast_graphs", "structure"]

BATCHES = (1, 3, 32)  # batch sizes the exporter compares at every length
# Only LSTMs of SPLIT_MIN_HIDDEN units or more per direction get the split graphs: with 32 units a direction
# is too little work to pay for the hand-over between threads below 500 words (tools/benchmarks/fastpath.py
# on the 2-core AMD EPYC: docs/benchmarks.md).
SPLIT_MIN_HIDDEN = 64
# Tensor names of the split graphs (the runtime's contract with them, runtime/bundle.py).
WORDS, (SUMS, MAXES), POOLED = FAST_IO["forward"][0][0], FAST_IO["forward"][1], FAST_IO["head"][0][0]


def structure(model: Any) -> dict[str, Any] | None:
    """The pieces of a pad-skipped WordPooling model, or None when it is not one."""
    from onnx import helper, numpy_helper

    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    lstms = [n for n in graph.node if n.op_type == "LSTM" and n.domain in ("", "ai.onnx")]
    if len(lstms) != 1 or "padskip/h_table" not in inits or EMBEDDING_NAME not in inits:
        return None
    lstm = lstms[0]
    attrs = {a.name: helper.get_attribute_value(a) for a in lstm.attribute}
    direction = attrs.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    if set(attrs) - {"activations", "direction", "hidden_size"} or direction not in ("forward", "bidirectional"):
        return None
    final = producer.get(graph.output[0].name)
    if final is None or final.op_type not in ("Sigmoid", "Softmax"):
        return None
    add = producer.get(final.input[0])
    if add is None or add.op_type != "Add" or add.input[1] not in inits:
        return None
    matmul = producer.get(add.input[0])
    if matmul is None or matmul.op_type != "MatMul" or matmul.input[1] not in inits:
        return None
    pooled = producer.get(matmul.input[0])
    if pooled is not None and pooled.op_type == "ReduceMax":
        mode = "max"
    elif (
        pooled is not None
        and pooled.op_type == "Concat"
        and len(pooled.input) == 2
        and getattr(producer.get(pooled.input[0]), "op_type", "") == "Div"
        and getattr(producer.get(pooled.input[1]), "op_type", "") == "ReduceMax"
    ):
        mode = "mean-max"
    else:
        return None
    array = {name: numpy_helper.to_array(inits[name]) for name in (lstm.input[1], lstm.input[2], lstm.input[3])}
    return {
        "direction": direction,
        "hidden": int(attrs["hidden_size"]),
        "activations": attrs.get("activations"),
        "w": array[lstm.input[1]],
        "r": array[lstm.input[2]],
        "b": array[lstm.input[3]],
        "embedding": inits[EMBEDDING_NAME],
        "h_table": inits["padskip/h_table"],
        "c_table": inits["padskip/c_table"],
        "max_len": int(numpy_helper.to_array(inits["padskip/max_len"])),
        "last_row": int(numpy_helper.to_array(inits["padskip/last_row"])),
        "dense_w": inits[matmul.input[1]],
        "dense_b": inits[add.input[1]],
        "final": final,
        "mode": mode,
        "opsets": list(model.opset_import),
        "ir_version": model.ir_version,
    }


class _Builder:
    """A small graph, written op by op."""

    def __init__(self, s: dict[str, Any]) -> None:
        self.s = s
        self.nodes: list[Any] = []
        self.inits: list[Any] = []

    def const(self, name: str, value: Any, dtype: Any = np.int64) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def tensor(self, proto: Any) -> str:
        self.inits.append(proto)
        return str(proto.name)

    def op(self, op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def lstm(self, x: str, direction: str, rows: slice, initial: tuple[str, str] | None) -> str:
        """The model's LSTM (or one direction of it) over x; its Y output."""
        from onnx import helper

        s = self.s
        w = self.const(f"W{rows.start}", s["w"][rows], np.float32)
        r = self.const(f"R{rows.start}", s["r"][rows], np.float32)
        b = self.const(f"B{rows.start}", s["b"][rows], np.float32)
        acts = s["activations"]
        attrs: dict[str, Any] = {"direction": direction, "hidden_size": s["hidden"]}
        if acts:
            per = len(acts) // (2 if s["direction"] == "bidirectional" else 1)
            attrs["activations"] = acts[rows.start * per : rows.stop * per]
        inputs = [x, w, r, b] + (["", initial[0], initial[1]] if initial else [])
        self.nodes.append(helper.make_node("LSTM", inputs, ["Y"], name="lstm", **attrs))
        return "Y"

    def padskip_state(self, directions: int) -> tuple[str, str]:
        """The forward direction's state after the pads the text lacks (backward: zeros), [dirs, batch, hidden]."""
        s = self.s
        shape = self.op("Shape", [WORDS], "shape")
        length = self.op("Gather", [shape, self.const("zero", 0)], "length")
        batch = self.op("Gather", [shape, self.const("one", 1)], "batch")
        missing = self.op("Sub", [self.const("max_len", s["max_len"]), length], "missing")
        row = self.op("Min", [missing, self.const("last_row", s["last_row"])], "row")
        batch1 = self.op("Unsqueeze", [batch, self.const("axis0", [0])], "batch1")
        state_shape = self.op("Concat", [batch1, self.const("hidden", [s["hidden"]])], "state_shape", axis=0)
        if directions == 2:
            self.const("zeros", np.zeros((1, 1, s["hidden"])), np.float32)
        states = []
        for part in ("h", "c"):
            picked = self.op("Gather", [self.tensor(s[f"{part}_table"]), row], f"{part}_row")
            batched = self.op("Expand", [picked, state_shape], f"{part}_batch")
            forward = self.op("Unsqueeze", [batched, "axis0"], f"{part}_forward")
            if directions == 2:
                zeros = self.op("Mul", [forward, "zeros"], f"{part}_zeros")
                forward = self.op("Concat", [forward, zeros], f"{part}_initial", axis=0)
            states.append(forward)
        return states[0], states[1]

    def last_row_state(self, directions: int) -> tuple[str, str]:
        """The state after last_row or more pads (the pad-skip table's last row; backward: zeros) as constants
        [dirs, 1, hidden]: the state unpadded computes for one text of at most max_len - last_row words."""
        from onnx import numpy_helper

        s, states = self.s, []
        for part in ("h", "c"):
            forward = numpy_helper.to_array(s[f"{part}_table"])[s["last_row"]][None, None]
            value = np.concatenate([forward, forward * np.float32(0)]) if directions == 2 else forward  # as Mul by zeros
            states.append(self.const(f"{part}_initial", value, np.float32))
        return states[0], states[1]

    def pool(self, y: str, width: int, names: tuple[str, str] = ("sum_flat", "max_flat")) -> tuple[str, str]:
        """Sum and maximum of Y [length, dirs, batch, hidden] over the words, each [batch, dirs * hidden].

        Y goes to [batch, length, dirs * hidden] first, the layout model.onnx reduces, so that every
        batch size sums in onnxruntime's same order (over axis 0 of Y, batches of 2 or more differ in
        the last bit)."""
        batch_first = self.op("Transpose", [y], "y_blh", perm=[2, 0, 1, 3])
        flat = self.op("Reshape", [batch_first, self.const("flat", [0, 0, width])], "y_flat")
        total = self.op("ReduceSum", [flat, self.const("axes1", [1])], names[0], keepdims=0)
        return total, self.op("ReduceMax", [flat], names[1], axes=[1], keepdims=0)

    def head(self, features: str) -> str:
        s = self.s
        logits = self.op("MatMul", [features, self.tensor(s["dense_w"])], "matmul")
        logits = self.op("Add", [logits, self.tensor(s["dense_b"])], "logits")
        final = s["final"]
        from onnx import helper

        attrs = {a.name: helper.get_attribute_value(a) for a in final.attribute}
        return self.op(final.op_type, [logits], OUTPUT_NAME, **attrs)

    def model(self, name: str, inputs: list[Any], outputs: list[Any]) -> Any:
        from onnx import helper

        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.inits)
        model = helper.make_model(graph, opset_imports=self.s["opsets"], producer_name="edge-sentiment fastpath")
        model.ir_version = self.s["ir_version"]
        return model


def fast_graphs(model: Any, split_min_hidden: int = SPLIT_MIN_HIDDEN) -> dict[str, Any] | None:
    """The fast-path graphs of a pad-skipped model (see the module's doc), or None when it has none; the
    split directions only for a bidirectional LSTM of at least split_min_hidden units per direction."""
    s = structure(model)
    return None if s is None else _graphs(s, split_min_hidden)


def _graphs(s: dict[str, Any], split_min_hidden: int) -> dict[str, Any]:
    from onnx import TensorProto, helper

    dirs = 2 if s["direction"] == "bidirectional" else 1
    hidden = s["hidden"]
    classes = int(s["dense_b"].dims[0]) if s["dense_b"].dims else 1
    width = int(s["embedding"].dims[1])
    words = helper.make_tensor_value_info(WORDS, TensorProto.FLOAT, ["length", "batch", width])
    probability = helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", classes])

    def features(b: _Builder, sums: str, maxes: str, length: str | None) -> str:
        if s["mode"] == "max":
            return maxes
        if length is None:  # from the tokens' shape
            length = b.op("Cast", [b.op("Gather", [b.op("Shape", [WORDS], "shape2"), "zero"], "length2")], "length_f", to=1)
        mean = b.op("Div", [sums, length], "mean")
        return b.op("Concat", [mean, maxes], "pooled_all", axis=1)

    graphs: dict[str, Any] = {}
    b = _Builder(s)
    y = b.lstm(WORDS, s["direction"], slice(0, dirs), b.padskip_state(dirs))
    sums, maxes = b.pool(y, dirs * hidden)
    b.head(features(b, sums, maxes, None))
    graphs["unpadded"] = b.model("unpadded", [words], [probability])
    if s["max_len"] - s["last_row"] >= 1:
        graphs["short"] = _short_graph(s, width, classes)
    if dirs == 2 and hidden >= split_min_hidden:
        for part, rows in (("forward", slice(0, 1)), ("backward", slice(1, 2))):
            b = _Builder(s)
            initial = b.padskip_state(1) if part == "forward" else None
            y = b.lstm(WORDS, "forward" if part == "forward" else "reverse", rows, initial)
            b.pool(y, hidden, (SUMS, MAXES))
            outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["batch", hidden]) for n in (SUMS, MAXES)]
            graphs[part] = b.model(part, [words], outs)
        b = _Builder(s)
        b.head(POOLED)
        pooled = helper.make_tensor_value_info(
            POOLED, TensorProto.FLOAT, ["batch", (2 if s["mode"] == "mean-max" else 1) * dirs * hidden]
        )
        graphs["head"] = b.model("head", [pooled], [probability])
    return graphs


def _short_graph(s: dict[str, Any], width: int, classes: int) -> Any:
    """One text of at most max_len - last_row words, whose pad-skip state is the table's last row.

    Fewer ops than unpadded, the same arithmetic: the state a constant; no Transpose (batch 1:
    [length, dirs, 1, hidden] is [1, length, dirs * hidden] in memory); ReduceMean for ReduceSum then Div
    by the length (onnxruntime's mean is that sum divided by the count); the same LSTM, sums and
    maxima in the same order."""
    from onnx import TensorProto, helper

    dirs = 2 if s["direction"] == "bidirectional" else 1
    b = _Builder(s)
    y = b.lstm(WORDS, s["direction"], slice(0, dirs), b.last_row_state(dirs))
    flat = b.op("Reshape", [y, b.const("flat", [1, -1, dirs * s["hidden"]])], "y_flat")
    features = b.op("ReduceMax", [flat], "max_flat", axes=[1], keepdims=0)
    if s["mode"] == "mean-max":
        mean = b.op("ReduceMean", [flat], "mean", axes=[1], keepdims=0)
        features = b.op("Concat", [mean, features], "pooled_all", axis=1)
    b.head(features)
    words = helper.make_tensor_value_info(WORDS, TensorProto.FLOAT, ["length", 1, width])
    return b.model("short", [words], [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [1, classes])])


def check_fast_path(
    bundle: Any, parts: dict[str, bytes], id_lists: list[list[int]], *, seed: int = 0, short_words: int = 0
) -> dict[str, Any]:
    """Compare the runtime with and without the fast path, bit for bit.

    Every length from 1 to max_len (random words; one text, and batches of BATCHES texts of one
    length), then each text of id_lists alone; the one-graph path and the two-thread split are both
    run, and the short-text graph (one text of at most short_words words). Returns the figures;
    "identical" is False when any score differs in any bit.
    """
    from dataclasses import replace

    from ..runtime.predictor import Predictor

    plain = Predictor(bundle, threads=1, fast=False)
    fast_bundle = replace(bundle, fast={part: data for part, data in parts.items() if part != "short"}, short_words=0)
    paths = {"one graph": Predictor(fast_bundle, threads=1)}
    if "short" in parts:
        paths["short texts"] = Predictor(replace(bundle, fast=parts, short_words=short_words), threads=1)
    if "forward" in parts:
        paths["split directions"] = Predictor(fast_bundle, threads=2, split_min_words=1)
    rng = np.random.default_rng(seed)
    rows = int(bundle.manifest["model"]["vocab_size"])
    figures: dict[str, Any] = {"lengths": f"1..{bundle.max_len}", "batch_sizes": list(BATCHES), "texts": len(id_lists)}
    differing: dict[str, int] = {name: 0 for name in paths}
    worst = 0.0

    def compare(batch: np.ndarray) -> None:
        nonlocal worst
        want = plain.score_batch(batch)
        for name, predictor in paths.items():
            got = predictor.score_unpadded(batch)
            if not np.array_equal(got, want):
                differing[name] += 1
                worst = max(worst, float(np.max(np.abs(got - want))))

    try:
        for length in range(1, bundle.max_len + 1):
            batch = rng.integers(1, rows, size=(max(BATCHES), length), dtype=np.int32)
            for size in BATCHES:
                compare(batch[:size])
        for ids in id_lists:
            if ids:
                compare(np.asarray([ids], dtype=np.int32))
    finally:
        for predictor in paths.values():
            predictor.close()
    figures.update(paths=list(paths), differing=differing, max_abs_diff=worst, identical=not any(differing.values()))
    return figures


def fast_path_files(
    model: Any, bundle: Any, id_lists: list[list[int]], split_min_hidden: int = SPLIT_MIN_HIDDEN
) -> tuple[dict[str, bytes], dict[str, Any] | None, str]:
    """The fast path's files and manifest section for a pad-skipped model, checked bit for bit; or none,
    with the reason, when the model has no fast path or it differs."""
    from ..runtime.bundle import FAST_FILES

    s = structure(model)
    if s is None:
        return {}, None, "only a model of one LSTM pooled over the words (WordPooling) and one dense layer has one"
    parts = {part: graph.SerializeToString() for part, graph in _graphs(s, split_min_hidden).items()}
    short_words = s["max_len"] - s["last_row"] if "short" in parts else 0
    check = check_fast_path(bundle, parts, id_lists, short_words=short_words)
    if not check["identical"]:
        return {}, None, f"its scores differ from model.onnx ({check['differing']}, max |Δp| {check['max_abs_diff']:.2e})"
    section = {
        "files": {part: FAST_FILES[part] for part in parts},
        "pooling": s["mode"],
        "directions": 2 if s["direction"] == "bidirectional" else 1,
        "hidden": s["hidden"],
        **({"short_words": short_words} if short_words else {}),
        "check": check,
    }
    texts = f"{check['texts']} texts" if check["texts"] else "no texts"
    line = (
        f"bit-exact with model.onnx at every length {check['lengths']} "
        f"(batches of {', '.join(map(str, BATCHES))}) and on {texts}, {' and '.join(check['paths'])}"
    )
    return {FAST_FILES[part]: data for part, data in parts.items()}, section, line


def add_fast_path(bundle_path: Any, data: Any = None, log: Any = None) -> tuple[dict[str, Any], str]:
    """Rewrite a bundle (atomically) with the fast path built from its own model.onnx, checked on the
    IMDB test reviews (all 25,000 when the data is given); every other file is kept byte for byte."""
    from pathlib import Path

    import onnx

    from ..errors import ExportError
    from ..runtime.bundle import FAST_FILES, load_bundle
    from .writer import kept_files, rewrite_bundle

    path = Path(bundle_path)
    loaded = load_bundle(path)
    if loaded.manifest["model"].get("pads", "skipped") != "skipped":
        raise ExportError(f"{path}: the fast path needs a bundle whose pads are skipped")
    manifest = dict(loaded.manifest)
    files = kept_files(path, manifest, set(FAST_FILES.values()))
    id_lists: list[list[int]] = []
    if data is not None:
        from ..data import load_imdb, resolve_data_path

        if log:
            log("tokenizing the IMDB test reviews")
        id_lists = [loaded.tokenizer.encode(t) for t in load_imdb(resolve_data_path(data), splits=("test",))["test"].texts]
    if log:
        log("building the fast path and comparing it with model.onnx, bit for bit")
    new_files, section, line = fast_path_files(onnx.load_from_string(loaded.model_bytes), loaded, id_lists)
    if section is None:
        raise ExportError(f"{path}: no fast path: {line}")
    files.update(new_files)
    manifest["fast_path"] = section
    manifest["gates"] = [g for g in manifest.get("gates", []) if not g[2:].startswith("fast path")] + [f"✓ fast path: {line}"]
    return rewrite_bundle(path, files, manifest), line
