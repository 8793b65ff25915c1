"""MODEL_CARD.md (issue 33 item 4): in every bundle written, generated from the manifest alone, listed
with its sha256; the IMDB bundle's card says English movie reviews, others say only what their manifest
holds. The bundles are written from test assets' files (no TensorFlow).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from conftest import ASSETS, ROOT

from edge_sentiment import BundleError
from edge_sentiment.cli import main
from edge_sentiment.export.modelcard import model_card
from edge_sentiment.export.writer import write_bundle
from edge_sentiment.runtime.metadata import MODEL_CARD_FILE, card_facts
from edge_sentiment.runtime.verify import verify_bundle

DEFAULT_MANIFEST = ROOT / "src" / "edge_sentiment" / "assets" / "default" / "manifest.json"


def inputs(folder: Path, **changes: Any) -> tuple[dict[str, bytes], dict[str, Any]]:
    """A test bundle's files (no model.text.onnx: verify stays fast) and manifest, as write_bundle takes them."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    files = {name: (folder / name).read_bytes() for name in manifest["files"] if name != "model.text.onnx"}
    for key in ("format", "format_version", "files", "text_model"):
        manifest.pop(key, None)
    manifest.update(changes)
    return files, manifest


def card_of(folder: Path) -> str:
    return (folder / MODEL_CARD_FILE).read_text(encoding="utf-8")


def test_every_bundle_written_has_its_card(tmp_path: Path) -> None:
    calibration = {  # as edge-sentiment calibrate writes it (decision_fit.py)
        "temperature": 1.25,
        "bias": -0.1,
        "method": "temperature+bias",
        "texts": {"source": "labelled texts of held.jsonl", "count": 200, "sha256": "0" * 64},
        "before": {"ece": 0.041, "log_loss": 0.52},
        "after": {"ece": 0.012, "log_loss": 0.47},
    }
    choice = {"rule": "precision=0.95", "validation": {"threshold": 0.62, "precision": 0.951}}
    files, manifest = inputs(ASSETS / "tiny_bundle", threshold=0.62, calibration=calibration, threshold_choice=choice)
    files[MODEL_CARD_FILE] = b"a hand-written card\n"  # replaced: the card is the manifest's
    written = write_bundle(tmp_path / "b", files, manifest)
    assert list(written["files"])[-1] == MODEL_CARD_FILE
    card = card_of(tmp_path / "b")
    assert "hand-written" not in card
    for part in (
        "- Labels: `negative`, `positive`",
        "Threshold: **0.62** on the calibrated probability, chosen for `precision=0.95` on held-out labelled texts",
        "| validation.precision | 0.951 |",
        "Temperature T = 1.25, bias b = -0.1",
        "On 200 held-out texts it was fitted on:",
        "| ece | 0.041 | 0.012 |",
        "| log_loss | 0.52 | 0.47 |",
        "| texts.source | labelled texts of held.jsonl |",
        "expected calibration error 0.0410 before, 0.0120 after, on 200 held-out texts it was fitted on",
        "400 labelled texts of synthetic.tar.gz",
        "0.9075 on 400 held-out test reviews",
        "## Intended use",
        "## Limits",
        'Predictor.load("path/to/bundle")',
        "| onnx | 1.23.2 |",
    ):
        assert part in card, part
    # every other file, with its sha256 as the manifest lists it
    for name, entry in written["files"].items():
        if name != MODEL_CARD_FILE:
            assert f"| `{name}` | {entry['bytes']} | `{entry['sha256']}` |" in card
    report = verify_bundle(tmp_path / "b")
    assert report.metadata == {"model.onnx": 16}


def test_the_card_is_byte_stable() -> None:
    manifest = json.loads(DEFAULT_MANIFEST.read_text(encoding="utf-8"))
    assert model_card(manifest) == model_card(json.loads(DEFAULT_MANIFEST.read_text(encoding="utf-8")))
    assert model_card({**manifest, "threshold": 0.7}) != model_card(manifest)


def test_the_imdb_bundle_says_english_movie_reviews() -> None:
    manifest = json.loads(DEFAULT_MANIFEST.read_text(encoding="utf-8"))
    facts = card_facts(manifest)
    assert facts.imdb
    assert "Large Movie Review Dataset" in facts.data and "25,000 English movie reviews" in facts.data
    assert facts.accuracy.startswith("0.8908 on 25,000 IMDB test reviews")
    assert "0.8900 int8" in facts.accuracy
    assert facts.limits.startswith("English only; trained on movie reviews")
    assert "last 500 words" in facts.limits
    card = model_card(manifest).decode("utf-8")
    assert "JavaScript" in card and "loadBundle" in card  # it has model.text.onnx


def test_a_bundle_without_training_records_says_so() -> None:
    """A user's Keras model exported with its tokenizer: the card claims nothing the manifest does not hold."""
    manifest = json.loads((ASSETS / "shapes" / "three-class" / "manifest.json").read_text(encoding="utf-8"))
    manifest.pop("training", None)
    facts = card_facts(manifest)
    assert not facts.imdb
    assert facts.data.startswith("not recorded in the manifest")
    assert "movie" not in facts.data + facts.intended_use + facts.limits
    assert "check its accuracy on labelled texts of your own" in facts.limits
    card = model_card(manifest).decode("utf-8")
    labels = manifest["labels"]
    assert f"the probabilities of the {len(labels)} labels (softmax" in card
    assert "The label is the most probable of" in card
    assert "JavaScript" not in card  # no model.text.onnx


@pytest.mark.parametrize("odd", [[], "text", 3])
def test_odd_manifest_sections_do_not_break_the_card(odd: Any) -> None:
    manifest = json.loads((ASSETS / "tiny_bundle" / "manifest.json").read_text(encoding="utf-8"))
    manifest.update(training=odd, int8=odd, parity=odd, versions=odd, source=odd)
    card = model_card(manifest).decode("utf-8")
    assert "Not recorded in the manifest" in card


def test_an_edited_or_missing_card_fails_verify(tmp_path: Path) -> None:
    files, manifest = inputs(ASSETS / "tiny_bundle")
    write_bundle(tmp_path / "b", files, manifest)
    edited = Path(shutil.copytree(tmp_path / "b", tmp_path / "edited"))
    (edited / MODEL_CARD_FILE).write_text(card_of(edited).replace("0.9075", "0.9999"), encoding="utf-8")
    result = CliRunner().invoke(main, ["verify", str(edited)])
    assert result.exit_code == 1 and "MODEL_CARD.md does not match its sha256" in result.output
    missing = Path(shutil.copytree(tmp_path / "b", tmp_path / "missing"))  # card and its entry gone, metadata kept
    (missing / MODEL_CARD_FILE).unlink()
    listed = json.loads((missing / "manifest.json").read_text(encoding="utf-8"))
    del listed["files"][MODEL_CARD_FILE]
    (missing / "manifest.json").write_text(json.dumps(listed), encoding="utf-8")
    with pytest.raises(BundleError, match="MODEL_CARD.md: not in the bundle, though its model files carry metadata"):
        verify_bundle(missing)
