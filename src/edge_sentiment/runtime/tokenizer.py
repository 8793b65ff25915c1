"""The one tokenizer: pure Python, shared by training and serving, saved as a versioned JSON file.

A tokenizer file has a `kind`: "edge-sentiment" (this module's Tokenizer, what `train` fits) or one of
the Keras tokenizers users trained with (keras_tokenizers.py). `load_tokenizer` reads any of them.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from itertools import islice
from pathlib import Path
from typing import Any


from ..errors import InputError, TokenizerError
from .older_formats import OLDER_PADDING, v1_tokenizer_kind
from .tokenizer_base import (
    FORMAT,
    FORMAT_VERSION,
    KIND,
    MAX_IDS_PER_TEXT,
    MAX_TOKENIZER_BYTES,
    PAD_ID,
    PADDINGS,
    TokenizerBase,
    pad_ids,
)

__all__ = [
    "Tokenizer",
    "TokenizerBase",
    "load_tokenizer",
    "tokenizer_from_dict",
    "pad_ids",
    "standardize",
    "words",
    "PAD_ID",
    "OOV_ID",
    "FORMAT_VERSION",
    "KIND",
]

STANDARDIZATION = "v1"
OOV_ID = 1

# Standardisation v1 (changing any of this is a new STANDARDIZATION and FORMAT_VERSION):
# 1. non-ASCII text is NFKC-normalised and typographic apostrophes become "'";
# 2. the text is lower-cased (str.lower, Unicode-aware);
# 3. simple HTML tags without attributes (<br />, <i>, </b>, <p>) become a space;
# 4. a word is a run of Unicode letters or digits, with single apostrophes inside ("don't").
_APOSTROPHES = ("\u2019", "\u2018", "\u02bc", "\u00b4", "`")
_HTML_TAG = re.compile(r"</?[a-z][a-z0-9]{0,9}\s*/?>")
# Possessive (Python 3.11+): no backtracking state per apostrophe, so "a'a'a'..." stays small.
_WORD = re.compile(r"[^\W_]++(?:'[^\W_]++)*+")
# Where a long text may be cut without changing its words: whitespace, the ASCII punctuation that is in
# no word or tag, composes with nothing under NFKC ("=" + U+0338 is "≠"; "<", ">" likewise) and is not
# case-ignorable (str.lower's final sigma looks across ".", ":", "'", "^" and "`"); and just before a "<"
# (a tag starts there, and nothing composes with a "<" that follows it).
_CUT = re.compile(r"[\s!\"#$%&()*+,;?@\[\\\]_{|}~-]|(?=<)")
_BREAK = re.compile(r"[^\w']|_")  # in a standardised text (tags gone), no word crosses one of these
TAIL_CHARS = 16_384  # texts longer than this are read from the end (or start), in growing chunks

# The same standardisation for ASCII text, on bytes: one table lower-cases letters, keeps digits and
# apostrophes (` included) and turns everything else into a space; split() then finds the words.
# Only a token holding an apostrophe needs the regex (leading, trailing or doubled apostrophes).
_ASCII_TABLE = bytes(
    c + 32 if 65 <= c <= 90 else c if (48 <= c <= 57 or 97 <= c <= 122 or c == 39) else 39 if c == 96 else 32 for c in range(256)
)
_ALNUM = bytes(1 if (48 <= c <= 57 or 97 <= c <= 122) else 0 for c in range(256))


def _ascii_words(text: str) -> list[bytes]:
    """Words of an ASCII text as bytes, exactly as words() would find them."""
    if "<" in text:
        text = _HTML_TAG.sub(" ", text.lower())
    data = text.encode("ascii").translate(_ASCII_TABLE)
    i = data.find(b"'")
    if i != -1:  # an apostrophe stays only between two letters or digits ("don't"), as in _WORD
        buf, last = bytearray(data), len(data) - 1
        while i != -1:
            if i == 0 or i == last or not _ALNUM[data[i - 1]] or not _ALNUM[data[i + 1]]:
                buf[i] = 32
            i = data.find(b"'", i + 1)
        data = bytes(buf)
    return data.split()


class _Ids(dict):  # type: ignore[type-arg]
    """word -> id, with out-of-vocabulary words mapping to OOV_ID (so map(ids.__getitem__) works)."""

    def __missing__(self, key: object) -> int:
        return OOV_ID


def _normalize(text: str) -> str:
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    for mark in _APOSTROPHES:  # str.replace per mark: far faster than str.translate with a dict
        if mark in text:
            text = text.replace(mark, "'")
    return _HTML_TAG.sub(" ", text.lower())


def standardize(text: str) -> str:
    """Return the text as the tokenizer sees it: words joined by single spaces."""
    return " ".join(words(text))


def words(text: str) -> list[str]:
    """Split a text into standardised words."""
    if not isinstance(text, str):
        raise InputError(f"expected text (str), got {type(text).__name__}")
    return _WORD.findall(_normalize(text))


def _some_words(normalized: str, n: int, last: bool) -> list[str]:
    """The last (or first) n words of a standardised text: from its end (or start) in chunks growing 4x,
    cut where no word crosses (_BREAK); a chunk too large for findall is read holding n words at a time."""
    size = 4 * TAIL_CHARS
    while len(normalized) > size:
        cut = _BREAK.search(normalized, len(normalized) - size if last else size)
        if cut is not None:
            found = _bounded_words(normalized[cut.start() :] if last else normalized[: cut.start()], n, last)
            if len(found) >= n:
                return found
        elif not last:
            break
        size *= 4
    return _bounded_words(normalized, n, last)


def _bounded_words(normalized: str, n: int, last: bool) -> list[str]:
    if len(normalized) <= 16 * TAIL_CHARS:  # findall is the fastest way, and its list stays small
        found = _WORD.findall(normalized)
        return found[-n:] if last else found[:n]
    matches = _WORD.finditer(normalized)
    return [m.group() for m in (deque(matches, maxlen=n) if last else islice(matches, n))]


def _window(text: str, n: int, last: bool) -> tuple[str, list[str]]:
    """The part of a long text that holds its last (or first) n words, and those words.

    Read from the end (or the start) in chunks growing 4x, each cut at a character no word, tag,
    NFKC composition or lower-casing context crosses (_CUT), so the chunk's words are the text's.
    A text with no such place is read whole, holding at most n words at a time. A start cut at a space
    inside a tag ("<br" of "<br />") leaves its letters as a last word: the start needs n + 1 words.
    """
    size = TAIL_CHARS
    while len(text) > size:
        cut = _CUT.search(text, len(text) - size if last else size)
        if cut is not None:
            part = text[cut.start() :] if last else text[: cut.start()]
            found = _some_words(_normalize(part), n if last else n + 1, last)
            if len(found) > (n - 1 if last else n):
                return part, found if last else found[:n]
        elif not last:
            break  # no cut after the first `size` characters: none further on either
        size *= 4
    return text, _some_words(_normalize(text), n, last)


def _last_words(text: str, n: int) -> list[str]:
    """The last n words of a text, without standardising all of a very long one."""
    return _window(text, n, last=True)[1]


def _first_words(text: str, n: int) -> list[str]:
    """The first n words of a text, without standardising all of a very long one."""
    return _window(text, n, last=False)[1]


def text_window(text: str, n: int, truncation: str = "pre") -> str:
    """The part of a text a tokenizer keeping n words reads: its end ("pre": the last n words) or its
    start ("post"), cut where no word changes; "" for a long text without words; the whole text when it
    is short, has fewer than n words or nowhere to cut."""
    if not isinstance(text, str):
        raise InputError(f"expected text (str), got {type(text).__name__}")
    if len(text) <= TAIL_CHARS or n < 1:
        return text if n >= 1 else ""
    last = truncation == "pre"
    part, found = _window(text, n, last)
    if last and 0 < len(found) < n:  # fewer words than n: the end that holds all of them
        part = _window(text, len(found), last)[0]
    return part if found else ""


class Tokenizer(TokenizerBase):
    """Maps text to token ids: 0 pads, 1 is out-of-vocabulary, 2.. are the most frequent words."""

    kind = KIND
    exact_rows = True

    def __init__(self, vocab: Sequence[str], max_len: int = 500, padding: str = "pre", truncation: str = "pre") -> None:
        vocab = list(vocab)
        _check_config(vocab, max_len)
        if padding not in PADDINGS or truncation not in PADDINGS:
            raise TokenizerError(f"padding and truncation are 'pre' or 'post', got {padding!r} and {truncation!r}")
        self.words: list[str] = vocab
        self.max_len = int(max_len)
        self.padding, self.truncation = padding, truncation
        self._ids: dict[str, int] = dict(zip(vocab, range(2, len(vocab) + 2)))
        # every word's UTF-8 (no word holds a newline; a non-ASCII word's bytes never equal an ASCII text's word)
        self._ascii_ids = _Ids(zip("\n".join(vocab).encode().split(b"\n") if vocab else [], range(2, len(vocab) + 2)))

    @property
    def vocab_size(self) -> int:
        """Number of ids, padding and out-of-vocabulary included."""
        return len(self.words) + 2

    @classmethod
    def fit(cls, texts: Iterable[str], vocab_size: int = 5000, max_len: int = 500) -> "Tokenizer":
        """Build the vocabulary from the most frequent words (ties broken alphabetically)."""
        if vocab_size < 3:
            raise TokenizerError(f"vocab_size must be at least 3 (padding, OOV, one word), got {vocab_size}")
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(words(text))
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return cls([w for w, _ in ranked[: vocab_size - 2]], max_len=max_len)

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        """Token ids of a text's last max_len words (the tokenizer's max_len by default; no padding)."""
        if not isinstance(text, str):
            raise InputError(f"expected text (str), got {type(text).__name__}")
        n = self.max_len if max_len is None else max_len
        if not n:
            return []
        if self.truncation == "post":  # a long text keeps its first n words
            get = self._ids.get
            return [get(w, OOV_ID) for w in _first_words(text, n)]
        if len(text) <= TAIL_CHARS and text.isascii():  # the fast path: most texts
            return list(map(self._ascii_ids.__getitem__, _ascii_words(text)[-n:]))
        get = self._ids.get
        return [get(w, OOV_ID) for w in _last_words(text, n)]

    def all_ids(self, text: str) -> list[int]:
        return self.encode(text, max(len(text), 1))

    def known_words(self) -> list[str]:
        return list(self.words)

    def decode(self, ids: Iterable[int]) -> str:
        """Words for ids (padding dropped, out-of-vocabulary shown as <oov>)."""
        out = []
        for i in ids:
            i = int(i)
            if i == PAD_ID:
                continue
            out.append(self.words[i - 2] if 2 <= i < self.vocab_size else "<oov>")
        return " ".join(out)

    # -- file format -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {**self._header(), "standardization": STANDARDIZATION, "oov_id": OOV_ID, "words": self.words}

    @classmethod
    def from_dict(cls, data: Any) -> "Tokenizer":
        kind = _check_header(data)
        if kind != KIND:
            raise TokenizerError(f"this is a {kind!r} tokenizer file, not edge-sentiment's own; read it with load_tokenizer()")
        expected = {"standardization": STANDARDIZATION, "pad_id": PAD_ID, "oov_id": OOV_ID}
        for key, value in expected.items():
            if data.get(key) != value:
                raise TokenizerError(f"tokenizer field {key!r} is {data.get(key)!r}, expected {value!r}")
        vocab = data.get("words")
        if not isinstance(vocab, list):
            raise TokenizerError("tokenizer field 'words' must be a list of words")
        if data.get("vocab_size") != len(vocab) + 2:
            raise TokenizerError(
                f"tokenizer says vocab_size={data.get('vocab_size')!r} but lists {len(vocab)} words "
                f"(+2 reserved ids = {len(vocab) + 2})"
            )
        return cls(
            vocab,
            max_len=data.get("max_len"),
            padding=data.get("padding", OLDER_PADDING),
            truncation=data.get("truncation", OLDER_PADDING),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Tokenizer":
        """Read and validate a tokenizer.json of edge-sentiment's own kind."""
        return cls.from_dict(read_json_file(path, "tokenizer file"))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and (self.words, self.max_len, self.padding, self.truncation) == (
            other.words,
            other.max_len,
            other.padding,
            other.truncation,
        )

    __hash__ = TokenizerBase.__hash__

    def __repr__(self) -> str:
        sides = (
            ""
            if (self.padding, self.truncation) == ("pre", "pre")
            else f", padding={self.padding!r}, truncation={self.truncation!r}"
        )
        return f"Tokenizer(vocab_size={self.vocab_size}, max_len={self.max_len}{sides})"


