"""Calibration (calibration.py, decision_fit.py, `edge-sentiment calibrate`): the fit recovers a known
temperature and bias, the figures are the textbook ones, the threshold rules pick what they say, bad held-out
texts and rules are refused naming themselves, and `calibrate` rewrites a copy of a tiny bundle end to end."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from conftest import ASSETS, NEGATIVE, POSITIVE, make_archive, needs_tf

from edge_sentiment import DataError, InputError, MissingDependencyError, Predictor
from edge_sentiment.calibration import (
    Rule,
    choose_band,
    choose_threshold,
    expected_calibration_error,
    figures,
    fit_calibration,
    parse_band,
    parse_rule,
    reliability_plot,
)
from edge_sentiment.cli import main
from edge_sentiment.runtime.decision import Decision

TINY = ASSETS / "tiny_bundle"
THREE = ASSETS / "shapes" / "three-class"


def invoke(*args: Any) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def fails(result: Result, *pieces: str) -> None:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for piece in pieces:
        assert piece in result.output, result.output


def synthetic(n: int = 20000, temperature: float = 2.0, bias: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from true logits l; the model reports sigmoid(T * (l - b)), so the fit should find T and b."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 3.0, n)
    labels = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(np.int64)
    scores = 1 / (1 + np.exp(-(temperature * (logits - bias))))
    return scores.astype(np.float32), labels


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_the_fit_recovers_a_known_temperature(temperature: float) -> None:
    scores, labels = synthetic(temperature=temperature)
    fit = fit_calibration(scores, labels)
    assert fit.temperature == pytest.approx(temperature, rel=0.05) and fit.bias == 0.0
    assert fit_calibration(scores, labels) == fit  # deterministic
    before, after = figures(scores, labels), figures(fit.decision("sigmoid").calibrate(scores), labels)
    assert after["log_loss"] < before["log_loss"] and after["ece"] < before["ece"]
    assert after["accuracy"] == before["accuracy"]  # a temperature alone keeps every label at 0.5


def test_the_fit_recovers_temperature_and_bias() -> None:
    scores, labels = synthetic(temperature=2.0, bias=-0.5)
    fit = fit_calibration(scores, labels, method="temperature+bias")
    # logit(p) = 2 (l + 0.5), so l = logit(p) / 2 - 0.5
    assert fit.temperature == pytest.approx(2.0, rel=0.05) and fit.bias == pytest.approx(-0.5, abs=0.06)


def test_softmax_and_multi_label_fits() -> None:
    rng = np.random.default_rng(1)
    logits = rng.normal(0.0, 2.0, (12000, 3))
    truth = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = (rng.random((12000, 1)) > truth.cumsum(axis=1)).sum(axis=1)
    sharp = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)
    assert fit_calibration(sharp, labels, "softmax").temperature == pytest.approx(3.0, rel=0.05)
    multi = (rng.random(logits.shape) < 1 / (1 + np.exp(-logits))).astype(np.int64)
    soft = 1 / (1 + np.exp(-0.5 * logits))
    assert fit_calibration(soft, multi, "multi-label").temperature == pytest.approx(0.5, rel=0.05)
    with pytest.raises(InputError, match="softmax head takes a temperature alone"):
        fit_calibration(sharp, labels, "softmax", method="temperature+bias")


def test_figures_are_the_textbook_ones() -> None:
    scores = np.array([0.1, 0.4, 0.8, 0.9])
    labels = np.array([0, 1, 1, 1])
    # bins of width 1/15: 0.1 (bin 1, frequency 0), 0.4 (bin 6, 1), 0.8 (bin 12, 1), 0.9 (bin 13, 1)
    want = (0.1 + 0.6 + 0.2 + 0.1) / 4
    assert expected_calibration_error(scores, labels) == pytest.approx(want)
    got = figures(scores, labels, threshold=0.5)
    assert got["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.4, 0.8, 0.9])), abs=1e-6)
    assert got["brier"] == pytest.approx(np.mean(np.square([0.1, 0.6, 0.2, 0.1])), abs=1e-6)
    assert (got["accuracy"], got["precision"], got["recall"]) == (0.75, 1.0, pytest.approx(2 / 3, abs=1e-6))


def test_the_threshold_rules_pick_what_they_say() -> None:
    scores = np.array([0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1], dtype=np.float32)
    labels = np.array([1, 1, 1, 0, 1, 1, 0, 1, 0, 0])
    threshold, at = choose_threshold(scores, labels, parse_rule("precision=0.8"))
    # at 0.6 precision is 5/6; at 0.4 it is 5/7 < 0.8: the smallest threshold reaching 0.8 is 0.6
    assert threshold == pytest.approx(0.6) and at["precision"] == pytest.approx(5 / 6, abs=1e-6)
    threshold, at = choose_threshold(scores, labels, parse_rule("recall=1"))
    assert threshold == pytest.approx(0.3) and at["recall"] == 1.0  # the largest finding every positive
    threshold, _ = choose_threshold(scores, labels, parse_rule("recall=0.5"))
    assert threshold == pytest.approx(0.85)
    threshold, at = choose_threshold(scores, labels, parse_rule("f1"))
    # at 0.6: precision 5/6, recall 5/6 (F1 0.833); at 0.3: precision 6/8, recall 1 (F1 0.857)
    assert threshold == pytest.approx(0.3) and at["f1"] == pytest.approx(2 * 0.75 / 1.75, abs=1e-6)
    with pytest.raises(DataError, match=r"--threshold-for precision=0\.999: no threshold reaches it.*best precision is 0\.5000"):
        choose_threshold(np.array([0.9, 0.9, 0.2]), np.array([1, 0, 0]), Rule("precision", 0.999))
    # the runtime labels exactly as chosen: a score equal to the threshold is positive
    decision = Decision(threshold=float(np.float32(0.6)))
    labels_at = [p.label for p in decision.predictions(scores, ["negative", "positive"])]
    assert labels_at == ["positive"] * 6 + ["negative"] * 4


def test_the_band_rule() -> None:
    scores = np.array([0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1], dtype=np.float32)
    labels = np.array([1, 1, 1, 0, 1, 1, 0, 1, 0, 0])
    low, high, at = choose_band(scores, labels, Rule("precision", 1.0))
    assert (high, low) == (pytest.approx(0.85), pytest.approx(0.3))  # over 0.85 all positive, under 0.3 all negative
    assert at["uncertain_rate"] == pytest.approx(0.5) and at["precision_negative"] == 1.0
    assert parse_band("0.2,0.8") == (0.2, 0.8)


@pytest.mark.parametrize(
    "spec, piece",
    [
        ("precision", "unknown rule"),
        ("precision=1.5", "within 0..1"),
        ("accuracy=0.9", "unknown rule"),
        ("recall=x", "within 0..1"),
    ],
)
def test_unknown_rules_are_refused_naming_the_option(spec: str, piece: str) -> None:
    with pytest.raises(InputError, match=f"--threshold-for {spec}: .*{piece}"):
        parse_rule(spec)


@pytest.mark.parametrize("spec", ["0.8,0.2", "0.2", "0.2,0.8,0.9", "recall=0.9", "a,b"])
def test_bad_bands_are_refused(spec: str) -> None:
    with pytest.raises(InputError, match="--uncertain"):
        parse_band(spec)


@pytest.mark.parametrize(
    "scores, labels, piece",
    [
        ([0.2, 0.9, 0.8], [1, 1, 1], "calibration needs texts of more than one class"),
        ([0.2, 0.9, 0.8], [1, 0], "3 scores but 2 labels"),
        ([0.2, 0.9, 1.5], [1, 0, 1], "must be probabilities"),
        ([0.2, float("nan"), 0.5], [1, 0, 1], "must be probabilities"),
        ([0.2, 0.9, 0.8], [1, 2, 0], "class indexes 0..1"),
        ([0.9, 0.8, 0.1, 0.2], [0, 0, 1, 1], "do not rise with the labels"),
        ([0.5, 0.5, 0.5], [0, 1, 1], "do not rise with the labels"),
    ],
)
def test_bad_held_out_texts_are_refused(scores: list[float], labels: list[int], piece: str) -> None:
    with pytest.raises(DataError, match=piece):
        fit_calibration(np.asarray(scores), np.asarray(labels))


def test_the_reliability_plot(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("matplotlib")
    scores, labels = synthetic(2000)
    reliability_plot(tmp_path / "r.png", scores, Decision(temperature=2.0).calibrate(scores), labels)
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'edge-sentiment\[bench\]'"):
        reliability_plot(tmp_path / "s.png", scores, scores, labels)


def conformance_passes(folder: Path) -> bool:
    """The bundle's own conformance vectors, checked as verify and the writer check them (the text model aside)."""
    from edge_sentiment.runtime.conformance import check_vectors, load_vectors

    predictor = Predictor.load(folder)
    return check_vectors(predictor, load_vectors(predictor.bundle) or []).passed


