"""export --check-examples: texts with the label (and, if given, the score) the user's own pipeline gives
them, which the bundle must reproduce from the raw strings. It catches what no comparison with the Keras
model can: text cleaning done before the tokenizer, or ids padded another way than the flags say."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from ..labelled import class_of, read_rows
from .gates import PARITY_ATOL, GateReport

__all__ = ["Examples", "read_examples", "check_examples"]

_SHOWN = 3  # examples named in a failing gate's line


@dataclass(frozen=True)
class Examples:
    texts: list[str]
    classes: np.ndarray  # int64 (n,): the expected label's index into the bundle's labels
    scores: np.ndarray  # float64 (n,): the expected probability of that label, NaN where not given
    source: str


def read_examples(path: str | os.PathLike[str], labels: list[str]) -> Examples:
    """Rows {"text", "label", optional "score"} from JSON Lines or CSV; every bad row named in one DataError.

    score is the probability the user's pipeline gives the row's label (for one sigmoid output and the
    label "positive", P(positive); for "negative", 1 - P(positive)).
    """
    file = Path(path)
    rows, _ = read_rows(file, "examples")
    index = {name: i for i, name in enumerate(labels)}
    texts, classes, scores, problems = [], [], [], []
    for where, row in rows:
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            problems.append(f"{where}: not an object with a 'text' string")
            continue
        found = class_of(row.get("label"), index)
        if found is None:
            problems.append(f"{where}: label {row.get('label')!r} is none of {', '.join(labels)}")
            continue
        score: Any = row.get("score")
        if score in (None, ""):
            score = math.nan
        else:
            try:
                score = float(score)
            except (TypeError, ValueError):
                score = -1.0
            if not 0.0 <= score <= 1.0:
                problems.append(f"{where}: score {row.get('score')!r} is not a probability from 0 to 1")
                continue
        texts.append(row["text"])
        classes.append(found)
        scores.append(score)
    if problems:
        raise DataError(f"--check-examples {file}: {len(problems)} bad rows:\n  " + "\n  ".join(problems[:10]))
    if not texts:
        raise DataError(f"--check-examples {file} holds no examples")
    return Examples(texts, np.asarray(classes, dtype=np.int64), np.asarray(scores, dtype=np.float64), file.name)


def check_examples(
    report: GateReport, examples: Examples, probabilities: np.ndarray, threshold: float, multi_label: bool = False
) -> dict[str, Any]:
    """The gate: every example's label, and its score where given (within PARITY_ATOL), from the bundle's
    probabilities of the examples' texts ((n,) P(positive), or (n, k)). A multi-label example's label must
    hold (its probability at least the threshold); a single-label one must be the label given."""
    p = np.asarray(probabilities, dtype=np.float64)
    rows = np.arange(len(p))
    if p.ndim == 1:
        got_score = np.where(examples.classes == 1, p, 1.0 - p)
        holds = (p >= threshold).astype(np.int64) == examples.classes
    else:
        got_score = p[rows, examples.classes]
        holds = got_score >= threshold if multi_label else np.argmax(p, axis=1) == examples.classes
    wrong = [int(i) for i in np.flatnonzero(~holds)]
    scored = ~np.isnan(examples.scores)
    diff = np.abs(got_score - examples.scores)
    off = [i for i in np.flatnonzero(scored) if diff[i] > PARITY_ATOL]
    detail = f"{len(p) - len(wrong)}/{len(p)} labels as expected"
    if scored.any():
        checked = int(scored.sum())
        detail += f", {checked - len(off)}/{checked} scores within {PARITY_ATOL:.0e} (max |Δp| {diff[scored].max():.2e})"
    for i in sorted(set(wrong) | set(off))[:_SHOWN]:
        detail += f"; {examples.texts[i][:40]!r}: expected label {examples.classes[i]}, its score {got_score[i]:.4f}"
    report.add(f"examples ({examples.source})", not wrong and not off, detail)
    return {
        "file": examples.source,
        "examples": len(p),
        "labels_as_expected": len(p) - len(wrong),
        "scores_checked": int(scored.sum()),
        "max_abs_diff": float(diff[scored].max()) if scored.any() else None,
    }
