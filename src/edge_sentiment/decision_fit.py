"""A bundle's decision fitted on held-out labelled texts and written into its manifest (`edge-sentiment calibrate`,
`export --calibrate`): the calibration, a threshold chosen by a rule, an uncertain band, and the figures they get.

The held-out texts are never the test set: a labelled file the user holds out, or the IMDB training reviews the
bundle's own training held out for validation (its manifest's training recipe: seed and validation_split).
The manifest sections (runtime/decision.py reads the first three, runtime/bundle.py checks them):
"calibration": {temperature, bias, method, texts: {source, count, sha256}, ece_bins, before, after, labels_changed,
evaluated_on?}, "threshold", "threshold_choice": {rule, validation} (with a rule), "uncertain": {low, high, label,
rule?, validation?}. A bundle's conformance vectors hold the model's own scores and are left as they are.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import (
    ECE_BINS,
    Fit,
    Rule,
    choose_band,
    choose_threshold,
    figures,
    fit_calibration,
    parse_band,
    parse_rule,
    reliability_plot,
    threshold_figures,
)
from .errors import BundleError, DataError, InputError
from .labelled import Labelled, from_imdb, read_labelled
from .runtime.bundle import Bundle, load_bundle
from .runtime.predictor import Predictor

__all__ = [
    "DecisionFit",
    "fit_decision",
    "training_holdout",
    "labelled_file",
    "write_decision",
    "decided_manifest",
    "draw",
    "evaluate",
    "DECISION_KEYS",
]

DECISION_KEYS = ("calibration", "threshold", "threshold_choice", "uncertain")


@dataclass
class DecisionFit:
    """What fit_decision found: the fit, the threshold and band, the manifest sections, and every figure."""

    fit: Fit
    head: str
    threshold: float
    uncertain: tuple[float, float] | None
    sections: dict[str, Any]
    raw: np.ndarray = field(repr=False)  # the model's own scores on the held-out texts
    calibrated: np.ndarray = field(repr=False)  # as the runtime will report them
    targets: np.ndarray = field(repr=False)
    evaluated: tuple[np.ndarray, np.ndarray, np.ndarray] | None = field(default=None, repr=False)  # evaluate_on's


def _texts_section(texts: Labelled) -> dict[str, Any]:
    return {"source": texts.source, "count": len(texts), "sha256": texts.checksum}


def labelled_file(path: str | os.PathLike[str], bundle: Bundle, text_field: str = "text", label_field: str = "label") -> Labelled:
    """A user's held-out labelled texts (labelled.py's JSON Lines or CSV), labels by the bundle's names or indexes."""
    return read_labelled(
        path, bundle.manifest.get("labels", ["negative", "positive"]), text_field=text_field, label_field=label_field
    )


def training_holdout(
    manifest: dict[str, Any], data: str | os.PathLike[str] | None, what: str = "the bundle's manifest"
) -> Labelled:
    """The IMDB training reviews the model's training held out for validation, as its manifest records them
    (train/trainer.py validation_rows: the seeded shuffle's tail); DataError when the manifest does not say
    or the archive's training reviews are not the ones it trained on."""
    from .data import load_imdb
    from .train.recipes import Recipe
    from .train.trainer import validation_rows

    training = manifest.get("training") or {}
    recipe, sums = training.get("recipe") or {}, training.get("data") or {}
    split, seed, count = recipe.get("validation_split"), recipe.get("seed"), training.get("train_reviews")
    if not split or not isinstance(seed, int) or not isinstance(count, int) or not sums.get("train_sha256"):
        raise DataError(
            f"{what} records no validation split of its IMDB training (a run of 'edge-sentiment train' "
            "with --validation-split does): give held-out labelled texts of your own (--labelled FILE) that the "
            "model never saw in training; the test reviews are not used, they measure the result"
        )
    reviews = load_imdb(data, splits=("train",))["train"]
    if count < len(reviews):
        reviews = reviews.subset(count, seed=seed)
    if reviews.checksum() != sums["train_sha256"]:
        raise DataError(
            f"the IMDB training reviews at hand are not those the model was trained on (their sha256 differs from "
            f"the train_sha256 {what} records): give the archive it was trained on, or --labelled FILE"
        )
    rows = validation_rows(len(reviews), Recipe(seed=seed, validation_split=float(split)))
    classes = int(manifest["model"].get("classes", 1))
    held = from_imdb(reviews, classes)
    texts = [held.texts[i] for i in rows]
    labels = held.classes[rows]
    h = hashlib.sha256()
    for text, label in zip(texts, labels):
        h.update(f"{int(label)}\t{len(text)}\n".encode())
        h.update(text.encode("utf-8", "surrogatepass"))
    source = f"IMDB train reviews held out of training (validation_split {split:g}, seed {seed}: {len(rows)} of {len(reviews)})"
    return Labelled(texts, labels, source, h.hexdigest())


