"""Exporting the models users trained with their own tokenizers: a tiny model of each kind built here,
exported through the CLI, and its bundle compared with Keras from raw strings (no TensorFlow in the bundle)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from conftest import needs_tf

from edge_sentiment import Predictor
from edge_sentiment.cli import main
from edge_sentiment.data import DATA_ENV
from edge_sentiment.export.texts import PARITY_RULE_TEXTS

pytestmark = needs_tf
needs_tf_keras = pytest.mark.skipif(
    importlib.util.find_spec("tf_keras") is None, reason="needs tf-keras: pip install 'edge-sentiment[train]'"
)

CORPUS = [
    "A wonderful, moving film: great acting!",
    "Dull, boring and far too long.",
    "I loved it; the music is GREAT.",
    "Awful plot, awful acting - a waste.",
    "Café crème, naïve charm",
    "the best film of 2009, 10/10",
    "It was good.<br /><br />Then it wasn't.",
    "don't miss it, it's brilliant",
]
TEXTS = PARITY_RULE_TEXTS + CORPUS + ["", "film " * 60, "GREAT great Great gReAt"]
LENGTH = 16


@pytest.fixture(autouse=True)
def _no_imdb_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV, raising=False)


def invoke(*args: Any) -> Result:
    return CliRunner().invoke(main, ["export", *[str(a) for a in args], "--parity-samples", "24"])


def assert_fails(result: Result, *pieces: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), f"{result.exception!r} escaped:\n{result.output}"
    for piece in pieces:
        assert piece in result.output, result.output


LABELS = np.array([1, 0, 1, 0, 1, 1, 0, 1])


def fitted(model: Any, x: Any) -> Any:
    """A few quick epochs on the corpus, so the scores spread as a trained model's do."""
    import keras

    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    model.fit(x, LABELS, epochs=12, batch_size=8, verbose=0)
    return model


def head(vocab: int, cell: str = "lstm") -> list[Any]:
    import keras

    recurrent = keras.layers.LSTM(6) if cell == "lstm" else keras.layers.LSTM(6, dropout=0.2, recurrent_dropout=0.2)
    return [keras.layers.Embedding(vocab, 8), recurrent, keras.layers.Dense(1, activation="sigmoid")]


def strings(texts: list[str]) -> Any:
    import tensorflow as tf

    return tf.constant(texts, dtype=tf.string)


def assert_same(bundle: Path, texts: list[str], keras_p: np.ndarray) -> None:
    predictor = Predictor.load(bundle, threads=2, batch_size=5)
    assert np.ptp(keras_p) > 0.1, "the scores must vary for the comparison to mean something"
    np.testing.assert_allclose(predictor.predict_proba(texts), keras_p, rtol=0, atol=1e-5)
    np.testing.assert_allclose([predictor.predict_proba(t)[0] for t in texts], keras_p, rtol=0, atol=1e-5)


# -- TextVectorization inside the model -------------------------------------------------------------


@pytest.mark.parametrize("split", ["whitespace", "character"])
@pytest.mark.parametrize("standardize", ["lower_and_strip_punctuation", "lower", "strip_punctuation", None])
def test_a_model_with_text_vectorization_exports(tmp_path: Path, standardize: Any, split: str) -> None:
    import keras

    keras.utils.set_random_seed(5)
    layer = keras.layers.TextVectorization(max_tokens=48, standardize=standardize, split=split, output_sequence_length=LENGTH)
    layer.adapt(CORPUS)
    model = fitted(keras.Sequential([keras.Input(shape=(1,), dtype="string"), layer, *head(48)]), strings(CORPUS)[:, None])
    model.save(tmp_path / "model.keras")

    result = invoke(tmp_path / "model.keras", "--out", tmp_path / "bundle")
    assert result.exit_code == 0, result.output
    for gate in ("✓ tokenizer: ids equal the TextVectorization layer's", "✓ parity from raw strings", "✓ op census: LSTM=1"):
        assert gate in result.output
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["tokenizer"]["kind"] == "keras-text-vectorization"
    assert manifest["model"]["padding"] == "post" and manifest["model"]["padding_skip"] == {}
    assert manifest["parity"]["tokenizer"]["identical"] == manifest["parity"]["tokenizer"]["texts"]
    keras_p = keras.models.load_model(tmp_path / "model.keras").predict(strings(TEXTS)[:, None], verbose=0)[:, 0]
    assert_same(tmp_path / "bundle", TEXTS, keras_p)


