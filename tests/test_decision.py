"""The decision layer a bundle carries (runtime/decision.py): the runtime's calibrated scores equal the formula
(sigmoid, softmax, multi-label; numpy and calibrate_one), the threshold and uncertain band are honoured by
every entry point (Predictor, TextModel, predict, score, evaluate), bad fields are refused at load, and a
calibrated bundle still passes its own conformance vectors (they hold the model's own scores)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from conftest import ASSETS, NEGATIVE, POSITIVE

from edge_sentiment import BundleError, Predictor, TextModel, verify_bundle
from edge_sentiment.calibration import expected_calibration_error
from edge_sentiment.cli import main
from edge_sentiment.runtime.decision import CLIP, Decision
from edge_sentiment.scoring.output import labels_scores

TINY = ASSETS / "tiny_bundle"
THREE = ASSETS / "shapes" / "three-class"
TEXTS = [*POSITIVE, *NEGATIVE, "", "wonderful", "boring", "A film. It was a film, with actors."]


def invoke(*args: Any, input: str | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def with_manifest(tmp_path: Path, source: Path, **fields: Any) -> Path:
    """A copy of a bundle whose manifest has fields set (None: removed), as a user would edit it."""
    folder = tmp_path / source.name
    shutil.copytree(source, folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    for key, value in fields.items():
        if key == "head":
            manifest["model"]["head"] = value
        elif value is None:
            manifest.pop(key, None)
        else:
            manifest[key] = value
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def sigmoid_formula(p: np.ndarray, t: float, b: float) -> np.ndarray:
    q = np.clip(p.astype(np.float64), CLIP, 1 - CLIP)
    return 1.0 / (1.0 + np.exp(-((np.log(q) - np.log(1 - q)) / t + b)))


@pytest.mark.parametrize("temperature, bias", [(1.7, -0.3), (0.4, 0.0), (1.0, 0.8)])
def test_sigmoid_calibration_is_the_formula(tmp_path: Path, temperature: float, bias: float) -> None:
    folder = with_manifest(tmp_path, TINY, calibration={"temperature": temperature, "bias": bias})
    raw = Predictor.load(folder, calibrated=False).predict_proba(TEXTS)
    calibrated = Predictor.load(folder).predict_proba(TEXTS)
    assert calibrated.dtype == np.float32
    np.testing.assert_allclose(calibrated, sigmoid_formula(raw, temperature, bias), rtol=0, atol=1e-7)
    one = Decision(temperature=temperature, bias=bias)
    np.testing.assert_allclose(calibrated, [one.calibrate_one(float(p)) for p in raw], rtol=0, atol=1e-7)
    assert not np.allclose(calibrated, raw, atol=1e-3)  # the calibration did something
    text_model = TextModel.load(folder)
    np.testing.assert_allclose(text_model.predict_proba(TEXTS), calibrated, atol=2e-6)
    np.testing.assert_allclose(TextModel.load(folder, calibrated=False).predict_proba(TEXTS), raw, atol=2e-6)


def test_softmax_calibration_is_the_formula(tmp_path: Path) -> None:
    folder = with_manifest(tmp_path, THREE, calibration={"temperature": 2.5})
    raw = Predictor.load(folder, calibrated=False).predict_proba(TEXTS)
    calibrated = Predictor.load(folder).predict_proba(TEXTS)
    z = np.log(np.clip(raw.astype(np.float64), CLIP, 1 - CLIP)) / 2.5
    want = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(calibrated, want, atol=1e-7)
    assert (np.argmax(calibrated, axis=1) == np.argmax(raw, axis=1)).all()  # a temperature keeps the top class
    assert calibrated.max() < raw.max()  # and softens it


def test_multi_label_calibration_is_the_formula_for_each_label(tmp_path: Path) -> None:
    folder = with_manifest(tmp_path, THREE, head="multi-label", calibration={"temperature": 0.5, "bias": -0.2}, threshold=0.3)
    raw = Predictor.load(folder, calibrated=False).predict_proba(TEXTS)
    predictor = Predictor.load(folder)
    calibrated = predictor.predict_proba(TEXTS)
    np.testing.assert_allclose(calibrated, sigmoid_formula(raw, 0.5, -0.2), atol=1e-7)
    for prediction, row in zip(predictor.predict(TEXTS), calibrated):
        assert prediction.labels == tuple(name for name, v in zip(predictor.labels, row) if v >= 0.3)


def _threshold_between(folder: Path) -> tuple[float, list[float]]:
    """A threshold between two of the texts' scores, so labels at it differ from labels at 0.5."""
    scores = sorted(float(p) for p in Predictor.load(folder).predict_proba(TEXTS))
    above = [s for s in scores if s > 0.5]
    assert len(above) >= 2
    return (above[0] + above[1]) / 2, scores


