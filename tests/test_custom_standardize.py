"""A TextVectorization layer with a custom `standardize` (keras.io's "Text classification from scratch"):
traced to steps, run in pure Python with RE2's rules, checked against TensorFlow on fuzzed strings,
exported from the tutorial's model as a user saves it, and refused by name where it cannot be exact."""

from __future__ import annotations

import json
import random
import re
import string
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from conftest import needs_tf

from edge_sentiment import Predictor, load_tokenizer
from edge_sentiment.cli import main
from edge_sentiment.data import DATA_ENV
from edge_sentiment.errors import TokenizerError
from edge_sentiment.runtime.keras_tokenizers import TextVectorizationTokenizer
from edge_sentiment.runtime.standardize_steps import Steps, translate_re2

TUTORIAL_PUNCTUATION = f"[{re.escape(string.punctuation)}]"  # the tutorial's own pattern
TUTORIAL_STEPS = [
    {"op": "lower"},
    {"op": "regex_replace", "pattern": "<br />", "rewrite": " ", "replace_global": True},
    {"op": "regex_replace", "pattern": TUTORIAL_PUNCTUATION, "rewrite": "", "replace_global": True},
]
# RE2 patterns whose Python spelling must give TensorFlow's results exactly: ASCII classes, POSIX classes,
# literal braces, ], ranges with '-', \Q..\E, \x escapes, anchors, groups in the rewrite, and empty matches
# (RE2::GlobalReplace skips an empty match right after a match; Python's re.sub does not).
PATTERNS = [
    ("<br />", " ", True),
    (TUTORIAL_PUNCTUATION, "", True),
    (r"\s+", " ", True),
    (r"x*", "-", True),
    (r"\s*", "_", True),
    (r"\b", "|", True),
    (r"\d", "#", True),
    (r"\D", "#", False),
    (r"\w", "", True),
    (r"[^a-z]", "_", True),
    (r"[[:punct:]]", "", True),
    (r"[[:^alpha:]]", "", True),
    (r"(a)(b)?", "[\\2\\1]", True),
    (r"a|ab", "X", True),
    (r"^ab", "", True),
    (r"b$", "E", True),
    (r".", "", False),
    (r"a{,2}", "Q", True),
    (r"a{2,3}", "Q", True),
    (r"[]a]", "Q", True),
    (r"[a-b-c]", "Q", True),
    (r"\x41|\x{e9}", "Q", True),
    (r"\Qa.b\E", "Q", True),
    (r"é|ß", "\\\\", True),
    (r"(?:ab)?", "_", True),
    (r"a??", "_", True),
    (r"[\[\]]", "", True),
    (r"\S+", "w", True),
    (r"[\s\d]", "", True),
    (r"<[a-z]{1,10}\s{0,3}/?>", " ", True),
]
ALPHABET = [
    *'aAbBxXzZ09 \t\n\r\x0b\x0c\u00a0.,!?-_<>/\\"`~|éÉßİ😀\x85[]{}()',
    "<br />",
    "ab",
    "aab",
    "aaa",
    "a{,2}",
    "a.b",
    "<i>",
    "<br/>",
]


@pytest.fixture(autouse=True)
def _no_imdb_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV, raising=False)


def fuzzed(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 30))) for _ in range(n)] + ["", "a", "ab", "b"]


# -- RE2 in Python ---------------------------------------------------------------------------------


@needs_tf
def test_re2_patterns_give_tensorflows_results() -> None:
    import tensorflow as tf

    texts = fuzzed(3000)
    for pattern, rewrite, every in PATTERNS:
        steps = Steps([{"op": "regex_replace", "pattern": pattern, "rewrite": rewrite, "replace_global": every}])
        theirs = [t.decode("utf-8") for t in tf.strings.regex_replace(texts, pattern, rewrite, replace_global=every).numpy()]
        ours = [steps.apply(t) for t in texts]
        differ = [(t, a, b) for t, a, b in zip(texts, theirs, ours) if a != b]
        assert not differ, f"{pattern!r}: {len(differ)} texts differ, first {differ[0]}"
        assert sum(a != t for a, t in zip(theirs, texts)) > 50 or not every, f"{pattern!r} must change texts to mean something"


