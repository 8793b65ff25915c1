"""Exporting the model shapes and files users have: a tiny model of each shape built and trained here,
exported, and compared with Keras on every length from an empty text to beyond max_len; Keras 2 files
through tf-keras; several classes; and one clear refusal for the rest."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ASSETS, needs_tf

from edge_sentiment import Predictor
from edge_sentiment.cli import main
from edge_sentiment.data import DATA_ENV
from edge_sentiment.errors import ExportError

pytestmark = needs_tf
needs_tf_keras = pytest.mark.skipif(
    importlib.util.find_spec("tf_keras") is None, reason="needs tf-keras: pip install 'edge-sentiment[train]'"
)

TOKENIZER = ASSETS / "tiny_run" / "tokenizer.json"  # 32 ids, max_len 40
VOCAB, MAX_LEN = 32, 40


@pytest.fixture(autouse=True)
def _no_imdb_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV, raising=False)


def ids_by_length(seed: int = 4) -> list[list[int]]:
    """Every length from 0 (an empty text) to beyond max_len, twice."""
    rng = np.random.default_rng(seed)
    return [rng.integers(1, VOCAB, size=n).tolist() for n in list(range(0, MAX_LEN + 6)) * 2]


def padded(rows: list[list[int]], padding: str) -> np.ndarray:
    """pad_sequences, written here rather than imported: the last max_len ids, 0s before or after."""
    out = np.zeros((len(rows), MAX_LEN), dtype=np.int32)
    for i, row in enumerate(rows):
        row = row[-MAX_LEN:]
        if row:
            if padding == "pre":
                out[i, MAX_LEN - len(row) :] = row
            else:
                out[i, : len(row)] = row
    return out


def trained(keras: Any, layers: list[Any], classes: int = 1, padding: str = "pre", seed: int = 3) -> Any:
    """A Keras 3 model of these layers on token ids, trained a few epochs on random labelled sequences."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input(shape=(MAX_LEN,), dtype="int32"), *layers])
    rng = np.random.default_rng(seed)
    rows = [rng.integers(1, VOCAB, size=int(n)).tolist() for n in rng.integers(1, MAX_LEN + 1, size=96)]
    y = np.array([sum(r) % max(classes, 2) for r in rows])
    loss = "binary_crossentropy" if classes == 1 else "sparse_categorical_crossentropy"
    model.compile(keras.optimizers.Adam(0.02), loss)
    model.fit(padded(rows, padding), y, epochs=6, batch_size=32, verbose=0)
    return model


def said(padding: str) -> Any:
    """The sides the model was trained with, said outright (--padding, --truncating): a tokenizer file
    does not record them (export/sides.py refuses a model whose scores depend on them otherwise)."""
    from edge_sentiment.export.options import TokenizerOptions

    return TokenizerOptions(padding=padding, truncating="pre")


def export(tmp_path: Path, model_path: Path, *options: str) -> dict[str, Any]:
    from edge_sentiment.export.exporter import export_bundle

    shutil.copy(TOKENIZER, tmp_path / "tokenizer.json")
    args = dict(opt.split("=", 1) for opt in options)
    result = export_bundle(
        model_path,
        tmp_path / "bundle",
        parity_samples=48,
        tokenizer=tmp_path / "tokenizer.json",
        tokenizer_options=said("pre"),
        labels=args["labels"].split(",") if "labels" in args else None,
    )
    assert result.report.passed
    return result.manifest


def assert_every_length(
    model: Any, bundle: Path, padding: str, predict: Callable[[np.ndarray], np.ndarray] | None = None
) -> None:
    rows = ids_by_length()
    keras_p = (predict or (lambda x: model.predict(x, verbose=0)))(padded(rows, padding))
    keras_p = keras_p[:, 0] if keras_p.shape[1] == 1 else keras_p
    predictor = Predictor.load(bundle, threads=2, batch_size=5)
    undefined = ~np.isfinite(keras_p.reshape(len(rows), -1)).all(axis=1)
    if undefined.any():  # Keras's masked average over no words is 0/0; the bundle says 0.5 (its manifest: no value)
        assert [len(rows[i]) for i in np.flatnonzero(undefined)] == [0, 0]
        assert predictor.manifest["model"]["empty_text"] is None
        keras_p = np.where(undefined.reshape(-1, *[1] * (keras_p.ndim - 1)), 0.5, keras_p)
    assert np.ptp(keras_p) > 0.05, "the outputs must vary for the comparison to mean something"
    clipped = [row[-MAX_LEN:] for row in rows]
    np.testing.assert_allclose(predictor.score_ids(clipped), keras_p, rtol=0, atol=1e-5)
    np.testing.assert_allclose(np.stack([predictor.score_ids([row])[0] for row in clipped]), keras_p, rtol=0, atol=1e-5)


