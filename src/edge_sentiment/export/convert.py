"""Keras -> ONNX through tf2onnx.from_function (from_keras fails on Keras 3: tf2onnx issue #2448)."""

from __future__ import annotations

import os
from typing import Any

from ..runtime.bundle import INPUT_NAME, OUTPUT_NAME

__all__ = ["load_keras_model", "to_onnx", "DEFAULT_OPSET"]

DEFAULT_OPSET = 17


def load_keras_model(path: str | os.PathLike[str]) -> Any:
    """Load a .keras file with safe_mode=True, so a file with a Lambda layer (arbitrary code) is refused."""
    import keras

    from ..errors import ExportError
    from ..train import pooling  # noqa: F401  (registers the WordPooling layer)

    try:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except ValueError as exc:
        text = str(exc)
        if "Lambda" in text or "safe_mode" in text:
            raise ExportError(
                f"{path} holds a Lambda layer (arbitrary Python code); edge-sentiment loads Keras models "
                "with safe_mode=True and refuses it"
            ) from None
        raise ExportError(f"{path} is not a Keras model edge-sentiment can load: {text.splitlines()[0]}") from None
    except OSError as exc:
        raise ExportError(f"cannot read the Keras model {path}: {exc}") from None


def to_onnx(model: Any, *, opset: int = DEFAULT_OPSET, strip_dropout: bool = True) -> Any:
    """Convert to an onnx.ModelProto with input tokens int32 [batch, length] and output probability.

    The length is dynamic: a shorter, pre-padded input is the same as fewer leading pads.
    strip_dropout converts the dropout-free inference clone, which tf2onnx maps to one fused LSTM op.
    """
    import tensorflow as tf
    import tf2onnx

    from ..train.model import inference_clone

    served = inference_clone(model) if strip_dropout else model
    spec = (tf.TensorSpec((None, None), tf.int32, name=INPUT_NAME),)

    @tf.function(input_signature=spec)
    def serve(tokens: Any) -> dict[str, Any]:
        return {OUTPUT_NAME: served(tokens, training=False)}

    proto, _ = tf2onnx.convert.from_function(serve, input_signature=spec, opset=opset)
    proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    proto.graph.input[0].type.tensor_type.shape.dim[1].dim_param = "length"
    proto.graph.output[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    return proto
