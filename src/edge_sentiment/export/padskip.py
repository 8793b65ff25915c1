"""Exact padding skip: the LSTM's state after k leading pads, tabulated once and fed as its initial state.

The padding id is always 0, so the state after k pads is a fixed function of k. The graph is edited
to run the LSTM over the given tokens only and to start it from the state that the missing
(max_len - length) pads would have produced: a [batch, length] input gives the same probability as
the same tokens pre-padded to max_len, for every length. Pads past the step where the state stops
changing are one table row.

A bidirectional LSTM is exact when only its outputs at the words are read (pooling over the words):
its backward direction meets the words before the pads, so it starts from the zero state whatever the
padding. Its final state is not (it ends on the pads); the runtime parity gate fails such a model.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..errors import ExportError
from ..runtime.bundle import EMBEDDING_NAME, INPUT_NAME

__all__ = ["add_padding_skip", "pad_states"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def pad_states(
    x_pad: np.ndarray,
    w: np.ndarray,
    r: np.ndarray,
    b: np.ndarray,
    steps: int,
    hard_sigmoid: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """h and c after k = 0..steps inputs of x_pad, for an ONNX LSTM (gates i, o, f, c) from zero state;
    hard_sigmoid (alpha, beta): the gates are clip(alpha * x + beta, 0, 1), as Keras's hard_sigmoid."""
    gate: Callable[[np.ndarray], np.ndarray]
    if hard_sigmoid is not None:
        alpha, beta = hard_sigmoid
        gate = lambda x: np.clip(alpha * x + beta, 0.0, 1.0)  # noqa: E731
    else:
        gate = _sigmoid
    hidden = r.shape[1]
    x_part = w.astype(np.float64) @ x_pad.astype(np.float64) + b[: 4 * hidden] + b[4 * hidden :]
    h = np.zeros(hidden)
    c = np.zeros(hidden)
    hs, cs = [h], [c]
    r64 = r.astype(np.float64)
    for _ in range(steps):
        z = x_part + r64 @ h
        i, o, f, g = np.split(z, 4)
        c = gate(f) * c + gate(i) * np.tanh(g)
        h = gate(o) * np.tanh(c)
        hs.append(h)
        cs.append(c)
    return np.asarray(hs, dtype=np.float32), np.asarray(cs, dtype=np.float32)


def _settled_rows(h: np.ndarray, c: np.ndarray) -> int:
    """Rows to keep: from the returned index on, every state equals the last one in float32."""
    k = len(h) - 1
    while k > 0 and np.array_equal(h[k - 1], h[-1]) and np.array_equal(c[k - 1], c[-1]):
        k -= 1
    return k + 1


def _one(nodes: list[Any], op: str) -> Any:
    found = [n for n in nodes if n.op_type == op]
    if len(found) != 1:
        raise ExportError(f"padding skip needs exactly one {op} op in the graph, found {len(found)}")
    return found[0]


def _prune(graph: Any) -> None:
    """Drop nodes and initializers that no output depends on."""
    needed = {o.name for o in graph.output}
    keep = []
    for node in reversed(list(graph.node)):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
    del graph.node[:]
    graph.node.extend(reversed(keep))
    inits = [i for i in graph.initializer if i.name in needed]
    del graph.initializer[:]
    graph.initializer.extend(inits)


def _last_state_from_y_h(graph: Any, lstm: Any, make: Any) -> list[Any]:
    """Feed the dense layer from Y_h when tf2onnx sliced the last step out of Y (Squeeze/Slice/Squeeze)."""
    producers = {o: node for node in graph.node for o in node.output}
    for node in graph.node:
        if node.op_type != "MatMul":
            continue
        chain: list[str] = []
        name = node.input[0]
        while name in producers and producers[name].op_type in ("Squeeze", "Slice") and len(chain) < 3:
            chain.append(producers[name].op_type)
            name = producers[name].input[0]
        if name == lstm.output[0] and chain == ["Squeeze", "Slice", "Squeeze"] and len(lstm.output) > 1 and lstm.output[1]:
            node.input[0] = "padskip/last_h"
            return [make("Squeeze", [lstm.output[1], "padskip/axis0"], ["padskip/last_h"])]
    return []


