"""The texts an export is checked on: ones that hit every tokenizer rule, and real or generated reviews."""

from __future__ import annotations

import os

import numpy as np

from ..data import load_imdb
from ..errors import DataError
from ..runtime.tokenizer import TokenizerBase

__all__ = ["PARITY_RULE_TEXTS", "parity_texts", "parity_sample", "LONGEST_SAMPLE"]

# Generated samples are at most this long (a model that reads whole texts may take 100,000 ids).
LONGEST_SAMPLE = 1000

# Punctuation, case, Unicode letters and marks, HTML line breaks, digits, apostrophes, unknown words,
# whitespace of every kind, an empty text and an over-long one are added by parity_texts.
PARITY_RULE_TEXTS = [
    "A wonderful, moving film.",
    "Dull, and far too long...",
    "GREAT cast; BAD ending!",
    "I didn't like it - it's 'meh', honestly.",
    "Best movie of 2009: 10/10, would watch again (twice).",
    "It was good.<br /><br />Then it wasn't.<br/>The end.",
    "<i>Loved</i> the <b>music</b> & the sets",
    "Tabs\tand\nnewlines\r\nand\u00a0non-breaking\u2009spaces",
    "Café, naïve, Straße, ÉLAN, İstanbul, ǅ, ＧＲＥＡＴ ﬁlm",
    "don’t ‘quote’ me — it´s `fine`",
    "zxqwv blorptastic unfilmable gobbledygook",
    "emoji 😀👍 and math ∑ and CJK 映画 and Arabic فيلم",
    "    ",
    "!!!???...",
    "a",
    "The the THE tHe",
    "well-made, low-budget, self-indulgent",
    "7\\10 stars, c'mon, rock'n'roll",
]


def _test_reviews(n: int, data: str | os.PathLike[str] | None) -> tuple[list[str] | None, str]:
    """n IMDB test reviews (a fixed balanced sample) when the data is at hand; else None and why not.
    Data that was asked for (data given) and cannot be read is an error."""
    if not n:
        return None, "none asked"
    try:
        return load_imdb(data, splits=("test",))["test"].subset(n, seed=0).texts, ""
    except DataError as exc:
        if data is not None:
            raise
        return None, str(exc).split(":")[0]


def parity_sample(tokenizer: TokenizerBase, n: int, data: str | os.PathLike[str] | None) -> tuple[list[list[int]], str]:
    """Token ids of n real test reviews when the data is at hand, else n generated sequences."""
    reviews, reason = _test_reviews(n, data)
    if reviews is not None:
        return [tokenizer.encode(t) for t in reviews], f"{len(reviews)} IMDB test reviews"
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, min(tokenizer.max_len, LONGEST_SAMPLE) + 1, size=n)
    ids = [rng.integers(1, tokenizer.vocab_size, size=int(k)).tolist() for k in lengths]
    return ids, f"{n} generated token sequences (no IMDB data: {reason})"


def parity_texts(tokenizer: TokenizerBase, n: int, data: str | os.PathLike[str] | None) -> tuple[list[str], str]:
    """PARITY_RULE_TEXTS, an empty and an over-long text, and n real IMDB test reviews when the data is at
    hand, else n texts made of the tokenizer's own words with random case and punctuation."""
    words = tokenizer.known_words() or ["film"]
    extra = ["", " ".join(words[i % len(words)] for i in range(min(tokenizer.max_len, LONGEST_SAMPLE) + 25))]
    reviews, reason = _test_reviews(n, data)
    if reviews is not None:
        rules = f"{len(PARITY_RULE_TEXTS) + 2} rule texts"
        return PARITY_RULE_TEXTS + extra + reviews, f"{rules} and {len(reviews)} IMDB test reviews"
    rng = np.random.default_rng(0)
    marks = ["", "", "", ",", ".", "!", "?", ";", "'s", "-"]
    texts = []
    for length in rng.integers(0, min(tokenizer.max_len, LONGEST_SAMPLE) + 10, size=n):
        picked = rng.integers(0, len(words), size=int(length))
        texts.append(
            " ".join(
                (words[i].upper() if rng.random() < 0.1 else words[i]) + marks[int(rng.integers(len(marks)))] for i in picked
            )
        )
    return PARITY_RULE_TEXTS + extra + texts, (
        f"{len(PARITY_RULE_TEXTS) + 2} rule texts and {n} texts generated from the tokenizer's words (no IMDB data: {reason})"
    )
