"""Keras -> ONNX through tf2onnx.from_function (from_keras fails on Keras 3: tf2onnx issue #2448).

Two things are added to tf2onnx's graph, both exact: the head's sigmoid or softmax where the model gives
logits (the architecture says), and the hard_sigmoid recurrent activation of Keras 2's (0.2x + 0.5) or
Keras 3's (x/6 + 0.5) LSTMs and GRUs. tf2onnx fuses a recurrent layer only with its default gates, so the
inference model is converted with sigmoid gates and each fused op then gets ONNX's HardSigmoid with the
Keras version's alpha and beta (onnxruntime's CPU LSTM and GRU kernels honour them: tests/test_export_bodies.py
measures it against Keras).
"""

from __future__ import annotations

from typing import Any

from ..errors import ExportError
from ..runtime.bundle import INPUT_NAME, OUTPUT_NAME
from .kerasfile import load_keras_model
from .options import DEFAULT_OPSET

__all__ = ["load_keras_model", "to_onnx", "DEFAULT_OPSET", "set_hard_sigmoid"]


def to_onnx(model: Any, *, opset: int = DEFAULT_OPSET, strip_dropout: bool = True, architecture: Any = None) -> Any:
    """Convert to an onnx.ModelProto with input tokens int32 [batch, length] and output probability.

    The length is dynamic: a shorter, pre-padded input is the same as fewer leading pads.
    strip_dropout converts the inference model (export/inference.py), which tf2onnx maps to fused ops.
    """
    import tensorflow as tf
    import tf2onnx

    from .architecture import recognise
    from .inference import inference_model

    arch = architecture or recognise(model)
    served = inference_model(model, arch) if strip_dropout else model
    spec = (tf.TensorSpec((None, None), tf.int32, name=INPUT_NAME),)
    head = {"sigmoid": tf.math.sigmoid, "softmax": lambda x: tf.nn.softmax(x, axis=-1)}.get(arch.applies or "")

    @tf.function(input_signature=spec)  # type: ignore[untyped-decorator]
    def serve(tokens: Any) -> dict[str, Any]:
        out = served(tokens, training=False)
        return {OUTPUT_NAME: head(out) if head else out}

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=spec, opset=opset)
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    proto.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "length"
    proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    if strip_dropout and any(r.hard_sigmoid for r in arch.recurrent):
        set_hard_sigmoid(proto, [r.hard_sigmoid for r in arch.recurrent])
    return proto


def set_hard_sigmoid(proto: Any, gates: list[tuple[float, float] | None]) -> None:
    """Give the fused recurrent ops, in graph order, HardSigmoid gates where gates has (alpha, beta)."""
    from onnx import helper

    ops = [node for node in proto.graph.node if node.op_type in ("LSTM", "GRU")]
    if len(ops) != len(gates):  # not one fused op per layer: the op census gate fails the export
        return
    for node, gate in zip(ops, gates):
        if gate is None:
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        direction = attrs.get("direction", b"forward")
        directions = 2 if (direction.decode() if isinstance(direction, bytes) else direction) == "bidirectional" else 1
        cell = ["HardSigmoid", "Tanh", "Tanh"] if node.op_type == "LSTM" else ["HardSigmoid", "Tanh"]
        default = [b"Sigmoid", *[b"Tanh"] * (len(cell) - 1)] * directions
        if attrs.get("activations", default) != default or {"activation_alpha", "activation_beta"} & set(attrs):
            raise ExportError(f"the fused {node.op_type} op has activations {attrs}, not sigmoid gates; cannot set hard_sigmoid")
        kept = [a for a in node.attribute if a.name != "activations"]
        del node.attribute[:]
        node.attribute.extend(kept)
        alpha, beta = gate
        node.attribute.extend(
            [
                helper.make_attribute("activations", cell * directions),
                # consumed in the order of the activations: only HardSigmoid takes alpha and beta
                helper.make_attribute("activation_alpha", [alpha] * directions),
                helper.make_attribute("activation_beta", [beta] * directions),
            ]
        )
