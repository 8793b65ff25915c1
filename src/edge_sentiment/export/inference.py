"""The model as inference computes it, in the form tf2onnx converts to fused recurrent ops.

- Dropout is off at inference, but a recurrent_dropout > 0 makes tf2onnx emit a loop: the clone has none.
- A masking embedding (mask_zero) makes a loop too: the clone does not mask, and the runtime feeds no pads
  to such a model (each text at its own length), which is what Keras's masking computes.
- tf2onnx fuses tf-keras's GRU (reset_after=True) into one ONNX GRU op, never Keras 3's: a Keras 3
  model with a GRU is rebuilt layer for layer in tf-keras, with the same weights.
Each returns a model with identical outputs; the export's parity gates check it.
"""

from __future__ import annotations

from typing import Any

from .architecture import IDENTITY, POOLINGS, WINDOWS, Architecture, recognise
from .kerasfile import keras_module

__all__ = ["inference_model"]


def _strip(config: dict[str, Any]) -> dict[str, Any]:
    for key in ("dropout", "recurrent_dropout"):
        if key in config:
            config[key] = 0.0
    if config.get("mask_zero"):
        config["mask_zero"] = False
    if config.get("recurrent_activation") == "hard_sigmoid":  # fused with sigmoid; convert.py sets HardSigmoid back
        config["recurrent_activation"] = "sigmoid"
    for key in ("layer", "backward_layer"):  # the recurrent layers inside a Bidirectional wrapper
        if isinstance(config.get(key), dict):
            _strip(config[key]["config"])
    return config


def _clone(model: Any) -> Any:
    module = keras_module(model)
    clone = module.models.clone_model(model, clone_function=lambda layer: layer.__class__.from_config(_strip(layer.get_config())))
    if module.__name__ == "tf_keras":
        clone.build(model.input_shape)
    clone.set_weights(model.get_weights())
    return clone


def _tf_keras_word_pooling(mode: str) -> Any:
    """edge-sentiment's WordPooling (train/pooling.py), the same ops in a tf-keras layer."""
    import tensorflow as tf
    import tf_keras

    class WordPooling(tf_keras.layers.Layer):  # type: ignore[misc]
        def call(self, inputs: Any) -> Any:
            outputs, tokens = inputs
            mask = tf.expand_dims(tf.cast(tf.not_equal(tokens, 0), outputs.dtype), -1)
            pooled = tf.reduce_max(outputs * mask + (mask - 1.0), axis=1)
            if mode == "max":
                return pooled
            mean = tf.reduce_sum(outputs * mask, axis=1) / tf.maximum(tf.reduce_sum(mask, axis=1), 1.0)
            return tf.concat([mean, pooled], axis=-1)

    return WordPooling()


def _tf_keras_recurrent(tf_keras: Any, name: str, config: dict[str, Any]) -> Any:
    layer = getattr(tf_keras.layers, name)
    kwargs = {
        "units": config["units"],
        "return_sequences": config.get("return_sequences", False),
        "use_bias": config.get("use_bias", True),
    }
    if name == "GRU":
        kwargs["reset_after"] = True
    return layer(**kwargs)


def _as_tf_keras(model: Any) -> Any:
    """A Keras 3 model of the recognised family, rebuilt in tf-keras with the same weights."""
    import tf_keras

    tokens = tf_keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = tokens
    for layer in model.layers:
        name = type(layer).__name__
        config = layer.get_config()
        if name == "InputLayer" or name in IDENTITY:
            continue
        if name == "WordPooling":
            x = _tf_keras_word_pooling(config.get("mode", "max"))([x, tokens])
            continue
        if name == "Embedding":
            new = tf_keras.layers.Embedding(config["input_dim"], config["output_dim"])
        elif name in ("LSTM", "GRU"):
            new = _tf_keras_recurrent(tf_keras, name, config)
        elif name == "Bidirectional":
            inner = layer.forward_layer
            new = tf_keras.layers.Bidirectional(_tf_keras_recurrent(tf_keras, type(inner).__name__, inner.get_config()))
        elif name in POOLINGS or name == "Flatten":
            new = getattr(tf_keras.layers, name)()
        elif name in WINDOWS:  # Conv1D, MaxPooling1D, AveragePooling1D: their configs' shared keys
            keep = ("filters", "kernel_size", "strides", "padding", "dilation_rate", "activation", "use_bias", "pool_size")
            new = getattr(tf_keras.layers, name)(**{k: config[k] for k in keep if k in config})
        else:  # Dense, as recognise() allows nothing else
            new = tf_keras.layers.Dense(
                config["units"], activation=config.get("activation"), use_bias=config.get("use_bias", True)
            )
        x = new(x)
        new.set_weights(layer.get_weights())
    return tf_keras.Model(tokens, x)


def inference_model(model: Any, architecture: Architecture | None = None) -> Any:
    """The model with dropout and masking off, in the Keras that tf2onnx fuses it from."""
    architecture = architecture or recognise(model)
    if keras_module(model).__name__ == "keras" and "GRU" in architecture.fused_ops():
        return _as_tf_keras(model)
    return _clone(model)