@needs_tf
def test_lower_and_strip_steps_give_tensorflows_results() -> None:
    import tensorflow as tf

    texts = fuzzed(2000, seed=1) + ["ÀÉÎ İSTANBUL ǅ Σ", "\x0b\x0c  padded \t\n\r"]
    lower, strip = Steps([{"op": "lower"}]), Steps([{"op": "strip"}])
    assert [lower.apply(t).encode() for t in texts] == list(tf.strings.lower(texts).numpy())
    assert [strip.apply(t).encode() for t in texts] == list(tf.strings.strip(texts).numpy())


@pytest.mark.parametrize(
    "pattern, message",
    [
        (r"\pP", "RE2's Unicode classes"),
        (r"\p{L}", "RE2's Unicode classes"),
        (r"[[:foo:]]", "the class '[:foo:]'"),
        (r"(?i)great", "flag group"),
        (r"\C", "one byte of UTF-8"),
        (r"\B", "inside one UTF-8 character"),
        (r"(a)\1", "the escape \\1"),
        (r"(a+)+b", "exponential time"),
        (r"<[^>]*>", "quadratic time"),
        (r"a{0,500}", "accepts 100"),
        (r"a**", "repetition of a repetition"),
        (r"(abc", "missing ')'"),
        (r"[abc", "missing ']'"),
        ("\\", "trailing backslash"),
    ],
)
def test_re2_that_python_reads_differently_is_refused(pattern: str, message: str) -> None:
    with pytest.raises(TokenizerError, match=re.escape(message)):
        translate_re2(pattern)


def test_the_python_spelling_of_re2() -> None:
    assert translate_re2("b$").python == "b\\Z"  # RE2's $ is the end of the text, not before a last \n
    assert translate_re2("a{,2}").python == "a\\{,2\\}"  # RE2 reads {,2} as itself
    assert re.fullmatch(translate_re2(r"\d").compiled, "٣") is None  # RE2's \d is ASCII
    assert re.fullmatch(translate_re2(r"\s").compiled, "\x0b") is None  # RE2's \s has no \v


# -- the tokenizer file ------------------------------------------------------------------------------


def test_custom_steps_round_trip_through_tokenizer_json(tmp_path: Path) -> None:
    tok = TextVectorizationTokenizer(
        ["", "[UNK]", "great", "film", "br"], standardize="custom", custom_standardize=Steps(TUTORIAL_STEPS), max_len=6
    )
    tok.save(tmp_path / "tokenizer.json")
    again = load_tokenizer(tmp_path / "tokenizer.json")
    assert again == tok
    assert again.encode("GREAT film!<br />br, (film)") == [2, 3, 4, 3]  # "<br />" is gone, the word "br" stays
    data = json.loads((tmp_path / "tokenizer.json").read_text(encoding="utf-8"))
    assert data["standardize"] == "custom" and data["custom_standardize"]["version"] == 1


