"""precision="auto": the faster of the bundle's gated precisions, measured once per machine and remembered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ASSETS

from edge_sentiment import Predictor
from edge_sentiment.cli import main
from edge_sentiment.runtime import precision


def fixed_figures(fp32_ms: float, int8_ms: float) -> Any:
    def measure(predictors: dict[str, Any], ids: list[list[int]]) -> dict[str, float]:
        assert set(predictors) == {"fp32", "int8"} and ids
        assert {name: p.bundle.precision for name, p in predictors.items()} == {"fp32": "fp32", "int8": "int8"}
        return {"fp32": fp32_ms, "int8": int8_ms}

    return measure


@pytest.mark.parametrize(("fp32_ms", "int8_ms", "chosen"), [(0.5, 0.4, "int8"), (0.4, 0.5, "fp32")])
def test_auto_takes_the_faster_and_remembers_it(
    monkeypatch: pytest.MonkeyPatch, fp32_ms: float, int8_ms: float, chosen: str
) -> None:
    monkeypatch.setattr(precision, "_measure", fixed_figures(fp32_ms, int8_ms))
    first = Predictor.load(precision="auto", threads=1)
    assert first.bundle.precision == chosen
    assert first.precision_choice["reason"] == "measured now"
    assert first.precision_choice["batch1_ms"] == {"fp32": fp32_ms, "int8": int8_ms}
    stored = json.loads(precision.cache_path().read_text())
    assert [record["precision"] for record in stored["choices"].values()] == [chosen]

    def fail(*_: Any) -> None:
        raise AssertionError("measured again although the figures were cached")

    monkeypatch.setattr(precision, "_measure", fail)
    again = Predictor.load(precision="auto", threads=1)
    assert again.bundle.precision == chosen and again.precision_choice["reason"].startswith("measured on this machine before")
    text = "A wonderful, moving film."
    expected = Predictor.load(precision=chosen, threads=1).predict_proba(text)
    assert np.array_equal(again.predict_proba(text), expected)


def test_other_threads_are_measured_on_their_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "_measure", fixed_figures(0.5, 0.4))
    Predictor.load(precision="auto", threads=1)
    monkeypatch.setattr(precision, "_measure", fixed_figures(0.3, 0.4))
    assert Predictor.load(precision="auto", threads=2).bundle.precision == "fp32"
    assert len(json.loads(precision.cache_path().read_text())["choices"]) == 2


def test_a_real_measurement_is_brief_and_consistent() -> None:
    predictor = Predictor.load(precision="auto", threads=1)
    figures = predictor.precision_choice["batch1_ms"]
    assert set(figures) == {"fp32", "int8"} and all(0 < v < 50 for v in figures.values())
    assert predictor.bundle.precision == min(figures, key=figures.get)


def test_a_bundle_without_int8_stays_fp32(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "_measure", fixed_figures(9.0, 0.1))
    predictor = Predictor.load(ASSETS / "tiny_bundle", precision="auto")
    assert predictor.bundle.precision == "fp32"
    assert "no int8 model" in predictor.precision_choice["reason"]
    assert not precision.cache_path().exists()


@pytest.mark.parametrize("content", ["{not json", json.dumps({"version": 99, "choices": {}}), json.dumps([1, 2])])
def test_a_damaged_cache_is_measured_over(monkeypatch: pytest.MonkeyPatch, content: str) -> None:
    precision.cache_path().parent.mkdir(parents=True, exist_ok=True)
    precision.cache_path().write_text(content)
    monkeypatch.setattr(precision, "_measure", fixed_figures(0.5, 0.4))
    assert Predictor.load(precision="auto", threads=1).precision_choice["reason"] == "measured now"
    assert json.loads(precision.cache_path().read_text())["version"] == precision.CACHE_VERSION


def test_an_unwritable_cache_still_chooses(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    monkeypatch.setattr(precision, "_measure", fixed_figures(0.5, 0.4))
    assert Predictor.load(precision="auto", threads=1).bundle.precision == "int8"


def test_predict_precision_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "_measure", fixed_figures(0.5, 0.4))
    result = CliRunner().invoke(main, ["predict", "--precision", "auto", "--json", "A wonderful, moving film."])
    assert result.exit_code == 0, result.output
    row = json.loads(result.output)
    expected = Predictor.load(precision="int8").predict("A wonderful, moving film.")[0]
    assert row["label"] == expected.label and row["score"] == round(expected.score, 6)
