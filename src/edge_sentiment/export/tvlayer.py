"""A Keras TextVectorization layer read into the bundle's pure-Python tokenizer."""

from __future__ import annotations

from typing import Any

from ..runtime.keras_tokenizers import TextVectorizationTokenizer

__all__ = ["tokenizer_from_layer"]


def tokenizer_from_layer(layer: Any, max_len: int | None) -> TextVectorizationTokenizer:
    """The layer's tokenizer (config and vocabulary), cut or padded to max_len ids."""
    return TextVectorizationTokenizer.from_layer_config(layer.get_config(), layer.get_vocabulary(), max_len)
