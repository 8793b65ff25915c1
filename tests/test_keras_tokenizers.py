"""The Keras tokenizer kinds: the same ids as the originals (TextVectorization, tf-keras's Tokenizer, the
keras.datasets.imdb reference ids), their files, and what they refuse."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import needs_tf
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_sentiment import load_tokenizer
from edge_sentiment.errors import TokenizerError
from edge_sentiment.export.texts import PARITY_RULE_TEXTS
from edge_sentiment.runtime.keras_tokenizers import (
    KerasImdbTokenizer,
    KerasTokenizer,
    TextVectorizationTokenizer,
    keras_imdb_words,
)
from edge_sentiment.runtime.standardize_steps import Steps
from edge_sentiment.runtime.tokenizer import Tokenizer, tokenizer_from_dict

HAS_TF_KERAS = importlib.util.find_spec("tf_keras") is not None
needs_tf_keras = pytest.mark.skipif(not HAS_TF_KERAS, reason="needs tf-keras: pip install 'edge-sentiment[train]'")

TEXTS = PARITY_RULE_TEXTS + ["", "x" * 3, "Ünïcödé ÀÉÎ straße", "a\u0301 combining", "\x85ellipsis\x97dash", "z " * 80]
# Text that hits the rules: ASCII and non-ASCII letters of both cases, every kind of whitespace, punctuation, digits.
ALPHABET = st.sampled_from(list("aAbBzZ09 '\t\n\r\x0b\x0c\u00a0\u2009\u3000.,!?-_<>/\\\"`~|éÉßİǅ😀\x85"))
FUZZ = st.lists(st.text(ALPHABET, max_size=40), min_size=1, max_size=8)


# -- TextVectorization ----------------------------------------------------------------------------


def _layer(standardize: Any, split: str, ngrams: Any = None, length: int = 16) -> Any:
    import keras

    layer = keras.layers.TextVectorization(
        max_tokens=60, standardize=standardize, split=split, ngrams=ngrams, output_sequence_length=length
    )
    layer.adapt(TEXTS + ["the movie was Great great GREAT, don't", "Café café CAFÉ"])
    return layer


def _ours(layer: Any) -> TextVectorizationTokenizer:
    return TextVectorizationTokenizer.from_layer_config(layer.get_config(), layer.get_vocabulary())


def _layer_ids(layer: Any, texts: list[str]) -> np.ndarray:
    import tensorflow as tf

    return np.asarray(layer(tf.constant(texts, dtype=tf.string)))


STANDARDIZE = ["lower_and_strip_punctuation", "lower", "strip_punctuation", None]


@needs_tf
@pytest.mark.parametrize("split", ["whitespace", "character"])
@pytest.mark.parametrize("standardize", STANDARDIZE)
def test_text_vectorization_ids_equal_the_layer(standardize: Any, split: str) -> None:
    layer = _layer(standardize, split)
    ours = _ours(layer)
    assert ours.vocabulary == layer.get_vocabulary()
    np.testing.assert_array_equal(ours.encode_batch(TEXTS), _layer_ids(layer, TEXTS))
    assert np.count_nonzero(ours.encode_batch(TEXTS) >= 2) > 20, "the texts must hit the vocabulary to mean something"


@needs_tf
@pytest.mark.parametrize("ngrams", [2, (1, 3), (2,)])
def test_text_vectorization_ngrams_equal_the_layer(ngrams: Any) -> None:
    layer = _layer("lower_and_strip_punctuation", "whitespace", ngrams=ngrams, length=30)
    ours = _ours(layer)
    np.testing.assert_array_equal(ours.encode_batch(TEXTS), _layer_ids(layer, TEXTS))
    assert any(" " in w for w in ours.vocabulary), "the vocabulary must hold n-grams"


@needs_tf
@settings(max_examples=40, deadline=None)
@given(texts=FUZZ, mode=st.sampled_from([(s, p) for s in STANDARDIZE for p in ("whitespace", "character")]))
def test_text_vectorization_fuzzed_texts(texts: list[str], mode: tuple[Any, str]) -> None:
    layer = _LAYERS.setdefault(mode, _layer(*mode))
    np.testing.assert_array_equal(_ours(layer).encode_batch(texts), _layer_ids(layer, texts))


_LAYERS: dict[Any, Any] = {}


def test_text_vectorization_refuses_what_it_cannot_reproduce() -> None:
    vocab = ["", "[UNK]", "film"]
    for key, value, message in [
        ("standardize", {"class_name": "function", "config": "my_standardize"}, "custom callable"),
        ("split", "my_split", "split='my_split' cannot be exported"),
        ("output_mode", "multi_hot", "output_mode"),
        ("output_sequence_length", None, "--max-len"),
    ]:
        config = {"standardize": "lower", "split": "whitespace", "output_mode": "int", "output_sequence_length": 8, key: value}
        with pytest.raises(TokenizerError, match=message):
            TextVectorizationTokenizer.from_layer_config(config, vocab)
    with pytest.raises(TokenizerError, match="starts with ''"):
        TextVectorizationTokenizer(["film", "[UNK]"], max_len=4)


# -- the classic Keras Tokenizer -------------------------------------------------------------------

CLASSIC_SETTINGS = [
    {},
    {"num_words": 12, "oov_token": "<OOV>"},
    {"num_words": 12},
    {"lower": False, "filters": "!.,"},
    {"char_level": True, "oov_token": "?"},
    {"split": ",", "filters": ""},
]


def _classic(settings: dict[str, Any]) -> Any:
    from tf_keras.preprocessing.text import Tokenizer as Original

    original = Original(**settings)
    original.fit_on_texts(TEXTS + ["the movie was Great great GREAT, don't", "Café café CAFÉ"])
    return original


@needs_tf
@needs_tf_keras
@pytest.mark.parametrize("padding, truncating", [("pre", "pre"), ("post", "post"), ("pre", "post")])
@pytest.mark.parametrize("settings", CLASSIC_SETTINGS, ids=lambda s: ",".join(f"{k}={v}" for k, v in s.items()) or "defaults")
def test_classic_tokenizer_ids_equal_tf_keras(settings: dict[str, Any], padding: str, truncating: str) -> None:
    from tf_keras.preprocessing.sequence import pad_sequences

    original = _classic(settings)
    ours = KerasTokenizer.from_keras_json(json.loads(original.to_json()), max_len=10, padding=padding, truncation=truncating)
    expected = pad_sequences(original.texts_to_sequences(TEXTS), maxlen=10, padding=padding, truncating=truncating)
    np.testing.assert_array_equal(ours.encode_batch(TEXTS), expected)
    assert np.count_nonzero(expected) > 20


@needs_tf
@needs_tf_keras
@settings(max_examples=40, deadline=None)
@given(texts=FUZZ, which=st.sampled_from(range(len(CLASSIC_SETTINGS))))
def test_classic_tokenizer_fuzzed_texts(texts: list[str], which: int) -> None:
    from tf_keras.preprocessing.sequence import pad_sequences

    original = _CLASSICS.setdefault(which, _classic(CLASSIC_SETTINGS[which]))
    ours = KerasTokenizer.from_keras_json(original.to_json(), max_len=12)  # the double-encoded form too
    np.testing.assert_array_equal(ours.encode_batch(texts), pad_sequences(original.texts_to_sequences(texts), maxlen=12))


_CLASSICS: dict[int, Any] = {}


def test_classic_tokenizer_refusals() -> None:
    with pytest.raises(TokenizerError, match="class_name"):
        KerasTokenizer.from_keras_json({"format": "edge-sentiment/tokenizer"}, max_len=5)
    with pytest.raises(TokenizerError, match="no word_index"):
        KerasTokenizer.from_keras_json({"class_name": "Tokenizer", "config": {}}, max_len=5)
    with pytest.raises(TokenizerError, match="oov_token"):
        KerasTokenizer({"film": 1}, oov_token="<OOV>", max_len=5)
    with pytest.raises(TokenizerError, match="share id"):
        KerasTokenizer({"film": 1, "movie": 1}, max_len=5)


# -- keras.datasets.imdb ---------------------------------------------------------------------------


def _keras_imdb_dir() -> Path:
    value = os.environ.get("EDGE_SENTIMENT_DATA")
    if not value:
        pytest.skip("needs ../shared/data/keras-imdb beside the IMDB archive: set EDGE_SENTIMENT_DATA (.ci/run does)")
    folder = Path(value).parent / "keras-imdb"
    if not (folder / "keras_imdb_train_subset.npz").is_file():
        pytest.skip(f"no keras-imdb reference files in {folder}")
    return folder


def test_keras_imdb_words() -> None:
    assert keras_imdb_words("This film was just brilliant,casting,location<br /><br />GREAT") == [
        "this",
        "film",
        "was",
        "just",
        "brilliant",
        "casting",
        "location",
        "br",
        "br",
        "great",
    ]
    # only ASCII letters are lower-cased; the apostrophe, non-ASCII characters and \x85 stay inside words
    assert keras_imdb_words("Ángela doesn’t 'royale' most\x85and well-made 7\\10") == [
        "Ángela",
        "doesn’t",
        "'royale'",
        "most\x85and",
        "well",
        "made",
        "7",
        "10",
    ]


def test_keras_imdb_ids() -> None:
    tok = KerasImdbTokenizer({"the": 1, "film": 2, "br": 3, "rare": 10}, num_words=7, max_len=6)
    assert tok.encode("The film<br />unknown rare") == [1, 4, 5, 6, 2]  # start, the, film, br, rare -> oov; unknown skipped
    assert tok.encode("") == [1]
    assert tok.encode("the " * 10) == [4] * 6  # truncation "pre" keeps the last ids, as pad_sequences did
    assert tok.vocab_size == 7


def test_keras_imdb_reproduces_the_reference_ids(imdb_path: Path) -> None:
    """The keras-imdb tokenizer gives Keras's own ids for the first 5,000 training reviews of
    keras.datasets.imdb.load_data(num_words=500): at least 99.5 % exactly (it is 100 %)."""
    from edge_sentiment.data import keras_imdb_texts

    folder = _keras_imdb_dir()
    ref = np.load(folder / "keras_imdb_train_subset.npz")
    offsets, ids = ref["x_train_offsets"], ref["x_train_ids"]
    index = json.loads((folder / "imdb_word_index.json").read_text(encoding="utf-8"))
    tok = KerasImdbTokenizer(index, num_words=500, max_len=100_000)
    texts, labels = keras_imdb_texts(imdb_path)["train"]
    exact = sum(tok.encode(texts[i]) == ids[offsets[i] : offsets[i + 1]].tolist() for i in range(len(offsets) - 1))
    np.testing.assert_array_equal(labels[: len(offsets) - 1], ref["y_train"])
    assert exact / (len(offsets) - 1) >= 0.995, f"{exact} of {len(offsets) - 1} exact"


# -- files -----------------------------------------------------------------------------------------


def _examples() -> list[Any]:
    return [
        TextVectorizationTokenizer(["", "[UNK]", "film", "good film"], standardize="lower", ngrams=[1, 2], max_len=7),
        KerasTokenizer(
            {"<OOV>": 1, "film": 2, "good": 3, "rare": 9},
            num_words=5,
            oov_token="<OOV>",
            max_len=7,
            padding="post",
            truncation="post",
        ),
        KerasImdbTokenizer({"the": 1, "film": 2}, num_words=50, max_len=7),
    ]


@pytest.mark.parametrize("tok", _examples(), ids=lambda t: t.kind)
def test_file_round_trip(tok: Any, tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    again = load_tokenizer(path)
    assert type(again) is type(tok) and again.to_dict() == tok.to_dict()
    text = "The GOOD film, a good film! rare"
    assert again.encode(text) == tok.encode(text)
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["kind"] == tok.kind and data["format_version"] == 2


@pytest.mark.parametrize("tok", _examples(), ids=lambda t: t.kind)
def test_edited_files_are_refused(tok: Any) -> None:
    data = tok.to_dict()
    for edit, message in [
        ({"vocab_size": data["vocab_size"] + 1}, "vocab_size"),
        ({"padding": "middle"}, "padding"),
        ({"max_len": 0}, "max_len"),
        ({"kind": "sentencepiece"}, "unknown tokenizer kind"),
    ]:
        with pytest.raises(TokenizerError, match=message):
            tokenizer_from_dict({**data, **edit})
    key = next(k for k in ("vocabulary", "word_index") if k in data)
    with pytest.raises(TokenizerError, match=key):
        tokenizer_from_dict({k: v for k, v in data.items() if k != key})


def test_own_tokenizer_files_of_format_1_still_load() -> None:
    tok = Tokenizer(["film", "good"], max_len=5)
    data = {k: v for k, v in tok.to_dict().items() if k != "kind"} | {"format_version": 1}
    assert tokenizer_from_dict(data) == tok
    with pytest.raises(TokenizerError, match="load_tokenizer"):
        Tokenizer.from_dict(_examples()[0].to_dict())


@pytest.mark.slow
def test_keras_imdb_words_of_every_training_review_are_the_index(imdb_path: Path) -> None:
    """The Keras word index is exactly the vocabulary of the 25,000 raw training reviews under the
    keras-imdb rule, ranked by count (ties aside): the rule holds for every word, not only the 497
    frequent ones the reference ids can show."""
    from collections import Counter

    from edge_sentiment.data import load_imdb

    index = json.loads((_keras_imdb_dir() / "imdb_word_index.json").read_text(encoding="utf-8"))
    counts: Counter[str] = Counter()
    for text in load_imdb(imdb_path, splits=("train",))["train"].texts:
        counts.update(keras_imdb_words(text))
    assert set(counts) == set(index)
    by_rank = sorted(index, key=index.__getitem__)
    assert all(counts[a] >= counts[b] for a, b in zip(by_rank, by_rank[1:]))


@pytest.mark.slow
def test_keras_imdb_arrays_equal_the_reference_in_order(imdb_path: Path) -> None:
    """data.keras_imdb rebuilds load_data(num_words=500): its first 5,000 training rows are Keras's own."""
    from edge_sentiment.data import keras_imdb

    folder = _keras_imdb_dir()
    ref = np.load(folder / "keras_imdb_train_subset.npz")
    (x_train, y_train), (x_test, _) = keras_imdb(imdb_path, word_index=folder / "imdb_word_index.json", num_words=500)
    offsets, ids = ref["x_train_offsets"], ref["x_train_ids"]
    assert len(x_train) == len(x_test) == 25_000
    for i in range(len(offsets) - 1):
        assert x_train[i] == ids[offsets[i] : offsets[i + 1]].tolist(), f"review {i}"
    np.testing.assert_array_equal(y_train[: len(offsets) - 1], ref["y_train"])