@pytest.mark.parametrize(
    "edit, message",
    [
        ({"custom_standardize": {"version": 2, "steps": []}}, "newer than this edge-sentiment reads"),
        ({"custom_standardize": {"version": 1, "steps": [{"op": "upper"}]}}, "is not one this edge-sentiment runs"),
        (
            {
                "custom_standardize": {
                    "version": 1,
                    "steps": [{"op": "regex_replace", "pattern": "(a+)+b", "rewrite": "", "replace_global": True}],
                }
            },
            "exponential",
        ),
        (
            {
                "custom_standardize": {
                    "version": 1,
                    "steps": [{"op": "regex_replace", "pattern": "(a)", "rewrite": "\\2", "replace_global": True}],
                }
            },
            "names group 2",
        ),
        ({"custom_standardize": None}, "custom_standardize"),
        ({"standardize": "lower"}, "say 'custom'"),
    ],
)
def test_edited_custom_steps_are_refused(edit: dict[str, Any], message: str) -> None:
    tok = TextVectorizationTokenizer(
        ["", "[UNK]", "film"], standardize="custom", custom_standardize=Steps(TUTORIAL_STEPS), max_len=4
    )
    from edge_sentiment.runtime.tokenizer import tokenizer_from_dict

    data = tok.to_dict() | edit
    if edit.get("standardize") == "lower":
        with pytest.raises(TokenizerError, match=message):
            TextVectorizationTokenizer(["", "[UNK]"], standardize="lower", custom_standardize=Steps([]))
        return
    with pytest.raises(TokenizerError, match=re.escape(message)):
        tokenizer_from_dict(data)


def test_files_without_custom_steps_are_unchanged() -> None:
    data = TextVectorizationTokenizer(["", "[UNK]", "film"], max_len=4).to_dict()
    assert "custom_standardize" not in data and data["standardize"] == "lower_and_strip_punctuation"


# -- tracing ----------------------------------------------------------------------------------------


@needs_tf
def test_the_tutorial_function_traces_to_its_steps() -> None:
    import tensorflow as tf

    from edge_sentiment.export.standardize import check_steps, fuzz_texts, trace_standardize

    def custom_standardization(input_data: Any) -> Any:
        lowercase = tf.strings.lower(input_data)
        stripped_html = tf.strings.regex_replace(lowercase, "<br />", " ")
        return tf.strings.regex_replace(stripped_html, f"[{re.escape(string.punctuation)}]", "")

    steps = trace_standardize(custom_standardization)
    assert steps.steps == TUTORIAL_STEPS and steps.source == "custom_standardization"
    check_steps(custom_standardization, steps, fuzz_texts(["great", "film"], 500, steps))

    def with_tensors(x: Any) -> Any:  # RegexReplace with constant tensors, and strip
        return tf.strings.strip(tf.strings.regex_replace(x, tf.constant(r"\s+"), tf.constant(" ")))

    assert trace_standardize(with_tensors).steps == [
        {"op": "regex_replace", "pattern": r"\s+", "rewrite": " ", "replace_global": True},
        {"op": "strip"},
    ]


@needs_tf
def test_functions_without_an_exact_equal_are_refused_naming_every_op() -> None:
    import tensorflow as tf

    from edge_sentiment.export.standardize import trace_standardize

    def unicode_punct(x: Any) -> Any:
        return tf.strings.regex_replace(tf.strings.lower(x, encoding="utf-8"), r"\pP", "")

    with pytest.raises(TokenizerError) as caught:
        trace_standardize(unicode_punct)
    text = str(caught.value)
    assert "standardize='a custom callable' cannot be exported: unicode_punct" in text
    assert "tf.strings.lower(encoding='utf-8')" in text and "\\p (RE2's Unicode classes" in text  # both, in one message

    def shout(x: Any) -> Any:
        return tf.strings.upper(x)

    with pytest.raises(TokenizerError, match="StringUpper"):
        trace_standardize(shout)

    def python_code(x: Any) -> Any:
        return tf.py_function(lambda t: t, [x], tf.string)

    with pytest.raises(TokenizerError, match="EagerPyFunc|PyFunc"):
        trace_standardize(python_code)


# -- keras.io's "Text classification from scratch", at tiny size, saved and exported ----------------

CORPUS = [
    "A wonderful, moving film!<br /><br />Great acting.",
    "Dull; boring... far too long.<br />Awful.",
    "I LOVED it: the music is great!!",
    "Awful plot - a waste (of time).",
    "Great great film, 10/10.",
    "boring, awful, dull <br />the end",
]
LABELS = np.array([1, 0, 1, 0, 1, 0])
TEXTS = [
    *CORPUS,
    "",
    "GREAT<br />great<br/>GrEaT",
    "it's (not) \"awful\" -- it's great!!!",
    "Café crème, naïve Straße İstanbul ΣΊΣΥΦΟΣ 😀",
    "boring\tdull\nawful\u00a0film\u3000great",
    "great " * 30,
]


