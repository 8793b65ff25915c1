"""Calibration and thresholds from held-out labelled texts: fit a temperature (and a bias), measure a model's
scores (expected calibration error, log loss, accuracy, Brier), pick a threshold by a rule, draw a reliability plot.

numpy only (matplotlib, for the plot alone, is imported when it is drawn). The fitted temperature and bias
are those runtime/decision.py applies: sigmoid(logit(p) / T + b) for a sigmoid or multi-label head, softmax(log(p) / T)
for a softmax head, with p clipped to [CLIP, 1 - CLIP] and computed in float64. Labels are class indexes (for one
sigmoid output 0 negative, 1 positive); a multi-label head's labels may also be a (n, k) 0/1 array.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import DataError, InputError, MissingDependencyError
from .runtime.decision import CLIP, Decision

__all__ = [
    "ECE_BINS",
    "METHODS",
    "Fit",
    "Rule",
    "fit_calibration",
    "figures",
    "expected_calibration_error",
    "reliability_bins",
    "parse_rule",
    "choose_threshold",
    "parse_band",
    "choose_band",
    "threshold_figures",
    "reliability_plot",
]

ECE_BINS = 15  # expected calibration error over 15 equal-width bins of the probability
METHODS = ("temperature", "temperature+bias")
HEADS = ("sigmoid", "softmax", "multi-label")
T_RANGE = (0.01, 100.0)  # the temperatures a manifest may hold (runtime/bundle.py checks them on load)
B_RANGE = (-100.0, 100.0)
_MAX_STEPS = 200


@dataclass(frozen=True)
class Fit:
    """A fitted calibration: the runtime's probability is sigmoid(logit(p) / temperature + bias) (softmax: of log(p) / T)."""

    temperature: float
    bias: float
    method: str
    steps: int  # Newton steps taken

    def decision(self, head: str, threshold: float = 0.5) -> Decision:
        """The runtime's Decision with this calibration (exactly what a bundle carrying it reports)."""
        return Decision(temperature=self.temperature, bias=self.bias, threshold=threshold, head=head)


def _checked(probabilities: Any, labels: Any, head: str) -> tuple[np.ndarray, np.ndarray]:
    """(float64 probabilities, targets): (n,) 0/1 for sigmoid, (n,) class indexes for softmax, (n, k) 0/1 for multi-label."""
    if head not in HEADS:
        raise InputError(f"unknown head {head!r}; one of {', '.join(HEADS)}")
    p = np.asarray(probabilities, dtype=np.float64)
    y = np.asarray(labels)
    if p.ndim == 2 and head == "sigmoid" and p.shape[1] == 1:
        p = p[:, 0]
    want = 1 if head == "sigmoid" else 2
    if p.ndim != want or len(p) == 0:
        raise DataError(f"a {head} head's scores are {'(n,)' if want == 1 else '(n, k)'}; got shape {list(p.shape)}")
    if not np.all(np.isfinite(p)) or p.min() < 0.0 or p.max() > 1.0:
        raise DataError("the scores must be probabilities: finite, within 0..1")
    if len(y) != len(p):
        raise DataError(f"{len(p)} scores but {len(y)} labels")
    k = 2 if p.ndim == 1 else p.shape[1]
    if head == "multi-label" and y.ndim == 2:
        if y.shape != p.shape or not np.isin(y, (0, 1)).all():
            raise DataError(f"multi-label targets must be 0/1 of shape {list(p.shape)}")
        return p, y.astype(np.float64)
    if y.ndim != 1 or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= k:
        raise DataError(f"the labels must be class indexes 0..{k - 1}, one per text")
    if head == "multi-label":
        return p, np.eye(k)[y]
    return p, y.astype(np.int64)


def _both_classes(y: np.ndarray, head: str) -> None:
    """DataError unless the labels hold more than one class (a temperature cannot be fitted on one)."""
    values = y.ravel() if head != "softmax" else y
    if len(np.unique(values)) < 2:
        what = "labels" if head != "multi-label" else "0/1 targets"
        raise DataError(
            f"every held-out text has the same {what} ({np.unique(values)[0]:g}): calibration needs texts of "
            "more than one class; give held-out texts of every class"
        )


