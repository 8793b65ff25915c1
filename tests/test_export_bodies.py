"""Exporting the bodies and heads real projects use (issues #40, #31): pooling without recurrence (TF's
"Basic text classification", fastText-style, Flatten after an Embedding with input_length), CNN text
classifiers, Keras 2's and Keras 3's hard_sigmoid gates, multi-label Dense(k, sigmoid) heads and logit
outputs. Each tiny model is built and trained here the way those projects do, exported, and compared with
Keras on every length from an empty text to beyond max_len (pre- and post-padded) and from raw strings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ASSETS, needs_tf
from test_export_shapes import MAX_LEN, VOCAB, assert_every_length, needs_tf_keras, padded

from edge_sentiment import Predictor
from edge_sentiment.cli import main
from edge_sentiment.data import DATA_ENV

pytestmark = needs_tf
TOKENIZER = ASSETS / "tiny_run" / "tokenizer.json"  # 32 ids, max_len 40


@pytest.fixture(autouse=True)
def _no_imdb_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV, raising=False)


def rows_and_labels(seed: int, labels: int) -> tuple[list[list[int]], np.ndarray]:
    """96 random id rows and their labels: a class (labels=1: 0/1), or multi-hot over `labels` columns."""
    rng = np.random.default_rng(seed)
    rows = [rng.integers(1, VOCAB, size=int(n)).tolist() for n in rng.integers(1, MAX_LEN + 1, size=96)]
    if labels == 1:
        return rows, np.array([sum(r) % 2 for r in rows])
    return rows, np.array([[int(any(i % (k + 2) == 0 for i in r[:4])) for k in range(labels)] for r in rows])


def fit(keras: Any, model: Any, loss: Any, labels: int = 1, padding: str = "pre", seed: int = 3) -> Any:
    rows, y = rows_and_labels(seed, labels)
    if "sparse" in str(loss).lower() or "Sparse" in type(loss).__name__:
        y = np.array([sum(r) % labels for r in rows])
    model.compile(keras.optimizers.Adam(0.02), loss)
    model.fit(padded(rows, padding), y, epochs=6, batch_size=32, verbose=0)
    return model


def tokenizer_file(tmp_path: Path, padding: str) -> Path:
    """The tiny run's tokenizer, or the same words as a post-padding Keras tokenizer."""
    from edge_sentiment.runtime.keras_tokenizers import KerasTokenizer
    from edge_sentiment.runtime.tokenizer import Tokenizer

    if padding == "pre":
        shutil.copy(TOKENIZER, tmp_path / "own.json")
    else:
        words = Tokenizer.load(TOKENIZER).words
        KerasTokenizer({w: i + 2 for i, w in enumerate(words)}, max_len=MAX_LEN, padding="post", truncation="pre").save(
            tmp_path / "own.json"
        )
    return tmp_path / "own.json"


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, np.float64)))


def census_of(manifest: dict[str, Any]) -> dict[str, int]:
    census = manifest["model"]["op_census"]
    assert not {"Loop", "Scan", "If"} & set(census)
    return {op: census[op] for op in ("LSTM", "GRU") if census.get(op)}


# -- Keras 3 bodies and heads, our tokenizer, every length ----------------------------------------

