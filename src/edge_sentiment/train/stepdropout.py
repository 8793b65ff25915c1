"""Recurrent layers whose dropout draws new masks at every time step, as Keras 2 did inside fit().

Keras 3's LSTM and GRU cells draw their input and recurrent dropout masks once per sequence and reuse
them at every step (keras-team/keras#19993). Keras 2 (tf-keras) cached them in a per-context cache
that a graph-mode `tf.while_loop` step does not share, so inside `fit()` every step drew fresh ones.
The lab ran on Keras 2; these cells give Keras 3 that behaviour. Dropout is identity at inference, so
a trained layer's weights go into a plain LSTM or GRU unchanged (`plain_copy`), which is what is saved
and exported.
"""

from __future__ import annotations

from typing import Any

import keras

__all__ = ["StepDropoutLSTMCell", "StepDropoutGRUCell", "step_dropout_layer", "plain_copy"]


class _StepMasks:
    """Mixin for a Keras 3 recurrent cell: fresh dropout masks at every call (every time step)."""

    dropout: float
    recurrent_dropout: float
    seed_generator: Any

    def _masks(self, step_input: Any, rate: float) -> Any:
        # Keras's cells with implementation 1 (the one recurrent dropout forces) want one mask per gate.
        count = getattr(self, "dropout_mask_count", None)
        ones = keras.ops.ones_like(step_input)
        masks = [keras.random.dropout(ones, rate=rate, seed=self.seed_generator) for _ in range(count or 1)]
        return masks if count else masks[0]

    def get_dropout_mask(self, step_input: Any) -> Any:
        return self._masks(step_input, self.dropout) if self.dropout > 0 else None

    def get_recurrent_dropout_mask(self, step_input: Any) -> Any:
        return self._masks(step_input, self.recurrent_dropout) if self.recurrent_dropout > 0 else None


class StepDropoutLSTMCell(_StepMasks, keras.layers.LSTMCell):
    """keras.layers.LSTMCell with Keras 2's per-step dropout masks."""


class StepDropoutGRUCell(_StepMasks, keras.layers.GRUCell):
    """keras.layers.GRUCell with Keras 2's per-step dropout masks."""


def step_dropout_layer(
    cell: str, units: int, *, dropout: float, recurrent_dropout: float, return_sequences: bool, name: str
) -> Any:
    """An RNN layer of the given cell ("lstm" or "gru") that trains with per-step dropout masks."""
    cls = StepDropoutGRUCell if cell == "gru" else StepDropoutLSTMCell
    return keras.layers.RNN(
        cls(units, dropout=dropout, recurrent_dropout=recurrent_dropout, name=f"{name}_cell"),
        return_sequences=return_sequences,
        name=name,
    )


def plain_copy(model: Any, plain: Any) -> Any:
    """`plain` (the same architecture built with Keras's own LSTM/GRU) holding `model`'s trained weights."""
    weights = model.get_weights()
    shapes = [w.shape for w in plain.get_weights()]
    if shapes != [w.shape for w in weights]:
        raise ValueError(f"the plain model's weights {shapes} do not match the trained model's {[w.shape for w in weights]}")
    plain.set_weights(weights)
    return plain
