"""The bundle shipped inside the package: present, verified, and documented by its manifest."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from edge_sentiment import Predictor, load_bundle
from edge_sentiment.runtime.bundle import default_bundle_path
from edge_sentiment.train.recipes import Recipe, get_recipe


def test_the_default_bundle_verifies_and_scores() -> None:
    predictor = Predictor.load(threads=1)  # no path: the shipped bundle
    assert predictor.bundle.path == default_bundle_path()
    scores = predictor.predict_proba(
        ["An excellent, brilliant, moving film. Loved it.", "Awful. Boring, stupid and a waste of time."]
    )
    assert scores.shape == (2,) and np.all((scores >= 0) & (scores <= 1))
    assert scores[0] > 0.5 > scores[1]


def test_the_default_bundle_is_small_and_records_how_it_was_made() -> None:
    bundle = load_bundle()
    manifest = bundle.manifest
    # The budget the recipe was chosen within (docs/experiments.md): what the Python runtime reads (both
    # precisions, the tokenizer, the fast path); the text model for other hosts and the conformance texts aside.
    aside = {"model.text.onnx", "conformance.jsonl"}
    total = sum(f["bytes"] for name, f in manifest["files"].items() if name not in aside)
    assert total < 2.5 * 1024 * 1024
    assert set(manifest["precisions"]) == {"fp32", "int8"}
    load_bundle(precision="int8")
    assert manifest["source"]["command"].startswith("edge-sentiment export")
    training = manifest["training"]
    assert training["command"].startswith("edge-sentiment train")
    # trained with the recipe as it is defined now (fields added since take their defaults: what ran then)
    # trained as `--recipe default --lstm-units 32` while "default" was the 64-unit recipe: what the 32-unit one is now
    recorded = Recipe(**training["recipe"])
    shipped = get_recipe("default")
    assert shipped.name == "bilstm32-w2v256-fold16" and "--lstm-units 32" in training["command"]
    assert replace(recorded, name=shipped.name) == shipped
    fold = training["embedding_fold"]  # the 256-wide embedding it was trained with, folded to 16
    assert (fold["width"], fold["rank"]) == (shipped.embedding_dim, shipped.embedding_rank)
    assert fold["validation_loss"]["folded"] < fold["validation_loss"]["wide"] + 0.002
    assert training["train_reviews"] == 25000
    assert 0.8 < training["test_accuracy"] < 1
    parity = manifest["parity"]
    assert parity["runtime"]["samples"] == 25000 and parity["runtime"]["label_agreement"] == 1.0
    assert parity["runtime"]["max_abs_diff"] <= 1e-5
    assert manifest["int8"]["accuracy_loss_pp"] <= manifest["int8"]["max_loss_pp"]
    assert manifest["versions"]["tf2onnx"] and manifest["versions"]["onnxruntime"]


def test_the_default_bundles_pad_skip_holds_at_every_length() -> None:
    """Every length 1..max_len: the runtime (pads skipped, the fast path) against the same words pre-padded
    to max_len and run through every pad step (what Keras computed in training)."""
    predictor = Predictor.load(threads=1)
    max_len = predictor.bundle.max_len
    rng = np.random.default_rng(11)
    worst = 0.0
    for length in range(1, max_len + 1):
        ids = rng.integers(2, predictor.tokenizer.vocab_size, size=length).tolist()
        padded = np.zeros((1, max_len), dtype=np.int32)
        padded[0, max_len - length :] = ids
        skipped = predictor.score_ids([ids])[0]
        worst = max(worst, abs(float(skipped) - float(predictor.score_batch(padded)[0])))
    assert worst <= 1e-5, worst