BODIES: dict[str, tuple[Any, str, int, str, dict[str, int]]] = {
    # name: (layers, loss, labels, pads, fused recurrent ops)
    "tf-basic-text-classification": (
        lambda k: [
            k.layers.Embedding(VOCAB, 8),
            k.layers.Dropout(0.2),
            k.layers.GlobalAveragePooling1D(),
            k.layers.Dropout(0.2),
            k.layers.Dense(1),
        ],
        "from_logits",
        1,
        "fed",
        {},
    ),
    "fasttext-masked-average": (
        lambda k: [
            k.layers.Embedding(VOCAB, 8, mask_zero=True),
            k.layers.GlobalAveragePooling1D(),
            k.layers.Dense(1, activation="sigmoid"),
        ],
        "binary_crossentropy",
        1,
        "none",
        {},
    ),
    "cnn-global-max": (
        lambda k: [
            k.layers.Embedding(VOCAB, 8),
            k.layers.Dropout(0.2),
            k.layers.Conv1D(8, 3, activation="relu"),
            k.layers.GlobalMaxPooling1D(),
            k.layers.Dense(8, activation="relu"),
            k.layers.Dense(1, activation="sigmoid"),
        ],
        "binary_crossentropy",
        1,
        "fed",
        {},
    ),
    "cnn-maxpool-stacked": (
        lambda k: [
            k.layers.Embedding(VOCAB, 8),
            k.layers.Conv1D(8, 5, padding="same", activation="relu"),
            k.layers.MaxPooling1D(2),
            k.layers.Conv1D(6, 3, activation="relu"),
            k.layers.GlobalAveragePooling1D(),
            k.layers.Dense(3, activation="softmax"),
        ],
        "sparse_categorical_crossentropy",
        3,
        "fed",
        {},
    ),
    "cnn-lstm": (
        lambda k: [
            k.layers.Embedding(VOCAB, 8),
            k.layers.Conv1D(8, 3, padding="same", activation="relu"),
            k.layers.MaxPooling1D(2),
            k.layers.LSTM(6),
            k.layers.Dense(1, activation="sigmoid"),
        ],
        "binary_crossentropy",
        1,
        "fed",
        {"LSTM": 1},
    ),
    "cnn-gru": (  # a Keras 3 GRU is rebuilt in tf-keras for tf2onnx to fuse: the windows with it
        lambda k: [
            k.layers.Embedding(VOCAB, 8),
            k.layers.Conv1D(8, 3, activation="relu"),
            k.layers.AveragePooling1D(2),
            k.layers.GRU(6),
            k.layers.Dense(1, activation="sigmoid"),
        ],
        "binary_crossentropy",
        1,
        "fed",
        {"GRU": 1},
    ),
    "multi-label-pooled": (
        lambda k: [k.layers.Embedding(VOCAB, 8), k.layers.GlobalMaxPooling1D(), k.layers.Dense(3, activation="sigmoid")],
        "binary_crossentropy",
        3,
        "fed",
        {},
    ),
    "multi-label-bilstm": (
        lambda k: [
            k.layers.Embedding(VOCAB, 8),
            k.layers.Bidirectional(k.layers.LSTM(6)),
            k.layers.Dense(2, activation="sigmoid"),
        ],
        "binary_crossentropy",
        2,
        "fed",
        {"LSTM": 1},
    ),
    "hard-sigmoid-lstm-keras3": (
        lambda k: [
            k.layers.Embedding(VOCAB, 8),
            k.layers.LSTM(8, recurrent_activation="hard_sigmoid"),
            k.layers.Dense(1, activation="sigmoid"),
        ],
        "binary_crossentropy",
        1,
        "skipped",
        {"LSTM": 1},
    ),
    "hard-sigmoid-bigru-keras3": (
        lambda k: [
            k.layers.Embedding(VOCAB, 8),
            k.layers.Bidirectional(k.layers.GRU(6, recurrent_activation="hard_sigmoid", return_sequences=True)),
            k.layers.GlobalMaxPooling1D(),
            k.layers.Dense(1, activation="sigmoid"),
        ],
        "binary_crossentropy",
        1,
        "fed",
        {"GRU": 1},
    ),
}


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("body", sorted(BODIES))
def test_a_body_exports_exactly_for_every_length(tmp_path: Path, body: str, padding: str) -> None:
    import keras

    from edge_sentiment.export.exporter import export_bundle
    from edge_sentiment.export.options import TokenizerOptions

    build, loss, labels, pads, fused = BODIES[body]
    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input(shape=(MAX_LEN,), dtype="int32"), *build(keras)])
    logits = loss == "from_logits"
    fit(keras, model, keras.losses.BinaryCrossentropy(from_logits=True) if logits else loss, labels, padding)
    model.save(tmp_path / "model.keras")
    manifest = export_bundle(
        tmp_path / "model.keras",
        tmp_path / "bundle",
        parity_samples=48,
        tokenizer=tokenizer_file(tmp_path, padding),
        tokenizer_options=TokenizerOptions(padding=padding, truncating="pre"),
    ).manifest
    expected_pads = "fed" if pads == "skipped" and padding == "post" else pads
    assert manifest["model"]["pads"] == expected_pads
    assert census_of(manifest) == fused
    head = "multi-label" if loss == "binary_crossentropy" and labels > 1 else "softmax" if labels > 1 else "sigmoid"
    assert manifest["model"]["head"] == head
    assert manifest["model"]["output"]["applied_in_graph"] == ("sigmoid" if logits else None)
    predict = (lambda x: sigmoid(model.predict(x, verbose=0))) if logits else None
    assert_every_length(model, tmp_path / "bundle", padding, predict)


# -- Keras 2 files (tf-keras): Flatten with input_length, hard_sigmoid gates -------------------------


