"""Pre-train the embedding with word2vec (gensim) on the training reviews' own text, before the
supervised training starts. Only the text of the reviews the model trains on is read: not the
validation reviews, not the test set, no labels."""

from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np

from ..runtime.tokenizer import OOV_ID, Tokenizer, words

__all__ = ["pretrain_embedding"]

_OOV = "\x00oov"  # stands for every out-of-vocabulary word, so id 1 gets a vector too
EMBEDDING_STD = 0.05  # the scale Keras's own initialisation and a trained embedding here have (std 0.03-0.05)


def _stable_hash(text: str) -> int:
    """gensim seeds each word's starting vector from a hash of it: Python's hash() changes per process."""
    return zlib.crc32(text.encode("utf-8"))


def pretrain_embedding(
    texts: Sequence[str], tokenizer: Tokenizer, dim: int, epochs: int, seed: int, window: int = 5, sample: float = 1e-4
) -> np.ndarray:
    """A (vocab_size, dim) float32 matrix for the Embedding layer: skip-gram vectors of the tokenizer's
    words (row 0, the padding, is zero), scaled to a standard deviation of EMBEDDING_STD.

    One worker thread and a stable hash make it the same for the same texts and seed. sample is
    word2vec's down-sampling of frequent words (0 = off, for tiny corpora).
    """
    from gensim.models import Word2Vec

    vocab = set(tokenizer.words)
    sentences = [[w if w in vocab else _OOV for w in words(text)] for text in texts]
    model = Word2Vec(
        sentences,
        vector_size=dim,
        window=window,
        min_count=1,
        sg=1,
        negative=5,
        sample=sample,
        epochs=epochs,
        workers=1,
        seed=seed,
        hashfxn=_stable_hash,
    )
    matrix = np.zeros((tokenizer.vocab_size, dim), dtype=np.float32)
    rng = np.random.default_rng(seed)
    spread = float(model.wv.vectors.std())
    for row, word in enumerate([_OOV, *tokenizer.words], start=OOV_ID):
        if word in model.wv:
            matrix[row] = model.wv[word]
        else:  # a vocabulary word absent from the texts read (possible with --train-limit)
            matrix[row] = rng.normal(0.0, spread, dim)
    matrix[OOV_ID:] *= EMBEDDING_STD / matrix[OOV_ID:].std()
    return matrix
