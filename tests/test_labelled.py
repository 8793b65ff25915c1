"""Labelled texts (labelled.py) and what reads them: `evaluate` and export's int8 accuracy gate, for a
bundle of one sigmoid output and for one of three classes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ASSETS, make_archive, needs_tf

from edge_sentiment import Predictor
from edge_sentiment.cli import main
from edge_sentiment.data import load_imdb
from edge_sentiment.errors import DataError, ExportError
from edge_sentiment.labelled import LabelledSource, from_imdb, parse_rating_classes, read_labelled

TINY = ASSETS / "tiny_bundle"
THREE = ASSETS / "shapes" / "three-class"  # labels bad, good, great
WORDS = json.loads((ASSETS / "tiny_run" / "tokenizer.json").read_text())["words"]


def test_rating_classes_parse_and_refuse_with_the_reason() -> None:
    assert parse_rating_classes("1-4, 7-8,9-10") == [(1, 4), (7, 8), (9, 10)]
    assert parse_rating_classes("1,10") == [(1, 1), (10, 10)]
    for spec, reason in [("1-4,4-8", "rise and not overlap"), ("0-4,7-10", "within 1-10"), ("1-4,x", "'x' is not a rating")]:
        with pytest.raises(DataError, match=reason):
            parse_rating_classes(spec)


def test_imdb_reviews_by_their_labels_or_their_ratings(tiny_archive: Path) -> None:
    reviews = load_imdb(tiny_archive, splits=("test",))["test"]
    binary = from_imdb(reviews, 1)
    assert binary.classes.tolist() == reviews.labels and binary.checksum == reviews.checksum()
    three = from_imdb(reviews, 3, "1-4,7-8,9-10")
    assert three.classes.tolist() == [0 if r <= 4 else 1 if r <= 8 else 2 for r in reviews.ratings]
    extremes = from_imdb(reviews, 1, "1-2,9-10")  # the middle ratings are left out
    assert len(extremes) == sum(r in (1, 2, 9, 10) for r in reviews.ratings) < len(reviews)
    assert extremes.classes.tolist() == [int(r >= 9) for r in reviews.ratings if r in (1, 2, 9, 10)]
    with pytest.raises(DataError, match="3 classes and IMDB's labels are two: give .*--rating-classes"):
        from_imdb(reviews, 3)
    with pytest.raises(DataError, match="gives 2 classes; the bundle has 3"):
        from_imdb(reviews, 3, "1-4,7-10")


def test_a_labelled_file_as_json_lines_or_csv_by_name_or_index(tmp_path: Path) -> None:
    jsonl = tmp_path / "texts.jsonl"
    rows = [{"review": "loved it", "stars": "great", "id": 7}, {"review": "dull", "stars": 0}, {"review": "ok", "stars": "1"}]
    jsonl.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    got = read_labelled(jsonl, ["bad", "good", "great"], text_field="review", label_field="stars")
    assert got.texts == ["loved it", "dull", "ok"] and got.classes.tolist() == [2, 0, 1]
    csv = tmp_path / "texts.csv"
    csv.write_text('text,label\n"commas, and ""quotes""",positive\nbad,0\n', encoding="utf-8")
    got = read_labelled(csv, ["negative", "positive"])
    assert got.texts == ['commas, and "quotes"', "bad"] and got.classes.tolist() == [1, 0]
    assert read_labelled(csv, ["negative", "positive"], limit=1).texts == ['commas, and "quotes"']


def test_every_bad_row_of_a_labelled_file_is_named_in_one_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    lines = ['{"text": "fine", "label": 1}', '{"text": 3, "label": 1}', '{"label": 0}', "[1, 2]", '{"text": "x", "label": 5}']
    path.write_text("\n".join(lines), encoding="utf-8")
    with pytest.raises(DataError) as exc:
        read_labelled(path, ["negative", "positive"])
    message = str(exc.value)
    assert "4 bad rows" in message
    for where in ("line 2: 'text' is not text", "line 3: no text", "line 4: not an object", "line 5: label 5 is none of"):
        assert where in message
    path.write_bytes(b'{"text": "ok", "label": 1}\n{"text": "\xff", "label": 0}\n')
    with pytest.raises(DataError, match="not valid UTF-8 \\(line 2, byte 0xff\\)"):
        read_labelled(path, ["negative", "positive"])
    path.write_text('{"text": "ok", "label": 1}\n{"text": \n', encoding="utf-8")
    with pytest.raises(DataError, match="line 2 is not JSON"):
        read_labelled(path, ["negative", "positive"])
    with pytest.raises(DataError, match="a --labelled file carries its own labels"):
        LabelledSource(path, "1-4,7-10").load(1, ["negative", "positive"])


