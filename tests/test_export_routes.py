"""Every export route as a stranger's model reaches it: the official tutorials' models as saved, every option
taking effect or refused (issue 38), and the silent mismatches the Keras-against-ONNX gates cannot see
(padding side, truncation, text cleaning outside the bundle) refused or caught (issue 31)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import needs_tf
from test_export_tokenizers import CORPUS, LABELS, LENGTH, TEXTS, WORD_INDEX, assert_fails, invoke, needs_tf_keras, strings

from edge_sentiment import Predictor
from edge_sentiment.cli import main
from edge_sentiment.export.options import EXPORT_OPTIONS, REQUIRES, ROUTE_OPTIONS, ROUTES, APPLIES, options_table
from edge_sentiment.runtime.tokenizer import Tokenizer

# Texts shorter and longer than LENGTH words, and every tokenizer rule.
LONG = "a wonderful film, great acting and the music is great " * 6  # 60 words
SIDED = TEXTS + [LONG, LONG + " but awful boring plot", "boring " + LONG]


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=np.float64)))


def manifest_of(bundle: Path) -> dict[str, Any]:
    return json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))


# -- the options table (no TensorFlow) ------------------------------------------------------------


def test_every_export_option_has_a_decision() -> None:
    """A new option of export, or a new route, fails here until the table says where it acts."""
    import click

    command = main.get_command(click.Context(main), "export")
    assert command is not None
    params = {p.name for p in command.params}
    assert params == set(EXPORT_OPTIONS), f"decide these in export/options.py: {params ^ set(EXPORT_OPTIONS)}"
    for name, rules in ROUTE_OPTIONS.items():
        assert set(rules) == set(ROUTES), name
        assert name in params
    assert set(REQUIRES) <= params and set(REQUIRES.values()) <= params
    table = options_table()
    for name in ROUTE_OPTIONS:
        assert f"`--{name.replace('_', '-')}`" in table


@pytest.mark.parametrize(
    "args, needs",
    [
        (["--int8-max-loss", "0.5"], "--int8-max-loss does nothing without --quantize"),
        (["--accuracy-samples", "10"], "--accuracy-samples does nothing without --quantize"),
        (["--rating-classes", "1-4,7-10"], "--rating-classes does nothing without --quantize"),
        (["--text-fuzz", "10"], "--text-fuzz does nothing without --text-model"),
        (["--text-field", "body"], "--text-field does nothing without --labelled"),
        (["--label-field", "y"], "--label-field does nothing without --labelled"),
    ],
)
def test_an_option_without_the_one_it_acts_through_is_refused(tmp_path: Path, args: list[str], needs: str) -> None:
    (tmp_path / "model.keras").write_bytes(b"not read: refused before")
    result = CliRunner().invoke(main, ["export", str(tmp_path / "model.keras"), "--out", str(tmp_path / "b"), *args])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert needs in result.output and "Traceback" not in result.output
    assert not (tmp_path / "b").exists()


# -- tiny models ---------------------------------------------------------------------------------------


def ids_lstm(tmp_path: Path, x: np.ndarray, rows: int, name: str = "model.keras", seed: int = 3) -> Path:
    """An unmasked LSTM on token ids, fitted on x: its scores depend on where the pads go."""
    import keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(x.shape[1],), dtype="int32"),
            keras.layers.Embedding(rows, 8),
            keras.layers.LSTM(6),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.05), "binary_crossentropy")
    model.fit(x, LABELS, epochs=12, batch_size=8, verbose=0)
    model.save(tmp_path / name)
    return tmp_path / name


def unfitted_tv_lstm(path: Path, **layer_options: Any) -> None:
    """TextVectorization (adapted on the corpus) -> Embedding -> LSTM -> Dense(1), unmasked, saved untrained."""
    import keras

    layer = keras.layers.TextVectorization(max_tokens=20, **layer_options)
    layer.adapt(CORPUS)
    body = [keras.layers.Embedding(20, 4), keras.layers.LSTM(3), keras.layers.Dense(1)]
    keras.Sequential([keras.Input(shape=(1,), dtype="string"), layer, *body]).save(path)


@needs_tf
def test_a_post_padded_model_on_an_edge_sentiment_tokenizer(tmp_path: Path) -> None:
    """Issue 38: --padding/--truncating post take effect on the edge-sentiment tokenizer route; without them
    the export is refused, since the side changes the model's labels and no file records it."""
    import keras

    tok = Tokenizer.fit(CORPUS, vocab_size=30, max_len=LENGTH)
    tok.save(tmp_path / "tokenizer.json")
    post = Tokenizer(tok.words, max_len=LENGTH, padding="post", truncation="post")
    model_path = ids_lstm(tmp_path, post.encode_batch(CORPUS), 30)

    refused = invoke(model_path, "--tokenizer", tmp_path / "tokenizer.json", "--out", tmp_path / "guess")
    assert_fails(refused, "padding: pre- and post-padding", "--padding pre", "--padding post", "truncating:")
    assert not (tmp_path / "guess").exists()

    args = ["--tokenizer", tmp_path / "tokenizer.json", "--padding", "post", "--truncating", "post"]
    result = invoke(model_path, *args, "--out", tmp_path / "bundle")
    assert result.exit_code == 0, result.output
    assert "✓ parity from raw strings" in result.output and "✓ tokenizer: ids equal the source tokenizer.json's" in result.output
    assert "keeps the first 16 ids, pads post" in result.output
    manifest = manifest_of(tmp_path / "bundle")
    assert manifest["model"]["padding"] == "post" and manifest["model"]["pads"] == "fed"
    assert manifest["tokenizer"]["sides"] == {
        "padding": {"value": "post", "from": "--padding"},
        "truncating": {"value": "post", "from": "--truncating"},
    }
    texts = [t for t in SIDED if len(post.all_ids(t)) < LENGTH] + [t for t in SIDED if len(post.all_ids(t)) > LENGTH]
    assert sum(len(post.all_ids(t)) > LENGTH for t in texts) >= 3, "texts longer than max_len must be compared too"
    keras_p = keras.models.load_model(model_path).predict(post.encode_batch(texts), verbose=0)[:, 0]
    predictor = Predictor.load(tmp_path / "bundle")
    np.testing.assert_allclose(predictor.predict_proba(texts), keras_p, rtol=0, atol=1e-5)
    assert ((predictor.predict_proba(texts) >= 0.5) == (keras_p >= 0.5)).all()