def _embedding_lookup(graph: Any) -> Any:
    """The embedding's Gather, with its weight renamed to EMBEDDING_NAME (what the runtime checks)."""
    inits = {t.name: t for t in graph.initializer}
    gathers = [n for n in graph.node if n.op_type == "Gather" and n.input[0] in inits and len(inits[n.input[0]].dims) == 2]
    if len(gathers) != 1:
        raise ExportError(f"expected one embedding lookup (Gather on a 2-D weight), found {len(gathers)}")
    old_name = gathers[0].input[0]
    inits[old_name].name = EMBEDDING_NAME
    for node in graph.node:
        node.input[:] = [EMBEDDING_NAME if i == old_name else i for i in node.input]
    return gathers[0]


def gather_weight(graph: Any, gather: Any) -> Any:
    return next(t for t in graph.initializer if t.name == gather.input[0])


def name_embedding(model: Any) -> Any:
    """Name the embedding weight as the runtime expects, for a model served without the pad skip."""
    _embedding_lookup(model.graph)
    return model


def add_padding_skip(model: Any, max_len: int) -> tuple[Any, dict[str, Any]]:
    """Edit a converted model in place to skip leading pads exactly; returns it and a description."""
    from onnx import TensorProto, numpy_helper

    graph = model.graph
    lstm = _one(list(graph.node), "LSTM")
    direction, hard = _plain_lstm(lstm)
    inits = {t.name: t for t in graph.initializer}
    w, r, b = (numpy_helper.to_array(inits[name])[0] for name in lstm.input[1:4])  # the forward direction
    hidden = r.shape[1]

    gather = _embedding_lookup(graph)
    x_pad = numpy_helper.to_array(gather_weight(graph, gather))[0]  # the padding id is 0

    h_all, c_all = pad_states(x_pad, w, r, b, max_len, hard)
    rows = _settled_rows(h_all, c_all)
    last = rows - 1

    # tokens -> the last max_len columns; everything downstream reads that.
    for node in graph.node:
        node.input[:] = ["tokens_last" if i == INPUT_NAME else i for i in node.input]
    _add_tables(graph, max_len, last, hidden, h_all[:rows], c_all[:rows])
    inputs = list(lstm.input) + [""] * (7 - len(lstm.input))
    inputs[5], inputs[6] = "padskip/initial_h", "padskip/initial_c"
    lstm.input[:] = inputs
    # Fewer small ops at batch 1: ONNX Gather already wraps negative ids the way TF's converted
    # select chain does, and the last hidden state is the LSTM's Y_h output.
    gather.input[1] = "tokens_last"
    nodes = _skip_nodes(direction)
    for node in graph.node:
        nodes.append(node)
        if node is lstm:
            nodes += _last_state_from_y_h(graph, lstm, _node)
    del graph.node[:]
    graph.node.extend(nodes)
    _prune(graph)
    del graph.value_info[:]
    graph.input[0].type.tensor_type.elem_type = TensorProto.INT32
    return model, {
        "table_rows": rows,
        "max_len": max_len,
        "hidden": hidden,
        "direction": direction,
        "note": f"states after {last} or more leading pads are equal in float32",
    }