def _head(bundle: Bundle) -> str:
    model = bundle.manifest["model"]
    return str(model.get("head", "sigmoid" if int(model.get("classes", 1)) == 1 else "softmax"))


def _refuse_for_head(head: str, threshold_for: str | None, uncertain: str | None) -> None:
    if head == "softmax" and threshold_for is not None:
        raise InputError(
            f"--threshold-for {threshold_for} does not apply: a softmax bundle labels each text by its most probable class"
        )
    if head != "sigmoid" and uncertain is not None:
        raise InputError(
            f"--uncertain {uncertain} does not apply: an uncertain band needs a two-label (one sigmoid output) bundle"
        )


def fit_decision(
    bundle: Bundle,
    texts: Labelled,
    *,
    method: str = "temperature",
    threshold_for: str | None = None,
    uncertain: str | None = None,
    evaluate_on: Labelled | None = None,
    predictor: Predictor | None = None,
) -> DecisionFit:
    """Fit the bundle's calibration on held-out texts; choose its threshold (threshold_for: precision=P, recall=R
    or f1) and uncertain band (LOW,HIGH or precision=P) on them; measure before and after (and on evaluate_on,
    texts never fitted on). Nothing is written (write_decision does)."""
    head = _head(bundle)
    _refuse_for_head(head, threshold_for, uncertain)
    rule = parse_rule(threshold_for) if threshold_for is not None else None
    band = parse_band(uncertain) if uncertain is not None else None
    if len(texts) == 0:
        raise DataError(f"{texts.source} holds no texts")
    if evaluate_on is not None and evaluate_on.checksum == texts.checksum:
        raise InputError("the texts to evaluate on are the ones fitted on; give texts never fitted on (or leave it out)")
    raw_predictor = predictor or Predictor(bundle, calibrated=False)
    if not raw_predictor.decision.identity:
        raise InputError("fit_decision needs a Predictor with calibrated=False (the model's own scores)")
    raw = raw_predictor.predict_proba(texts.texts)
    targets = texts.classes
    fit = fit_calibration(raw, targets, head, method)
    calibrated = fit.decision(head).calibrate(raw)
    flat = _flat_targets(targets, head, raw)
    threshold = 0.5
    sections: dict[str, Any] = {}
    if rule is not None:
        threshold, at = choose_threshold(calibrated, flat, rule)
        sections["threshold_choice"] = {"rule": str(rule), "validation": at}
    band_values: tuple[float, float] | None = None
    if isinstance(band, Rule):
        low, high, band_figures = choose_band(calibrated, flat, band)
        band_values = (low, high)
        sections["uncertain"] = {"low": low, "high": high, "label": "uncertain", "rule": str(band), "validation": band_figures}
    elif band is not None:
        band_values = band
        sections["uncertain"] = {"low": band[0], "high": band[1], "label": "uncertain"}
    if band_values is not None and not band_values[0] <= threshold <= band_values[1]:
        raise InputError(
            f"--uncertain {uncertain}: the band [{band_values[0]:.4f}, {band_values[1]:.4f}) must hold the threshold "
            f"{threshold:.4f}; widen the band or choose the threshold inside it"
        )
    labels_changed = _labels_changed(raw, calibrated, head)
    calibration: dict[str, Any] = {
        "temperature": fit.temperature,
        "bias": fit.bias,
        "method": fit.method,
        "texts": _texts_section(texts),
        "ece_bins": ECE_BINS,
        "before": figures(raw, targets, head),
        "after": figures(calibrated, targets, head),
        "labels_changed": labels_changed,  # at 0.5 (a softmax: the top class); 0 for a temperature alone
    }
    if evaluate_on is not None:
        calibration["evaluated_on"], evaluated = evaluate(raw_predictor, evaluate_on, fit, head, threshold)
    else:
        evaluated = None
    sections = {"calibration": calibration, "threshold": threshold, **sections}
    return DecisionFit(fit, head, threshold, band_values, sections, raw, calibrated, targets, evaluated)