# -- huge single texts: read only as far as the kept ids reach ---------------------------------------

LAZY_ALPHABET = st.sampled_from([*"aAbBzZΣσς09 '\t\n\r\x0b\x0c\u00a0.,!?-_<>/\\\"`~|éÉßİ😀\x85", " the ", " film ", "<br />"])
LAZY_TOKENIZERS = [
    *[
        TextVectorizationTokenizer(
            ["", "[UNK]", "the", "film", "a", "b", "σ", "ς", "the film", "br"],
            standardize=s,
            split=split,
            ngrams=ngrams,
            max_len=5,
            truncation=side,
        )
        for s in STANDARDIZE
        for split in ("whitespace", "character")
        for ngrams in (None, [1, 2], [2, 3])
        for side in ("pre", "post")
    ],
    *[
        TextVectorizationTokenizer(
            ["", "[UNK]", "the", "film", "br", "a"],
            standardize="custom",
            custom_standardize=Steps(
                [
                    {"op": "lower"},
                    {"op": "regex_replace", "pattern": "<br />", "rewrite": " ", "replace_global": True},
                    {"op": "regex_replace", "pattern": "[[:punct:]]", "rewrite": "", "replace_global": True},
                ]
            ),
            max_len=5,
            truncation=side,
        )
        for side in ("pre", "post")
    ],
    *[
        KerasTokenizer({"the": 1, "film": 2, "σ": 3, "ς": 4, "a": 5, "<oov>": 6}, max_len=5, truncation=side, **kw)
        for side in ("pre", "post")
        for kw in ({}, {"oov_token": "<oov>"}, {"char_level": True}, {"lower": False, "filters": "!."}, {"split": ","})
    ],
    *[
        KerasImdbTokenizer({"the": 1, "film": 2, "a": 3, "br": 4}, num_words=6, max_len=5, truncation=side, start_char=start)
        for side in ("pre", "post")
        for start in (1, None)
    ],
]


