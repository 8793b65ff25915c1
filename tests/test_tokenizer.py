"""The tokenizer: golden ids, standardisation, the long-text tail path, fit, and the tokenizer.json format."""

from __future__ import annotations

import functools
import json
import random
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_sentiment.errors import InputError, TokenizerError
from edge_sentiment.runtime.tokenizer import (
    FORMAT_VERSION,
    OOV_ID,
    PAD_ID,
    Tokenizer,
    TAIL_CHARS,
    standardize,
    words,
)

VOCAB = ["the", "movie", "great", "don't", "café"]  # ids 2, 3, 4, 5, 6


@pytest.fixture
def tok() -> Tokenizer:
    return Tokenizer(VOCAB, max_len=8)


def expected_ids(tokenizer: Tokenizer, text: str) -> list[int]:
    """Ids computed the slow, obvious way: all words, the last max_len of them, looked up one by one."""
    index = {w: i + 2 for i, w in enumerate(tokenizer.words)}
    return [index.get(w, OOV_ID) for w in words(text)[-tokenizer.max_len :]]


# -- golden ids ----------------------------------------------------------------------------------


def test_reserved_ids() -> None:
    assert (PAD_ID, OOV_ID) == (0, 1)


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("the movie", [2, 3]),
        ("The MOVIE was great!", [2, 3, 1, 4]),
        ("I don't like this café.", [1, 5, 1, 1, 6]),
        ("Don’t", [5]),  # typographic apostrophe
        ("cafe\u0301", [6]),  # decomposed é is composed by NFKC
        ("", []),
        ("  ...  !!! ", []),
        # 10 words: only the last 8 are kept
        ("great great the a b c d e movie café", [2, 1, 1, 1, 1, 1, 3, 6]),
    ],
)
def test_encode_golden(tok: Tokenizer, text: str, ids: list[int]) -> None:
    assert tok.encode(text) == ids


def test_encode_batch_golden(tok: Tokenizer) -> None:
    out = tok.encode_batch(
        [
            "The movie was great",
            "",
            "one two three four five six seven eight nine the",
            "café<br />don't",
        ]
    )
    assert out.dtype == np.int32
    assert out.shape == (4, 8)
    np.testing.assert_array_equal(
        out,
        [
            [0, 0, 0, 0, 2, 3, 1, 4],
            [0, 0, 0, 0, 0, 0, 0, 0],
            [1, 1, 1, 1, 1, 1, 1, 2],
            [0, 0, 0, 0, 0, 0, 6, 5],
        ],
    )


def test_encode_batch_empty_and_tuple(tok: Tokenizer) -> None:
    assert tok.encode_batch([]).shape == (0, 8)
    np.testing.assert_array_equal(tok.encode_batch(("great",)), [[0, 0, 0, 0, 0, 0, 0, 4]])


def test_encode_batch_shorter_max_len_keeps_last_words(tok: Tokenizer) -> None:
    out = tok.encode_batch(["the movie great café", "movie"], max_len=3)
    assert out.shape == (2, 3)
    np.testing.assert_array_equal(out, [[3, 4, 6], [0, 0, 3]])


def test_encode_batch_longer_max_len_keeps_last_words() -> None:
    """max_len above the tokenizer's own keeps that many words, like Keras pad_sequences(maxlen=...)."""
    small = Tokenizer(VOCAB, max_len=3)
    out = small.encode_batch(["the movie great café"], max_len=5)
    np.testing.assert_array_equal(out, [[0, 2, 3, 4, 6]])


# -- standardisation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello WORLD", ["hello", "world"]),
        ("one<br />two<br>three<br/>four", ["one", "two", "three", "four"]),
        ("<BR /><I>loud</I>", ["loud"]),
        ("an <i>italic</i> word", ["an", "italic", "word"]),
        ("don't", ["don't"]),
        ("DON’T", ["don't"]),
        ("it‘s", ["it's"]),
        ("'quoted' words'", ["quoted", "words"]),
        ("it''s", ["it", "s"]),
        ("well,done.ok!yes?(no)", ["well", "done", "ok", "yes", "no"]),
        ("ＭＯＶＩＥ", ["movie"]),
        ("ﬁlm", ["film"]),
        ("Ünïcödé", ["ünïcödé"]),
        ("10/10 in 2005", ["10", "10", "in", "2005"]),
        ("snake_case __x__", ["snake", "case", "x"]),
        ("tab\tnew\nline", ["tab", "new", "line"]),
        ("great 😀 movie", ["great", "movie"]),
        ("\x00great\x00", ["great"]),
        ("bell\x07ring\x1b", ["bell", "ring"]),
        ("\ud800", []),
        ("a\ud800b", ["a", "b"]),
        ("\udfff\ud800 movie", ["movie"]),
    ],
)
def test_words(text: str, expected: list[str]) -> None:
    assert words(text) == expected
    assert standardize(text) == " ".join(expected)


