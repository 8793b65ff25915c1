"""Keras -> ONNX through tf2onnx.from_function (from_keras fails on Keras 3: tf2onnx issue #2448)."""

from __future__ import annotations

from typing import Any

from ..runtime.bundle import INPUT_NAME, OUTPUT_NAME
from .kerasfile import load_keras_model

__all__ = ["load_keras_model", "to_onnx", "DEFAULT_OPSET"]

DEFAULT_OPSET = 17


def to_onnx(model: Any, *, opset: int = DEFAULT_OPSET, strip_dropout: bool = True, architecture: Any = None) -> Any:
    """Convert to an onnx.ModelProto with input tokens int32 [batch, length] and output probability.

    The length is dynamic: a shorter, pre-padded input is the same as fewer leading pads.
    strip_dropout converts the inference model (export/inference.py), which tf2onnx maps to fused ops.
    """
    import tensorflow as tf
    import tf2onnx

    from .inference import inference_model

    served = inference_model(model, architecture) if strip_dropout else model
    spec = (tf.TensorSpec((None, None), tf.int32, name=INPUT_NAME),)

    @tf.function(input_signature=spec)
    def serve(tokens: Any) -> dict[str, Any]:
        return {OUTPUT_NAME: served(tokens, training=False)}

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=spec, opset=opset)
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    proto.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "length"
    proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    return proto