def held_out(path: Path, rows: int = 20, one_class: bool = False) -> Path:
    """Held-out labelled texts as a user writes them: JSON Lines, labels by name."""
    lines = []
    for i in range(rows):
        lines.append({"text": f"{POSITIVE[i % 4]} Seen {i} times.", "label": "positive"})
        if not one_class:
            lines.append({"text": f"{NEGATIVE[i % 4]} Seen {i} times.", "label": "negative"})
    lines += [] if one_class else [{"text": "A boring film, but wonderful acting.", "label": "positive"}]
    lines += [] if one_class else [{"text": "A great cast wasted on a dull story.", "label": "negative"}]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_calibrate_rewrites_a_bundle_end_to_end(tmp_path: Path) -> None:
    folder = tmp_path / "bundle"
    shutil.copytree(TINY, folder)
    texts = held_out(tmp_path / "held.jsonl")
    raw = Predictor.load(folder).predict_proba(["A boring film, but wonderful acting."])
    result = invoke(
        "calibrate",
        folder,
        "--labelled",
        texts,
        "--threshold-for",
        "f1",
        "--uncertain",
        "0.05,0.95",
        "--plot",
        tmp_path / "r.png",
    )
    assert result.exit_code == 0, result.output
    assert "calibrated on 42 texts: labelled texts of held.jsonl" in result.output and "threshold" in result.output
    manifest = json.loads((folder / "manifest.json").read_text())
    calibration = manifest["calibration"]
    assert calibration["method"] == "temperature" and calibration["texts"]["count"] == 42
    assert calibration["texts"]["sha256"] == __import__("hashlib").sha256(texts.read_bytes()).hexdigest()
    assert calibration["after"]["log_loss"] <= calibration["before"]["log_loss"]
    assert calibration["after"]["accuracy"] == calibration["before"]["accuracy"] and calibration["labels_changed"] == 0
    assert manifest["threshold_choice"]["rule"] == "f1" and manifest["uncertain"]["low"] == 0.05
    assert (tmp_path / "r.png").exists()
    assert conformance_passes(folder)
    predictor = Predictor.load(folder)
    assert predictor.decision.temperature == calibration["temperature"] and predictor.threshold == manifest["threshold"]
    want = Decision(temperature=calibration["temperature"]).calibrate(raw)
    assert predictor.predict_proba(["A boring film, but wonderful acting."])[0] == want[0]
    # again with --dry-run and another rule: the bundle stays as it is
    before = (folder / "manifest.json").read_bytes()
    again = invoke("calibrate", folder, "--labelled", texts, "--threshold-for", "recall=0.9", "--dry-run", "--json")
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["threshold_choice"]["rule"] == "recall=0.9"
    assert (folder / "manifest.json").read_bytes() == before