def _flat_targets(targets: np.ndarray, head: str, raw: np.ndarray) -> np.ndarray:
    """0/1 targets shaped as the scores the threshold reads (a multi-label head's: one-hot of each text's label)."""
    if head == "multi-label" and targets.ndim == 1:
        onehot: np.ndarray = np.eye(raw.shape[1])[targets]
        return onehot
    return targets


def _labels_changed(raw: np.ndarray, calibrated: np.ndarray, head: str) -> int:
    if head == "softmax":
        return int(np.sum(np.argmax(raw, axis=1) != np.argmax(calibrated, axis=1)))
    return int(np.sum((raw >= 0.5) != (calibrated >= 0.5)))


def evaluate(
    raw_predictor: Predictor, texts: Labelled, fit: Fit, head: str, threshold: float
) -> tuple[dict[str, Any], tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Figures on texts never fitted on (the model's own scores at 0.5, and calibrated at the chosen threshold),
    and (raw scores, calibrated scores, labels)."""
    raw = raw_predictor.predict_proba(texts.texts)
    calibrated = fit.decision(head).calibrate(raw)
    after = figures(calibrated, texts.classes, head)
    if head != "softmax":
        at = threshold_figures(calibrated, _flat_targets(texts.classes, head, raw), threshold)
        after.update({f"{k}_at_threshold": round(v, 6) for k, v in at.items()})
    section = {"texts": _texts_section(texts), "before": figures(raw, texts.classes, head), "after": after}
    return section, (raw, calibrated, texts.classes)


def decided_manifest(manifest: dict[str, Any], found: DecisionFit) -> dict[str, Any]:
    """The manifest with the decision's sections replaced by found's (the rest as it was)."""
    out = {k: v for k, v in manifest.items() if k not in DECISION_KEYS}
    out.update(found.sections)
    return out


def write_decision(
    path: str | os.PathLike[str], found: DecisionFit, plot: str | os.PathLike[str] | None = None
) -> dict[str, Any]:
    """Rewrite the bundle at path with the fitted decision (atomically, verified as on export); returns the manifest.

    Only manifest.json changes (export/writer.py may stamp what the manifest says into the model files)."""
    from .export.writer import kept_files, rewrite_bundle

    folder = Path(path)
    bundle = load_bundle(folder)  # verified again: the files written back are the ones checked
    if plot is not None:
        draw(found, plot)
    files = kept_files(folder, bundle.manifest, set())
    try:
        return rewrite_bundle(folder, files, decided_manifest(bundle.manifest, found))
    except BundleError as exc:
        raise BundleError(f"the calibrated bundle was refused, so {folder} is unchanged: {exc}") from None


def draw(found: DecisionFit, plot: str | os.PathLike[str]) -> None:
    """The reliability plot, before and after: of the texts evaluated on where there are some (never fitted on),
    else of the held-out texts fitted on."""
    fitted = f"T = {found.fit.temperature:.3f}" + (f", b = {found.fit.bias:.3f}" if found.fit.bias else "")
    if found.evaluated is not None:
        raw, calibrated, targets = found.evaluated
        title = f"Reliability on {len(raw):,} texts never fitted on\n({fitted}; {ECE_BINS} equal-width bins)"
    else:
        raw, calibrated, targets = found.raw, found.calibrated, found.targets
        title = f"Reliability on the {len(raw):,} held-out texts fitted on\n({fitted}; {ECE_BINS} equal-width bins)"
    reliability_plot(plot, raw, calibrated, targets, found.head, title=title)