def _logits(p: np.ndarray, head: str) -> np.ndarray:
    q = np.clip(p, CLIP, 1.0 - CLIP)
    out: np.ndarray = np.log(q) if head == "softmax" else np.log(q) - np.log1p(-q)
    return out


def _binary_nll(x: np.ndarray, y: np.ndarray, a: float, b: float) -> float:
    z = a * x + b
    return float(np.mean(np.logaddexp(0.0, z) - y * z))


def _softmax_nll(x: np.ndarray, y: np.ndarray, a: float) -> float:
    z = a * x
    top = z.max(axis=1)
    lse = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
    return float(np.mean(lse - z[np.arange(len(y)), y]))


def _newton(loss: Any, grad_hess: Any, theta: np.ndarray) -> tuple[np.ndarray, int]:
    """Minimise a convex loss from theta: Newton steps, halved until the loss falls (deterministic)."""
    current = loss(theta)
    for step in range(1, _MAX_STEPS + 1):
        g, h = grad_hess(theta)
        try:
            delta = np.linalg.solve(h + 1e-12 * np.eye(len(theta)), g)
        except np.linalg.LinAlgError:
            delta = g
        size = 1.0
        while size > 1e-10:
            candidate = theta - size * delta
            value = loss(candidate)
            if value <= current:
                break
            size /= 2
        else:
            return theta, step
        moved = float(np.max(np.abs(candidate - theta)))
        theta, current = candidate, value
        if moved < 1e-12 or float(np.max(np.abs(g))) < 1e-12:
            return theta, step
    return theta, _MAX_STEPS


