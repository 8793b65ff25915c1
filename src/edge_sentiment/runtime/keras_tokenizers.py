"""The Keras tokenizers users train with, rebuilt in pure Python with the originals' exact rules.

- "keras-text-vectorization": the `keras.layers.TextVectorization` layer (output_mode "int").
- "keras-tokenizer": the classic `keras.preprocessing.text.Tokenizer` with `pad_sequences`.
- "keras-imdb": the ids of `keras.datasets.imdb` (the Keras team's word ranks, a start mark, index_from).

Each is a tokenizer.json kind (runtime/tokenizer.py); the exporter checks each against the original
where the original is at hand (the layer itself, tf-keras's Tokenizer) before it writes a bundle.

A text of any length costs bounded work: the model reads at most max_len ids, so a long text is read in
growing pieces from the end that is kept, cut where no word and no lower-casing rule crosses, until the
piece holds enough ids (exactly the ids the whole text gives there).
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import InputError, TokenizerError
from .standardize_steps import Steps
from .tokenizer_base import MAX_IDS_PER_TEXT, PADDINGS, TokenizerBase

__all__ = [
    "TextVectorizationTokenizer",
    "KerasTokenizer",
    "KerasImdbTokenizer",
    "KINDS",
    "TV_STANDARDIZE",
    "TV_SPLIT",
    "KERAS_FILTERS",
]

# TextVectorization (Keras 3, TensorFlow's string ops): tf.strings.lower without an encoding lower-cases
# ASCII letters only; strip_punctuation removes the 32 ASCII punctuation characters (string.punctuation);
# tf.strings.split splits on ASCII whitespace only and drops empty tokens; "character" splits into code points.
TV_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation", None)
TV_SPLIT = ("whitespace", "character")
_TV_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_TV_STRIP = str.maketrans("", "", string.punctuation)
_TV_SPACE = str.maketrans({c: " " for c in "\t\n\v\f\r"})
# The classic Tokenizer's default filters (punctuation, tab and newline; not the apostrophe).
KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'
CUSTOM = "custom"  # standardize recorded as steps (runtime/standardize_steps.py), in the field "custom_standardize"
# Texts longer than this are read lazily from the end that is kept, in pieces that grow fourfold.
LAZY_CHARS = 16_384
_ANY_CHAR = re.compile(r".", re.DOTALL)
_TV_SPACES = re.compile(r"[ \t\n\v\f\r]")


def edge_items(text: str, k: int, first: bool, items_of: Callable[[str], list[Any]], cuts: re.Pattern[str]) -> list[Any]:
    """The first (or last) k of items_of(text), or all of them when there are fewer, computed on a piece of
    the text: cuts matches the characters where the piece may end (or start), those no item spans and no
    rule reads across, so the piece's items at that end are the whole text's."""
    size = LAZY_CHARS
    while size < len(text):
        m = cuts.search(text, size if first else len(text) - size)
        if m is None:
            break
        found = items_of(text[: m.start()] if first else text[m.end() :])
        if len(found) >= k:
            return found[:k] if first else found[len(found) - k :]
        size *= 4
    found = items_of(text)
    return found[:k] if first else found[max(len(found) - k, 0) :]


def _check_text(text: Any) -> None:
    if not isinstance(text, str):
        raise InputError(f"expected text (str), got {type(text).__name__}")


def _check_max_len(max_len: Any) -> int:
    if not isinstance(max_len, int) or isinstance(max_len, bool) or not 1 <= max_len <= MAX_IDS_PER_TEXT:
        raise TokenizerError(f"max_len must be an integer from 1 to {MAX_IDS_PER_TEXT}, got {max_len!r}")
    return max_len


def _check_padding(padding: Any, truncation: Any) -> None:
    for name, value in (("padding", padding), ("truncation", truncation)):
        if value not in PADDINGS:
            raise TokenizerError(f"{name} must be 'pre' or 'post', got {value!r}")


def _field(data: Mapping[str, Any], key: str, kind: str) -> Any:
    if key not in data:
        raise TokenizerError(f"{kind} tokenizer file has no {key!r} field")
    return data[key]


def _check_vocab_size(data: Mapping[str, Any], tok: TokenizerBase) -> None:
    if data.get("vocab_size") != tok.vocab_size:
        raise TokenizerError(
            f"tokenizer says vocab_size={data.get('vocab_size')!r} but its vocabulary gives ids up to "
            f"{tok.vocab_size - 1} (vocab_size {tok.vocab_size})"
        )


def _word_ids(word_index: Any, what: str, lowest: int) -> dict[str, int]:
    """A validated word -> id mapping: string keys, distinct integer ids of at least `lowest`."""
    if not isinstance(word_index, Mapping) or not word_index:
        raise TokenizerError(f"{what} must be a non-empty mapping of word -> id")
    seen: dict[int, str] = {}
    for word, index in word_index.items():
        if not isinstance(word, str) or not isinstance(index, int) or isinstance(index, bool) or index < lowest:
            raise TokenizerError(f"{what}: entry {word!r} -> {index!r} is not a word with an id of {lowest} or more")
        if index in seen:
            raise TokenizerError(f"{what}: {word!r} and {seen[index]!r} share id {index}")
        seen[index] = word
    return dict(word_index)


class TextVectorizationTokenizer(TokenizerBase):
    """Keras `TextVectorization(output_mode="int")`: id 0 pads (''), 1 is out-of-vocabulary ('[UNK]')."""

    kind = "keras-text-vectorization"

    def __init__(
        self,
        vocabulary: Sequence[str],
        *,
        standardize: str | None = "lower_and_strip_punctuation",
        split: str = "whitespace",
        ngrams: Sequence[int] | None = None,
        max_len: int = 500,
        padding: str = "post",
        truncation: str = "post",
        custom_standardize: Steps | None = None,
    ) -> None:
        if standardize == CUSTOM and not isinstance(custom_standardize, Steps):
            raise TokenizerError("TextVectorization standardize='custom' needs its steps (the 'custom_standardize' field)")
        if standardize != CUSTOM and custom_standardize is not None:
            raise TokenizerError(f"custom standardize steps were given with standardize={standardize!r}; say 'custom'")
        if standardize not in TV_STANDARDIZE and standardize != CUSTOM:
            raise TokenizerError(
                f"TextVectorization standardize={standardize!r} is not supported; edge-sentiment reproduces "
                f"{', '.join(repr(s) for s in TV_STANDARDIZE)} exactly, and custom functions recorded as steps "
                "('custom') by edge-sentiment export"
            )
        if split not in TV_SPLIT:
            raise TokenizerError(
                f"TextVectorization split={split!r} is not supported; edge-sentiment reproduces "
                f"{', '.join(repr(s) for s in TV_SPLIT)} exactly (a custom callable cannot be ported)"
            )
        if ngrams is not None and (
            not ngrams or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in ngrams)
        ):
            raise TokenizerError(f"ngrams must be None or widths of 1 or more, got {ngrams!r}")
        vocabulary = list(vocabulary)
        if len(vocabulary) < 2 or vocabulary[0] != "" or vocabulary[1] != "[UNK]":
            raise TokenizerError(
                "a TextVectorization vocabulary starts with '' (padding) and '[UNK]' (out of "
                "vocabulary), as get_vocabulary() returns it"
            )
        if len(set(vocabulary)) != len(vocabulary) or not all(isinstance(w, str) for w in vocabulary):
            raise TokenizerError("a TextVectorization vocabulary holds distinct strings")
        _check_padding(padding, truncation)
        self.vocabulary = vocabulary
        self.standardize = standardize
        self.custom_standardize = custom_standardize
        self.split = split
        self.ngrams = None if ngrams is None else [int(n) for n in ngrams]
        self.max_len = _check_max_len(max_len)
        self.padding, self.truncation = padding, truncation
        self._ids = {w: i for i, w in enumerate(vocabulary) if i >= 2}

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def standardized(self, text: str) -> str:
        """The text as the layer's standardize leaves it."""
        if self.custom_standardize is not None:
            return self.custom_standardize.apply(text)
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            text = text.translate(_TV_LOWER)
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            text = text.translate(_TV_STRIP)
        return text

    def _split(self, text: str) -> list[str]:
        if self.split == "whitespace":
            return [t for t in text.translate(_TV_SPACE).split(" ") if t]
        return list(text)

    def _ngrams(self, parts: list[str]) -> list[str]:
        if not self.ngrams:
            return parts
        return [" ".join(parts[i : i + n]) for n in self.ngrams for i in range(len(parts) - n + 1)]

    def tokens(self, text: str) -> list[str]:
        """The layer's tokens of a text: standardised, split, and combined into n-grams."""
        return self._ngrams(self._split(self.standardized(text)))

    def all_ids(self, text: str) -> list[int]:
        get = self._ids.get
        return [get(t, 1) for t in self.tokens(text)]

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        """The ids the layer keeps of a text; a long one is split only as far as the kept ids reach."""
        _check_text(text)
        n = self.max_len if max_len is None else max_len
        if len(text) <= LAZY_CHARS or not n:
            return super().encode(text, n)
        first = self.truncation == "post"
        # n ids are n n-grams of the first (last) width, which need n + width - 1 parts
        need = n + ((self.ngrams[0] if first else self.ngrams[-1]) - 1 if self.ngrams else 0)
        cuts = _TV_SPACES if self.split == "whitespace" else _ANY_CHAR
        if self.custom_standardize is not None:  # regex steps may read across any cut: the whole text, then split lazily
            parts = edge_items(self.standardized(text), need, first, self._split, cuts)
        else:  # lower-casing and stripping punctuation act on each character alone
            parts = edge_items(text, need, first, lambda piece: self._split(self.standardized(piece)), cuts)
        get = self._ids.get
        ids = [get(t, 1) for t in self._ngrams(parts)]
        return ids[:n] if first else ids[max(len(ids) - n, 0) :]

    def known_words(self) -> list[str]:
        return self.vocabulary[2:]

    def to_dict(self) -> dict[str, Any]:
        custom = {} if self.custom_standardize is None else {"custom_standardize": self.custom_standardize.to_dict()}
        return {
            **self._header(),
            "standardize": self.standardize,
            **custom,
            "split": self.split,
            "ngrams": self.ngrams,
            "oov_id": 1,
            "vocabulary": self.vocabulary,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "TextVectorizationTokenizer":
        kind = cls.kind
        vocabulary = _field(data, "vocabulary", kind)
        if not isinstance(vocabulary, list):
            raise TokenizerError("tokenizer field 'vocabulary' must be a list of strings")
        standardize = _field(data, "standardize", kind)
        custom = Steps.from_dict(_field(data, "custom_standardize", kind)) if standardize == CUSTOM else None
        tok = cls(
            vocabulary,
            standardize=standardize,
            split=_field(data, "split", kind),
            ngrams=_field(data, "ngrams", kind),
            max_len=_field(data, "max_len", kind),
            padding=data["padding"],
            truncation=data["truncation"],
            custom_standardize=custom,
        )
        if data.get("oov_id") != 1:
            raise TokenizerError(f"tokenizer field 'oov_id' is {data.get('oov_id')!r}, expected 1")
        _check_vocab_size(data, tok)
        return tok

    @classmethod
    def from_layer_config(
        cls,
        config: Mapping[str, Any],
        vocabulary: Sequence[str],
        max_len: int | None = None,
        custom_standardize: Steps | None = None,
    ) -> "TextVectorizationTokenizer":
        """From a TextVectorization layer's get_config() and get_vocabulary(); TokenizerError for what
        cannot be reproduced exactly. custom_standardize: the steps traced from the layer's own callable."""
        for key, supported in (("standardize", TV_STANDARDIZE), ("split", TV_SPLIT)):
            if key == "standardize" and custom_standardize is not None:
                continue
            value = config.get(key)
            if not (value is None or isinstance(value, str)) or value not in supported:
                shown = value if isinstance(value, (str, type(None))) else "a custom callable"
                custom = (
                    " (a custom standardize is traced from the layer itself: export the model, or the layer saved "
                    "in a .keras file, with the function registered; a config names it only)"
                    if key == "standardize"
                    else ""
                )
                raise TokenizerError(
                    f"TextVectorization {key}={shown!r} cannot be exported: edge-sentiment reproduces "
                    f"{key} = {', '.join(repr(s) for s in supported)} exactly, and a custom callable is Python "
                    f"code it cannot port{custom}. Retrain with one of those, or standardise the texts before scoring"
                )
        if config.get("output_mode", "int") != "int":
            raise TokenizerError(
                f"TextVectorization output_mode={config.get('output_mode')!r} cannot be "
                "exported; edge-sentiment serves sequence models on output_mode='int'"
            )
        if config.get("ragged"):
            raise TokenizerError("TextVectorization ragged=True cannot be exported; use output_sequence_length")
        length = config.get("output_sequence_length") or max_len
        if not length:
            raise TokenizerError(
                "TextVectorization has no output_sequence_length: Keras pads each batch to its longest text, "
                "so the model's scores depend on what else is in the batch. Pass --max-len N: the bundle pads "
                "after the words to N ids, and the export compares it with the layer's ids padded the same way"
            )
        ngrams: Any = config.get("ngrams")
        if isinstance(ngrams, int) and not isinstance(ngrams, bool):
            ngrams = list(range(1, ngrams + 1))
        return cls(
            [str(w) for w in vocabulary],
            standardize=CUSTOM if custom_standardize is not None else config.get("standardize"),
            split=str(config.get("split")),
            ngrams=None if ngrams is None else list(ngrams),
            max_len=int(length),
            custom_standardize=custom_standardize,
        )


class KerasTokenizer(TokenizerBase):
    """The classic `keras.preprocessing.text.Tokenizer` (Keras 2, tf-keras) with `pad_sequences`.

    ids are the word_index's; with num_words, ids from num_words up become the oov_token's id, or are
    dropped when there is no oov_token, as texts_to_sequences does. Words are not padded or cut there:
    pad_sequences does it, with the padding and truncation recorded here.
    """

    kind = "keras-tokenizer"

    def __init__(
        self,
        word_index: Mapping[str, int],
        *,
        num_words: int | None = None,
        filters: str = KERAS_FILTERS,
        lower: bool = True,
        split: str = " ",
        char_level: bool = False,
        oov_token: str | None = None,
        max_len: int = 500,
        padding: str = "pre",
        truncation: str = "pre",
    ) -> None:
        word_index = _word_ids(word_index, "word_index", 1)
        if num_words is not None and (not isinstance(num_words, int) or isinstance(num_words, bool) or num_words < 1):
            raise TokenizerError(f"num_words must be None or a whole number of 1 or more, got {num_words!r}")
        if not isinstance(filters, str) or not isinstance(split, str) or not split:
            raise TokenizerError("filters must be a string and split a non-empty string")
        if not isinstance(lower, bool) or not isinstance(char_level, bool):
            raise TokenizerError("lower and char_level must be true or false")
        if oov_token is not None and not isinstance(oov_token, str):
            raise TokenizerError(f"oov_token must be a string or null, got {oov_token!r}")
        _check_padding(padding, truncation)
        self.num_words, self.filters, self.lower, self.split = num_words, filters, lower, split
        self.char_level, self.oov_token = char_level, oov_token
        self.max_len = _check_max_len(max_len)
        self.padding, self.truncation = padding, truncation
        self.oov_id = None
        if oov_token is not None:
            self.oov_id = word_index.get(oov_token)
            if self.oov_id is None or (num_words is not None and self.oov_id >= num_words):
                raise TokenizerError(
                    f"the oov_token {oov_token!r} has {'no id' if self.oov_id is None else f'id {self.oov_id}'} "
                    f"in word_index{'' if num_words is None else f' (num_words {num_words})'}: Keras would give "
                    "ids no embedding row fits; this is not a tokenizer fitted with fit_on_texts"
                )
        # Words at num_words or beyond act exactly like unknown words, so only the others are kept.
        self.word_index = {w: i for w, i in word_index.items() if num_words is None or i < num_words}
        self._filter_map = str.maketrans({c: split for c in filters})
        # Where a long text may be cut: ASCII whitespace that separates words (no word spans it, and str.lower's
        # one contextual rule, the final sigma, reads no further); a split of several characters is not cut.
        seps = "".join(c for c in " \t\n\v\f\r" if char_level or c in filters or c == split)
        self._cuts = re.compile(f"[{re.escape(seps)}]") if seps and (char_level or len(split) == 1) else None

    @property
    def vocab_size(self) -> int:
        return max(self.word_index.values(), default=0) + 1

    def words_of(self, text: str) -> list[str]:
        """text_to_word_sequence, or the characters when char_level."""
        if self.lower:
            text = text.lower()
        if self.char_level:
            return list(text)
        return [w for w in text.translate(self._filter_map).split(self.split) if w]

    def known_words(self) -> list[str]:
        return sorted(self.word_index, key=self.word_index.__getitem__)

    def all_ids(self, text: str) -> list[int]:
        get, oov = self.word_index.get, self.oov_id
        out = []
        for w in self.words_of(text):
            i = get(w)
            if i is not None:
                out.append(i)
            elif oov is not None:
                out.append(oov)
        return out

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        """The ids pad_sequences keeps of a text; a long one is read only as far as the kept ids reach."""
        _check_text(text)
        n = self.max_len if max_len is None else max_len
        if len(text) <= LAZY_CHARS or not n or self._cuts is None:
            return super().encode(text, n)
        return edge_items(text, n, self.truncation == "post", self.all_ids, self._cuts)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self._header(),
            "num_words": self.num_words,
            "filters": self.filters,
            "lower": self.lower,
            "split": self.split,
            "char_level": self.char_level,
            "oov_token": self.oov_token,
            "word_index": self.word_index,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "KerasTokenizer":
        kind = cls.kind
        tok = cls(
            _field(data, "word_index", kind),
            num_words=_field(data, "num_words", kind),
            filters=_field(data, "filters", kind),
            lower=_field(data, "lower", kind),
            split=_field(data, "split", kind),
            char_level=_field(data, "char_level", kind),
            oov_token=_field(data, "oov_token", kind),
            max_len=_field(data, "max_len", kind),
            padding=data["padding"],
            truncation=data["truncation"],
        )
        _check_vocab_size(data, tok)
        return tok

    @classmethod
    def from_keras_json(cls, data: Any, *, max_len: int, padding: str = "pre", truncation: str = "pre") -> "KerasTokenizer":
        """From the JSON that Tokenizer.to_json() writes (its word_index is itself a JSON string)."""
        import json

        if isinstance(data, str):  # written with json.dump(tokenizer.to_json(), f): JSON inside a JSON string
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise TokenizerError(f"not a Keras Tokenizer JSON file ({exc})") from None
        if not isinstance(data, dict) or data.get("class_name") != "Tokenizer" or not isinstance(data.get("config"), dict):
            raise TokenizerError(
                "not a Keras Tokenizer JSON file: expected {'class_name': 'Tokenizer', 'config': "
                "{...}} as tokenizer.to_json() writes it"
            )
        config = data["config"]
        word_index = config.get("word_index")
        if isinstance(word_index, str):
            try:
                word_index = json.loads(word_index)
            except json.JSONDecodeError as exc:
                raise TokenizerError(f"the Keras Tokenizer's word_index is not valid JSON ({exc})") from None
        if word_index is None:
            raise TokenizerError("the Keras Tokenizer has no word_index: was it fitted (fit_on_texts) before to_json()?")
        return cls(
            word_index,
            num_words=config.get("num_words"),
            filters=config.get("filters", KERAS_FILTERS),
            lower=config.get("lower", True),
            split=config.get("split", " "),
            char_level=config.get("char_level", False),
            oov_token=config.get("oov_token"),
            max_len=max_len,
            padding=padding,
            truncation=truncation,
        )


# keras.datasets.imdb: the Keras team's word index ranks words by frequency (1 = "the"); a review's ids
# are [start_char] + [rank + index_from], and any id >= num_words becomes oov_char. Its words are the classic
# Tokenizer's text_to_word_sequence run on UTF-8 bytes under Python 2: only ASCII letters are lower-cased,
# the default filters become spaces (so "<br />" is the word "br"), and words are split on " " alone.
# Words absent from the index are skipped, as the dataset's documentation says of its test reviews.
_IMDB_FILTERS = str.maketrans({c: " " for c in KERAS_FILTERS})
_IMDB_CUTS = re.compile(f"[{re.escape(KERAS_FILTERS + ' ')}]")


def keras_imdb_words(text: str) -> list[str]:
    """The words of a raw review as the Keras team tokenized the IMDB data."""
    return [w for w in text.translate(_TV_LOWER).translate(_IMDB_FILTERS).split(" ") if w]


class KerasImdbTokenizer(TokenizerBase):
    """Raw text -> the ids `keras.datasets.imdb.load_data(num_words=...)` gives (skip_top=0); unknown words skipped."""

    kind = "keras-imdb"

    def __init__(
        self,
        word_index: Mapping[str, int],
        *,
        num_words: int,
        index_from: int = 3,
        start_char: int | None = 1,
        oov_char: int = 2,
        max_len: int = 500,
        padding: str = "pre",
        truncation: str = "pre",
    ) -> None:
        for name, value, low in (("num_words", num_words, 1), ("index_from", index_from, 0), ("oov_char", oov_char, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise TokenizerError(f"{name} must be a whole number of {low} or more, got {value!r}")
        if start_char is not None and (not isinstance(start_char, int) or isinstance(start_char, bool) or start_char < 0):
            raise TokenizerError(f"start_char must be a whole number or null, got {start_char!r}")
        word_index = _word_ids(word_index, "word index", 1)
        _check_padding(padding, truncation)
        self.num_words, self.index_from, self.start_char, self.oov_char = num_words, index_from, start_char, oov_char
        self.max_len = _check_max_len(max_len)
        self.padding, self.truncation = padding, truncation
        # The whole index is kept: a word beyond num_words becomes oov_char, an unknown word is skipped.
        self.word_index = word_index
        self._ids = {w: (r + index_from if r + index_from < num_words else oov_char) for w, r in word_index.items()}

    @property
    def vocab_size(self) -> int:
        return self.num_words

    def known_words(self) -> list[str]:
        return sorted(self.word_index, key=self.word_index.__getitem__)

    def _found(self, text: str) -> list[int]:
        ids = self._ids
        return [ids[w] for w in keras_imdb_words(text) if w in ids]

    def all_ids(self, text: str) -> list[int]:
        found = self._found(text)
        return found if self.start_char is None else [self.start_char, *found]

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        """The ids pad_sequences kept of a review; a long one is read only as far as the kept ids reach."""
        _check_text(text)
        n = self.max_len if max_len is None else max_len
        if len(text) <= LAZY_CHARS or not n:
            return super().encode(text, n)
        start = [] if self.start_char is None else [self.start_char]
        if self.truncation == "post":  # the start mark, then the first words
            return start + edge_items(text, n - len(start), True, self._found, _IMDB_CUTS)
        found = edge_items(text, n, False, self._found, _IMDB_CUTS)
        return found if len(found) == n else (start + found)[-n:]

    def to_dict(self) -> dict[str, Any]:
        return {
            **self._header(),
            "num_words": self.num_words,
            "index_from": self.index_from,
            "start_char": self.start_char,
            "oov_char": self.oov_char,
            "word_index": self.word_index,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "KerasImdbTokenizer":
        kind = cls.kind
        tok = cls(
            _field(data, "word_index", kind),
            num_words=_field(data, "num_words", kind),
            index_from=_field(data, "index_from", kind),
            start_char=_field(data, "start_char", kind),
            oov_char=_field(data, "oov_char", kind),
            max_len=_field(data, "max_len", kind),
            padding=data["padding"],
            truncation=data["truncation"],
        )
        _check_vocab_size(data, tok)
        return tok


KINDS: dict[str, Any] = {cls.kind: cls for cls in (TextVectorizationTokenizer, KerasTokenizer, KerasImdbTokenizer)}
