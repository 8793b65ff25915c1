"""The decision layer a bundle carries: calibration of the model's probabilities and the labels they get.

The manifest may hold (all optional; a bundle without them scores as the model does, labelled at 0.5):
- "calibration": {"temperature": T > 0, "bias": b, ...figures}: the probability the runtime reports is
  sigmoid(logit(p) / T + b) for a sigmoid or multi-label head (each label alone), and softmax(log(p) / T)
  for a softmax head (b is 0 there). p is the model's float32 output, the formula is computed in float64
  with p clipped to [CLIP, 1 - CLIP], and the result is returned as float32. T = 1, b = 0 is the identity.
- "threshold": the decision threshold on the calibrated probability (a two-label bundle's "positive" at or
  over it; a multi-label bundle's labels at or over it).
- "uncertain": {"low": lo, "high": hi, "label": "uncertain"} (two-label bundles only): a score in
  [lo, hi) gets the third label; under lo the first label, at or over hi the second.
`edge-sentiment calibrate` (decision_fit.py) fits them on held-out texts and records beside them where the texts
came from and the figures they got ("calibration": {method, texts, before, after, ...}, "threshold_choice",
"uncertain": {rule, validation}); the runtime reads only the fields above. docs/decision.md shows both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Decision", "Prediction", "CLIP"]

CLIP = 1e-7  # probabilities are clipped to [CLIP, 1 - CLIP] before their logit (float32's resolution near 1)


@dataclass(frozen=True)
class Prediction:
    """A label and a score: for a two-label bundle ("negative"/"positive") the probability that the text
    is positive; for a bundle of several classes the probability of the label, with every class's in
    probabilities (in the order of the bundle's labels). A multi-label bundle's texts may have several
    labels or none: labels holds every one at or over the threshold, label the most probable one."""

    label: str
    score: float
    probabilities: tuple[float, ...] | None = None
    labels: tuple[str, ...] | None = None  # multi-label bundles only


@dataclass(frozen=True)
class Decision:
    """How a bundle turns the model's output into the probability and label it reports."""

    temperature: float = 1.0
    bias: float = 0.0
    threshold: float = 0.5
    uncertain: tuple[float, float, str] | None = None  # (low, high, label), two-label bundles only
    head: str = "sigmoid"

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any], calibrated: bool = True) -> "Decision":
        """The manifest's decision (read_manifest has checked its fields); calibrated=False: the model's own scores."""
        head = str(manifest["model"].get("head", "sigmoid" if int(manifest["model"].get("classes", 1)) == 1 else "softmax"))
        calibration = manifest.get("calibration") if calibrated else None
        uncertain = manifest.get("uncertain")
        return cls(
            temperature=float(calibration["temperature"]) if calibration else 1.0,
            bias=float(calibration.get("bias", 0.0)) if calibration else 0.0,
            threshold=float(manifest.get("threshold", 0.5)),
            uncertain=(float(uncertain["low"]), float(uncertain["high"]), str(uncertain.get("label", "uncertain")))
            if uncertain
            else None,
            head=head,
        )

    @property
    def identity(self) -> bool:
        return self.temperature == 1.0 and self.bias == 0.0

    def calibrate(self, scores: np.ndarray) -> np.ndarray:
        """The calibrated probabilities of the model's output (n,) or (n, k); the same array when there is no calibration."""
        if self.identity:
            return scores
        if scores.size == 1 and self.head != "softmax":  # one text: the scalar formula, a few times faster than numpy's
            return np.full(scores.shape, self.calibrate_one(float(scores.flat[0])), dtype=np.float32)
        p = np.clip(scores.astype(np.float64), CLIP, 1.0 - CLIP)
        if self.head == "softmax":
            z = np.log(p) / self.temperature
            z -= z.max(axis=-1, keepdims=True)
            e = np.exp(z)
            softmax: np.ndarray = (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)
            return softmax
        z = (np.log(p) - np.log1p(-p)) / self.temperature + self.bias
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float32)

    def calibrate_one(self, p: float) -> float:
        """calibrate for one sigmoid score (the formula written out, for hosts and tests to follow)."""
        if self.identity:
            return p
        p = min(max(p, CLIP), 1.0 - CLIP)
        return 1.0 / (1.0 + math.exp(-((math.log(p) - math.log1p(-p)) / self.temperature + self.bias)))

    def predictions(self, scores: np.ndarray, labels: list[str]) -> list[Prediction]:
        """A Prediction for each (calibrated) score."""
        if scores.ndim == 1:
            if self.uncertain is not None:
                low, high, middle = self.uncertain
                return [Prediction(labels[1] if p >= high else labels[0] if p < low else middle, float(p)) for p in scores]
            return [Prediction(labels[int(p >= self.threshold)], float(p)) for p in scores]
        if self.head == "multi-label":
            return [
                Prediction(
                    labels[int(np.argmax(p))],
                    float(np.max(p)),
                    tuple(float(v) for v in p),
                    tuple(label for label, v in zip(labels, p) if v >= self.threshold),
                )
                for p in scores
            ]
        return [Prediction(labels[int(np.argmax(p))], float(np.max(p)), tuple(float(v) for v in p)) for p in scores]
