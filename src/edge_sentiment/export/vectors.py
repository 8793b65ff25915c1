"""Conformance vectors made at export: texts that hit every tokenizer rule, with the ids and fp32 score the
runtime gives them (the file's format and its checks: runtime/conformance.py). The texts depend only on
the tokenizer (its vocabulary and max_len), never on data at hand."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from ..errors import BundleError
from ..runtime.conformance import Vector
from ..runtime.predictor import Predictor
from ..runtime.tokenizer import TAIL_CHARS
from ..runtime.tokenizer_base import TokenizerBase

__all__ = ["CONFORMANCE_RULE_TEXTS", "conformance_texts", "conformance_vectors", "vectors_to_jsonl"]

# Each hits a rule of at least one tokenizer kind (docs/bundle-format.md has the rules).
CONFORMANCE_RULE_TEXTS = [
    # empty and blank
    "",
    " ",
    "    ",
    "\t\n\r\x0b\x0c",
    # HTML tags (edge-sentiment v1 turns simple tags without attributes into a space)
    "It was good.<br /><br />Then it wasn't.<br/>The end.",
    "<BR>upper<Br />mixed</B>close",
    "<i>Loved</i> the <b>music</b> & the sets",
    "<p>para</p><h1>head</h1><td>cell</td>",
    '<a href="x">link</a> keeps attributes',
    "<br  />two spaces<br\t/>tab<br\n/>newline<br\u00a0/>nbsp<br\u2003/>em space",
    "<abcdefghij>ten</abcdefghij> <abcdefghijk>eleven</abcdefghijk>",
    "<1>digit first <a1>letter then digit <>empty < b>space first",
    "<<b>>doubled<</b>> and x<y>z and a<b>c",
    "5 < 6 > 4 and <3 love",
    "<é>accented tag</é>",
    # apostrophes, ASCII and typographic
    "I didn't like it - it's 'meh', honestly.",
    "don’t ‘quote’ me — it´s `fine` and itʼs ok",
    "rock'n'roll, c'mon, o'clock, y'all'd've",
    "'leading and trailing' ''double'' a''b a'''b",
    "it’s' 'it’s don`t don``t",
    "l'amour l’été d’accord",
    "''''",
    "'",
    # case and Unicode letters
    "GREAT cast; BAD ending!",
    "The the THE tHe ThE",
    "Café, naïve, Straße, ÉLAN, İstanbul, ǅ, ＧＲＥＡＴ ﬁlm",
    "ΟΔΟΣ οδός ΣΊΣΥΦΟΣ Σ",
    "ПРИВЕТ мир Ёлка",
    "e\u0301cole (combining acute) vs \u00e9cole (precomposed)",
    "Ǆemal ǆ ǅ ß ẞ ﬀ ﬃ ﬆ",
    "Ⅻ chapter ⅷ, ① ② ③, x² y³, H₂O, ½ ¾ 3½ ¼cup",
    "ª º № ™ ℃ ℉ Å K µ",
    "ＦＵＬＬＷＩＤＴＨ ｆｕｌｌ １２３",
    "emoji 😀👍🏽 and 👨‍👩‍👧 family and ❤️",
    "math ∑ ∫ √ ≠ and CJK 映画 好き and Arabic فيلم جميل and Hebrew סרט",
    "हिन्दी फ़िल्म and ภาพยนตร์ and 한국 영화",
    "digits ٣٤ ۵۶ ௧௨ ๑๒",
    "zero\u200bwidth soft\u00adhyphen bom\ufeffmark zwj\u200dzwnj\u200c",
    "\u0130\u0131 I\u0307 \u1e9e \u2126 \u212a",
    # digits and numbers
    "Best movie of 2009: 10/10, would watch again (twice).",
    "7\\10 stars, 3.5 stars, 1,000,000 dollars, 007, 2nd, 80s, 1950's",
    "42",
    # punctuation and splitting
    "!!!???...",
    "well-made, low-budget, self-indulgent",
    'snake_case and kebab-case and dot.case and "quoted" and (paren) [square] {curly}',
    '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~ every ASCII punctuation',
    "a.b,c;d:e!f?g",
    # whitespace of every kind
    "Tabs\tand\nnewlines\r\nand\u00a0non-breaking\u2009spaces",
    "next\u0085line line\u2028separator para\u2029separator ideographic\u3000space",
    "vertical\x0btab form\x0cfeed file\x1cgroup\x1drecord\x1eunit\x1fsep",
    "double  space   triple",
    # unknown words, one letter
    "zxqwv blorptastic unfilmable gobbledygook",
    "a",
    "I",
    "x y z",
]


def conformance_texts(tokenizer: TokenizerBase, n: int = 200, seed: int = 0) -> list[str]:
    """CONFORMANCE_RULE_TEXTS, then texts of the tokenizer's own words (case, punctuation, apostrophes, unknown
    words), texts at and beyond max_len and one past the long-text path: n texts, deterministic."""
    rng = random.Random(seed)
    words = [w for w in tokenizer.known_words() if w] or ["film"]
    top = words[:200]
    # a tokenizer of whole texts (a masked model's, up to 100,000 ids) is shown texts of at most 1,000 words
    max_len = min(tokenizer.max_len, 1000)
    texts = list(CONFORMANCE_RULE_TEXTS)
    filler = " ".join(words[i % len(words)] for i in range(max_len + 25))
    texts += [
        " ".join(top[: min(len(top), 12)]),
        " ".join(words[-12:]),  # the rarest ids
        " ".join(words[i % len(words)] for i in range(max_len)),  # exactly max_len words
        " ".join(words[i % len(words)] for i in range(max_len + 1)),
        filler,  # longer than max_len: truncation
        (filler + " ") * (TAIL_CHARS // len(filler) + 2) + "the very end",  # the long-text path
        "<br />".join(top[:30]),
        "'".join(top[:6]),
    ]
    marks = ["", "", "", ",", ".", "!", "?", ";", ":", "'s", "'", "-", "...", ")", '"']
    cases = [str.lower, str.lower, str.lower, str.upper, str.capitalize, str.title]
    oov = ["zxqwv", "blorp", "qqq", "filmish", "ünknown", "wörd", "x1y2", "don't", "can't"]
    while len(texts) < n:
        length = rng.choice([1, 2, 3, 5, 8, 13, 21, 34, 55, max(1, max_len // 2), max(1, max_len - 1)])
        parts = []
        for _ in range(length):
            word = rng.choice(words if rng.random() < 0.3 else top) if rng.random() > 0.08 else rng.choice(oov)
            word = rng.choice(cases)(word) + rng.choice(marks)
            if rng.random() < 0.04:
                word = rng.choice(["<br />", "<i>", "</b>", "’", "´", "\u00a0", "\t", "\n"]) + word
            parts.append(word)
        texts.append(" ".join(parts))
    return texts[:n] if n >= len(CONFORMANCE_RULE_TEXTS) else texts


def _score(value: Any) -> float | list[float]:
    if getattr(value, "ndim", 0):
        return [float(v) for v in value]
    return float(value)


def conformance_vectors(predictor: Predictor, texts: Sequence[str] | None = None) -> list[Vector]:
    """The vectors of a bundle: each text's ids from its tokenizer and its score from the fp32 model."""
    if predictor.bundle.precision != "fp32":
        raise BundleError("conformance vectors hold the fp32 model's scores; load the bundle with precision='fp32'")
    tokenizer = predictor.tokenizer
    texts = list(conformance_texts(tokenizer) if texts is None else texts)
    scores = predictor.predict_proba(texts)
    return [Vector(text, [int(i) for i in tokenizer.encode(text)], _score(scores[k])) for k, text in enumerate(texts)]


def vectors_to_jsonl(vectors: Sequence[Vector]) -> bytes:
    """conformance.jsonl's bytes: one vector a line."""
    return "".join(v.to_json() + "\n" for v in vectors).encode("utf-8")