def read_json_file(path: str | os.PathLike[str], what: str) -> Any:
    """A JSON file, with a TokenizerError that names it when it is missing, too large or not JSON."""
    from .files import parse_json, read_regular

    path = Path(path)
    try:
        data = read_regular(path, MAX_TOKENIZER_BYTES)  # a FIFO or device is refused, not waited on
    except FileNotFoundError:
        raise TokenizerError(f"{what} not found: {path}") from None
    except OSError as exc:
        raise TokenizerError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_TOKENIZER_BYTES:
        raise TokenizerError(f"{path} is larger than any {what} ({MAX_TOKENIZER_BYTES} bytes)")
    try:
        return parse_json(data, str(path))
    except ValueError as exc:
        raise TokenizerError(str(exc)) from None


def _check_header(data: Any) -> str:
    """Check the fields every tokenizer file has; returns its kind."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise TokenizerError("not an edge-sentiment tokenizer file (no 'format': 'edge-sentiment/tokenizer')")
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise TokenizerError("tokenizer file has no integer format_version")
    if version > FORMAT_VERSION:
        raise TokenizerError(
            f"tokenizer format_version {version} is newer than this edge-sentiment reads "
            f"({FORMAT_VERSION}); upgrade edge-sentiment"
        )
    if version < 1:
        raise TokenizerError(f"tokenizer format_version {version} is not one edge-sentiment ever wrote")
    if version == 1:
        return v1_tokenizer_kind(data)
    kind = data.get("kind")
    if not isinstance(kind, str):
        raise TokenizerError("tokenizer file of format_version 2 has no 'kind'")
    if data.get("pad_id") != PAD_ID:
        raise TokenizerError(f"tokenizer field 'pad_id' is {data.get('pad_id')!r}, expected {PAD_ID}")
    for key in ("padding", "truncation"):
        if data.get(key) not in PADDINGS:
            raise TokenizerError(f"tokenizer field {key!r} is {data.get(key)!r}; expected 'pre' or 'post'")
    return kind


def tokenizer_from_dict(data: Any) -> TokenizerBase:
    """A tokenizer of any kind from its file's contents, validated."""
    kind = _check_header(data)
    if kind == KIND:
        return Tokenizer.from_dict(data)
    from .keras_tokenizers import KINDS  # here: a bundle of our own kind never needs the Keras tokenizers

    if kind not in KINDS:
        raise TokenizerError(
            f"unknown tokenizer kind {kind!r}; this edge-sentiment reads: {', '.join([KIND, *KINDS])} "
            "(a newer edge-sentiment may read it)"
        )
    found: TokenizerBase = KINDS[kind].from_dict(data)
    return found