SHAPES: dict[str, Callable[[Any], list[Any]]] = {
    "gru": lambda k: [k.layers.Embedding(VOCAB, 8), k.layers.GRU(8), k.layers.Dense(1, activation="sigmoid")],
    "bigru-maxpool": lambda k: [
        k.layers.Embedding(VOCAB, 8),
        k.layers.Bidirectional(k.layers.GRU(6, return_sequences=True)),
        k.layers.GlobalMaxPooling1D(),
        k.layers.Dense(1, activation="sigmoid"),
    ],
    "stacked-lstm": lambda k: [
        k.layers.Embedding(VOCAB, 8),
        k.layers.LSTM(8, return_sequences=True),
        k.layers.Dropout(0.3),
        k.layers.LSTM(6),
        k.layers.Dense(1, activation="sigmoid"),
    ],
    "stacked-bilstm-maxpool": lambda k: [
        k.layers.Embedding(VOCAB, 8),
        k.layers.SpatialDropout1D(0.2),
        k.layers.Bidirectional(k.layers.LSTM(6, return_sequences=True)),
        k.layers.Bidirectional(k.layers.LSTM(6, return_sequences=True, recurrent_dropout=0.2)),
        k.layers.GlobalMaxPooling1D(),
        k.layers.Dense(8, activation="relu"),
        k.layers.Dense(1, activation="sigmoid"),
    ],
    "lstm-averagepool": lambda k: [
        k.layers.Embedding(VOCAB, 8),
        k.layers.LSTM(8, return_sequences=True),
        k.layers.GlobalAveragePooling1D(),
        k.layers.Dense(1, activation="sigmoid"),
    ],
    "masked-lstm": lambda k: [
        k.layers.Embedding(VOCAB, 8, mask_zero=True),
        k.layers.LSTM(8, dropout=0.2),
        k.layers.Dense(1, activation="sigmoid"),
    ],
    "masked-gru-averagepool": lambda k: [
        k.layers.Embedding(VOCAB, 8, mask_zero=True),
        k.layers.GRU(8, return_sequences=True),
        k.layers.GlobalAveragePooling1D(),
        k.layers.Dense(1, activation="sigmoid"),
    ],
}
# What each shape's bundle feeds the model, and its fused recurrent ops.
EXPECTED = {
    "gru": ("fed", {"GRU": 1}),
    "bigru-maxpool": ("fed", {"GRU": 1}),
    "stacked-lstm": ("fed", {"LSTM": 2}),
    "stacked-bilstm-maxpool": ("fed", {"LSTM": 2}),
    "lstm-averagepool": ("fed", {"LSTM": 1}),
    "masked-lstm": ("none", {"LSTM": 1}),
    "masked-gru-averagepool": ("none", {"GRU": 1}),
}


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_shape_exports_exactly_for_every_length(tmp_path: Path, shape: str, padding: str) -> None:
    import keras

    model = trained(keras, SHAPES[shape](keras), padding=padding)
    model.save(tmp_path / "model.keras")
    from edge_sentiment.runtime.tokenizer import Tokenizer

    tok = Tokenizer.load(TOKENIZER)
    if padding == "post":  # the tokenizer says how the model was padded
        from edge_sentiment.runtime.keras_tokenizers import KerasTokenizer

        tok = KerasTokenizer({w: i + 2 for i, w in enumerate(tok.words)}, max_len=MAX_LEN, padding="post", truncation="pre")
    tok.save(tmp_path / "own.json")
    from edge_sentiment.export.exporter import export_bundle

    manifest = export_bundle(
        tmp_path / "model.keras",
        tmp_path / "bundle",
        parity_samples=48,
        tokenizer=tmp_path / "own.json",
        tokenizer_options=said(padding),
    ).manifest
    pads, fused = EXPECTED[shape]
    assert manifest["model"]["pads"] == pads
    census = manifest["model"]["op_census"]
    assert {op: census.get(op, 0) for op in ("LSTM", "GRU") if census.get(op)} == fused
    assert not {"Loop", "Scan", "If"} & set(census)
    assert_every_length(model, tmp_path / "bundle", padding)