@needs_tf_keras
@pytest.mark.parametrize(
    "shape, pads, fused",
    [("flatten", "fed", {}), ("lstm-hard-sigmoid", "skipped", {"LSTM": 1}), ("gru-hard-sigmoid", "fed", {"GRU": 1})],
)
def test_a_keras2_file_exports(tmp_path: Path, shape: str, pads: str, fused: dict[str, int]) -> None:
    """As Keras 2.0-2.2 saved them: an Embedding with input_length, hard_sigmoid the recurrent default (0.2x + 0.5)."""
    import tf_keras

    from edge_sentiment.export.kerasfile import keras_generation

    tf_keras.utils.set_random_seed(11)
    layers = tf_keras.layers
    body = {
        "flatten": [layers.Flatten(), layers.Dense(6, activation="relu")],
        "lstm-hard-sigmoid": [layers.LSTM(8, recurrent_activation="hard_sigmoid", dropout=0.2, recurrent_dropout=0.2)],
        "gru-hard-sigmoid": [layers.GRU(8, recurrent_activation="hard_sigmoid")],
    }[shape]
    model = tf_keras.Sequential([layers.Embedding(VOCAB, 8, input_length=MAX_LEN), *body, layers.Dense(1, activation="sigmoid")])
    fit(tf_keras, model, "binary_crossentropy", seed=1)
    model.save(tmp_path / "model.h5")
    assert keras_generation(tmp_path / "model.h5") == 2
    manifest = export_cli(tmp_path, tmp_path / "model.h5")
    assert manifest["source"]["keras"].startswith("tf_keras 2.")
    assert manifest["model"]["pads"] == pads and census_of(manifest) == fused
    if shape != "flatten":
        lstm = manifest["model"]["architecture"]
        assert "hard_sigmoid" in lstm
    assert_every_length(model, tmp_path / "bundle", "pre")


def export_cli(tmp_path: Path, model_path: Path, *args: str) -> dict[str, Any]:
    if not (tmp_path / "own.json").exists():
        tokenizer_file(tmp_path, "pre")
    result = CliRunner().invoke(
        main,
        [
            "export",
            str(model_path),
            "--tokenizer",
            str(tmp_path / "own.json"),
            "--out",
            str(tmp_path / "bundle"),
            "--parity-samples",
            "32",
            "--padding",
            "pre",
            "--truncating",
            "pre",
            *args,
        ],
    )
    assert result.exit_code == 0, result.output
    return dict(json.loads((tmp_path / "bundle" / "manifest.json").read_text(encoding="utf-8")))


def test_keras2_and_keras3_hard_sigmoid_differ_and_each_is_kept() -> None:
    """The two definitions disagree (0.2x + 0.5 against x/6 + 0.5), so the file's Keras must decide."""
    import keras
    import tf_keras

    from edge_sentiment.export.architecture import HARD_SIGMOID

    import tensorflow as tf

    x = np.linspace(-4, 4, 33, dtype=np.float32)
    for module, name in ((keras, "keras"), (tf_keras, "tf_keras")):
        alpha, beta = HARD_SIGMOID[name]
        got = np.asarray(module.activations.hard_sigmoid(tf.constant(x)))
        np.testing.assert_allclose(got, np.clip(alpha * x + beta, 0, 1), atol=1e-7)
    assert HARD_SIGMOID["keras"] != HARD_SIGMOID["tf_keras"]