def load_tokenizer(path: str | os.PathLike[str]) -> TokenizerBase:
    """Read and validate a tokenizer.json of any kind."""
    return tokenizer_from_dict(read_json_file(path, "tokenizer file"))


def _check_config(vocab: list[Any], max_len: Any) -> None:
    if not isinstance(max_len, int) or isinstance(max_len, bool) or not 1 <= max_len <= MAX_IDS_PER_TEXT:
        raise TokenizerError(f"max_len must be an integer from 1 to {MAX_IDS_PER_TEXT}, got {max_len!r}")
    if _all_standard_words(vocab):  # every word at once: a load reads 10,000 words or more
        return
    seen: set[str] = set()
    for i, w in enumerate(vocab):  # which one is not, for the message
        if not isinstance(w, str) or _WORD.fullmatch(w) is None or _normalize(w) != w:
            raise TokenizerError(f"vocabulary entry {i} ({w!r}) is not a standardised word")
        if w in seen:
            raise TokenizerError(f"vocabulary entry {i} ({w!r}) is a duplicate")
        seen.add(w)


def _all_standard_words(vocab: list[Any]) -> bool:
    """Whether every entry is a distinct standardised word, checked on the words joined by newlines.

    A newline is in no word, starts no tag, composes with nothing under NFKC and is neither cased nor
    case-ignorable, so _normalize of the joined text is the join of each word's; and when the words found in
    it are exactly the entries, each entry is one whole word (the first found is a part of the first entry and
    equal to it, and so on)."""
    try:
        joined = "\n".join(vocab)  # a TypeError for an entry that is no str
    except TypeError:
        return False
    if len(set(vocab)) != len(vocab):
        return False
    return _normalize(joined) == joined and _WORD.findall(joined) == vocab