def test_the_threshold_is_honoured_by_predict_score_and_evaluate(tmp_path: Path) -> None:
    threshold, _ = _threshold_between(TINY)
    folder = with_manifest(tmp_path, TINY, threshold=threshold)
    predictor = Predictor.load(folder)
    scores = predictor.predict_proba(TEXTS)
    want = ["positive" if s >= threshold else "negative" for s in scores]
    assert want != ["positive" if s >= 0.5 else "negative" for s in scores]
    assert [p.label for p in predictor.predict(TEXTS)] == want
    # the predict CLI
    out = invoke("predict", "--bundle", folder, "--json", *TEXTS[:-3])
    assert out.exit_code == 0, out.output
    assert [json.loads(line)["label"] for line in out.output.splitlines()] == want[: len(TEXTS) - 3]
    # score
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    result = invoke("score", source, "--bundle", folder, "--out", tmp_path / "out.jsonl")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["label"] for r in sorted(rows, key=lambda r: r["row"])] == want


def test_the_uncertain_band_is_honoured_everywhere(tmp_path: Path) -> None:
    _, scores = _threshold_between(TINY)
    middle = [s for s in scores if 0.05 < s < 0.95]
    low, high = 0.05, max(middle) + 1e-4 if middle else 0.95
    folder = with_manifest(tmp_path, TINY, uncertain={"low": low, "high": high, "label": "unsure"})
    predictor = Predictor.load(folder)
    got = predictor.predict_proba(TEXTS)
    want = ["positive" if s >= high else "negative" if s < low else "unsure" for s in got]
    assert "unsure" in want and "positive" in want
    assert [p.label for p in predictor.predict(TEXTS)] == want
    assert labels_scores(predictor.labels, predictor.decision, got)[0] == want
    out = invoke("predict", "--bundle", folder, "--json", *[t for t in TEXTS if t])
    assert [json.loads(line)["label"] for line in out.output.splitlines()] == [w for t, w in zip(TEXTS, want) if t]
    source = tmp_path / "in.csv"
    source.write_text("text\n" + "".join(json.dumps(t) + "\n" for t in TEXTS))
    result = invoke("score", source, "--bundle", folder, "--out", tmp_path / "out.csv")
    assert result.exit_code == 0, result.output
    assert "unsure" in (tmp_path / "out.csv").read_text()


def test_evaluate_reports_figures_at_the_threshold_calibrated(tmp_path: Path) -> None:
    from edge_sentiment.evaluate import evaluate_bundle
    from edge_sentiment.labelled import Labelled

    threshold, _ = _threshold_between(TINY)
    folder = with_manifest(tmp_path, TINY, threshold=threshold, calibration={"temperature": 2.0})
    texts = Labelled(TEXTS[:8], np.asarray([1] * 4 + [0] * 4), "test texts", "0")
    report = evaluate_bundle(texts, bundle=folder, cuts=False)
    full = report["results"]["full review"]
    scores = Predictor.load(folder).predict_proba(TEXTS[:8])
    assert full["accuracy"] == np.mean((scores >= threshold) == (texts.classes == 1))
    assert {"ece", "precision", "recall", "log_loss"} <= set(full)
    assert report["decision"]["temperature"] == 2.0 and report["decision"]["threshold"] == threshold


