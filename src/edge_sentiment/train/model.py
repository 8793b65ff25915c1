"""The Keras model: Embedding -> LSTM -> (pooling over the words) -> Dense(sigmoid).

Its inference form (dropout off, what the exporter converts) is export/inference.py's."""

from __future__ import annotations

from typing import Any

from .recipes import Recipe

__all__ = ["build_model"]


def build_model(recipe: Recipe, vocab_size: int | None = None, steps_per_epoch: int | None = None) -> Any:
    """The lab's architecture, sized by the recipe, compiled with Adam and binary cross-entropy.

    vocab_size is the tokenizer's (at most the recipe's, less when the corpus has fewer words);
    steps_per_epoch (batches per epoch) is needed by the cosine learning rate schedule.
    """
    import keras

    from .pooling import WordPooling

    # The lab's input dropout is the LSTM's own (one mask per gate, the same at every time step).
    # Recipes may instead put it on the embeddings as a Dropout layer (a fresh mask at every step).
    # Either way it vanishes at inference: the exported model is the same Embedding -> LSTM -> Dense.
    tokens = keras.Input(shape=(recipe.max_len,), dtype="int32", name="tokens")
    layers = [
        keras.layers.Embedding(vocab_size or recipe.vocab_size, recipe.embedding_dim, name="embedding"),
    ]
    if recipe.word_dropout:  # one draw per word: its whole vector is kept or zeroed
        layers.append(keras.layers.Dropout(recipe.word_dropout, noise_shape=(None, recipe.max_len, 1), name="word_dropout"))
    lstm_dropout = recipe.dropout
    if recipe.dropout and recipe.dropout_per_step:
        layers.append(keras.layers.Dropout(recipe.dropout, name="input_dropout"))
        lstm_dropout = 0.0
    pooled = recipe.pooling != "last"
    if recipe.dropout_masks == "step" and (lstm_dropout or recipe.recurrent_dropout):
        from .stepdropout import step_dropout_layer  # Keras 2's masks; trainer.py saves a plain copy

        lstm = step_dropout_layer(
            recipe.cell,
            recipe.lstm_units,
            dropout=lstm_dropout,
            recurrent_dropout=recipe.recurrent_dropout,
            return_sequences=pooled,
            name=recipe.cell,
        )
    else:
        cell = keras.layers.GRU if recipe.cell == "gru" else keras.layers.LSTM
        lstm = cell(
            recipe.lstm_units,
            dropout=lstm_dropout,
            return_sequences=pooled,
            recurrent_dropout=recipe.recurrent_dropout,
            name=recipe.cell,
        )
    layers.append(keras.layers.Bidirectional(lstm, name=recipe.recurrent_name) if recipe.bidirectional else lstm)
    dense = keras.layers.Dense(1, activation="sigmoid", name="probability")
    if not pooled:  # the lab's model, layer for layer
        model = keras.Sequential([tokens, *layers, dense], name="sentiment_lstm")
    else:
        x = tokens
        for layer in layers:
            x = layer(x)
        x = WordPooling(recipe.pooling, name="pooling")([x, tokens])
        model = keras.Model(tokens, dense(x), name="sentiment_lstm")
    learning_rate: Any = recipe.learning_rate
    if recipe.learning_rate_schedule == "cosine":
        if not steps_per_epoch:
            raise ValueError("a cosine learning rate schedule needs steps_per_epoch")
        learning_rate = keras.optimizers.schedules.CosineDecay(recipe.learning_rate, steps_per_epoch * recipe.epochs)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
    )
    return model
