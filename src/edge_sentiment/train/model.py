"""The Keras model: Embedding -> LSTM -> Dense(sigmoid), and its dropout-free inference clone."""

from __future__ import annotations

from typing import Any

from .recipes import Recipe

__all__ = ["build_model", "inference_clone"]


def build_model(recipe: Recipe, vocab_size: int | None = None) -> Any:
    """The lab's architecture, sized by the recipe, compiled with Adam and binary cross-entropy.

    vocab_size is the tokenizer's (at most the recipe's, less when the corpus has fewer words).
    """
    import keras

    # The lab's input dropout is the LSTM's own (one mask per gate, the same at every time step).
    # Recipes may instead put it on the embeddings as a Dropout layer (a fresh mask at every step).
    # Either way it vanishes at inference: the exported model is the same Embedding -> LSTM -> Dense.
    layers = [
        keras.Input(shape=(recipe.max_len,), dtype="int32", name="tokens"),
        keras.layers.Embedding(vocab_size or recipe.vocab_size, recipe.embedding_dim, name="embedding"),
    ]
    lstm_dropout = recipe.dropout
    if recipe.dropout and recipe.dropout_per_step:
        layers.append(keras.layers.Dropout(recipe.dropout, name="input_dropout"))
        lstm_dropout = 0.0
    layers += [
        keras.layers.LSTM(recipe.lstm_units, dropout=lstm_dropout, recurrent_dropout=recipe.recurrent_dropout,
                          name="lstm"),
        keras.layers.Dense(1, activation="sigmoid", name="probability"),
    ]
    model = keras.Sequential(layers, name="sentiment_lstm")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=recipe.learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model


def inference_clone(model: Any) -> Any:
    """The same model and weights with dropout off: what inference computes, in a fusable form.

    Dropout does nothing at inference, but a recurrent_dropout > 0 makes Keras and tf2onnx emit a
    generic loop instead of one fused LSTM op; the clone has identical outputs.
    """
    import keras

    def strip_dropout(layer: Any) -> Any:
        config = layer.get_config()
        for key in ("dropout", "recurrent_dropout"):
            if key in config:
                config[key] = 0.0
        return layer.__class__.from_config(config)

    clone = keras.models.clone_model(model, clone_function=strip_dropout)
    clone.set_weights(model.get_weights())
    return clone