def test_a_functional_model_with_text_vectorization_and_dropout_exports(tmp_path: Path) -> None:
    """A string input of shape (), dropout that makes a loop unless stripped, ngrams."""
    import keras

    keras.utils.set_random_seed(6)
    layer = keras.layers.TextVectorization(max_tokens=64, ngrams=2, output_sequence_length=LENGTH)
    layer.adapt(CORPUS)
    text = keras.Input(shape=(), dtype="string")
    x = layer(text)
    for part in head(64, cell="dropout"):
        x = part(x)
    model = fitted(keras.Model(text, x), strings(CORPUS))
    model.save(tmp_path / "model.keras")
    result = invoke(tmp_path / "model.keras", "--out", tmp_path / "bundle")
    assert result.exit_code == 0, result.output
    assert_same(tmp_path / "bundle", TEXTS, model.predict(strings(TEXTS), verbose=0)[:, 0])


# -- TextVectorization saved on its own ------------------------------------------------------------


@pytest.mark.parametrize("form", ["keras", "json"])
def test_a_text_vectorization_saved_on_its_own(tmp_path: Path, form: str) -> None:
    import keras

    keras.utils.set_random_seed(7)
    layer = keras.layers.TextVectorization(max_tokens=40, output_sequence_length=LENGTH)
    layer.adapt(CORPUS)
    if form == "keras":
        keras.Sequential([keras.Input(shape=(1,), dtype="string"), layer]).save(tmp_path / "layer.keras")
        saved = tmp_path / "layer.keras"
    else:
        saved = tmp_path / "layer.json"
        saved.write_text(json.dumps({"config": layer.get_config(), "vocabulary": layer.get_vocabulary()}))
    model = fitted(keras.Sequential([keras.Input(shape=(LENGTH,), dtype="int32"), *head(40)]), np.asarray(layer(strings(CORPUS))))
    model.save(tmp_path / "model.keras")
    result = invoke(tmp_path / "model.keras", "--text-vectorization", saved, "--out", tmp_path / "bundle")
    assert result.exit_code == 0, result.output
    if form == "keras":  # the layer itself is at hand: the tokenizer gate ran
        assert "✓ tokenizer" in result.output
    keras_p = model.predict(np.asarray(layer(strings(TEXTS))), verbose=0)[:, 0]
    assert_same(tmp_path / "bundle", TEXTS, keras_p)


# -- the classic Keras Tokenizer --------------------------------------------------------------------


def keras2_ids(tokenizer: Any, texts: list[str], padding: str, truncating: str) -> np.ndarray:
    from tf_keras.preprocessing.sequence import pad_sequences

    return pad_sequences(tokenizer.texts_to_sequences(texts), maxlen=LENGTH, padding=padding, truncating=truncating)


@needs_tf_keras
@pytest.mark.parametrize("padding, truncating", [("pre", "pre"), ("post", "post")])
def test_a_model_trained_on_classic_tokenizer_ids(tmp_path: Path, padding: str, truncating: str) -> None:
    import keras
    from tf_keras.preprocessing.text import Tokenizer as Keras2Tokenizer

    keras.utils.set_random_seed(8)
    tokenizer = Keras2Tokenizer(num_words=30, oov_token="<OOV>")
    tokenizer.fit_on_texts(CORPUS)
    (tmp_path / "tokenizer.json").write_text(tokenizer.to_json(), encoding="utf-8")
    model = keras.Sequential([keras.Input(shape=(LENGTH,), dtype="int32"), *head(30)])
    fitted(model, keras2_ids(tokenizer, CORPUS, padding, truncating)).save(tmp_path / "model.keras")

    result = invoke(
        tmp_path / "model.keras",
        "--tokenizer",
        tmp_path / "tokenizer.json",
        "--padding",
        padding,
        "--truncating",
        truncating,
        "--out",
        tmp_path / "bundle",
    )
    assert result.exit_code == 0, result.output
    assert "✓ tokenizer: ids equal tf-keras's Tokenizer and pad_sequences's" in result.output
    manifest = json.loads((tmp_path / "bundle" / "manifest.json").read_text(encoding="utf-8"))
    assert {k: manifest["tokenizer"][k] for k in ("kind", "padding", "truncation", "vocab_size", "route")} == {
        "kind": "keras-tokenizer",
        "padding": padding,
        "truncation": truncating,
        "vocab_size": 30,
        "route": "keras-tokenizer",
    }
    assert manifest["tokenizer"]["sides"]["padding"] == {"value": padding, "from": "--padding"}
    assert bool(manifest["model"]["padding_skip"]) == (padding == "pre")
    assert_same(tmp_path / "bundle", TEXTS, model.predict(keras2_ids(tokenizer, TEXTS, padding, truncating), verbose=0)[:, 0])


# -- keras.datasets.imdb ids -------------------------------------------------------------------------

WORD_INDEX = {
    w: r
    for r, w in enumerate(
        ["the", "film", "a", "and", "br", "great", "awful", "it's", "is", "loved", "boring", "acting", "10", "café", "rare"],
        start=1,
    )
}


