"""What a bundle's ONNX files say about themselves: the metadata_props derived from the manifest alone.

export/writer.py stamps these keys into every .onnx file of a bundle it writes, before the checksums;
runtime/verify.py reads them back (runtime/onnxinfo.py) and requires them equal to what the manifest
gives. A host holding only model.onnx (Java, C#, a phone) reads them with onnxruntime's
get_modelmeta().custom_metadata_map. Every value is a string: JSON where the key says so, else text.
The same manifest gives the same keys and values (nothing from the clock or the machine).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any

from .decision import CLIP, Decision
from .older_formats import model_padding

__all__ = [
    "PREFIX",
    "METADATA_VERSION",
    "MODEL_CARD_FILE",
    "CardFacts",
    "card_facts",
    "model_metadata",
    "metadata_problems",
    "stamped",
]

PREFIX = "edge_sentiment."  # every key a bundle stamps starts with it; other keys (onnx.infer, …) are left alone
METADATA_VERSION = 1
MODEL_CARD_FILE = "MODEL_CARD.md"
# The IMDB reviews (aclImdb v1) as edge_sentiment.data checksums each split (label, id, rating, text, in order).
IMDB_SPLITS_SHA256 = {
    "train": "c21163711748dccc6fc6afcb7b97f03354e122294f5423d588a083284e779035",
    "test": "c6712f0c5f3c22927185da7e700029ad328c5408b4795a006e630276356d91f1",
}
# What each file's "output" key says (the fast path's two directions give partial sums, not a probability).
_PART_OUTPUTS = {
    "model.forward.onnx": "sums and maxes of the forward direction (a part of the fast path, for model.head.onnx)",
    "model.backward.onnx": "sums and maxes of the backward direction (a part of the fast path, for model.head.onnx)",
}
_MAX_SHOWN = 120  # characters of a differing value shown in a verify message


@dataclass(frozen=True)
class CardFacts:
    """The sentences a model card is made of, each taken from the manifest (MODEL_CARD.md and the short card share them)."""

    what: str
    output: str
    data: str
    accuracy: str
    intended_use: str
    limits: str
    imdb: bool


def _name(path: Any) -> str:
    """A path's last part, whichever OS wrote it (a manifest carries no machine's folders)."""
    text = str(path or "")
    return PureWindowsPath(PurePosixPath(text).name).name or text


def _section(owner: Any, key: str) -> dict[str, Any]:
    """owner[key] when it is an object, else {} (a hand-edited manifest may hold anything there)."""
    value = owner.get(key) if isinstance(owner, dict) else None
    return value if isinstance(value, dict) else {}


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else "?"


def _is_imdb(training: dict[str, Any]) -> bool:
    return _section(training, "data").get("train_sha256") == IMDB_SPLITS_SHA256["train"]


def _output(labels: list[str], decision: Decision) -> str:
    if decision.head == "sigmoid":
        label = f"'{labels[1]}' at or over {decision.threshold:g}, else '{labels[0]}'"
        if decision.uncertain is not None:
            low, high, middle = decision.uncertain
            label = f"'{labels[1]}' at or over {high:g}, '{labels[0]}' under {low:g}, '{middle}' between"
        return f"the probability that the text is '{labels[1]}' (float32 [batch, 1]); labelled {label}"
    if decision.head == "softmax":
        return (
            f"the probabilities of the {len(labels)} labels (softmax, float32 [batch, {len(labels)}]); "
            "the label is the most probable"
        )
    return (
        f"independent probabilities of the {len(labels)} labels (float32 [batch, {len(labels)}]); "
        f"a text has every label at or over {decision.threshold:g}"
    )


def _accuracy(manifest: dict[str, Any], imdb: bool) -> str:
    training = _section(manifest, "training")
    parts = []
    accuracy = training.get("test_accuracy")
    if _real(accuracy):
        held_out = "IMDB test reviews" if imdb else "held-out test reviews"
        parts.append(f"{accuracy:.4f} on {_count(training.get('test_reviews'))} {held_out} (the Keras model)")
    int8 = _section(manifest, "int8")
    if _real(int8.get("accuracy")):
        parts.append(f"{int8['accuracy']:.4f} int8 on {_count(int8.get('reviews'))} {int8.get('texts', 'texts')}")
    runtime = _section(_section(manifest, "parity"), "runtime")
    if _real(runtime.get("max_abs_diff")) and _real(runtime.get("label_agreement")):
        parts.append(
            f"the ONNX model gives the source model's scores within {runtime['max_abs_diff']:.1e} "
            f"on {_count(runtime.get('samples'))} texts ({runtime['label_agreement']:.2%} of labels the same)"
        )
    calibration = _section(manifest, "calibration")
    measured = _section(calibration, "evaluated_on") or calibration  # texts never fitted on, where there are some
    before, after = _section(measured, "before"), _section(measured, "after")
    if _real(before.get("ece")) and _real(after.get("ece")):
        parts.append(
            f"calibrated: expected calibration error {before['ece']:.4f} before, {after['ece']:.4f} after, "
            f"on {_count(_section(measured, 'texts').get('count'))} "
            f"{'texts never fitted on' if measured is not calibration else 'held-out texts it was fitted on'}"
        )
    if not parts:
        return "not recorded in the manifest: measure it on labelled texts of your own (edge-sentiment evaluate)"
    return "; ".join(parts)


def card_facts(manifest: dict[str, Any]) -> CardFacts:
    """What the model is, its data, accuracy, intended use and limits, in words taken from the manifest."""
    model = _section(manifest, "model")
    training = _section(manifest, "training")
    labels = list(manifest.get("labels") or ["negative", "positive"])
    decision = Decision.from_manifest(manifest)
    imdb = _is_imdb(training)
    data = _section(training, "data")
    architecture = f": {model['architecture']}" if model.get("architecture") else ""
    max_len = model.get("max_len", "?")
    truncation = _section(manifest, "tokenizer").get("truncation", "pre")
    kept = "last" if truncation == "pre" else "first"
    what = f"an edge-sentiment text classifier over {', '.join(labels)}{architecture}"
    if imdb:
        what = f"an edge-sentiment sentiment classifier for English movie reviews{architecture}"
        source = (
            f"the Large Movie Review Dataset (IMDB, aclImdb v1; Maas et al., ACL 2011): "
            f"{_count(training.get('train_reviews'))} English movie reviews for training, "
            f"{_count(training.get('test_reviews'))} others for test, half positive, half negative"
        )
        use = "telling positive from negative opinion in English movie reviews and similar English opinion text"
        limits = (
            "English only; trained on movie reviews, so other domains (products, news, social media), "
            "sarcasm, mixed opinions and other languages are scored less reliably; "
            f"only the {kept} {max_len} words of a text are read; "
            "not for decisions about people without a human check"
        )
    else:
        if data:
            source = (
                f"{_count(training.get('train_reviews'))} labelled texts of {_name(data.get('path'))} "
                "read by edge-sentiment train (an archive in the IMDB layout)"
            )
        else:
            exported = _name(_section(manifest, "source").get("model")) or "a Keras model"
            source = f"not recorded in the manifest (the bundle was exported from {exported})"
        use = f"classifying texts like the ones it was trained on into {', '.join(labels)}"
        limits = (
            "only as good as its training data, which this card cannot describe beyond the manifest: "
            "check its accuracy on labelled texts of your own before relying on it; "
            f"only the {kept} {max_len} tokens of a text are read"
        )
    return CardFacts(what, _output(labels, decision), source, _accuracy(manifest, imdb), use, limits, imdb)


def _short_card(facts: CardFacts) -> str:
    return (
        f"{facts.what[0].upper()}{facts.what[1:]}. Output: {facts.output}. Data: {facts.data}. "
        f"Accuracy: {facts.accuracy}. Intended use: {facts.intended_use}. Limits: {facts.limits}. "
        f"The bundle's {MODEL_CARD_FILE} is the full card."
    )


def _number(value: float) -> str:
    return json.dumps(float(value))


def _calibration(decision: Decision) -> str:
    if decision.identity:
        return "none: the output is the bundle's probability (temperature 1, bias 0)"
    if decision.head == "softmax":
        return (
            "the bundle's probabilities are softmax(log(p) / temperature), "
            f"p the output clipped to [{CLIP:g}, 1 - {CLIP:g}], in float64"
        )
    return (
        "the bundle's probability is sigmoid(logit(p) / temperature + bias), "
        f"p the output (each label alone) clipped to [{CLIP:g}, 1 - {CLIP:g}], in float64"
    )


def model_metadata(manifest: dict[str, Any], file_name: str, tokenizer_sha256: str) -> dict[str, str]:
    """The metadata_props a bundle file carries, sorted by key: what the manifest says about the model."""
    model = manifest["model"]
    decision = Decision.from_manifest(manifest)
    uncertain = (
        None
        if decision.uncertain is None
        else {"low": decision.uncertain[0], "high": decision.uncertain[1], "label": decision.uncertain[2]}
    )
    versions = _section(manifest, "versions")
    entries = {
        "metadata_version": str(METADATA_VERSION),
        "file": file_name,
        "labels": json.dumps(list(manifest.get("labels") or ["negative", "positive"]), ensure_ascii=False),
        "output": _PART_OUTPUTS.get(file_name, "probability"),
        "head": decision.head,
        "threshold": _number(decision.threshold),
        "temperature": _number(decision.temperature),
        "bias": _number(decision.bias),
        "calibration": _calibration(decision),
        "uncertain": json.dumps(uncertain, ensure_ascii=False),
        "tokenizer_sha256": tokenizer_sha256,
        "max_len": str(model["max_len"]),
        "padding": str(model_padding(model)),
        "pads": str(model.get("pads", "skipped")),
        "version": str(versions.get("edge-sentiment") or "unknown"),
        "model_card": _short_card(card_facts(manifest)),
    }
    return {PREFIX + key: entries[key] for key in sorted(entries)}


def stamped(metadata: dict[str, str]) -> dict[str, str]:
    """The keys of metadata a bundle stamps (those under PREFIX)."""
    return {k: v for k, v in metadata.items() if k.startswith(PREFIX)}


def _shown(value: str) -> str:
    return repr(value if len(value) <= _MAX_SHOWN else value[:_MAX_SHOWN] + "…")


def metadata_problems(name: str, found: dict[str, str], expected: dict[str, str]) -> list[str]:
    """Every way a file's stamped keys differ from what the manifest gives (missing, differing, unknown)."""
    ours = stamped(found)
    problems = [
        f"{name}: metadata {key} is missing (the manifest says {_shown(value)})"
        for key, value in expected.items()
        if key not in ours
    ]
    problems += [
        f"{name}: metadata {key} is {_shown(ours[key])} but the manifest says {_shown(value)}"
        for key, value in expected.items()
        if key in ours and ours[key] != value
    ]
    problems += [f"{name}: metadata {key} is not one edge-sentiment writes" for key in ours if key not in expected]
    return problems
