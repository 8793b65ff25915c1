"""The manifest's head kind (sigmoid, softmax, multi-label), checked on load, without TensorFlow."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import ASSETS

from edge_sentiment.errors import BundleError
from edge_sentiment.runtime.bundle import load_bundle

TINY_BUNDLE = ASSETS / "tiny_bundle"  # one sigmoid output


@pytest.mark.parametrize(
    "head, classes, labels",
    [
        ("multi-label", 1, ["negative", "positive"]),
        ("softmax", 1, ["negative", "positive"]),
        ("sigmoid", 2, ["a", "b"]),
        ("argmax", 1, None),
    ],
)
def test_a_head_that_does_not_fit_the_outputs_is_refused(
    tmp_path: Path, head: str, classes: int, labels: list[str] | None
) -> None:
    folder = Path(shutil.copytree(TINY_BUNDLE, tmp_path / "bundle"))
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    manifest["model"]["head"], manifest["model"]["classes"] = head, classes
    if labels is not None:
        manifest["labels"] = labels
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(BundleError, match=f"has head '{head}' for {classes} output"):
        load_bundle(folder)


def test_a_bundle_without_a_head_is_read_as_before() -> None:
    manifest = json.loads((TINY_BUNDLE / "manifest.json").read_text(encoding="utf-8"))
    assert "head" not in manifest["model"] or manifest["model"]["head"] == "sigmoid"
    assert load_bundle(TINY_BUNDLE).manifest["model"].get("classes", 1) == 1