def test_calibrate_on_the_training_hold_out_of_an_archive(tmp_path: Path) -> None:
    """--data: the reviews the bundle's training held out, found by the manifest's seed and validation_split."""
    from edge_sentiment.data import load_imdb

    archive = make_archive(tmp_path / "aclImdb.tar.gz", per_class=30)
    folder = tmp_path / "bundle"
    shutil.copytree(TINY, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    train = load_imdb(archive, splits=("train",))["train"]
    manifest["training"]["recipe"]["validation_split"] = 0.5
    manifest["training"]["train_reviews"] = len(train)
    manifest["training"]["data"]["train_sha256"] = train.checksum()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    result = invoke("calibrate", folder, "--data", archive, "--evaluate-on", "test", "--json")
    assert result.exit_code == 0, result.output
    sections = json.loads(result.output)
    assert sections["calibration"]["texts"]["count"] == 30
    assert "held out of training (validation_split 0.5, seed 7: 30 of 60)" in sections["calibration"]["texts"]["source"]
    assert sections["calibration"]["evaluated_on"]["texts"]["source"] == "IMDB test reviews"
    # an archive whose training reviews are not the bundle's is refused
    other = make_archive(tmp_path / "other.tar.gz", per_class=31)
    fails(invoke("calibrate", folder, "--data", other), "not those", "train_sha256")


@pytest.mark.parametrize(
    "args, piece",
    [
        ((), "calibrate needs held-out labelled texts: --labelled FILE, or --data ARCHIVE"),
        (("--threshold-for", "accuracy=0.9", "--labelled", "HELD"), "--threshold-for accuracy=0.9: unknown rule"),
        (("--threshold-for", "precision=0.9", "--labelled", "MIXED"), "--threshold-for precision=0.9: no threshold reaches it"),
        (("--uncertain", "0.6,0.9", "--labelled", "HELD"), "must hold the threshold 0.5000"),
        (("--labelled", "ONE"), "calibration needs texts of more than one class"),
        (("--data", "ARCHIVE"), "records no validation split"),
        (("--text-field", "t", "--data", "ARCHIVE"), "--text-field does nothing without --labelled"),
    ],
)
def test_calibrate_refuses_bad_input(tmp_path: Path, args: tuple[str, ...], piece: str) -> None:
    folder = tmp_path / "bundle"
    shutil.copytree(TINY, folder)
    before = (folder / "manifest.json").read_bytes()
    paths = {
        "HELD": held_out(tmp_path / "held.jsonl", rows=4),
        "ONE": held_out(tmp_path / "one.jsonl", one_class=True),
        "ARCHIVE": make_archive(tmp_path / "a.tar.gz"),
        "MIXED": tmp_path / "mixed.jsonl",  # every positive text also labelled negative once: precision stays under 0.7
    }
    mixed = [(t, label) for t in POSITIVE for label in ("positive", "positive", "negative")] + [(t, "negative") for t in NEGATIVE]
    paths["MIXED"].write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in mixed))
    fails(invoke("calibrate", folder, *[paths.get(a, a) for a in args]), piece)
    assert (folder / "manifest.json").read_bytes() == before