@needs_tf
@needs_tf_keras
def test_a_classic_tokenizer_post_padded_model_without_padding_is_refused(tmp_path: Path) -> None:
    """Issue 31's silent mismatch: a classic-Tokenizer model trained on post-padded ids, exported without
    --padding, passed every gate before; now it is refused, and with the flags it matches as trained."""
    from tf_keras.preprocessing.sequence import pad_sequences
    from tf_keras.preprocessing.text import Tokenizer as Keras2Tokenizer

    tokenizer = Keras2Tokenizer(num_words=30, oov_token="<OOV>")
    tokenizer.fit_on_texts(CORPUS)
    (tmp_path / "tokenizer.json").write_text(tokenizer.to_json(), encoding="utf-8")

    def ids(texts: list[str]) -> np.ndarray:
        return pad_sequences(tokenizer.texts_to_sequences(texts), maxlen=LENGTH, padding="post", truncating="post")

    model_path = ids_lstm(tmp_path, ids(CORPUS), 30, seed=8)
    assert_fails(
        invoke(model_path, "--tokenizer", tmp_path / "tokenizer.json", "--out", tmp_path / "guess"),
        "depend on how its ids were padded",
        "--padding post",
    )
    result = invoke(
        model_path,
        "--tokenizer",
        tmp_path / "tokenizer.json",
        "--padding",
        "post",
        "--truncating",
        "post",
        "--out",
        tmp_path / "b",
    )
    assert result.exit_code == 0, result.output
    import keras

    keras_p = keras.models.load_model(model_path).predict(ids(SIDED), verbose=0)[:, 0]
    np.testing.assert_allclose(Predictor.load(tmp_path / "b").predict_proba(SIDED), keras_p, rtol=0, atol=1e-5)