@pytest.mark.parametrize("padding", ["pre", "post"])
def test_the_pad_skip_is_exact_for_every_length(tmp_path: Path, padding: str) -> None:
    """The lab's shape: the pad skip serves a pre-padded model; a post-padded one is fed its pads."""
    import keras

    from edge_sentiment.export.exporter import export_bundle
    from edge_sentiment.runtime.keras_tokenizers import KerasTokenizer
    from edge_sentiment.runtime.tokenizer import Tokenizer

    model = trained(
        keras,
        [
            keras.layers.Embedding(VOCAB, 8),
            keras.layers.LSTM(8, recurrent_dropout=0.2),
            keras.layers.Dense(1, activation="sigmoid"),
        ],
        padding=padding,
    )
    model.save(tmp_path / "model.keras")
    words = Tokenizer.load(TOKENIZER).words
    KerasTokenizer({w: i + 2 for i, w in enumerate(words)}, max_len=MAX_LEN, padding=padding).save(tmp_path / "tok.json")
    manifest = export_bundle(
        tmp_path / "model.keras",
        tmp_path / "bundle",
        parity_samples=48,
        tokenizer=tmp_path / "tok.json",
        tokenizer_options=said(padding),
    ).manifest
    assert manifest["model"]["pads"] == ("skipped" if padding == "pre" else "fed")
    assert bool(manifest["model"]["padding_skip"]) == (padding == "pre")
    assert_every_length(model, tmp_path / "bundle", padding)