@pytest.mark.parametrize("text", ["\ud800", "😀" * 100, "\x00" * 50, "\u200b\ufeff", "\U0010ffff", "<" * 1000])
def test_odd_characters_do_not_crash(tok: Tokenizer, text: str) -> None:
    assert tok.encode(text) == expected_ids(tok, text)
    assert tok.encode_batch([text]).shape == (1, 8)


def test_standardised_words_are_in_their_own_normal_form() -> None:
    """Every word the splitter returns is one a vocabulary may hold (fit never builds an invalid vocabulary)."""
    text = "ＭＯＶＩＥ ﬁlm DON’T Ünïcödé İstanbul ΣΟΦΟΣ straße Ⅻ ½ ﾊﾟ"
    found = words(text)
    assert Tokenizer(sorted(set(found)), max_len=8).words == sorted(set(found))
    for w in found:
        assert words(w) == [w]


# -- long texts: the tail path equals the full path ----------------------------------------------

VARIED = ["the", "movie", "great", "don't", "café", "a", "plot", "<br />", "ＭＯＶＩＥ", "10/10", "it’s", "bad!"]


@functools.lru_cache(maxsize=16)
def _varied_text(n_chars: int, seed: int) -> str:
    rng = random.Random(seed)
    parts: list[str] = []
    size = 0
    while size < n_chars:
        w = rng.choice(VARIED) if rng.random() < 0.8 else f"w{rng.randrange(10_000)}"
        parts.append(w)
        size += len(w) + 1
    return " ".join(parts)


def _few_words_in_tail(n_chars: int) -> str:
    """Long words near the end: the first tail chunk holds fewer than max_len words, so the chunk must grow."""
    return _varied_text(n_chars, seed=5) + " " + " ".join(f"movie{'y' * 300}{i}" for i in range(200))


LONG_TEXTS: dict[str, Callable[[int], str]] = {
    "varied": lambda n: _varied_text(n, seed=0),
    "few-words-in-tail": _few_words_in_tail,
    "no-spaces-at-end": lambda n: _varied_text(n, seed=6) + " great" + "z" * (4 * TAIL_CHARS),
    "one-space-at-end": lambda n: _varied_text(n, seed=7) + " movie " + "z" * (2 * TAIL_CHARS) + " café",
}


@pytest.mark.parametrize("max_len", [1, 8, 500])
@pytest.mark.parametrize("kind", sorted(LONG_TEXTS))
def test_long_text_tail_equals_full(kind: str, max_len: int) -> None:
    text = LONG_TEXTS[kind](200_000)
    assert len(text) > TAIL_CHARS
    tokenizer = Tokenizer(VOCAB + [f"w{i}" for i in range(0, 10_000, 3)], max_len=max_len)
    expected = expected_ids(tokenizer, text)
    assert len(expected) == max_len
    assert tokenizer.encode(text) == expected
    row = tokenizer.encode_batch([text])[0]
    assert row.tolist() == expected


SPECIALS = ["supercalifragilistic", "great<br />don't", "it’s<i>ＭＯＶＩＥ</i>", "café\u3000don't"]
CASES = [(special, offset) for special in SPECIALS for offset in range(-2, len(special) + 2)]


@pytest.mark.parametrize(("special", "offset"), CASES)
def test_long_text_first_cut_inside_a_word_or_tag(special: str, offset: int) -> None:
    """200k characters where the first tail chunk starts at each character of a word, tag or apostrophe."""
    tokenizer = Tokenizer(VOCAB + ["supercalifragilistic", "it's"], max_len=5)
    end = " the movie great"  # 3 words after a long one: the first chunk may hold fewer than max_len words
    filler = "x" * (TAIL_CHARS - len(special) - len(end) - 1 + offset)
    head = _varied_text(200_000, seed=8) + " "
    text = head + special + " " + filler + end
    assert len(text) - TAIL_CHARS == len(head) + offset  # the first chunk starts `offset` characters into special
    assert tokenizer.encode(text) == expected_ids(tokenizer, text)


def test_one_megabyte_word_is_one_oov(tok: Tokenizer) -> None:
    assert tok.encode("x" * (1 << 20)) == [OOV_ID]
    np.testing.assert_array_equal(tok.encode_batch(["x" * (1 << 20)]), [[0, 0, 0, 0, 0, 0, 0, 1]])


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("great " + "x" * (1 << 20), [4, 1]),
        ("x" * (1 << 20) + " great", [1, 4]),
        ("movie " * 10 + "x" * (1 << 20), [3] * 7 + [1]),
    ],
)
def test_one_megabyte_word_with_neighbours(tok: Tokenizer, text: str, ids: list[int]) -> None:
    assert tok.encode(text) == ids


