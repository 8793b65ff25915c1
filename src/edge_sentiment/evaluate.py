"""Accuracy of a bundle on labelled reviews, whole and cut to their first or last few words."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np

from .data import Reviews
from .errors import InputError
from .runtime.predictor import Predictor
from .runtime.tokenizer import words

__all__ = ["evaluate_bundle", "CUT_LENGTHS", "score_figures", "text_variants"]

CUT_LENGTHS = (10, 20, 50)
_BLOCK = 1000


def score_figures(probabilities: np.ndarray, labels: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Accuracy and binary cross-entropy (log loss)."""
    p = np.clip(probabilities.astype(np.float64), 1e-7, 1 - 1e-7)
    y = labels.astype(np.float64)
    return {
        "accuracy": float(np.mean((probabilities >= threshold) == (labels == 1))),
        "log_loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
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
    reviews: Reviews,
    *,
    bundle: str | os.PathLike[str] | None = None,
    precision: str = "fp32",
    threads: int | None = None,
    cuts: bool = True,
    progress: Callable[[int], Any] | None = None,
) -> dict[str, Any]:
    """Figures per text variant (full review, first/last k words) for one bundle."""
    predictor = Predictor.load(bundle, precision=precision, threads=threads)
    if predictor.classes > 1:
        raise InputError(
            f"evaluate scores IMDB's negative/positive labels; {predictor.bundle.path} has "
            f"{predictor.classes} classes ({', '.join(predictor.labels)})"
        )
    labels = np.asarray(reviews.labels)
    results = {}
    for name, cut in text_variants(cuts).items():
        scores = []
        for start in range(0, len(reviews), _BLOCK):
            block = [cut(t) for t in reviews.texts[start : start + _BLOCK]]
            scores.append(predictor.predict_proba(block))
            if progress:
                progress(len(block))
        results[name] = score_figures(np.concatenate(scores), labels, predictor.threshold)
    return {
        "bundle": str(predictor.bundle.path),
        "precision": precision,
        "reviews": len(reviews),
        "test_sha256": reviews.checksum(),
        "results": results,
    }