@pytest.mark.parametrize(
    "args, piece",
    [
        (
            ("--threshold-for", "f1"),
            "--threshold-for f1 does not apply: a softmax bundle labels each text by its most probable class",
        ),
        (("--uncertain", "0.2,0.8"), "--uncertain 0.2,0.8 does not apply"),
        (("--method", "temperature+bias"), "a softmax head takes a temperature alone"),
    ],
)
def test_calibrate_refuses_what_a_softmax_bundle_cannot_take(tmp_path: Path, args: tuple[str, ...], piece: str) -> None:
    folder = tmp_path / "three"
    shutil.copytree(THREE, folder)
    texts = tmp_path / "held.jsonl"
    texts.write_text("".join(json.dumps({"text": t, "label": i % 3}) + "\n" for i, t in enumerate(POSITIVE + NEGATIVE)))
    fails(invoke("calibrate", folder, "--labelled", texts, *args), piece)


def test_calibrate_a_softmax_bundle(tmp_path: Path) -> None:
    folder = tmp_path / "three"
    shutil.copytree(THREE, folder)
    texts = tmp_path / "held.jsonl"
    rows = [(t, 2) for t in POSITIVE] + [(t, 0) for t in NEGATIVE] + [("It was a film.", 1), ("A film with actors.", 1)]
    texts.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in rows))
    result = invoke("calibrate", folder, "--labelled", texts, "--json")
    assert result.exit_code == 0, result.output
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["calibration"]["bias"] == 0.0 and manifest["calibration"]["labels_changed"] == 0
    assert conformance_passes(folder)


@pytest.mark.parametrize(
    "args, piece",
    [
        (("--threshold-for", "f1"), "--threshold-for does nothing without --calibrate"),
        (("--labelled", "HELD"), "--labelled does nothing without --quantize or --calibrate"),
        (("--calibrate", "--threshold-for", "best"), "--threshold-for best: unknown rule"),
    ],
)
def test_export_refuses_calibration_options_that_cannot_act(tmp_path: Path, args: tuple[str, ...], piece: str) -> None:
    (tmp_path / "model.keras").write_bytes(b"never read: refused before")
    held = held_out(tmp_path / "held.jsonl")
    result = invoke("export", tmp_path / "model.keras", "--out", tmp_path / "b", *[held if a == "HELD" else a for a in args])
    fails(result, piece)
    assert not (tmp_path / "b").exists()


@needs_tf
def test_export_calibrate_on_held_out_texts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_sentiment.errors import ExportError
    from edge_sentiment.export.exporter import export_bundle
    from edge_sentiment.labelled import LabelledSource

    monkeypatch.delenv("EDGE_SENTIMENT_DATA", raising=False)
    held = held_out(tmp_path / "held.jsonl")
    out = tmp_path / "bundle"
    result = export_bundle(
        ASSETS / "tiny_run", out, parity_samples=32, calibrate=True, threshold_for="f1", accuracy_texts=LabelledSource(held)
    )
    manifest = result.manifest
    assert manifest["calibration"]["texts"]["count"] == 42 and manifest["threshold_choice"]["rule"] == "f1"
    assert manifest["threshold"] == pytest.approx(manifest["threshold_choice"]["validation"]["threshold"], abs=1e-6)
    assert any(line.startswith("✓ calibration: T = ") for line in manifest["gates"])
    assert conformance_passes(out)  # the vectors: the model's own scores
    raw = Predictor.load(out, calibrated=False).predict_proba(POSITIVE)
    calibrated = Predictor.load(out).predict_proba(POSITIVE)
    np.testing.assert_allclose(calibrated, Decision(temperature=manifest["calibration"]["temperature"]).calibrate(raw))
    # a run folder trained without a validation split has no hold-out to calibrate on
    with pytest.raises(ExportError, match="records no validation split"):
        export_bundle(ASSETS / "tiny_run", tmp_path / "other", parity_samples=32, calibrate=True)
    assert not (tmp_path / "other").exists()