# -- fit -----------------------------------------------------------------------------------------


def test_fit_most_frequent_first_ties_alphabetical() -> None:
    texts = ["b a a", "c b a", "d", "e"]  # a: 3, b: 2, c, d, e: 1
    assert Tokenizer.fit(texts, vocab_size=100).words == ["a", "b", "c", "d", "e"]
    assert Tokenizer.fit(texts, vocab_size=5).words == ["a", "b", "c"]
    assert Tokenizer.fit(texts, vocab_size=3).words == ["a"]


def test_fit_respects_vocab_size_and_max_len() -> None:
    tokenizer = Tokenizer.fit([f"w{i} " * (i + 1) for i in range(50)], vocab_size=12, max_len=7)
    assert tokenizer.vocab_size == 12
    assert len(tokenizer.words) == 10
    assert tokenizer.words[0] == "w49"
    assert tokenizer.max_len == 7


def test_fit_counts_all_words_not_only_the_last_max_len() -> None:
    tokenizer = Tokenizer.fit(["rare first first first first last"], vocab_size=3, max_len=2)
    assert tokenizer.words == ["first"]


def test_fit_standardises_and_accepts_a_generator() -> None:
    tokenizer = Tokenizer.fit((t for t in ["The THE the", "Movie<br />movie", "DON’T"]), vocab_size=10)
    assert tokenizer.words == ["the", "movie", "don't"]


def test_fit_vocab_size_too_small() -> None:
    with pytest.raises(TokenizerError, match="vocab_size"):
        Tokenizer.fit(["a b"], vocab_size=2)


# -- file format ---------------------------------------------------------------------------------


def test_save_load_round_trip(tok: Tokenizer, tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    tok.save(path)
    loaded = Tokenizer.load(path)
    assert loaded == tok
    assert loaded.words == VOCAB
    assert loaded.max_len == 8
    texts = ["The movie was great", "I don't like this café", ""]
    np.testing.assert_array_equal(loaded.encode_batch(texts), tok.encode_batch(texts))
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == "edge-sentiment/tokenizer"
    assert data["format_version"] == FORMAT_VERSION
    assert data["vocab_size"] == len(VOCAB) + 2
    assert "café" in path.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tokenizer.json"]  # no temporary file left


def test_save_overwrites(tok: Tokenizer, tmp_path: Path) -> None:
    path = tmp_path / "tokenizer.json"
    Tokenizer(["other"], max_len=3).save(path)
    tok.save(path)
    assert Tokenizer.load(path) == tok


def test_equality() -> None:
    assert Tokenizer(VOCAB, max_len=8) == Tokenizer(list(VOCAB), max_len=8)
    assert Tokenizer(VOCAB, max_len=8) != Tokenizer(VOCAB, max_len=9)
    assert Tokenizer(VOCAB, max_len=8) != Tokenizer(VOCAB[::-1], max_len=8)


def _with(**changes: Any) -> Callable[[dict[str, Any]], Any]:
    def edit(data: dict[str, Any]) -> dict[str, Any]:
        data.update(changes)
        return data

    return edit


def _without(key: str) -> Callable[[dict[str, Any]], Any]:
    def edit(data: dict[str, Any]) -> dict[str, Any]:
        del data[key]
        return data

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_with(format="keras/tokenizer"), "not an edge-sentiment tokenizer"),
        (_without("format"), "not an edge-sentiment tokenizer"),
        (lambda d: [d], "not an edge-sentiment tokenizer"),
        (_with(format_version=FORMAT_VERSION + 1), "upgrade"),
        (_with(format_version="1"), "format_version"),
        (_without("format_version"), "format_version"),
        (_with(format_version=0), "format_version 0"),
        (_with(standardization="v0"), "standardization"),
        (_with(padding="middle"), "padding"),
        (_with(truncation=None), "truncation"),
        (_with(oov_id=0), "oov_id"),
        (_with(vocab_size=99), "vocab_size"),
        (_with(words=["the", "movie", "the"], vocab_size=5), "duplicate"),
        (_with(words=["the", "Movie"], vocab_size=4), "not a standardised word"),
        (_with(words=["two words"], vocab_size=3), "not a standardised word"),
        (_with(words=[""], vocab_size=3), "not a standardised word"),
        (_with(words=[7], vocab_size=3), "not a standardised word"),
        (_with(words="the movie"), "words"),
        (_with(max_len=0), "max_len"),
        (_with(max_len=-5), "max_len"),
        (_with(max_len=8.0), "max_len"),
        (_with(max_len=True), "max_len"),
        (_without("max_len"), "max_len"),
    ],
)
def test_load_rejects_bad_content(tok: Tokenizer, tmp_path: Path, edit: Callable[[dict[str, Any]], Any], message: str) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_text(json.dumps(edit(tok.to_dict())), encoding="utf-8")
    with pytest.raises(TokenizerError, match=message):
        Tokenizer.load(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not json at all", "not valid UTF-8 JSON"),
        (b"", "not valid UTF-8 JSON"),
        (b'{"format": "edge-sentiment/tokenizer", ', "not valid UTF-8 JSON"),
        (b"\xff\xfe\x00garbage", "not valid UTF-8 JSON"),
        (b"null", "not an edge-sentiment tokenizer"),
        (b"[" * 100_000 + b"]" * 100_000, "tokenizer"),  # deeply nested: an error of ours, not RecursionError
    ],
    ids=["text", "empty", "cut", "not-utf8", "null", "deep"],
)
def test_load_rejects_bad_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "tokenizer.json"
    path.write_bytes(content)
    with pytest.raises(TokenizerError, match=message):
        Tokenizer.load(path)