@settings(max_examples=150, deadline=None)
@given(
    texts=st.lists(st.lists(LAZY_ALPHABET, max_size=40).map("".join), min_size=1, max_size=6),
    which=st.sampled_from(range(len(LAZY_TOKENIZERS))),
)
def test_long_texts_read_lazily_give_the_same_ids(texts: list[str], which: int) -> None:
    """With pieces of 3 characters, every cut the lazy reading makes is exercised on short texts: its ids
    are exactly the whole text's, truncated as the tokenizer says."""
    from edge_sentiment.runtime import keras_tokenizers
    from edge_sentiment.runtime.tokenizer import TokenizerBase

    tok = LAZY_TOKENIZERS[which]
    original = keras_tokenizers.LAZY_CHARS
    keras_tokenizers.LAZY_CHARS = 3
    try:
        for text in texts:
            assert tok.encode(text) == TokenizerBase.encode(tok, text), (tok.to_dict(), text)
    finally:
        keras_tokenizers.LAZY_CHARS = original


@pytest.mark.parametrize("which", [0, 1, 2], ids=["text-vectorization-custom", "keras-tokenizer", "keras-imdb"])
@pytest.mark.parametrize("side", ["pre", "post"])
def test_a_10mb_text_takes_bounded_memory(which: int, side: str) -> None:
    import time
    import tracemalloc

    from edge_sentiment.runtime.tokenizer import TokenizerBase

    kinds = ["keras-text-vectorization", "keras-tokenizer", "keras-imdb"]
    tok = next(
        t
        for t in LAZY_TOKENIZERS
        if t.kind == kinds[which] and t.truncation == side and getattr(t, "standardize", "custom") == "custom"
    )
    text = "The film, a <br />THE film! " * 370_000 + "a film the end"  # 10.4 MB, 2.2 million words
    tracemalloc.start()
    started = time.perf_counter()
    ids = tok.encode(text)
    seconds = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert ids == TokenizerBase.encode(tok, text) and len(ids) == tok.max_len
    limit = 100 if which == 0 else 1  # MB: custom steps rewrite the whole text (re.sub keeps its pieces); the rest read a piece
    assert peak < limit * 2**20, f"{peak / 2**20:.1f} MB for {len(text) / 1e6:.1f} MB of text ({seconds:.2f} s)"
