"""Fold a trained wide embedding into a narrow one (Recipe.embedding_rank).

The embedding E (vocabulary x width) reaches the rest of the model only through the LSTM's input
weights W (width x 4·units, one per direction): a word's contribution to the gates is E[id] @ W. A
truncated SVD of E @ W, each row weighted by the square root of how often its id occurs in the training
arrays (pads included), gives A (vocabulary x rank) and B (rank x 4·units per direction) whose product
is the closest rank-k match to the wide model's gate inputs, frequent ids the most exactly. The narrow
model, Embedding(vocabulary, rank) -> LSTM with input weights B, is the same family as the wide one
(one fused ONNX LSTM); every other weight is copied. Dropout between the two does nothing at inference.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .recipes import Recipe

__all__ = ["fold_embedding", "id_counts"]


def id_counts(x_train: np.ndarray, vocab_size: int) -> np.ndarray:
    """How often each token id occurs in the padded training arrays (pads included): the fold's row weights."""
    return np.bincount(x_train.ravel(), minlength=vocab_size)


def fold_embedding(model: Any, recipe: Recipe, counts: np.ndarray, steps_per_epoch: int) -> tuple[Any, float]:
    """The model with its embedding folded to recipe.embedding_rank, compiled like the wide one, and the
    weighted relative error of the folded gate inputs (0 = exact)."""
    from .model import build_model

    rank = recipe.embedding_rank
    embedding = model.get_layer("embedding").get_weights()[0].astype(np.float64)
    lstm = model.get_layer(recipe.recurrent_name)  # an LSTM or a GRU: the input kernel comes first either way
    lstm_weights = lstm.get_weights()  # [kernel, recurrent kernel, bias] per direction
    kernels = lstm_weights[0::3]
    gate_inputs = embedding @ np.concatenate(kernels, axis=1).astype(np.float64)
    weight = np.sqrt(np.asarray(counts, dtype=np.float64) + 1.0)[:, None]
    u, s, vt = np.linalg.svd(gate_inputs * weight, full_matrices=False)
    # E @ W has at most min(vocabulary, gate columns) components; a wider fold gets zero columns (exact)
    k = min(rank, len(s))
    narrow = np.zeros((len(embedding), rank))
    narrow[:, :k] = u[:, :k] * s[:k] / weight
    rows = np.zeros((rank, vt.shape[1]))
    rows[:k] = vt[:k]
    error = float(np.linalg.norm(s[k:]) / np.linalg.norm(s))

    folded = build_model(
        recipe.with_overrides(embedding_dim=rank, embedding_rank=0), vocab_size=len(embedding), steps_per_epoch=steps_per_epoch
    )
    folded.get_layer("embedding").set_weights([narrow.astype(np.float32)])
    width = kernels[0].shape[1]
    for d in range(len(kernels)):
        lstm_weights[3 * d] = rows[:, d * width : (d + 1) * width].astype(np.float32)
    folded.get_layer(lstm.name).set_weights(lstm_weights)
    for layer in model.layers:  # the output layer (pooling and dropout have no weights)
        if layer.weights and layer.name not in ("embedding", lstm.name):
            folded.get_layer(layer.name).set_weights(layer.get_weights())
    return folded, error
