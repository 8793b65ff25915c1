"""Conformance vectors: texts that hit every tokenizer rule, with the ids and fp32 score the reference
runtime gives them, shipped in a bundle as conformance.jsonl so a port to another host can prove itself.

One JSON object a line (ASCII: other characters as \\u escapes; lines split on "\\n" only):
{"text": str, "ids": [int, ...], "score": float | [float, ...]}. "ids" is
tokenizer.encode(text): at most max_len ids, truncated as the tokenizer says, not padded; "score" is
the fp32 model's output through the Python runtime (Predictor.predict_proba), a float for one sigmoid
output, a list for k classes. A port passes when its ids are identical and every score is within
ATOL. The texts depend only on the tokenizer (its vocabulary and max_len), never on data at hand.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BundleError
from .files import parse_json

if TYPE_CHECKING:
    from .bundle import Bundle
    from .predictor import Predictor
    from .tokenizer import TokenizerBase

__all__ = [
    "CONFORMANCE_FILE",
    "ATOL",
    "RULE_TEXTS",
    "Vector",
    "ConformanceResult",
    "conformance_texts",
    "conformance_vectors",
    "vectors_to_jsonl",
    "parse_vectors",
    "check_vectors",
    "compare",
    "load_vectors",
]

CONFORMANCE_FILE = "conformance.jsonl"
ATOL = 1e-5
_MAX_BYTES = 64 * 1024 * 1024
_TAIL_CHARS = 16_384  # the tokenizer reads texts longer than this from the end (tokenizer.py)

# Each hits a rule of at least one tokenizer kind (docs/bundle-format.md has the rules).
RULE_TEXTS = [
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


@dataclass(frozen=True)
class Vector:
    """One conformance text with the ids and score the reference runtime gives it."""

    text: str
    ids: list[int]
    score: float | list[float]

    def to_json(self) -> str:
        return json.dumps({"text": self.text, "ids": self.ids, "score": self.score})  # ASCII: \\u escapes


@dataclass(frozen=True)
class ConformanceResult:
    """How a runtime's ids and scores compare with a bundle's vectors."""

    texts: int
    ids_identical: int
    max_abs_diff: float
    first_failure: str | None

    @property
    def passed(self) -> bool:
        return self.ids_identical == self.texts and self.max_abs_diff <= ATOL and self.first_failure is None

    def describe(self) -> str:
        line = f"{self.ids_identical}/{self.texts} texts with identical ids, max |dp| {self.max_abs_diff:.1e} (limit {ATOL:.0e})"
        return line + (f"; first failure: {self.first_failure}" if self.first_failure else "")


def conformance_texts(tokenizer: TokenizerBase, n: int = 200, seed: int = 0) -> list[str]:
    """RULE_TEXTS, then texts of the tokenizer's own words (case, punctuation, apostrophes, unknown
    words), texts at and beyond max_len and one past the long-text path: n texts, deterministic."""
    rng = random.Random(seed)
    words = [w for w in tokenizer.known_words() if w] or ["film"]
    top = words[:200]
    # a tokenizer of whole texts (a masked model's, up to 100,000 ids) is shown texts of at most 1,000 words
    max_len = min(tokenizer.max_len, 1000)
    texts = list(RULE_TEXTS)
    filler = " ".join(words[i % len(words)] for i in range(max_len + 25))
    texts += [
        " ".join(top[: min(len(top), 12)]),
        " ".join(words[-12:]),  # the rarest ids
        " ".join(words[i % len(words)] for i in range(max_len)),  # exactly max_len words
        " ".join(words[i % len(words)] for i in range(max_len + 1)),
        filler,  # longer than max_len: truncation
        (filler + " ") * (_TAIL_CHARS // len(filler) + 2) + "the very end",  # the long-text path
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
    return texts[:n] if n >= len(RULE_TEXTS) else texts


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
    return "".join(v.to_json() + "\n" for v in vectors).encode("utf-8")


def parse_vectors(data: bytes, where: str = CONFORMANCE_FILE) -> list[Vector]:
    """Read conformance.jsonl; BundleError naming the line when it is malformed."""
    try:
        lines = [line for line in data.decode("utf-8").split("\n") if line.strip()]
    except UnicodeDecodeError as exc:
        raise BundleError(f"{where} is not UTF-8 ({exc}); re-export the bundle") from None
    vectors = []
    for number, line in enumerate(lines, 1):
        try:
            item = parse_json(line, "it")
        except ValueError as exc:  # not JSON, nested too deep, a number out of range
            raise BundleError(f"{where} line {number} is not JSON this runtime reads ({exc}); re-export the bundle") from None
        text, ids, score = (item.get(k) for k in ("text", "ids", "score")) if isinstance(item, dict) else (None, None, None)
        scores: list[Any] = score if isinstance(score, list) else [score]
        if (
            not isinstance(text, str)
            or not isinstance(ids, list)
            or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids)
            or not scores
            or not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in scores)
        ):
            raise BundleError(f"{where} line {number} is not {{'text': str, 'ids': [int], 'score': number or [number]}}")
        values = [float(s) for s in scores]
        vectors.append(Vector(text, ids, values if isinstance(score, list) else values[0]))
    if not vectors:
        raise BundleError(f"{where} holds no vectors; re-export the bundle")
    return vectors


def compare(vectors: Sequence[Vector], ids: Sequence[Sequence[int]], scores: Any) -> ConformanceResult:
    """Compare another runtime's ids and scores (one per vector, in order) with the vectors."""
    import numpy as np

    same, worst, first = 0, 0.0, None
    for k, v in enumerate(vectors):
        got = [int(i) for i in ids[k]]
        want_p = np.atleast_1d(np.asarray(v.score, dtype=np.float64))
        got_p = np.atleast_1d(np.asarray(scores[k], dtype=np.float64))
        diff = float(np.max(np.abs(want_p - got_p))) if want_p.shape == got_p.shape else float("inf")
        if not np.isfinite(diff):
            diff = float("inf")
        worst = max(worst, diff)
        if got == v.ids:
            same += 1
        elif first is None:
            first = f"text {k} ({v.text[:40]!r}): ids differ"
        if diff > ATOL and first is None:
            first = f"text {k} ({v.text[:40]!r}): score {got_p.tolist()} vs {want_p.tolist()}"
    return ConformanceResult(len(vectors), same, worst, first)


def check_vectors(predictor: Predictor, vectors: Sequence[Vector]) -> ConformanceResult:
    """Run the bundle's own tokenizer and fp32 model on the vectors' texts and compare."""
    texts = [v.text for v in vectors]
    ids = [predictor.tokenizer.encode(t) for t in texts]
    return compare(vectors, ids, predictor.predict_proba(texts))


def load_vectors(bundle: Bundle) -> list[Vector] | None:
    """The bundle's vectors, checked against the manifest's sha256; None for a bundle made before them."""
    from .bundle import _check_file, _Folder

    entry = bundle.manifest.get("files", {}).get(CONFORMANCE_FILE)
    if entry is None:
        return None
    opened = _Folder(bundle.path)
    try:
        data = _check_file(opened, CONFORMANCE_FILE, entry, _MAX_BYTES)
    finally:
        opened.close()
    return parse_vectors(data, f"{bundle.path}/{CONFORMANCE_FILE}")
