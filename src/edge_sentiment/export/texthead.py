"""The text model's own LSTM head for a pad-skipped WordPooling model: each text's words and nothing else.

model.onnx takes pre-padded batches and masks its pads with full-size ops (Equal, Not, Cast, Mul, Add over
every step and unit), and a batch's shorter texts run through their pads. The text graph knows each
text's word count k, so it feeds the same LSTM the words alone: the ids newest first (a pre-padded row
reversed, its pads last), sequence_lens k (the LSTM stops at each text's last word and outputs zeros past
it), the model's forward direction run as ONNX "reverse" (over the reversed row: the words in text order,
from the pad-skip table's state after max_len - k pads) and its backward direction as ONNX "forward"
(from zeros). The pooling is WordPooling's: the mean over the k words (the sum over the steps, zeros
past k, divided by max(k, 1)) and the maximum with the pads as -1 (their zeros minus 1), which no LSTM
output reaches; an empty text (k = 0) gets what model.onnx gives one pad: means 0, maxima -1. The dense
layer's rows follow the directions' new order. The table row and the divisor are looked up by k. The
sums run over the words in the other order, so scores differ from model.onnx's in the last bits only;
export/textgate.py measures them against the Python runtime.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..runtime.bundle import EMBEDDING_NAME, OUTPUT_NAME

__all__ = ["lean_head"]


def lean_head(model: Any, p: str, ids_rev: str, word_counts: str) -> tuple[list[Any], list[Any]] | None:
    """(nodes, initializers) from ids_rev (int64 [batch, width], each row's last max_len words newest first,
    then pads) and word_counts (int64 [batch], the words each row reads: at most max_len) to OUTPUT_NAME;
    None when model.onnx is not a pad-skipped model of one LSTM pooled over the words and one dense layer
    (export/fastpath.py's structure)."""
    from onnx import TensorProto, helper, numpy_helper

    from .fastpath import structure

    s = structure(model)
    if s is None:
        return None
    dirs, hidden = (2 if s["direction"] == "bidirectional" else 1), s["hidden"]
    nodes: list[Any] = []
    inits: list[Any] = [s["embedding"]]

    def const(name: str, value: Any, dtype: Any) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), p + name))
        return p + name

    def op(kind: str, inputs: list[str], output: str, **attrs: Any) -> str:
        nodes.append(helper.make_node(kind, inputs, [p + output], name=p + output, **attrs))
        return p + output

    # the directions swapped: ONNX "forward" is the model's backward one, ONNX "reverse" its forward one
    order = [1, 0] if dirs == 2 else [0]
    w, r, b = (const(name, s[name][order], np.float32) for name in ("w", "r", "b"))
    attrs: dict[str, Any] = {"direction": "bidirectional" if dirs == 2 else "reverse", "hidden_size": hidden}
    if s["activations"]:
        per = len(s["activations"]) // dirs
        attrs["activations"] = [a for d in order for a in s["activations"][d * per : (d + 1) * per]]
    # initial states [dirs, batch, hidden]: the table's row after the pads (model's forward), zeros (backward)
    tables = {}
    for part in ("h", "c"):
        table = numpy_helper.to_array(s[f"{part}_table"]).astype(np.float32)  # [rows, hidden]
        stacked = np.stack([np.zeros_like(table), table]) if dirs == 2 else table[None]
        tables[part] = const(f"{part}_table2", stacked, np.float32)  # [dirs, rows, hidden]

    # by word count k (0..max_len): the table row of the state after max_len - max(k, 1) pads, and max(k, 1)
    counts = np.arange(s["max_len"] + 1)
    row_of = const("row_of_count", np.minimum(s["max_len"] - np.maximum(counts, 1), s["last_row"]), np.int64)
    divisor_of = const("divisor_of_count", np.maximum(counts, 1)[:, None], np.float32)
    k = word_counts  # [batch], at most max_len
    lens = op("Cast", [k], "lens", to=TensorProto.INT32)
    row = op("Gather", [row_of, k], "row", axis=0)
    one = const("head_one", 1, np.int64)
    states = [op("Gather", [tables[part], row], f"initial_{part}", axis=1) for part in ("h", "c")]  # [dirs, batch, hidden]
    steps = op("Transpose", [ids_rev], "ids_steps", perm=[1, 0])  # [width, batch]
    x = op("Gather", [EMBEDDING_NAME, steps], "x", axis=0)  # [width, batch, dim]
    nodes.append(helper.make_node("LSTM", [x, w, r, b, lens, states[0], states[1]], [p + "Y"], name=p + "lstm", **attrs))
    # pooled over the steps (axis 0 of Y [width, dirs, batch, hidden]), then [batch, features]: the small
    # pooled tensors are transposed, not Y
    # WordPooling's maximum with the pads as -1: the LSTM outputs zeros past each text's k words, minus 1 there
    is_pad = op("Less", [steps, one], "is_pad")  # [width, batch]
    pad_f = op("Unsqueeze", [op("Cast", [is_pad], "pad_f", to=TensorProto.FLOAT), const("axes13", [1, 3], np.int64)], "pad_f4")
    filled = op("Sub", [p + "Y", pad_f], "y_filled")  # a Sub broadcasts cheaper than a Where
    pooled = op("ReduceMax", [filled], "maxes", axes=[0], keepdims=0)  # [dirs, batch, hidden]
    if s["mode"] == "mean-max":
        sums = op("ReduceSum", [p + "Y", const("axes0", [0], np.int64)], "sums", keepdims=0)  # zeros past each k
        count = op("Gather", [divisor_of, k], "divisor", axis=0)  # [batch, 1]
        pooled = op("Concat", [op("Div", [sums, count], "means"), pooled], "pooled", axis=0)  # [2 * dirs, batch, hidden]
    by_text = op("Transpose", [pooled], "pooled_bt", perm=[1, 0, 2])
    features = op("Reshape", [by_text, const("flat_shape", [0, -1], np.int64)], "features")
    dense = numpy_helper.to_array(s["dense_w"])  # [features, classes]: blocks of [forward | backward] units
    if dirs == 2:
        blocks = dense.reshape(-1, 2, hidden, dense.shape[-1])
        dense = blocks[:, ::-1].reshape(dense.shape)
    logits = op("MatMul", [features, const("dense_w", dense, dense.dtype)], "matmul")
    logits = op("Add", [logits, s["dense_b"].name], "logits")
    inits.append(s["dense_b"])
    final = s["final"]
    final_attrs = {a.name: helper.get_attribute_value(a) for a in final.attribute}
    nodes.append(helper.make_node(final.op_type, [logits], [OUTPUT_NAME], name=p + "final", **final_attrs))
    return nodes, inits