def fit_calibration(probabilities: Any, labels: Any, head: str = "sigmoid", method: str = "temperature") -> Fit:
    """The temperature (and bias) minimising the log loss of the calibrated probabilities on held-out texts.

    probabilities: the model's own output (n,) or (n, k); labels as the module says. The loss is convex in
    1/T and b, so Newton's method finds its one minimum; a temperature outside 0.01..100 is held at the bound.
    """
    if method not in METHODS:
        raise InputError(f"unknown calibration method {method!r}; one of {', '.join(METHODS)}")
    if method == "temperature+bias" and head == "softmax":
        raise InputError(
            "--method temperature+bias needs a sigmoid or multi-label head; a softmax head takes a temperature alone"
        )
    p, y = _checked(probabilities, labels, head)
    _both_classes(y, head)
    x = _logits(p, head)
    lo, hi = 1.0 / T_RANGE[1], 1.0 / T_RANGE[0]
    if head == "softmax":

        def soft_loss(t: np.ndarray) -> float:
            return _softmax_nll(x, y, float(t[0]))

        def soft_gh(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            z = t[0] * x
            q = np.exp(z - z.max(axis=1, keepdims=True))
            q /= q.sum(axis=1, keepdims=True)
            mean = (q * x).sum(axis=1)
            g = np.mean(mean - x[np.arange(len(y)), y])
            h = np.mean((q * x * x).sum(axis=1) - mean**2)
            return np.array([g]), np.array([[h]])

        theta, steps = _newton(soft_loss, soft_gh, np.array([1.0]))
        return _finish(min(max(float(theta[0]), lo), hi), 0.0, method, steps)
    xs, ys = x.ravel(), y.ravel()
    if xs.std() == 0 or np.corrcoef(xs, ys)[0, 1] <= 0:
        raise DataError(
            "the model's scores do not rise with the labels on the held-out texts (positive texts do not score "
            "higher): a temperature cannot calibrate that; check that the labels are in the bundle's order"
        )
    with_bias = method == "temperature+bias"

    def loss(t: np.ndarray) -> float:
        return _binary_nll(xs, ys, float(t[0]), float(t[1]) if with_bias else 0.0)

    def gh(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        q = 1.0 / (1.0 + np.exp(-(t[0] * xs + (t[1] if with_bias else 0.0))))
        r, w = q - ys, q * (1.0 - q)
        if not with_bias:
            return np.array([np.mean(r * xs)]), np.array([[np.mean(w * xs * xs)]])
        g = np.array([np.mean(r * xs), np.mean(r)])
        h = np.array([[np.mean(w * xs * xs), np.mean(w * xs)], [np.mean(w * xs), np.mean(w)]])
        return g, h

    theta, steps = _newton(loss, gh, np.array([1.0, 0.0]) if with_bias else np.array([1.0]))
    a = float(theta[0])
    b = float(theta[1]) if with_bias else 0.0
    if with_bias and not lo <= a <= hi:  # the slope at its bound, the bias fitted again with it held there
        a = min(max(a, lo), hi)
        held, more = _newton(lambda t: _binary_nll(xs, ys, a, float(t[0])), lambda t: _bias_gh(xs, ys, a, t), np.array([b]))
        b, steps = float(held[0]), steps + more
    return _finish(min(max(a, lo), hi), min(max(b, B_RANGE[0]), B_RANGE[1]), method, steps)


def _bias_gh(x: np.ndarray, y: np.ndarray, a: float, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q = 1.0 / (1.0 + np.exp(-(a * x + t[0])))
    return np.array([np.mean(q - y)]), np.array([[np.mean(q * (1.0 - q))]])


def _finish(a: float, b: float, method: str, steps: int) -> Fit:
    return Fit(temperature=float(np.float64(1.0 / a)), bias=b, method=method, steps=steps)


def reliability_bins(probabilities: Any, labels: Any, head: str = "sigmoid", bins: int = ECE_BINS) -> list[dict[str, float]]:
    """Equal-width bins of the probability: each bin's count, mean probability and observed frequency.

    sigmoid: the positive-class probability against the fraction of positive texts; softmax: the top class's
    probability against the fraction of texts it is right on; multi-label: every label's probability alone.
    """
    p, y = _checked(probabilities, labels, head)
    if head == "softmax":
        conf, hit = p.max(axis=1), (np.argmax(p, axis=1) == y).astype(np.float64)
    else:
        conf, hit = p.ravel(), y.ravel().astype(np.float64)
    index = np.minimum((conf * bins).astype(np.int64), bins - 1)
    counts = np.bincount(index, minlength=bins)
    sums = np.bincount(index, weights=conf, minlength=bins)
    hits = np.bincount(index, weights=hit, minlength=bins)
    out = []
    for i in range(bins):
        n = int(counts[i])
        out.append(
            {
                "low": i / bins,
                "high": (i + 1) / bins,
                "count": n,
                "mean_probability": float(sums[i] / n) if n else math.nan,
                "frequency": float(hits[i] / n) if n else math.nan,
            }
        )
    return out


def expected_calibration_error(probabilities: Any, labels: Any, head: str = "sigmoid", bins: int = ECE_BINS) -> float:
    """Σ over the bins (reliability_bins) of count / n × |mean probability - observed frequency|."""
    table = reliability_bins(probabilities, labels, head, bins)
    total = sum(b["count"] for b in table)
    return float(sum(b["count"] / total * abs(b["mean_probability"] - b["frequency"]) for b in table if b["count"]))


def figures(probabilities: Any, labels: Any, head: str = "sigmoid", threshold: float = 0.5) -> dict[str, float]:
    """ECE (15 bins), log loss, Brier score and accuracy of probabilities against labels; for a sigmoid or
    multi-label head (every label alone) also precision, recall and F1 of the labels at the threshold. A sigmoid
    head's "ece" bins the positive-class probability (reliability_bins); "ece_top_label" bins max(p, 1 - p)
    against the label's accuracy (the softmax definition, over the two labels)."""
    p, y = _checked(probabilities, labels, head)
    q = np.clip(p, CLIP, 1.0 - CLIP)
    out = {"texts": float(len(p)), "ece": expected_calibration_error(p, labels, head)}
    if head == "softmax":
        out["log_loss"] = float(-np.mean(np.log(q[np.arange(len(y)), y])))
        out["brier"] = float(np.mean(((p - np.eye(p.shape[1])[y]) ** 2).sum(axis=1)))
        out["accuracy"] = float(np.mean(np.argmax(p, axis=1) == y))
        return _rounded(out)
    ys = y.astype(np.float64)
    if head == "sigmoid":  # the top label's confidence, max(p, 1 - p), as for a softmax over the two labels
        out["ece_top_label"] = expected_calibration_error(np.stack([1.0 - p, p], axis=1), y, "softmax")
    out["log_loss"] = float(-np.mean(ys * np.log(q) + (1.0 - ys) * np.log(1.0 - q)))
    out["brier"] = float(np.mean((p - ys) ** 2))
    out.update(threshold_figures(p, ys, threshold))
    return _rounded(out)


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: (int(v) if k == "texts" else round(float(v), 6)) for k, v in values.items()}


def threshold_figures(scores: Any, targets: Any, threshold: float) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of "positive at or over the threshold" (every 0/1 target alone)."""
    s, y = np.asarray(scores).ravel(), np.asarray(targets).ravel() == 1
    chosen = s >= threshold
    tp = float(np.sum(chosen & y))
    precision = tp / float(chosen.sum()) if chosen.any() else 1.0
    recall = tp / float(y.sum()) if y.any() else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": float(np.mean(chosen == y)),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "positive_rate": float(np.mean(chosen)),
    }


@dataclass(frozen=True)
class Rule:
    """How the threshold is chosen: "precision" (the smallest threshold whose precision reaches value),
    "recall" (the largest whose recall reaches value) or "f1" (the one of highest F1)."""

    kind: str
    value: float | None = None

    def __str__(self) -> str:
        return self.kind if self.value is None else f"{self.kind}={self.value:g}"


def parse_rule(spec: str, what: str = "--threshold-for") -> Rule:
    """ "precision=0.95", "recall=0.9" or "f1" → a Rule; InputError naming what for anything else."""
    text = str(spec).strip().lower()
    if text == "f1":
        return Rule("f1")
    kind, sep, value = text.partition("=")
    if kind in ("precision", "recall") and sep:
        try:
            number = float(value)
        except ValueError:
            number = math.nan
        if 0.0 < number <= 1.0:
            return Rule(kind, number)
        raise InputError(f"{what} {spec}: the {kind} must be a number within 0..1, e.g. {kind}=0.95")
    raise InputError(f"{what} {spec}: unknown rule; use precision=P, recall=R (P, R within 0..1) or f1")


def _curve(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each distinct score t (descending): t, the texts at or over it, the positive ones among them."""
    order = np.argsort(-scores, kind="stable")
    s, hits = scores[order], np.cumsum(positive[order])
    last = np.flatnonzero(np.r_[s[1:] != s[:-1], True])  # the last text of each run of equal scores
    return s[last], last + 1.0, hits[last].astype(np.float64)


def choose_threshold(scores: Any, targets: Any, rule: Rule) -> tuple[float, dict[str, float]]:
    """The threshold the rule picks on the (calibrated) scores as the runtime reports them, and its figures there.

    Every target alone (0/1; a multi-label head's are flattened). DataError naming the rule when no threshold
    within 0..1 reaches it.
    """
    s, y = np.asarray(scores).ravel(), np.asarray(targets).ravel() == 1
    if not y.any() or y.all():
        raise DataError(f"--threshold-for {rule} needs held-out texts of both labels; these are all of one")
    t, chosen, tp = _curve(s, y)
    precision, recall = tp / chosen, tp / float(y.sum())
    if rule.kind == "precision":
        ok = np.flatnonzero(precision >= float(rule.value or 0.0))
        if not len(ok):
            raise DataError(
                f"--threshold-for {rule}: no threshold reaches it on the {len(s)} held-out texts "
                f"(the best precision is {precision.max():.4f}); ask for less, or give more held-out texts"
            )
        pick = int(ok[-1])
    elif rule.kind == "recall":
        pick = int(np.flatnonzero(recall >= float(rule.value or 0.0))[0])
    else:
        f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-300), 0.0)
        pick = int(np.argmax(f1))
    threshold = float(t[pick])
    if not 0.0 < threshold < 1.0:
        raise DataError(f"--threshold-for {rule}: reached only at a threshold of {threshold:g}, which labels every text alike")
    return threshold, _rounded({"threshold": threshold, **threshold_figures(s, y, threshold)})