def _labelled_file(tmp_path: Path, n: int = 60, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(0, 12)))) for _ in range(n)]
    rows = [{"text": text, "label": int(rng.integers(0, 3))} for text in texts]
    path = tmp_path / "three.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_evaluate_a_three_class_bundle_on_labelled_texts_equals_numpy(tmp_path: Path) -> None:
    path = _labelled_file(tmp_path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    proba = Predictor.load(THREE).predict_proba([r["text"] for r in rows])
    y = np.array([r["label"] for r in rows])
    out = CliRunner().invoke(main, ["evaluate", "--bundle", str(THREE), "--labelled", str(path), "--no-cuts", "--json"])
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["reviews"] == len(rows) and report["labels"] == ["bad", "good", "great"]
    full = report["results"]["full review"]
    assert full["accuracy"] == pytest.approx(np.mean(proba.argmax(axis=1) == y))
    assert full["log_loss"] == pytest.approx(-np.mean(np.log(proba[np.arange(len(y)), y])), rel=1e-6)


def test_evaluate_a_three_class_bundle_needs_classes_for_imdb(tiny_archive: Path) -> None:
    out = CliRunner().invoke(main, ["evaluate", "--bundle", str(THREE), "--data", str(tiny_archive)])
    assert out.exit_code == 1 and "--rating-classes" in out.output and "Traceback" not in out.output
    out = CliRunner().invoke(
        main, ["evaluate", "--bundle", str(THREE), "--data", str(tiny_archive), "--rating-classes", "1-4,7-8,9-10", "--json"]
    )
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["reviews"] == 16 and "star rating 1-4,7-8,9-10" in report["texts"]


def test_evaluate_a_binary_bundle_on_a_labelled_file_equals_the_predictor(tmp_path: Path) -> None:
    path = tmp_path / "two.csv"
    path.write_text("text,label\na wonderful film,positive\nboring and dull,negative\nterrible waste,1\n", encoding="utf-8")
    proba = Predictor.load(TINY).predict_proba(["a wonderful film", "boring and dull", "terrible waste"])
    out = CliRunner().invoke(main, ["evaluate", "--bundle", str(TINY), "--labelled", str(path), "--no-cuts", "--json"])
    assert out.exit_code == 0, out.output
    got = json.loads(out.stdout)["results"]["full review"]["accuracy"]
    assert got == pytest.approx(np.mean((proba >= 0.5) == np.array([True, False, True])))


@needs_tf
def test_int8_gate_of_a_three_class_model_on_labelled_texts_and_on_ratings(tmp_path: Path) -> None:
    """--quantize int8 on a softmax model: refused without labels for its classes, gated on a --labelled
    file (the figure equals `evaluate --precision int8` on it) or on IMDB's ratings."""
    import keras

    from edge_sentiment.export.exporter import export_bundle

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(40,), dtype="int32"),
            keras.layers.Embedding(32, 8),
            keras.layers.LSTM(8),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.save(tmp_path / "model.keras")
    shutil.copy(ASSETS / "tiny_run" / "tokenizer.json", tmp_path / "tokenizer.json")
    archive = make_archive(tmp_path / "aclImdb.tar.gz")
    common = dict(tokenizer=tmp_path / "tokenizer.json", parity_samples=16, quantize="int8", int8_max_loss_pp=100.0)
    with pytest.raises(ExportError, match="labelled texts: the bundle has 3 classes .*--rating-classes"):
        export_bundle(tmp_path / "model.keras", tmp_path / "refused", data=archive, **common)
    assert not (tmp_path / "refused").exists()

    path = _labelled_file(tmp_path, n=40)
    labels = ["bad", "good", "great"]
    manifest = export_bundle(
        tmp_path / "model.keras", tmp_path / "bundle", accuracy_texts=LabelledSource(path), labels=labels, **common
    ).manifest
    int8 = manifest["int8"]
    assert int8["reviews"] == 40 and int8["texts"] == "labelled texts of three.jsonl"
    evaluate = ["evaluate", "--bundle", str(tmp_path / "bundle"), "--precision", "int8", "--labelled", str(path)]
    out = CliRunner().invoke(main, [*evaluate, "--no-cuts", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout)["results"]["full review"]["accuracy"] == pytest.approx(int8["accuracy"])
    assert Predictor.load(tmp_path / "bundle", precision="int8").predict_proba(["loved it"]).shape == (1, 3)

    by_rating = export_bundle(
        tmp_path / "model.keras",
        tmp_path / "bundle-ratings",
        data=archive,
        accuracy_texts=LabelledSource(rating_classes="1-4,7-8,9-10"),
        **common,
    ).manifest["int8"]
    assert by_rating["reviews"] == 16 and "star rating 1-4,7-8,9-10" in by_rating["texts"]