@needs_tf
def test_tokenizer_options_that_do_not_apply_are_refused_on_every_route(tmp_path: Path) -> None:
    """Each refused cell of ROUTE_OPTIONS, as a user would type it: exit 1, the option named, nothing written."""

    tok = Tokenizer.fit(CORPUS, vocab_size=20, max_len=LENGTH)
    run = tmp_path / "run"
    run.mkdir()
    tok.save(run / "tokenizer.json")
    ids_model = ids_lstm(run, tok.encode_batch(CORPUS), 20)
    (tmp_path / "word_index.json").write_text(json.dumps(WORD_INDEX), encoding="utf-8")
    unfitted_tv_lstm(tmp_path / "tv.keras", output_sequence_length=LENGTH)
    sources = {
        "run": [run],
        "tokenizer": [ids_model, "--tokenizer", run / "tokenizer.json"],
        "word-index": [ids_model, "--word-index", tmp_path / "word_index.json"],
        "text-vectorization": [tmp_path / "tv.keras"],
    }
    values = {"max_len": "12", "padding": "pre", "truncating": "pre", "index_from": "2", "start_char": "4", "oov_char": "3"}
    tried = 0
    for route, source in sources.items():
        for name, value in values.items():
            rule = ROUTE_OPTIONS[name][route]
            if rule == APPLIES:
                continue
            flag = "--" + name.replace("_", "-")
            result = invoke(*source, flag, value, "--out", tmp_path / "b")
            assert_fails(result, f"{flag} {value} does not apply here")
            assert not (tmp_path / "b").exists()
            tried += 1
    # run: all six; tokenizer: the three keras.datasets.imdb ones; text-vectorization: those three, and a length
    # and sides other than the layer's own (16, post)
    assert tried == 6 + 3 + 6


@needs_tf
def test_max_len_and_index_from_take_effect(tmp_path: Path) -> None:
    tok = Tokenizer.fit(CORPUS, vocab_size=20, max_len=40)  # the file says 40; the model was trained on 16
    tok.save(tmp_path / "tokenizer.json")
    model_path = ids_lstm(tmp_path, Tokenizer(tok.words, max_len=LENGTH).encode_batch(CORPUS), 20)
    sides = ["--padding", "pre", "--truncating", "pre"]
    result = invoke(model_path, "--tokenizer", tmp_path / "tokenizer.json", *sides, "--max-len", LENGTH, "--out", tmp_path / "b")
    assert result.exit_code == 0, result.output
    assert manifest_of(tmp_path / "b")["model"]["max_len"] == LENGTH
    (tmp_path / "word_index.json").write_text(json.dumps(WORD_INDEX), encoding="utf-8")
    args = ["--word-index", tmp_path / "word_index.json", "--index-from", "2", "--start-char", "5", *sides]
    result = invoke(model_path, *args, "--out", tmp_path / "w")
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "w" / "tokenizer.json").read_text(encoding="utf-8"))
    assert (written["index_from"], written["start_char"], written["oov_char"]) == (2, 5, 2)
    assert Predictor.load(tmp_path / "w").tokenizer.encode("the film")[:3] == [5, 1 + 2, 2 + 2]


@needs_tf
def test_fast_path_asked_for_where_there_is_none_fails(tmp_path: Path) -> None:
    tok = Tokenizer.fit(CORPUS, vocab_size=20, max_len=LENGTH)
    tok.save(tmp_path / "tokenizer.json")
    model_path = ids_lstm(tmp_path, tok.encode_batch(CORPUS), 20)
    args = ["--tokenizer", tmp_path / "tokenizer.json", "--padding", "pre", "--truncating", "pre"]
    assert_fails(invoke(model_path, *args, "--fast-path", "--out", tmp_path / "b"), "✗ fast path: --fast-path was given")
    assert not (tmp_path / "b").exists()


# -- TensorFlow's "Text classification with an RNN" tutorial, as written and saved -----------------