def parse_band(spec: str) -> tuple[float, float] | Rule:
    """--uncertain: "LOW,HIGH" (two probabilities) or a rule "precision=P" (each label kept where it is right
    that often); InputError naming the option for anything else."""
    if "," in spec:
        try:
            low, high = (float(v) for v in spec.split(","))
        except ValueError:
            raise InputError(f"--uncertain {spec}: expected LOW,HIGH (two probabilities) or precision=P") from None
        if not 0.0 < low < high < 1.0:
            raise InputError(f"--uncertain {spec}: expected 0 < LOW < HIGH < 1")
        return low, high
    rule = parse_rule(spec, "--uncertain")
    if rule.kind != "precision":
        raise InputError(f"--uncertain {spec}: the band's rule is precision=P (both labels right that often); or give LOW,HIGH")
    return rule


def choose_band(scores: Any, labels: Any, rule: Rule) -> tuple[float, float, dict[str, float]]:
    """(low, high, figures): high the smallest threshold whose positives reach the rule's precision, low the
    largest whose negatives (scores under it) do; the texts in [low, high) are left uncertain."""
    s, y = np.asarray(scores).ravel(), np.asarray(labels).ravel() == 1
    high, _ = choose_threshold(s, y, rule)
    # negatives: scores under low; flip the scores so "at or over" becomes "at or under", then step just above
    t, chosen, tn = _curve(-s, ~y)
    ok = np.flatnonzero(tn / chosen >= float(rule.value or 0.0))
    if not len(ok):
        raise DataError(f"--uncertain {rule}: no threshold gives the negative label that precision on the held-out texts")
    top = float(-t[int(ok[-1])])  # the highest score still labelled negative
    above = s[s > top]
    if not len(above):
        raise DataError(f"--uncertain {rule}: reached only by labelling every text negative")
    low = float(above.min())
    if low > high:
        raise DataError(f"--uncertain {rule}: the negative side's threshold {low:.4f} lies over the positive side's {high:.4f}")
    if low == high:
        raise DataError(f"--uncertain {rule}: both sides meet at {low:.4f}: no band is needed; give a higher precision")
    negative, positive, middle = s < low, s >= high, (s >= low) & (s < high)
    out = {
        "low": low,
        "high": high,
        "uncertain_rate": float(np.mean(middle)),
        "precision_positive": float(np.mean(y[positive])) if positive.any() else 1.0,
        "precision_negative": float(np.mean(~y[negative])) if negative.any() else 1.0,
        "accuracy_outside": float(np.mean((s[~middle] >= high) == y[~middle])) if (~middle).any() else 1.0,
    }
    return low, high, _rounded(out)