def lab_ids(text: str, num_words: int) -> list[int]:
    """keras.datasets.imdb's ids, written here from its rules rather than imported: ASCII lower-casing,
    Keras's filters as spaces, words split on ' ', [1] + rank + 3, ids past num_words as 2, unknown words skipped."""
    filters = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
    lowered = "".join(c.lower() if "A" <= c <= "Z" else (" " if c in filters else c) for c in text)
    ranks = [WORD_INDEX[w] for w in lowered.split(" ") if w in WORD_INDEX]
    return [1] + [r + 3 if r + 3 < num_words else 2 for r in ranks]


def test_a_model_on_keras_imdb_ids(tmp_path: Path) -> None:
    import keras

    keras.utils.set_random_seed(9)
    num_words = 14  # "café" (rank 14) and "rare" (15) are beyond it: out-of-vocabulary, id 2
    (tmp_path / "word_index.json").write_text(json.dumps(WORD_INDEX), encoding="utf-8")
    ids = [lab_ids(t, num_words)[-LENGTH:] for t in CORPUS]
    x_train = np.array([[0] * (LENGTH - len(row)) + row for row in ids], dtype=np.int32)
    model = fitted(keras.Sequential([keras.Input(shape=(LENGTH,), dtype="int32"), *head(num_words)]), x_train)
    model.save(tmp_path / "model.keras")
    sides = ["--padding", "pre", "--truncating", "pre"]  # as the lab's pad_sequences did (its defaults)
    result = invoke(tmp_path / "model.keras", "--word-index", tmp_path / "word_index.json", *sides, "--out", tmp_path / "bundle")
    assert result.exit_code == 0, result.output
    ids = [lab_ids(t, num_words)[-LENGTH:] for t in TEXTS]
    x = np.array([[0] * (LENGTH - len(row)) + row for row in ids], dtype=np.int32)
    assert (x == 2).any() and (x >= 10).any(), "the texts must hit out-of-vocabulary and frequent words"
    assert_same(tmp_path / "bundle", TEXTS, model.predict(x, verbose=0)[:, 0])


# -- refusals -------------------------------------------------------------------------------------


def ids_model(tmp_path: Path, rows: int = 20) -> Path:
    import keras

    keras.Sequential([keras.Input(shape=(LENGTH,), dtype="int32"), *head(rows)]).save(tmp_path / "model.keras")
    return tmp_path / "model.keras"


def test_a_custom_standardize_is_refused(tmp_path: Path) -> None:
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="tests")
    def shout(text: Any) -> Any:
        return tf.strings.upper(text)

    layer = keras.layers.TextVectorization(max_tokens=20, standardize=shout, output_sequence_length=LENGTH)
    layer.adapt(CORPUS)
    keras.Sequential([keras.Input(shape=(1,), dtype="string"), layer, *head(20)]).save(tmp_path / "model.keras")
    assert_fails(
        invoke(tmp_path / "model.keras", "--out", tmp_path / "bundle"),
        "standardize='a custom callable' cannot be exported",
        "'lower_and_strip_punctuation'",
    )
    assert not (tmp_path / "bundle").exists()


def test_text_vectorization_without_a_length_needs_max_len(tmp_path: Path) -> None:
    import keras

    layer = keras.layers.TextVectorization(max_tokens=20)
    layer.adapt(CORPUS)
    keras.Sequential([keras.Input(shape=(1,), dtype="string"), layer, *head(20)]).save(tmp_path / "model.keras")
    assert_fails(invoke(tmp_path / "model.keras", "--out", tmp_path / "bundle"), "no output_sequence_length", "--max-len")
    result = invoke(tmp_path / "model.keras", "--out", tmp_path / "bundle", "--max-len", LENGTH)
    assert result.exit_code == 0, result.output


@needs_tf_keras
def test_a_vocabulary_larger_than_the_embedding_is_refused(tmp_path: Path) -> None:
    from tf_keras.preprocessing.text import Tokenizer as Keras2Tokenizer

    tokenizer = Keras2Tokenizer()  # no num_words: ids up to every word of the corpus
    tokenizer.fit_on_texts(CORPUS)
    (tmp_path / "tokenizer.json").write_text(tokenizer.to_json(), encoding="utf-8")
    assert_fails(
        invoke(ids_model(tmp_path, rows=20), "--tokenizer", tmp_path / "tokenizer.json", "--out", tmp_path / "b"),
        "embedding has 20 rows",
        f"has {len(tokenizer.word_index) + 1} ids",
        "not the tokenizer it was trained with",
    )