def tutorial_model(body: str) -> Any:
    """The tutorial's code, its sizes made tiny: the custom standardization, the vectorize layer adapted on the
    texts, an ids model trained on vectorized data, and the end-to-end model around both."""
    import keras
    import tensorflow as tf
    from keras import layers

    @keras.saving.register_keras_serializable(package="tutorial")
    def custom_standardization(input_data: Any) -> Any:
        lowercase = tf.strings.lower(input_data)
        stripped_html = tf.strings.regex_replace(lowercase, "<br />", " ")
        return tf.strings.regex_replace(stripped_html, f"[{re.escape(string.punctuation)}]", "")

    keras.utils.set_random_seed(3)
    max_features, embedding_dim, sequence_length = 40, 8, 12
    vectorize_layer = keras.layers.TextVectorization(
        standardize=custom_standardization, max_tokens=max_features, output_mode="int", output_sequence_length=sequence_length
    )
    vectorize_layer.adapt(tf.data.Dataset.from_tensor_slices(CORPUS).batch(2))

    def vectorize_text(text: Any, label: Any) -> Any:
        return vectorize_layer(tf.expand_dims(text, -1)), label

    inputs = keras.Input(shape=(None,), dtype="int64")
    x = layers.Embedding(max_features, embedding_dim)(inputs)
    x = layers.Dropout(0.5)(x)
    if body == "conv1d":  # the tutorial's body
        x = layers.Conv1D(8, 3, padding="valid", activation="relu", strides=1)(x)
        x = layers.Conv1D(8, 3, padding="valid", activation="relu", strides=1)(x)
        x = layers.GlobalMaxPooling1D()(x)
    else:  # the family edge-sentiment exports today
        x = layers.LSTM(8)(x)
    x = layers.Dense(8, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    predictions = layers.Dense(1, activation="sigmoid", name="predictions")(x)
    model = keras.Model(inputs, predictions)
    model.compile(loss="binary_crossentropy", optimizer=keras.optimizers.Adam(0.05), metrics=["accuracy"])
    model.fit(tf.data.Dataset.from_tensor_slices((CORPUS, LABELS)).batch(3).map(vectorize_text), epochs=10, verbose=0)

    inputs = keras.Input(shape=(1,), dtype="string")
    indices = vectorize_layer(inputs)
    outputs = model(indices)
    end_to_end_model = keras.Model(inputs, outputs)
    end_to_end_model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    return end_to_end_model


def export(*args: Any) -> Result:
    return CliRunner().invoke(main, ["export", *[str(a) for a in args], "--parity-samples", "24"])


def assert_bundle_equals_keras(bundle: Path, saved: Path) -> None:
    import keras
    import tensorflow as tf

    keras_p = keras.models.load_model(saved).predict(tf.constant(TEXTS)[:, None], verbose=0)[:, 0]
    ours = Predictor.load(bundle).predict_proba(TEXTS)
    assert np.ptp(keras_p) > 0.1, "the scores must vary for the comparison to mean something"
    np.testing.assert_allclose(ours, keras_p, rtol=0, atol=1e-5)
    assert np.array_equal(ours >= 0.5, keras_p >= 0.5)


@needs_tf
def test_the_keras_io_tutorial_model_exports_as_saved(tmp_path: Path) -> None:
    tutorial_model("lstm").save(tmp_path / "model.keras")
    result = export(tmp_path / "model.keras", "--out", tmp_path / "bundle")
    assert result.exit_code == 0, result.output
    for gate in ("✓ tokenizer: ids equal the TextVectorization layer's", "✓ parity from raw strings"):
        assert gate in result.output
    tok = json.loads((tmp_path / "bundle" / "tokenizer.json").read_text(encoding="utf-8"))
    assert tok["standardize"] == "custom" and tok["custom_standardize"]["steps"] == TUTORIAL_STEPS
    assert_bundle_equals_keras(tmp_path / "bundle", tmp_path / "model.keras")


@needs_tf
def test_the_keras_io_tutorial_model_with_its_conv1d_body(tmp_path: Path) -> None:
    from edge_sentiment.export.architecture import SUPPORTED

    if "Conv1D" not in SUPPORTED:
        pytest.skip("Conv1D export is not there yet (issue 31, item 5): the tutorial's own body waits for it")
    tutorial_model("conv1d").save(tmp_path / "model.keras")
    result = export(tmp_path / "model.keras", "--out", tmp_path / "bundle")
    assert result.exit_code == 0, result.output
    assert_bundle_equals_keras(tmp_path / "bundle", tmp_path / "model.keras")


@needs_tf
def test_a_standardize_keras_cannot_find_is_refused_in_a_fresh_process(tmp_path: Path) -> None:
    """The function is saved by its registered name only: a process that has not imported the code that
    registers it cannot load the model, and says so without a traceback."""
    tutorial_model("lstm").save(tmp_path / "model.keras")
    done = subprocess.run(
        [sys.executable, "-m", "edge_sentiment", "export", str(tmp_path / "model.keras"), "--out", str(tmp_path / "b")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "standardize='tutorial>custom_standardization'" in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert "register_keras_serializable" in done.stderr and "import my_code" in done.stderr
    assert not (tmp_path / "b").exists()


@needs_tf
def test_a_layer_whose_function_has_no_exact_equal_is_refused(tmp_path: Path) -> None:
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="tests")
    def unicode_punct(x: Any) -> Any:
        return tf.strings.regex_replace(tf.strings.lower(x, encoding="utf-8"), r"[\pP<>]", "")

    layer = keras.layers.TextVectorization(max_tokens=20, standardize=unicode_punct, output_sequence_length=8)
    layer.adapt(CORPUS)
    model = keras.Sequential(
        [
            keras.Input(shape=(1,), dtype="string"),
            layer,
            keras.layers.Embedding(20, 4),
            keras.layers.LSTM(4),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.save(tmp_path / "model.keras")
    result = export(tmp_path / "model.keras", "--out", tmp_path / "bundle")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "unicode_punct cannot be reproduced exactly" in result.output
    assert "tf.strings.lower(encoding='utf-8')" in result.output and "RE2's Unicode classes" in result.output
    assert not (tmp_path / "bundle").exists()


@needs_tf
def test_the_fuzz_gates_refuse_a_copy_that_differs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The gates can fail: steps run with Python's Unicode str.lower instead of TensorFlow's ASCII one, and
    a split on Python's Unicode whitespace instead of TensorFlow's ASCII whitespace, are both caught."""
    import keras
    import tensorflow as tf

    from edge_sentiment.export.tvlayer import tokenizer_from_layer

    def custom_standardization(input_data: Any) -> Any:
        return tf.strings.regex_replace(tf.strings.lower(input_data), "<br />", " ")

    layer = keras.layers.TextVectorization(max_tokens=30, standardize=custom_standardization, output_sequence_length=8)
    layer.adapt(CORPUS)
    tokenizer_from_layer(layer, None)  # the faithful copy passes
    with monkeypatch.context() as patch:
        patch.setattr(Steps, "apply", lambda self, text: text.lower().replace("<br />", " "))
        with pytest.raises(TokenizerError, match="was recorded as lower -> regex_replace"):
            tokenizer_from_layer(layer, None)
    plain = keras.layers.TextVectorization(max_tokens=30, output_sequence_length=8)
    plain.adapt(CORPUS)
    monkeypatch.setattr(TextVectorizationTokenizer, "_split", lambda self, text: text.split())
    with pytest.raises(TokenizerError, match="give different ids on"):
        tokenizer_from_layer(plain, None)
