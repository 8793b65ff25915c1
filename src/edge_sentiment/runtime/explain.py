"""Word attributions: each word's effect on a text's score, by leaving it out (Predictor.explain).

The algorithm (js/src follows it too, so both give the same effects):
1. The words are the runs of characters that are not WHITESPACE, each with its span [start, end) in the text.
2. Word i's variant is the text with its span and one adjacent whitespace run removed: the run right after
   it, or, when none follows, the run right before it ("a b c" without "b" is "a c", without "c" is "a b").
3. The original and every variant are tokenized by the bundle's tokenizer; a variant whose token ids equal the
   original's gets effect exactly 0 without being scored (a word the tokenizer drops, punctuation, a tag, a
   word outside the tokenizer's window); the others (each distinct id list once) are scored with the original
   as one batch, through the same session and calibration as predict_proba.
4. A word's effect = score(original) - score(variant) on the shown score: the positive probability for a
   two-label bundle, the predicted class's probability for a bundle of several classes (multi-label: the most
   probable label's). Positive: the word pushed the score up (towards "positive", or towards the label shown).
5. Only max_words words are examined (default: the tokenizer's max_len): the last ones when the tokenizer keeps
   a long text's last words ("pre" truncation), else the first. The words it does not read (the text without
   them gives the same ids; searched outward from the examined words) get effect 0; any it may read that were
   not examined get None, and .note says how many.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..errors import InputError

__all__ = ["explain", "Explanation", "Word", "without", "WHITESPACE", "MAX_EXPLAIN_CHARS"]

# Whitespace as both Python's str.isspace and JavaScript's \s see it (their common part), so the words agree.
WHITESPACE = "\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_WORD = re.compile(f"[^{WHITESPACE}]+")
_SPACE = re.compile(f"[{WHITESPACE}]+")
MAX_EXPLAIN_CHARS = 1 << 20  # the longest text explained (the text model's limit too): every word is listed


class Word(NamedTuple):
    """A word of the text, its span [start, end) in it, and its effect on the score (None: not examined)."""

    word: str
    start: int
    end: int
    effect: float | None


@dataclass(frozen=True)
class Explanation:
    """Each word's effect on a text's score (runtime/explain.py says how it is computed)."""

    text: str
    label: str
    score: float  # the shown score: the positive probability (two labels) or the label's probability
    towards: str  # the label a positive effect pushes towards: the second of two labels, else the label shown
    words: tuple[Word, ...]
    top_positive: tuple[Word, ...]  # the words that raised the score most, largest effect first
    top_negative: tuple[Word, ...]  # the words that lowered it most, most negative first
    variants: int  # texts scored besides the original (distinct token ids that differ from the original's)
    examined: int  # words examined (at most max_words)
    unchanged: int  # examined words whose removal changes no token id: effect 0, not scored
    ms: float  # wall time of the explanation, milliseconds
    note: str | None = None  # what was left out, when something was
    probabilities: tuple[float, ...] | None = None  # bundles of several classes: every class's, as Prediction's
    labels: tuple[str, ...] | None = None  # multi-label bundles: every label at or over the threshold

    def marked(self, mark: Callable[[str, float], str] | None = None, escape: Callable[[str], str] = str) -> str:
        """The text with its top words marked: [+word] and [-word], or as mark(word, effect) returns; every
        piece of the text passes through escape first (a terminal's: control characters made visible)."""
        mark = mark or (lambda word, effect: f"[{'+' if effect > 0 else '-'}{word}]")
        shown = sorted(self.top_positive + self.top_negative, key=lambda w: w.start)
        parts, at = [], 0
        for word in shown:
            parts += [escape(self.text[at : word.start]), mark(escape(word.word), word.effect or 0.0)]
            at = word.end
        parts.append(escape(self.text[at:]))
        return "".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """The explanation as JSON-ready data (effects rounded to 6 places)."""

        def word(w: Word) -> dict[str, Any]:
            return {"word": w.word, "start": w.start, "end": w.end, "effect": None if w.effect is None else round(w.effect, 6)}

        return {
            "label": self.label,
            "score": round(self.score, 6),
            "towards": self.towards,
            "words": [word(w) for w in self.words],
            "top_positive": [word(w) for w in self.top_positive],
            "top_negative": [word(w) for w in self.top_negative],
            "variants": self.variants,
            "examined": self.examined,
            "unchanged": self.unchanged,
            "ms": round(self.ms, 3),
            "note": self.note,
        }


def _words(n: int) -> str:
    return f"{n:,} word{'s' * (n != 1)}"


def _count(value: Any, name: str, low: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise InputError(f"{name} must be a whole number of at least {low}, got {value!r}")
    return value


def without(text: str, spans: list[tuple[int, int]], i: int) -> str:
    """The text without word i: its span and the whitespace run right after it, or, where none follows (the
    last word of a text not ending in whitespace), the run right before it."""
    start, end = spans[i]
    after = _SPACE.match(text, end)
    if after is not None:
        end = after.end()
    else:  # the whitespace before it, back to the word before (or the text's start)
        start = spans[i - 1][1] if i > 0 else 0
    return text[:start] + text[end:]


def _read_words(tokenizer: Any, text: str, spans: list[tuple[int, int]], original: list[int], edge: int, last: bool) -> range:
    """The words the tokenizer may read, as word indices: from the first one whose part of the text onward (the text
    up to the last one, for a tokenizer keeping a text's start) still gives the original ids; edge is an examined
    word at the examined words' outer end. Searched outward from edge in doubling steps, then by halves."""

    def same(j: int) -> bool:  # the text from word j on (up to word j) gives the original's ids
        return bool(tokenizer.encode(text[spans[j][0] :] if last else text[: spans[j][1]]) == original)

    bound = 0 if last else len(spans) - 1  # the whole text: the same ids by definition
    step, good, bad = 1, edge, None
    while not same(good):  # the first examined word's part is not enough: look further out
        bad = good
        good = max(bound, good - step) if last else min(bound, good + step)
        step *= 2
        if good == bound:
            break
    while bad is not None and abs(good - bad) > 1:  # between a part that is enough and one that is not
        middle = (good + bad) // 2
        good, bad = (middle, bad) if same(middle) else (good, middle)
    return range(good, len(spans)) if last else range(0, good + 1)


def explain(predictor: Any, text: str, *, top: int = 5, max_words: int | None = None) -> Explanation:
    """Each word's effect on the predictor's score for text, by leaving it out (the module docstring says how).

    top: how many of the most positive and the most negative words to list. max_words: the most words examined
    (default: the tokenizer's max_len, all it can read of a long text); any others are named in .note.
    """
    started = time.perf_counter()
    if not isinstance(text, str):
        raise InputError(f"explain takes one text (str), got {type(text).__name__}; call it once per text")
    top = _count(top, "top", 0)
    tokenizer = predictor.tokenizer
    limit = int(tokenizer.max_len) if max_words is None else _count(max_words, "max_words", 1)
    if len(text) > MAX_EXPLAIN_CHARS:
        raise InputError(
            f"explain lists every word of a text and takes at most {MAX_EXPLAIN_CHARS:,} characters; this one has "
            f"{len(text):,}: explain the part you want explained (the model reads only {tokenizer.max_len} words of it)"
        )
    spans = [m.span() for m in _WORD.finditer(text)]
    last = getattr(tokenizer, "truncation", "pre") == "pre"
    lo, hi = (max(0, len(spans) - limit), len(spans)) if last else (0, min(len(spans), limit))
    original = tokenizer.encode(text)
    effects: list[float | None] = [None] * len(spans)
    note = None
    if hi - lo < len(spans):
        read = _read_words(tokenizer, text, spans, original, lo if last else hi - 1, last)
        outside, unknown = (
            (range(read.start), range(read.start, lo)) if last else (range(read.stop, len(spans)), range(hi, read.stop))
        )
        for i in outside:
            effects[i] = 0.0
        notes = []
        if outside:
            notes.append(
                f"{_words(len(outside))} at the text's {'start' if last else 'end'} are not read by the tokenizer "
                f"(it keeps {tokenizer.max_len} tokens): effect 0"
            )
        if unknown:
            notes.append(
                f"{_words(len(unknown))} the tokenizer may read were not examined (max_words {limit}): effect None; "
                "raise max_words to examine them"
            )
        note = "; ".join(notes)
    # each examined word's variant ids; unchanged ids: effect 0 unscored; equal ids: scored once
    rows: dict[tuple[int, ...], int] = {}
    row_of: dict[int, int] = {}
    unchanged = 0
    for i in range(lo, hi):
        ids = tokenizer.encode(without(text, spans, i))
        if ids == original:
            effects[i] = 0.0
            unchanged += 1
        else:
            row_of[i] = rows.setdefault(tuple(ids), len(rows) + 1)
    scores = np.asarray(predictor.score_ids([original, *map(list, rows)]))
    probabilities = scores if scores.ndim == 1 else scores[:, int(np.argmax(scores[0]))]
    shown = predictor.decision.predictions(scores[:1], predictor.labels)[0]
    base = float(probabilities[0])
    for i, row in row_of.items():
        effects[i] = base - float(probabilities[row])
    new = tuple.__new__  # Word(...) costs twice as much; a 1 Mi-character text has ~170,000 words
    words = tuple(new(Word, (text[s:e], s, e, effect)) for (s, e), effect in zip(spans, effects))
    ranked = [w for w in words if w.effect]
    positive = sorted((w for w in ranked if (w.effect or 0.0) > 0), key=lambda w: (-(w.effect or 0.0), w.start))
    negative = sorted((w for w in ranked if (w.effect or 0.0) < 0), key=lambda w: (w.effect or 0.0, w.start))
    if not spans:
        note = "the text has no words: nothing to leave out"
    return Explanation(
        text=text,
        label=shown.label,
        score=base,
        towards=predictor.labels[1] if scores.ndim == 1 else shown.label,
        words=words,
        top_positive=tuple(positive[:top]),
        top_negative=tuple(negative[:top]),
        variants=len(rows),
        examined=hi - lo,
        unchanged=unchanged,
        ms=(time.perf_counter() - started) * 1000.0,
        note=note,
        probabilities=shown.probabilities,
        labels=shown.labels,
    )