def reliability_plot(
    path: str | os.PathLike[str], before: Any, after: Any, labels: Any, head: str = "sigmoid", title: str = ""
) -> None:
    """A PNG of the reliability diagram (observed frequency by probability bin, before and after calibration)
    and how many texts fall in each bin. Needs matplotlib: pip install 'edge-sentiment[bench]'."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise MissingDependencyError.for_extra("matplotlib", "bench", "The reliability plot (--plot)") from None
    tables = {
        f"before (ECE {expected_calibration_error(before, labels, head):.3f})": reliability_bins(before, labels, head),
        f"after (ECE {expected_calibration_error(after, labels, head):.3f})": reliability_bins(after, labels, head),
    }
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5.5, 6.5), height_ratios=(3, 1), sharex=True)
    top.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="perfectly calibrated")
    width = 1.0 / ECE_BINS
    for (name, table), offset, marker in zip(tables.items(), (-0.2, 0.2), ("o", "s")):
        used = [b for b in table if b["count"]]
        top.plot([b["mean_probability"] for b in used], [b["frequency"] for b in used], marker=marker, label=name)
        bottom.bar([(b["low"] + b["high"]) / 2 + offset * width for b in table], [b["count"] for b in table], width * 0.4)
    what = (
        "positive-class probability"
        if head == "sigmoid"
        else "top-class probability"
        if head == "softmax"
        else "each label's probability"
    )
    top.set_ylabel("observed frequency")
    top.set_title(title or f"Reliability ({ECE_BINS} equal-width bins)", fontsize=10)
    top.legend(loc="upper left", fontsize=8)
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    bottom.set_xlabel(what)
    bottom.set_ylabel("texts")
    fig.tight_layout()
    fig.savefig(os.fspath(path), dpi=110)
    plt.close(fig)