@pytest.mark.parametrize(
    "content, message",
    [
        (
            {
                "format": "edge-sentiment/tokenizer",
                "format_version": 2,
                "kind": "sentencepiece",
                "pad_id": 0,
                "padding": "pre",
                "truncation": "pre",
            },
            "unknown tokenizer kind 'sentencepiece'",
        ),
        ({"class_name": "TextVectorization", "config": {}}, "neither an edge-sentiment tokenizer.json nor a Keras Tokenizer"),
        ({"class_name": "Tokenizer", "config": {"num_words": 5}}, "has no word_index"),
        ("not json at all", "not valid UTF-8 JSON"),
        ('"a JSON string, not JSON inside"', "neither an edge-sentiment tokenizer.json nor a Keras Tokenizer"),
    ],
)
def test_a_tokenizer_file_of_the_wrong_kind_is_refused(tmp_path: Path, content: Any, message: str) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content), encoding="utf-8")
    assert_fails(invoke(ids_model(tmp_path), "--tokenizer", path, "--out", tmp_path / "b"), message)
    assert not (tmp_path / "b").exists()


def test_tokenizer_options_that_do_not_fit_are_refused(tmp_path: Path) -> None:
    model = ids_model(tmp_path)
    index = tmp_path / "word_index.json"
    index.write_text(json.dumps(WORD_INDEX), encoding="utf-8")
    assert_fails(invoke(model, "--out", tmp_path / "b"), "say which tokenizer", "--word-index", "--text-vectorization")
    assert_fails(
        invoke(model, "--word-index", index, "--tokenizer", index, "--out", tmp_path / "b"),
        "give one tokenizer, not --tokenizer and --word-index",
    )
    assert_fails(
        invoke(model, "--word-index", index, "--max-len", 8, "--out", tmp_path / "b"),
        "takes 16 ids per text but the tokenizer gives 8",
    )
    assert not (tmp_path / "b").exists()


def tf_keras_text_model(recurrent: Any, seed: int) -> Any:
    """A tf-keras (Keras 2) model on raw strings: TextVectorization first, then Embedding -> recurrent -> Dense, fitted."""
    import tf_keras

    tf_keras.utils.set_random_seed(seed)
    layer = tf_keras.layers.TextVectorization(max_tokens=40, output_sequence_length=LENGTH)
    layer.adapt(CORPUS)
    body = [tf_keras.layers.Embedding(40, 8), recurrent, tf_keras.layers.Dense(1, activation="sigmoid")]
    model = tf_keras.Sequential([tf_keras.Input(shape=(1,), dtype="string"), layer, *body])
    model.compile(tf_keras.optimizers.Adam(0.05), "binary_crossentropy")
    model.fit(strings(CORPUS)[:, None], LABELS, epochs=12, verbose=0)
    return model


@needs_tf_keras
def test_a_keras2_model_with_text_vectorization_exports(tmp_path: Path) -> None:
    """A tf-keras (Keras 2) .keras file whose first layer is its TextVectorization, a GRU behind it."""
    import tf_keras

    model = tf_keras_text_model(tf_keras.layers.GRU(6), seed=12)
    model.save(tmp_path / "model.keras")
    result = invoke(tmp_path / "model.keras", "--out", tmp_path / "bundle")
    assert result.exit_code == 0, result.output
    assert "✓ op census: GRU=1" in result.output and "✓ tokenizer" in result.output
    assert_same(tmp_path / "bundle", TEXTS, model.predict(strings(TEXTS)[:, None], verbose=0)[:, 0])


def test_a_vocabulary_keras_cannot_reload_exports_through_json(tmp_path: Path) -> None:
    """A token holding U+0085 (as IMDB reviews have) breaks Keras 3's own saved TextVectorization (its loader
    splits the vocabulary with str.splitlines()): the layer saved as JSON beside the model after it exports
    and equals Keras. (The whole .keras exports too: tests/test_shipped_files.py.)"""
    import keras

    keras.utils.set_random_seed(13)
    corpus = [*CORPUS, "most\x85and wonderful", "most\x85and awful"]
    layer = keras.layers.TextVectorization(max_tokens=60, output_sequence_length=LENGTH)
    layer.adapt(corpus)
    assert "most\x85and" in layer.get_vocabulary()
    (tmp_path / "layer.json").write_text(json.dumps({"config": layer.get_config(), "vocabulary": layer.get_vocabulary()}))
    x = np.asarray(layer(strings(corpus)))
    model = fitted(keras.Sequential([keras.Input(shape=(LENGTH,), dtype="int32"), *head(60)]), x[: len(LABELS)])
    model.save(tmp_path / "model.keras")
    result = invoke(tmp_path / "model.keras", "--text-vectorization", tmp_path / "layer.json", "--out", tmp_path / "bundle")
    assert result.exit_code == 0, result.output
    texts = [*TEXTS, "most\x85and wonderful"]
    assert_same(tmp_path / "bundle", texts, model.predict(np.asarray(layer(strings(texts))), verbose=0)[:, 0])