def rnn_tutorial(stacked: bool) -> Any:
    """The tutorial's model at tiny size: TextVectorization(max_tokens) with no output_sequence_length,
    Embedding(mask_zero=True), Bidirectional LSTM(s), Dense(relu), Dense(1) logits (from_logits=True)."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(11)
    encoder = keras.layers.TextVectorization(max_tokens=40)
    encoder.adapt(tf.data.Dataset.from_tensor_slices(CORPUS).batch(4))
    body = (
        [
            keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True)),
            keras.layers.Bidirectional(keras.layers.LSTM(4)),
        ]
        if stacked
        else [keras.layers.Bidirectional(keras.layers.LSTM(6))]
    )
    model = keras.Sequential(
        [
            encoder,
            keras.layers.Embedding(input_dim=len(encoder.get_vocabulary()), output_dim=8, mask_zero=True),
            *body,
            keras.layers.Dense(6, activation="relu"),
            *([keras.layers.Dropout(0.5)] if stacked else []),
            keras.layers.Dense(1),
        ]
    )
    model.compile(
        loss=keras.losses.BinaryCrossentropy(from_logits=True), optimizer=keras.optimizers.Adam(0.05), metrics=["accuracy"]
    )
    model.fit(tf.data.Dataset.from_tensor_slices((CORPUS, LABELS)).batch(4), epochs=8, verbose=0)
    return model


# The stacked variant runs the same route (masked, whole texts, logits) as plain, the default suite's; stacked
# bidirectional LSTMs export exactly in test_export_shapes's stacked-bilstm shapes. It takes 80 s on 2 cores
# (Keras scoring the gates' whole texts step by step, and the TextVectorization check at 100,000 ids a text).
@needs_tf
@pytest.mark.parametrize("stacked", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["plain", "stacked"])
def test_the_tensorflow_rnn_tutorial_exports_as_saved(tmp_path: Path, stacked: bool) -> None:
    """Issue 31 items 1-3: masked, no output_sequence_length, logits out: whole texts, sigmoid in the graph."""
    import keras

    rnn_tutorial(stacked).save(tmp_path / "model.keras")
    result = invoke(tmp_path / "model.keras", "--out", tmp_path / "bundle")
    assert result.exit_code == 0, result.output
    assert "✓ tokenizer: ids equal the TextVectorization layer's" in result.output
    assert "the bundle applies sigmoid" in result.output
    manifest = manifest_of(tmp_path / "bundle")
    assert manifest["model"]["pads"] == "none" and manifest["model"]["max_len"] == 100_000
    very_long = " ".join([CORPUS[0]] * 150)  # 1,050 words: Keras reads it whole, so must the bundle
    texts = [*TEXTS, very_long]
    reloaded = keras.models.load_model(tmp_path / "model.keras")
    keras_p = sigmoid(reloaded.predict(strings(texts), verbose=0)[:, 0])
    predictor = Predictor.load(tmp_path / "bundle")
    assert np.ptp(keras_p) > 0.1
    np.testing.assert_allclose(predictor.predict_proba(texts), keras_p, rtol=0, atol=1e-5)
    assert ((predictor.predict_proba(texts) >= 0.5) == (keras_p >= 0.5)).all()
    if stacked:
        return
    # the decision layer on the tutorial's bundle as a user reaches it: calibrate from the shell, then predict and explain
    held = tmp_path / "held.jsonl"
    rows = [json.dumps({"text": t, "label": int(p >= 0.5) ^ (i % 5 == 0)}) for i, (t, p) in enumerate(zip(texts, keras_p))]
    held.write_text("\n".join(rows) + "\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["calibrate", str(tmp_path / "bundle"), "--labelled", str(held), "--uncertain", "0.4,0.6"])
    assert result.exit_code == 0, result.output
    calibrated = Predictor.load(tmp_path / "bundle")
    assert calibrated.decision.temperature != 1.0
    raw = Predictor.load(tmp_path / "bundle", calibrated=False).predict_proba(texts)  # the model's own (Keras's within 1e-5)
    expected = [calibrated.decision.calibrate_one(float(p)) for p in raw]
    np.testing.assert_allclose(calibrated.predict_proba(texts), expected, rtol=0, atol=1e-5)
    assert {p.label for p in calibrated.predict(texts)} <= {"negative", "positive", "uncertain"}
    explained = calibrated.explain(texts[0])
    assert explained.score == pytest.approx(float(calibrated.predict_proba(texts[0])[0]))
    assert len(explained.words) == len(texts[0].split())


@needs_tf
def test_text_vectorization_without_a_length_and_no_mask_names_the_reason(tmp_path: Path) -> None:
    unfitted_tv_lstm(tmp_path / "model.keras")
    assert_fails(invoke(tmp_path / "model.keras", "--out", tmp_path / "b"), "does not mask its pads", "--max-len")


# -- the same gates on every route ------------------------------------------------------------------


@needs_tf
def test_a_text_vectorization_json_runs_the_tokenizer_and_raw_string_gates(tmp_path: Path) -> None:
    import keras

    keras.utils.set_random_seed(4)
    layer = keras.layers.TextVectorization(max_tokens=30, output_sequence_length=LENGTH)
    layer.adapt(CORPUS)
    (tmp_path / "layer.json").write_text(
        json.dumps({"config": layer.get_config(), "vocabulary": layer.get_vocabulary()}), encoding="utf-8"
    )
    model_path = ids_lstm(tmp_path, np.asarray(layer(strings(CORPUS))), 30)
    result = invoke(model_path, "--text-vectorization", tmp_path / "layer.json", "--out", tmp_path / "b")
    assert result.exit_code == 0, result.output
    assert "✓ tokenizer: ids equal the TextVectorization layer's" in result.output
    assert "✓ parity from raw strings" in result.output
    keras_p = keras.models.load_model(model_path).predict(np.asarray(layer(strings(SIDED))), verbose=0)[:, 0]
    np.testing.assert_allclose(Predictor.load(tmp_path / "b").predict_proba(SIDED), keras_p, rtol=0, atol=1e-5)


@needs_tf
@needs_tf_keras
def test_check_examples_catch_cleaning_done_outside_the_bundle(tmp_path: Path) -> None:
    """A project that strips HTML and stop words before its Keras Tokenizer: the Keras-against-ONNX gates
    pass (they see the same ids), the user's own examples do not, and the export says what it leaves out."""
    import re

    import keras
    from tf_keras.preprocessing.sequence import pad_sequences
    from tf_keras.preprocessing.text import Tokenizer as Keras2Tokenizer

    def clean(text: str) -> str:  # the project's own preprocessing, before the tokenizer
        text = re.sub(r"<[^>]+>", " ", text)
        return " ".join(w for w in text.split() if w.lower() not in {"the", "a", "and", "is", "it", "it's"})

    tokenizer = Keras2Tokenizer(num_words=40, oov_token="<OOV>")
    tokenizer.fit_on_texts([clean(t) for t in CORPUS])
    (tmp_path / "tokenizer.json").write_text(tokenizer.to_json(), encoding="utf-8")

    def pipeline(texts: list[str]) -> np.ndarray:
        return pad_sequences(tokenizer.texts_to_sequences([clean(t) for t in texts]), maxlen=LENGTH)

    model_path = ids_lstm(tmp_path, pipeline(CORPUS), 40, seed=12)
    model = keras.models.load_model(model_path)
    probe = [t + " and the story is a <b>mess</b> it is the end" for t in CORPUS] + CORPUS
    p = model.predict(pipeline(probe), verbose=0)[:, 0]
    rows = [{"text": t, "label": "positive" if s >= 0.5 else "negative", "score": float(max(s, 1 - s))} for t, s in zip(probe, p)]
    (tmp_path / "examples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")

    sides = ["--padding", "pre", "--truncating", "pre"]
    args = [model_path, "--tokenizer", tmp_path / "tokenizer.json", *sides, "--check-examples", tmp_path / "examples.jsonl"]
    result = invoke(*args, "--out", tmp_path / "b")
    assert_fails(result, "✗ examples (examples.jsonl)", "✓ parity from raw strings")
    assert not (tmp_path / "b").exists()
    # the same file of examples from texts the project did not need to clean passes
    plain = [t for t in CORPUS if clean(t) == t]
    kept = [r for r in rows if r["text"] in plain]
    assert kept, "some corpus texts need no cleaning"
    (tmp_path / "plain.jsonl").write_text("".join(json.dumps(r) + "\n" for r in kept), encoding="utf-8")
    result = invoke(
        model_path,
        "--tokenizer",
        tmp_path / "tokenizer.json",
        *sides,
        "--check-examples",
        tmp_path / "plain.jsonl",
        "--out",
        tmp_path / "ok",
    )
    assert result.exit_code == 0, result.output
    assert f"✓ examples (plain.jsonl): {len(kept)}/{len(kept)} labels as expected" in result.output
    assert "it does not do: anything your code did to the texts before the tokenizer" in result.output