def _plain_lstm(lstm: Any) -> tuple[str, tuple[float, float] | None]:
    """The LSTM's direction and its hard_sigmoid gates (alpha, beta), or None for sigmoid ones; ExportError
    for an LSTM the pad skip does not reproduce."""
    from onnx import helper

    attrs = {a.name: helper.get_attribute_value(a) for a in lstm.attribute}
    direction = attrs.get("direction", b"forward")
    direction = direction.decode() if isinstance(direction, bytes) else direction
    if direction not in ("forward", "bidirectional") or "clip" in attrs or attrs.get("input_forget", 0):
        raise ExportError(f"padding skip supports a plain forward or bidirectional LSTM; this one has {attrs}")
    acts = [a.decode() if isinstance(a, bytes) else a for a in attrs.get("activations", [])]
    directions = 1 if direction == "forward" else 2
    if acts == ["HardSigmoid", "Tanh", "Tanh"] * directions:  # Keras's hard_sigmoid gates (convert.py)
        return str(direction), (float(attrs["activation_alpha"][0]), float(attrs["activation_beta"][0]))
    if acts not in ([], ["Sigmoid", "Tanh", "Tanh"] * directions):
        raise ExportError(f"padding skip supports the default LSTM activations or hard_sigmoid gates, not {acts}")
    return str(direction), None


def _add_tables(graph: Any, max_len: int, last: int, hidden: int, h_table: np.ndarray, c_table: np.ndarray) -> None:
    """The pad skip's constants: the state tables and the shapes its nodes slice and gather with."""
    from onnx import numpy_helper

    def const(name: str, value: Any, dtype: Any = np.int64) -> None:
        graph.initializer.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))

    const("padskip/max_len", max_len)
    const("padskip/last_row", last)
    const("padskip/neg_max_len", [-max_len])
    const("padskip/int64_max", [np.iinfo(np.int64).max])
    const("padskip/axis1", [1])
    const("padskip/axis0", [0])
    const("padskip/zero", 0)
    const("padskip/one", 1)
    const("padskip/hidden", [hidden])
    const("padskip/backward_state", np.zeros((1, 1, hidden)), np.float32)
    const("padskip/h_table", h_table, np.float32)
    const("padskip/c_table", c_table, np.float32)


def _node(op: str, inputs: list[str], outputs: list[str], **attrs: Any) -> Any:
    from onnx import helper

    return helper.make_node(op, inputs, outputs, name=outputs[0], **attrs)


def _skip_nodes(direction: str) -> list[Any]:
    """The nodes before the LSTM: the last max_len tokens, the leading pads counted, the initial states
    gathered from the tables (zeros for a backward direction, as in Keras)."""
    n = _node
    nodes = [
        n("Slice", [INPUT_NAME, "padskip/neg_max_len", "padskip/int64_max", "padskip/axis1"], ["tokens_last"]),
        n("Shape", ["tokens_last"], ["padskip/shape"]),
        n("Gather", ["padskip/shape", "padskip/zero"], ["padskip/batch"]),
        n("Gather", ["padskip/shape", "padskip/one"], ["padskip/length"]),
        n("Sub", ["padskip/max_len", "padskip/length"], ["padskip/missing"]),
        n("Min", ["padskip/missing", "padskip/last_row"], ["padskip/row"]),
        n("Unsqueeze", ["padskip/batch", "padskip/axis0"], ["padskip/batch1"]),
        n("Concat", ["padskip/batch1", "padskip/hidden"], ["padskip/state_shape"], axis=0),
    ]
    for part in ("h", "c"):
        forward = f"padskip/initial_{part}" if direction == "forward" else f"padskip/forward_{part}"
        nodes += [
            n("Gather", [f"padskip/{part}_table", "padskip/row"], [f"padskip/{part}_row"]),
            n("Expand", [f"padskip/{part}_row", "padskip/state_shape"], [f"padskip/{part}_batch"]),
            n("Unsqueeze", [f"padskip/{part}_batch", "padskip/axis0"], [forward]),
        ]
        if direction == "bidirectional":  # the backward direction starts from zeros, as in Keras
            nodes += [
                n("Mul", [forward, "padskip/backward_state"], [f"padskip/backward_{part}"]),
                n("Concat", [forward, f"padskip/backward_{part}"], [f"padskip/initial_{part}"], axis=0),
            ]
    return nodes
