"""The new bodies and heads (tests/test_export_bodies.py) through the other routes, from raw strings: a
Keras Tokenizer file, keras.datasets.imdb ids, TextVectorization inside the model; and the text model
(model.text.onnx) padding in the graph for models fed their pads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import needs_tf
from test_export_bodies import BODIES, MAX_LEN, TOKENIZER, fit, sigmoid
from test_export_shapes import needs_tf_keras

from edge_sentiment import Predictor
from edge_sentiment.data import DATA_ENV

pytestmark = needs_tf


@pytest.fixture(autouse=True)
def _no_imdb_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV, raising=False)


# -- the text model serves models fed their pads -----------------------------------------------------


@pytest.mark.parametrize("padding", ["pre", "post"])
def test_the_text_model_pads_to_max_len_for_a_cnn(tmp_path: Path, padding: str) -> None:
    """model.text.onnx pads in the graph (before or after the words) for a model without the pad skip, and
    equals the Python runtime on every text of the gate (the tiny archive's reviews, fuzzed texts)."""
    import keras

    from conftest import make_archive
    from edge_sentiment.export.exporter import export_bundle
    from edge_sentiment.export.options import TokenizerOptions
    from edge_sentiment.runtime.textmodel import TextModel
    from edge_sentiment.runtime.tokenizer import Tokenizer

    build = BODIES["cnn-global-max"][0]
    keras.utils.set_random_seed(8)
    model = keras.Sequential([keras.Input(shape=(MAX_LEN,), dtype="int32"), *build(keras)])
    fit(keras, model, "binary_crossentropy", padding=padding)
    model.save(tmp_path / "model.keras")
    own = tmp_path / "own.json"  # edge-sentiment's tokenizer, padding on either side
    Tokenizer(Tokenizer.load(TOKENIZER).words, max_len=MAX_LEN, padding=padding).save(own)
    result = export_bundle(
        tmp_path / "model.keras",
        tmp_path / "bundle",
        parity_samples=32,
        tokenizer=own,
        tokenizer_options=TokenizerOptions(padding=padding, truncating="pre"),
        data=make_archive(tmp_path / "aclImdb.tar.gz"),
        text_model=True,
        text_fuzz=400,
    )
    section = result.manifest["text_model"]
    assert result.manifest["model"]["pads"] == "fed"
    for part in ("imdb_test", "fuzz", "conformance"):
        assert section[part]["ids_identical"] == section[part]["texts"] and section[part]["max_abs_diff"] <= 1e-5
    assert f"{padding}-padded with 0 to {MAX_LEN}" in section["outputs"]
    texts = ["", "film", "great " * 60, "a wonderful brilliant film, not boring at all", "awful awful acting"]
    text_model = TextModel.load(tmp_path / "bundle")
    scores, ids = text_model.run(texts)
    predictor = Predictor.load(tmp_path / "bundle")
    assert ids == [predictor.tokenizer.encode(t) for t in texts]
    np.testing.assert_allclose(scores, predictor.predict_proba(texts), rtol=0, atol=1e-6)


# -- the other tokenizer routes, from raw strings ----------------------------------------------------


@needs_tf_keras
def test_a_cnn_on_classic_tokenizer_ids_post_padded(tmp_path: Path) -> None:
    """A Keras Tokenizer's to_json(), pad_sequences(padding='post', truncating='post'), Embedding -> Conv1D."""
    import keras
    from test_export_tokenizers import CORPUS, LABELS, LENGTH, TEXTS, assert_same, invoke, keras2_ids
    from tf_keras.preprocessing.text import Tokenizer as Keras2Tokenizer

    keras.utils.set_random_seed(8)
    tokenizer = Keras2Tokenizer(num_words=30, oov_token="<OOV>")
    tokenizer.fit_on_texts(CORPUS)
    (tmp_path / "tokenizer.json").write_text(tokenizer.to_json(), encoding="utf-8")
    model = keras.Sequential(
        [
            keras.Input(shape=(LENGTH,), dtype="int32"),
            keras.layers.Embedding(30, 8),
            keras.layers.Conv1D(8, 3, activation="relu"),
            keras.layers.MaxPooling1D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    model.fit(keras2_ids(tokenizer, CORPUS, "post", "post"), LABELS, epochs=12, verbose=0)
    model.save(tmp_path / "model.keras")
    result = invoke(
        tmp_path / "model.keras", "--tokenizer", tmp_path / "tokenizer.json", "--padding", "post", "--truncating", "post",
        "--out", tmp_path / "bundle",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "✓ tokenizer: ids equal tf-keras's Tokenizer" in result.output and "✓ op census: recurrent ops=0" in result.output
    assert_same(tmp_path / "bundle", TEXTS, model.predict(keras2_ids(tokenizer, TEXTS, "post", "post"), verbose=0)[:, 0])


def test_a_pooled_logit_model_on_keras_imdb_ids(tmp_path: Path) -> None:
    """keras.datasets.imdb ids, TF's basic text classification model: Embedding -> pooling -> Dense(1) logits."""
    import keras
    from test_export_tokenizers import CORPUS, LABELS, LENGTH, TEXTS, WORD_INDEX, assert_same, invoke, lab_ids

    keras.utils.set_random_seed(9)
    (tmp_path / "word_index.json").write_text(json.dumps(WORD_INDEX), encoding="utf-8")

    def ids(texts: list[str]) -> np.ndarray:
        rows = [lab_ids(t, 14)[-LENGTH:] for t in texts]
        return np.array([[0] * (LENGTH - len(row)) + row for row in rows], dtype=np.int32)

    model = keras.Sequential(
        [
            keras.Input(shape=(LENGTH,), dtype="int32"),
            keras.layers.Embedding(14, 8),
            keras.layers.Dropout(0.2),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(1),
        ]
    )
    model.compile(keras.optimizers.Adam(0.05), keras.losses.BinaryCrossentropy(from_logits=True))
    model.fit(ids(CORPUS), LABELS, epochs=20, verbose=0)
    model.save(tmp_path / "model.keras")
    result = invoke(
        tmp_path / "model.keras", "--word-index", tmp_path / "word_index.json", "--padding", "pre", "--truncating", "pre",
        "--out", tmp_path / "bundle",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "the bundle applies sigmoid in the graph" in result.output
    assert_same(tmp_path / "bundle", TEXTS, sigmoid(model.predict(ids(TEXTS), verbose=0)[:, 0]))


@pytest.mark.parametrize("head", ["sigmoid", "multi-label"])
def test_text_vectorization_cnn_as_keras_io_builds_it(tmp_path: Path, head: str) -> None:
    """keras.io's "Text classification from scratch" body (built-in standardize): TextVectorization ->
    Embedding -> Dropout -> Conv1D(strides=3) x2 -> GlobalMaxPooling1D -> Dense(relu) -> Dropout -> head."""
    import keras
    from test_export_tokenizers import CORPUS, LENGTH, TEXTS, assert_same, invoke, strings

    keras.utils.set_random_seed(10)
    layer = keras.layers.TextVectorization(max_tokens=48, output_sequence_length=LENGTH)
    layer.adapt(CORPUS)
    k = 1 if head == "sigmoid" else 2
    model = keras.Sequential(
        [
            keras.Input(shape=(1,), dtype="string"),
            layer,
            keras.layers.Embedding(48, 8),
            keras.layers.Dropout(0.5),
            keras.layers.Conv1D(8, 3, padding="valid", activation="relu", strides=3),
            keras.layers.Conv1D(8, 3, padding="valid", activation="relu", strides=1),
            keras.layers.GlobalMaxPooling1D(),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(k, activation="sigmoid"),
        ]
    )
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [1, 1], [0, 1], [1, 0]])[:, :k]
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    model.fit(strings(CORPUS)[:, None], y, epochs=12, verbose=0)
    model.save(tmp_path / "model.keras")
    result = invoke(tmp_path / "model.keras", "--out", tmp_path / "bundle")
    assert result.exit_code == 0, result.output
    assert "✓ tokenizer: ids equal the TextVectorization layer's" in result.output
    assert "✓ parity from raw strings" in result.output
    keras_p = model.predict(strings(TEXTS)[:, None], verbose=0)
    assert_same(tmp_path / "bundle", TEXTS, keras_p[:, 0] if k == 1 else keras_p)