def test_three_classes_with_softmax(tmp_path: Path) -> None:
    import keras

    model = trained(
        keras,
        [
            keras.layers.Embedding(VOCAB, 8),
            keras.layers.LSTM(8),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ],
        classes=3,
    )
    model.save(tmp_path / "model.keras")
    manifest = export(tmp_path, tmp_path / "model.keras", "labels=negative,positive,strongly positive")
    assert manifest["labels"] == ["negative", "positive", "strongly positive"]
    assert manifest["model"]["classes"] == 3 and manifest["model"]["outputs"][0]["shape"] == ["batch", 3]
    assert_every_length(model, tmp_path / "bundle", "pre")

    predictor = Predictor.load(tmp_path / "bundle")
    texts = ["a wonderful brilliant film", "boring awful stupid", ""]
    proba = predictor.predict_proba(texts)
    assert proba.shape == (3, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    for prediction, row in zip(predictor.predict(texts), proba):
        assert prediction.label == manifest["labels"][int(np.argmax(row))]
        assert prediction.score == pytest.approx(float(row.max())) and prediction.probabilities == pytest.approx(tuple(row))
    out = CliRunner().invoke(main, ["predict", "--bundle", str(tmp_path / "bundle"), "--json", *texts])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert [r["label"] for r in rows] == [p.label for p in predictor.predict(texts)]
    assert list(rows[0]["probabilities"]) == manifest["labels"]


def test_labels_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    import keras

    keras.Sequential(
        [
            keras.Input(shape=(MAX_LEN,), dtype="int32"),
            keras.layers.Embedding(VOCAB, 8),
            keras.layers.LSTM(4),
            keras.layers.Dense(3, activation="softmax"),
        ]
    ).save(tmp_path / "model.keras")
    with pytest.raises(ExportError, match="--labels names 2 labels .* 3 classes"):
        export(tmp_path, tmp_path / "model.keras", "labels=a,b")


# -- Keras 2 files --------------------------------------------------------------------------------


@needs_tf_keras
@pytest.mark.parametrize("suffix", [".h5", ".keras"])
@pytest.mark.parametrize("cell", ["LSTM", "GRU"])
def test_a_keras2_file_exports(tmp_path: Path, suffix: str, cell: str) -> None:
    """The lab's model as Keras 2 wrote it (tf-keras here): recurrent dropout, a fixed input length."""
    import tf_keras

    tf_keras.utils.set_random_seed(11)
    recurrent = getattr(tf_keras.layers, cell)(8, dropout=0.2, recurrent_dropout=0.2)
    model = tf_keras.Sequential(
        [tf_keras.layers.Embedding(VOCAB, 8, input_length=MAX_LEN), recurrent, tf_keras.layers.Dense(1, activation="sigmoid")]
    )
    rng = np.random.default_rng(1)
    rows = [rng.integers(1, VOCAB, size=int(n)).tolist() for n in rng.integers(1, MAX_LEN + 1, size=96)]
    model.compile(tf_keras.optimizers.Adam(0.02), "binary_crossentropy")
    model.fit(padded(rows, "pre"), np.array([sum(r) % 2 for r in rows]), epochs=6, verbose=0)
    path = tmp_path / f"lab{suffix}"
    model.save(path)
    from edge_sentiment.export.kerasfile import keras_generation

    assert keras_generation(path) == 2
    manifest = export(tmp_path, path)
    assert manifest["source"]["keras"].startswith("tf_keras 2.")
    assert manifest["model"]["op_census"].get(cell) == 1
    assert manifest["model"]["pads"] == ("skipped" if cell == "LSTM" else "fed")
    assert_every_length(model, tmp_path / "bundle", "pre")


# -- refusals -------------------------------------------------------------------------------------

REFUSED: dict[str, tuple[Callable[[Any], list[Any]], list[str]]] = {
    "conv2d": (
        lambda k: [
            k.layers.Embedding(VOCAB, 8),
            k.layers.Reshape((MAX_LEN, 8, 1)),
            k.layers.Conv2D(4, 3),
            k.layers.GlobalMaxPooling2D(),
            k.layers.Dense(1, activation="sigmoid"),
        ],
        [
            "(4 problems)",
            "layer 2 (Reshape) is not a layer edge-sentiment exports",
            "layers found: Embedding -> Reshape -> Conv2D",
            "supported:",
        ],
    ),
    "conv1d-causal": (
        lambda k: [
            k.layers.Embedding(VOCAB, 8),
            k.layers.Conv1D(4, 3, padding="causal"),
            k.layers.GlobalMaxPooling1D(),
            k.layers.Dense(1, activation="sigmoid"),
        ],
        ["layer 2 (Conv1D) has padding 'causal'; 'valid' or 'same' are supported"],
    ),
    "gru-reset-before": (
        lambda k: [k.layers.Embedding(VOCAB, 8), k.layers.GRU(4, reset_after=False), k.layers.Dense(1, activation="sigmoid")],
        ["reset_after=False"],
    ),
    "no-pooling": (
        lambda k: [
            k.layers.Embedding(VOCAB, 8),
            k.layers.LSTM(4, return_sequences=True),
            k.layers.Dense(1, activation="sigmoid"),
        ],
        ["reads every time step"],
    ),
    "masked-maxpool": (
        lambda k: [
            k.layers.Embedding(VOCAB, 8, mask_zero=True),
            k.layers.LSTM(4, return_sequences=True),
            k.layers.GlobalMaxPooling1D(),
            k.layers.Dense(1, activation="sigmoid"),
        ],
        ["mask_zero=True"],
    ),
    "no-pooling-without-recurrence": (
        lambda k: [k.layers.Embedding(VOCAB, 8), k.layers.Dense(1, activation="sigmoid")],
        ["layer 2 (Dense) reads every time step: pool the sequence first"],
    ),
    "relu-output": (
        lambda k: [k.layers.Embedding(VOCAB, 8), k.layers.LSTM(4), k.layers.Dense(1, activation="relu")],
        ["Dense(1, relu)", "Dense(1, sigmoid), Dense(k, softmax), Dense(k, sigmoid)"],
    ),
    "softmax-of-one": (
        lambda k: [k.layers.Embedding(VOCAB, 8), k.layers.LSTM(4), k.layers.Dense(1, activation="softmax")],
        ["Dense(1, softmax), which gives 1.0 for every text"],
    ),
    "bidirectional-sum": (
        lambda k: [
            k.layers.Embedding(VOCAB, 8),
            k.layers.Bidirectional(k.layers.LSTM(4), merge_mode="sum"),
            k.layers.Dense(1, activation="sigmoid"),
        ],
        ["merges its directions with 'sum'"],
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_an_unsupported_model_is_refused_before_conversion(tmp_path: Path, case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    import edge_sentiment.export.exporter as exporter

    def must_not_run(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("tf2onnx ran on a model that should have been refused before conversion")

    monkeypatch.setattr(exporter, "to_onnx", must_not_run)
    build, pieces = REFUSED[case]
    keras.Sequential([keras.Input(shape=(MAX_LEN,), dtype="int32"), *build(keras)]).save(tmp_path / "model.keras")
    shutil.copy(TOKENIZER, tmp_path / "tokenizer.json")
    result = CliRunner().invoke(
        main,
        [
            "export",
            str(tmp_path / "model.keras"),
            "--tokenizer",
            str(tmp_path / "tokenizer.json"),
            "--out",
            str(tmp_path / "bundle"),
        ],
    )
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit) and "Traceback" not in result.output
    for piece in pieces:
        assert piece in result.output, result.output
    assert not (tmp_path / "bundle").exists()


@pytest.mark.parametrize("shape", ["gru", "stacked-lstm"])
def test_int8_quantises_other_shapes(tmp_path: Path, shape: str) -> None:
    """--quantize int8 on a GRU (left in float by onnxruntime, its matrix products int8) and on stacked LSTMs."""
    import keras

    from conftest import make_archive
    from edge_sentiment.export.exporter import export_bundle

    model = trained(keras, SHAPES[shape](keras))
    model.save(tmp_path / "model.keras")
    archive = make_archive(tmp_path / "aclImdb.tar.gz")
    result = export_bundle(
        tmp_path / "model.keras",
        tmp_path / "bundle",
        tokenizer=TOKENIZER,
        parity_samples=16,
        data=archive,
        quantize="int8",
        tokenizer_options=said("pre"),
    )
    assert any(line.startswith("✓ int8 op census") for line in result.manifest["gates"])
    assert Predictor.load(tmp_path / "bundle", precision="int8").predict_proba(["a wonderful film", ""]).shape == (2,)
