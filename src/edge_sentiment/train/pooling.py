"""WordPooling: the LSTM's outputs pooled over the words of each text, pads left out.

Importing this module registers the layer with Keras, so `keras.models.load_model(..., safe_mode=True)`
loads models that have one.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from .recipes import POOLINGS

__all__ = ["WordPooling"]


@keras.saving.register_keras_serializable(package="edge_sentiment")
class WordPooling(keras.layers.Layer):
    """Inputs: [outputs (batch, steps, units), tokens (batch, steps)]; pads are token id 0.

    "max": the element-wise maximum over the words. Pad steps are filled with -1, which no LSTM output
    (o * tanh(c), in (-1, 1)) falls below, so a text with at least one word gets its exact maximum and
    a text of pads only gets -1s. "mean-max": the mean over the words (0 for a text of pads only), then
    the maximum. The ops (Equal, Not, Cast, Mul, Add, ReduceMax, ReduceSum, Div) convert to plain ONNX,
    and the padding skip keeps them exact: the graph computes the mask from the tokens the LSTM reads.
    """

    def __init__(self, mode: str = "max", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in POOLINGS or mode == "last":
            raise ValueError(f"unknown pooling mode {mode!r}; choose one of: {', '.join(POOLINGS[1:])}")
        self.mode = mode

    def call(self, inputs: Any) -> Any:
        outputs, tokens = inputs
        mask = ops.expand_dims(ops.cast(ops.not_equal(tokens, 0), outputs.dtype), -1)
        pooled = ops.max(outputs * mask + (mask - 1.0), axis=1)
        if self.mode == "max":
            return pooled
        mean = ops.sum(outputs * mask, axis=1) / ops.maximum(ops.sum(mask, axis=1), 1.0)
        return ops.concatenate([mean, pooled], axis=-1)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        batch, _, units = input_shape[0]
        return (batch, units if self.mode == "max" else 2 * units)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}