def test_load_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TokenizerError, match="not found") as exc:
        Tokenizer.load(tmp_path / "nope.json")
    assert "nope.json" in str(exc.value)


def test_load_directory(tmp_path: Path) -> None:
    """A folder (e.g. the bundle itself) given instead of tokenizer.json is a TokenizerError, not an OSError."""
    with pytest.raises(TokenizerError):
        Tokenizer.load(tmp_path)


@pytest.mark.parametrize("max_len", [0, -1, 100_001, None, "8"])
def test_constructor_rejects_bad_max_len(max_len: Any) -> None:
    with pytest.raises(TokenizerError, match="max_len"):
        Tokenizer(VOCAB, max_len=max_len)


# -- input types ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [None, b"the movie", 42, ["the movie"], 3.5])
def test_non_text_raises_input_error(tok: Tokenizer, value: Any) -> None:
    for call in (tok.encode, words, standardize):
        with pytest.raises(InputError, match="expected text") as exc:
            call(value)
        assert isinstance(exc.value, TypeError)


def test_encode_batch_rejects_a_single_string(tok: Tokenizer) -> None:
    with pytest.raises(InputError, match="wrap a single text in a list") as exc:
        tok.encode_batch("the movie")
    assert isinstance(exc.value, TypeError)


def test_encode_batch_rejects_non_text_items(tok: Tokenizer) -> None:
    with pytest.raises(InputError):
        tok.encode_batch(["the movie", b"great"])


# -- decode --------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["the movie", "great café don't", "the"])
def test_decode_round_trip(tok: Tokenizer, text: str) -> None:
    assert tok.decode(tok.encode(text)) == text
    assert tok.decode(tok.encode_batch([text])[0]) == text


def test_decode_marks_oov_and_drops_padding(tok: Tokenizer) -> None:
    assert tok.decode([0, 0, 2, 1, 3]) == "the <oov> movie"
    assert tok.decode(np.array([0, 6, tok.vocab_size, -1], dtype=np.int32)) == "café <oov> <oov>"
    assert tok.decode([]) == ""


# The fast ASCII path must find exactly the words of the general (regex) path.
_ASCII_SOUP = st.lists(
    st.sampled_from(list("abcXYZ019 '`\"-_.,!?<>/\t\n") + ["<br />", "<i>", "</B>", "''", "don't", "<br>"]),
    max_size=120,
).map("".join)


@settings(max_examples=500, deadline=None)
@given(_ASCII_SOUP)
def test_ascii_fast_path_equals_the_general_path(text: str) -> None:
    from edge_sentiment.runtime.tokenizer import _ascii_words

    assert [w.decode() for w in _ascii_words(text)] == words(text)


@pytest.mark.parametrize("padding", ["pre", "post"])
@pytest.mark.parametrize("truncation", ["pre", "post"])
def test_padding_and_truncation_sides_round_trip_and_take_effect(padding, truncation):
    from edge_sentiment.runtime.tokenizer import tokenizer_from_dict

    tok = Tokenizer(["good", "bad", "film"], max_len=3, padding=padding, truncation=truncation)
    again = tokenizer_from_dict(json.loads(tok.to_json()))
    assert again == tok and (again.padding, again.truncation) == (padding, truncation)
    kept = [2, 3, 4] if truncation == "post" else [4, 2, 1]  # "good bad film good x": first or last three words
    assert tok.encode("good bad film good x") == kept
    row = tok.encode_batch(["bad"])[0].tolist()
    assert row == ([0, 0, 3] if padding == "pre" else [3, 0, 0])
    long = "good " * 20_000 + "bad " * 5  # longer than the chunk either side reads first
    assert tok.encode(long) == ([2, 2, 2] if truncation == "post" else [3, 3, 3])
