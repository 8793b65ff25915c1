"""Accuracy, log loss and calibration error of a bundle on labelled texts (its calibrated scores, labelled at its
threshold), whole and cut to their first or last few words."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from .data import Reviews
from .errors import DataError
from .labelled import Labelled, from_imdb
from .runtime.predictor import Predictor
from .runtime.tokenizer import words

__all__ = ["evaluate_bundle", "CUT_LENGTHS", "score_figures", "text_variants"]

CUT_LENGTHS = (10, 20, 50)
_BLOCK = 1000


def score_figures(
    probabilities: np.ndarray, labels: np.ndarray, threshold: float = 0.5, uncertain: tuple[float, float] | None = None
) -> dict[str, float]:
    """Accuracy, log loss and expected calibration error (calibration.py: 15 equal-width bins): binary
    cross-entropy for (n,) scores of one sigmoid output against labels 0/1, with precision and recall of
    "positive" at the threshold; categorical cross-entropy for (n, k) class probabilities against class indexes
    (accuracy of the top class). uncertain (low, high): also the share of texts in the band and the accuracy
    on the others."""
    from .calibration import expected_calibration_error

    y = np.asarray(labels, dtype=np.int64)
    if probabilities.ndim == 1:
        p = np.clip(probabilities.astype(np.float64), 1e-7, 1 - 1e-7)
        chosen, positive = probabilities >= threshold, y == 1
        out = {
            "accuracy": float(np.mean(chosen == positive)),
            "log_loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
            "ece": expected_calibration_error(probabilities, y, "sigmoid"),
            "precision": float(np.sum(chosen & positive) / max(int(chosen.sum()), 1)),
            "recall": float(np.sum(chosen & positive) / max(int(positive.sum()), 1)),
        }
        if uncertain is not None:
            decided = (probabilities < uncertain[0]) | (probabilities >= uncertain[1])
            out["uncertain_rate"] = float(np.mean(~decided))
            out["accuracy_decided"] = float(np.mean(chosen[decided] == positive[decided])) if decided.any() else 1.0
        return out
    chosen_p = np.clip(probabilities[np.arange(len(y)), y].astype(np.float64), 1e-7, 1.0)
    return {
        "accuracy": float(np.mean(np.argmax(probabilities, axis=1) == y)),
        "log_loss": float(-np.mean(np.log(chosen_p))),
        "ece": expected_calibration_error(probabilities, y, "softmax"),
    }


def text_variants(cuts: bool = True) -> dict[str, Callable[[str], str]]:
    """The full review and, with cuts, the review cut to its first or last k words (k in CUT_LENGTHS)."""
    out: dict[str, Callable[[str], str]] = {"full review": lambda t: t}
    if cuts:
        for k in CUT_LENGTHS:
            out[f"first {k} words"] = lambda t, k=k: " ".join(words(t)[:k])
            out[f"last {k} words"] = lambda t, k=k: " ".join(words(t)[-k:])
    return out


def evaluate_bundle(
    texts: Reviews | Labelled,
    *,
    bundle: str | os.PathLike[str] | None = None,
    precision: str = "fp32",
    threads: int | None = None,
    predictor: Predictor | None = None,
    cuts: bool = True,
    progress: Callable[[int], Any] | None = None,
) -> dict[str, Any]:
    """Figures per text variant (full text, first/last k words) for one bundle.

    texts: IMDB reviews (their negative/positive labels, for a bundle of one sigmoid output or two classes),
    or Labelled texts (labelled.py: IMDB's star ratings as classes, or a file) for a bundle of any classes.
    predictor: one already loaded (bundle, precision and threads are then its own).
    """
    if predictor is None:
        predictor = Predictor.load(bundle, precision=precision, threads=threads)
    labelled = from_imdb(texts, predictor.classes) if isinstance(texts, Reviews) else texts
    top, classes = int(labelled.classes.max(initial=0)), max(predictor.classes, 2)
    if top >= classes:
        raise DataError(f"{labelled.source} name class {top}; {predictor.bundle.path} has {classes} (0-{classes - 1})")
    results = {}
    for name, cut in text_variants(cuts).items():
        scores = []
        for start in range(0, len(labelled), _BLOCK):
            block = [cut(t) for t in labelled.texts[start : start + _BLOCK]]
            scores.append(predictor.predict_proba(block))
            if progress:
                progress(len(block))
        band = predictor.decision.uncertain
        results[name] = score_figures(
            np.concatenate(scores), labelled.classes, predictor.threshold, band[:2] if band is not None else None
        )
    decision = predictor.decision
    return {
        "bundle": str(predictor.bundle.path),
        "precision": predictor.bundle.precision,
        "labels": list(predictor.labels),
        "texts": labelled.source,
        "reviews": len(labelled),
        "test_sha256": labelled.checksum,
        # the scores are the bundle's calibrated ones, labelled at its threshold (runtime/decision.py)
        "decision": {
            "threshold": decision.threshold,
            "temperature": decision.temperature,
            "bias": decision.bias,
            "uncertain": list(decision.uncertain[:2]) if decision.uncertain is not None else None,
        },
        "results": results,
    }