@pytest.mark.parametrize(
    "fields, piece",
    [
        ({"calibration": {"temperature": 0}}, "temperature must be within 0.01..100"),
        ({"calibration": {"temperature": "1.5"}}, "calibration has no numeric temperature"),
        ({"calibration": [1.5]}, "calibration has no numeric temperature"),
        ({"calibration": {"temperature": 1.0, "bias": 1e9}}, "bias must be within -100..100"),
        ({"calibration": {"temperature": 1.0, "bias": True}}, "its bias a number"),
        ({"threshold": 1.5}, "threshold 1.5"),
        ({"uncertain": {"low": 0.7, "high": 0.3}}, "uncertain must be"),
        ({"uncertain": {"low": 0.6, "high": 0.9}}, "lo <= threshold <= hi"),
        ({"uncertain": {"low": 0.2, "high": 0.8, "label": "positive"}}, "must differ from the bundle's labels"),
        ({"uncertain": {"low": 0.2, "high": 0.8, "label": " "}}, "non-empty string"),
    ],
)
def test_bad_decision_fields_are_refused_at_load(tmp_path: Path, fields: dict[str, Any], piece: str) -> None:
    folder = with_manifest(tmp_path, TINY, **fields)
    with pytest.raises(BundleError, match="manifest.json") as err:
        Predictor.load(folder)
    assert piece in str(err.value)
    result = invoke("predict", "--bundle", folder, "good")
    assert result.exit_code == 1 and piece in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    "fields, piece",
    [
        ({"calibration": {"temperature": 1.0, "bias": 0.5}}, "a softmax head cannot take"),
        ({"uncertain": {"low": 0.2, "high": 0.8}}, "an uncertain band needs a two-label bundle"),
    ],
)
def test_softmax_bundles_refuse_a_bias_and_a_band(tmp_path: Path, fields: dict[str, Any], piece: str) -> None:
    with pytest.raises(BundleError, match=piece):
        Predictor.load(with_manifest(tmp_path, THREE, **fields))


def test_a_calibrated_bundle_passes_its_own_conformance_vectors(tmp_path: Path) -> None:
    """The vectors hold the model's own scores: check_vectors (verify's and the writer's check) and the text
    model's comparison read them uncalibrated, whatever the predictor they are given."""
    from edge_sentiment.runtime.conformance import check_vectors, compare, load_vectors

    folder = with_manifest(tmp_path, TINY, calibration={"temperature": 3.0, "bias": 0.5})
    predictor = Predictor.load(folder)
    vectors = load_vectors(predictor.bundle)
    assert vectors is not None
    assert check_vectors(predictor, vectors).passed
    assert not compare(vectors, [v.ids for v in vectors], predictor.predict_proba([v.text for v in vectors])).passed
    few = vectors[:16]  # the text model's batch of all 200 takes ~10 s on a shared core: verify's own path, on a slice
    scores, ids = TextModel.load(folder, calibrated=False).run([v.text for v in few])
    assert compare(few, ids, scores).passed
    # verify end to end, on the bundle without its text model (quick)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["files"]["model.text.onnx"], manifest["text_model"]
    (folder / "model.text.onnx").unlink()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    report = verify_bundle(folder)
    assert report.conformance is not None and report.conformance.passed
    assert invoke("verify", folder).exit_code == 0


def test_evaluate_cli_reports_ece_and_the_decision(tmp_path: Path) -> None:
    folder = with_manifest(tmp_path, TINY, threshold=0.7, calibration={"temperature": 0.5})
    texts = tmp_path / "held.jsonl"
    rows = [(t, "positive") for t in POSITIVE] + [(t, "negative") for t in NEGATIVE]
    texts.write_text("".join(json.dumps({"text": t, "label": label}) + "\n" for t, label in rows))
    result = invoke("evaluate", "--bundle", folder, "--labelled", texts, "--no-cuts", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.splitlines()[-1])
    assert report["decision"] == {"threshold": 0.7, "temperature": 0.5, "bias": 0.0, "uncertain": None}
    full = report["results"]["full review"]
    scores = Predictor.load(folder).predict_proba([t for t, _ in rows])
    truth, chosen = np.array([1] * 4 + [0] * 4) == 1, scores >= 0.7
    assert full["accuracy"] == np.mean(chosen == truth)
    assert full["precision"] == pytest.approx(np.sum(chosen & truth) / max(chosen.sum(), 1))
    assert full["recall"] == pytest.approx(np.sum(chosen & truth) / 4)
    assert full["ece"] == pytest.approx(expected_calibration_error(scores, truth.astype(int)))