def test_onnxruntime_lstm_and_gru_honour_hard_sigmoid_alpha_and_beta() -> None:
    """The fused ops' HardSigmoid gates with Keras 2's and Keras 3's alpha, against float64 in numpy."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    hidden, width, steps, batch = 5, 4, 7, 3
    for cell in ("LSTM", "GRU"):
        for alpha in (0.2, 1 / 6):
            gates = 4 if cell == "LSTM" else 3
            w = rng.normal(size=(1, gates * hidden, width)).astype(np.float32) * 2
            r = rng.normal(size=(1, gates * hidden, hidden)).astype(np.float32) * 2
            b = rng.normal(size=(1, 2 * gates * hidden)).astype(np.float32)
            acts = ["HardSigmoid", "Tanh", "Tanh"][: gates - 1 if cell == "GRU" else 3]
            extra = {"linear_before_reset": 1} if cell == "GRU" else {}
            node = helper.make_node(
                cell, ["X", "W", "R", "B"], ["Y"], hidden_size=hidden, activations=acts, activation_alpha=[alpha],
                activation_beta=[0.5], **extra,
            )  # fmt: skip
            graph = helper.make_graph(
                [node],
                "g",
                [helper.make_tensor_value_info("X", TensorProto.FLOAT, [steps, batch, width])],
                [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)],
                [numpy_helper.from_array(w, "W"), numpy_helper.from_array(r, "R"), numpy_helper.from_array(b, "B")],
            )
            model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
            x = rng.normal(size=(steps, batch, width)).astype(np.float32)
            got = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"X": x})[0][:, 0]

            def gate(z: np.ndarray) -> np.ndarray:
                return np.clip(alpha * z + 0.5, 0, 1)

            w64, r64, b64 = w[0].astype(np.float64), r[0].astype(np.float64), b[0].astype(np.float64)
            h, c, want = np.zeros((batch, hidden)), np.zeros((batch, hidden)), []
            for t in range(steps):
                if cell == "LSTM":
                    i, o, f, g = np.split(x[t] @ w64.T + h @ r64.T + b64[: 4 * hidden] + b64[4 * hidden :], 4, axis=1)
                    c = gate(f) * c + gate(i) * np.tanh(g)
                    h = gate(o) * np.tanh(c)
                else:
                    xz, hz = x[t] @ w64.T + b64[: 3 * hidden], h @ r64.T + b64[3 * hidden :]
                    z, rr = gate(xz[:, :hidden] + hz[:, :hidden]), gate(xz[:, hidden : 2 * hidden] + hz[:, hidden : 2 * hidden])
                    h = (1 - z) * np.tanh(xz[:, 2 * hidden :] + rr * hz[:, 2 * hidden :]) + z * h
                want.append(h)
            np.testing.assert_allclose(got, np.stack(want), atol=2e-6)


# -- logits: the head's activation applied in the graph ----------------------------------------------


def test_logits_need_output_where_the_model_does_not_say(tmp_path: Path) -> None:
    import keras

    keras.utils.set_random_seed(5)
    model = keras.Sequential(
        [
            keras.Input(shape=(MAX_LEN,), dtype="int32"),
            keras.layers.Embedding(VOCAB, 8),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(3),
        ]
    )
    fit(keras, model, keras.losses.BinaryCrossentropy(from_logits=True), 3)
    model.compile()  # saved without its loss: nothing says softmax or multi-label
    model.save(tmp_path / "model.keras")
    tokenizer_file(tmp_path, "pre")
    args = ["export", str(tmp_path / "model.keras"), "--tokenizer", str(tmp_path / "own.json"), "--out", str(tmp_path / "bundle")]
    refused = CliRunner().invoke(main, args)
    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "linear Dense(3)" in refused.output and "--output softmax-logits" in refused.output
    assert not (tmp_path / "bundle").exists()
    result = CliRunner().invoke(
        main, [*args, "--output", "multi-label-logits", "--parity-samples", "32", "--padding", "pre", "--truncating", "pre"]
    )
    assert result.exit_code == 0, result.output
    assert (
        "✓ output: the model gives logits (--output multi-label-logits): the bundle applies sigmoid in the graph" in result.output
    )
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["model"]["head"] == "multi-label"
    assert_every_length(model, tmp_path / "bundle", "pre", lambda x: sigmoid(model.predict(x, verbose=0)))


def test_the_compiled_loss_tells_a_softmax_and_a_wrong_output_is_refused(tmp_path: Path) -> None:
    import keras

    keras.utils.set_random_seed(6)
    model = keras.Sequential(
        [
            keras.Input(shape=(MAX_LEN,), dtype="int32"),
            keras.layers.Embedding(VOCAB, 8),
            keras.layers.LSTM(6),
            keras.layers.Dense(3),
        ]
    )
    fit(keras, model, keras.losses.SparseCategoricalCrossentropy(from_logits=True), 3)
    model.save(tmp_path / "model.keras")
    manifest = export_cli(tmp_path, tmp_path / "model.keras")
    assert manifest["model"]["head"] == "softmax"
    assert manifest["model"]["output"] == {
        "applied_in_graph": "softmax",
        "told_by": "the compiled loss (SparseCategoricalCrossentropy(from_logits=True))",
    }

    def softmax(x: np.ndarray) -> np.ndarray:
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    assert_every_length(model, tmp_path / "bundle", "pre", lambda x: softmax(model.predict(x, verbose=0).astype(np.float64)))

    sig = keras.Sequential(
        [
            keras.Input(shape=(MAX_LEN,), dtype="int32"),
            keras.layers.Embedding(VOCAB, 8),
            keras.layers.LSTM(4),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    sig.save(tmp_path / "sig.keras")
    refused = CliRunner().invoke(
        main,
        [
            "export",
            str(tmp_path / "sig.keras"),
            "--tokenizer",
            str(tmp_path / "own.json"),
            "--out",
            str(tmp_path / "b2"),
            "--output",
            "logits",
        ],
    )
    assert refused.exit_code == 1 and "applies sigmoid already" in refused.output and "drop --output logits" in refused.output


# -- multi-label: the runtime and the CLI ----------------------------------------------------------


def test_a_multi_label_bundle_predicts_every_label_over_its_threshold(tmp_path: Path) -> None:
    import keras

    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [
            keras.Input(shape=(MAX_LEN,), dtype="int32"),
            keras.layers.Embedding(VOCAB, 8),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(3, activation="sigmoid"),
        ]
    )
    fit(keras, model, "binary_crossentropy", 3)
    model.save(tmp_path / "model.keras")
    manifest = export_cli(tmp_path, tmp_path / "model.keras", "--labels", "acting,plot,music")
    assert manifest["model"]["head"] == "multi-label" and manifest["labels"] == ["acting", "plot", "music"]
    predictor = Predictor.load(tmp_path / "bundle")
    texts = ["a wonderful brilliant film", "boring awful stupid", "", "great great acting music plot film"]
    proba = predictor.predict_proba(texts)
    assert proba.shape == (4, 3) and not np.allclose(proba.sum(axis=1), 1.0)
    predictions = predictor.predict(texts)
    for prediction, row in zip(predictions, proba):
        assert prediction.labels == tuple(label for label, p in zip(manifest["labels"], row) if p >= 0.5)
        assert prediction.probabilities == pytest.approx(tuple(row))
    assert {len(p.labels or ()) for p in predictions} != {1}, "the texts must show labels other than exactly one"
    out = CliRunner().invoke(main, ["predict", "--bundle", str(tmp_path / "bundle"), "--json", *texts])
    assert out.exit_code == 0, out.output
    rows = [json.loads(line) for line in out.output.splitlines()]
    assert [r["labels"] for r in rows] == [list(p.labels or ()) for p in predictions]
    assert [list(r["probabilities"]) for r in rows] == [manifest["labels"]] * 4


def test_int8_is_refused_for_a_multi_label_head(tmp_path: Path) -> None:
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(MAX_LEN,), dtype="int32"),
            keras.layers.Embedding(VOCAB, 8),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(2, activation="sigmoid"),
        ]
    )
    model.save(tmp_path / "model.keras")
    tokenizer_file(tmp_path, "pre")
    result = CliRunner().invoke(
        main,
        [
            "export",
            str(tmp_path / "model.keras"),
            "--tokenizer",
            str(tmp_path / "own.json"),
            "--out",
            str(tmp_path / "b"),
            "--quantize",
            "int8",
            "--padding",
            "pre",
            "--truncating",
            "pre",
        ],
    )
    assert result.exit_code == 1 and "multi-label head" in result.output and "without --quantize" in result.output


# -- every problem in one message ------------------------------------------------------------------


def test_every_problem_is_reported_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    import edge_sentiment.export.exporter as exporter

    monkeypatch.setattr(exporter, "to_onnx", lambda *a, **k: pytest.fail("tf2onnx ran on a refused model"))
    keras.Sequential(
        [
            keras.Input(shape=(MAX_LEN,), dtype="int32"),
            keras.layers.Embedding(VOCAB, 8),
            keras.layers.Conv1D(4, 3, padding="causal"),
            keras.layers.LSTM(4, activation="relu"),
            keras.layers.Dense(4, activation="softplus"),
            keras.layers.Dense(1, activation="relu"),
        ]
    ).save(tmp_path / "model.keras")
    tokenizer_file(tmp_path, "pre")
    result = CliRunner().invoke(
        main, ["export", str(tmp_path / "model.keras"), "--tokenizer", str(tmp_path / "own.json"), "--out", str(tmp_path / "b")]
    )
    assert result.exit_code == 1, result.output
    for piece in (
        "(4 problems)",
        "layer 2 (Conv1D) has padding 'causal'",
        "layer 3 (LSTM) has activation 'relu'",
        "layer 4 (Dense) has activation 'softplus'",
        "layer 5 (Dense) is Dense(1, relu)",
        "layers found: Embedding -> Conv1D -> LSTM -> Dense -> Dense",
    ):
        assert piece in result.output, result.output
