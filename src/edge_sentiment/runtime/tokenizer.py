"""The one tokenizer: pure Python, shared by training and serving, saved as a versioned JSON file."""

from __future__ import annotations

import json
import os
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, TokenizerError

__all__ = ["Tokenizer", "pad_ids", "standardize", "words", "PAD_ID", "OOV_ID", "FORMAT_VERSION"]

FORMAT = "edge-sentiment/tokenizer"
FORMAT_VERSION = 1
STANDARDIZATION = "v1"
PAD_ID = 0
OOV_ID = 1
_MAX_FILE_BYTES = 64 * 1024 * 1024

# Standardisation v1 (changing any of this is a new STANDARDIZATION and FORMAT_VERSION):
# 1. non-ASCII text is NFKC-normalised and typographic apostrophes become "'";
# 2. the text is lower-cased (str.lower, Unicode-aware);
# 3. simple HTML tags without attributes (<br />, <i>, </b>, <p>) become a space;
# 4. a word is a run of Unicode letters or digits, with single apostrophes inside ("don't").
_APOSTROPHES = ("\u2019", "\u2018", "\u02bc", "\u00b4", "`")
_HTML_TAG = re.compile(r"</?[a-z][a-z0-9]{0,9}\s*/?>")
# Possessive (Python 3.11+): no backtracking state per apostrophe, so "a'a'a'..." stays small.
_WORD = re.compile(r"[^\W_]++(?:'[^\W_]++)*+")
_SPACE = re.compile(r"\s")
_TAIL_CHARS = 16_384  # texts longer than this are read from the end, in growing chunks

# The same standardisation for ASCII text, on bytes: one table lower-cases letters, keeps digits and
# apostrophes (` included) and turns everything else into a space; split() then finds the words.
# Only a token holding an apostrophe needs the regex (leading, trailing or doubled apostrophes).
_ASCII_TABLE = bytes(
    c + 32 if 65 <= c <= 90 else c if (48 <= c <= 57 or 97 <= c <= 122 or c == 39) else 39 if c == 96 else 32
    for c in range(256)
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


def _last_words(text: str, n: int) -> list[str]:
    """The last n words of a text, without standardising all of a very long one."""
    if len(text) <= _TAIL_CHARS:
        return _WORD.findall(_normalize(text))[-n:]
    size = _TAIL_CHARS
    while True:
        start = len(text) - size
        if start <= 0:
            return _WORD.findall(_normalize(text))[-n:]
        # Cut at a whitespace character: no word, tag or combining sequence crosses one.
        cut = _SPACE.search(text, start)
        if cut is not None:
            found = _WORD.findall(_normalize(text[cut.start():]))
            if len(found) >= n:
                return found[-n:]
        size *= 4


class Tokenizer:
    """Maps text to token ids: 0 pads, 1 is out-of-vocabulary, 2.. are the most frequent words."""

    def __init__(self, vocab: Sequence[str], max_len: int = 500) -> None:
        vocab = list(vocab)
        _check_config(vocab, max_len)
        self.words: list[str] = vocab
        self.max_len = int(max_len)
        self._ids: dict[str, int] = {w: i + 2 for i, w in enumerate(vocab)}
        self._ascii_ids = _Ids((w.encode(), i) for w, i in self._ids.items() if w.isascii())

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
        if len(text) <= _TAIL_CHARS and text.isascii():  # the fast path: most texts
            return list(map(self._ascii_ids.__getitem__, _ascii_words(text)[-n:])) if n else []
        get = self._ids.get
        return [get(w, OOV_ID) for w in _last_words(text, n)] if n else []

    def encode_batch(self, texts: Sequence[str], max_len: int | None = None) -> np.ndarray:
        """Ids as int32 (n, max_len), pre-padded with 0 and keeping the last words, like Keras pad_sequences."""
        length = self.max_len if max_len is None else int(max_len)
        if isinstance(texts, str):
            raise InputError("encode_batch takes a sequence of texts; wrap a single text in a list")
        return pad_ids([self.encode(text, length) for text in texts], length)

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
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "standardization": STANDARDIZATION,
            "max_len": self.max_len,
            "padding": "pre",
            "truncation": "pre",
            "pad_id": PAD_ID,
            "oov_id": OOV_ID,
            "vocab_size": self.vocab_size,
            "words": self.words,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=0) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write tokenizer.json (atomically: a temporary file, then a rename)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(self.to_json(), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def from_dict(cls, data: Any) -> "Tokenizer":
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
        expected = {"standardization": STANDARDIZATION, "padding": "pre", "truncation": "pre",
                    "pad_id": PAD_ID, "oov_id": OOV_ID}
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
        return cls(vocab, max_len=data.get("max_len"))  # type: ignore[arg-type]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Tokenizer":
        """Read and validate a tokenizer.json."""
        path = Path(path)
        try:
            size = path.stat().st_size
            if size > _MAX_FILE_BYTES:
                raise TokenizerError(f"{path} is {size} bytes, larger than any tokenizer file ({_MAX_FILE_BYTES})")
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise TokenizerError(f"tokenizer file not found: {path}") from None
        except OSError as exc:
            raise TokenizerError(f"cannot read tokenizer file {path}: {exc.strerror or exc}") from None
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise TokenizerError(f"{path} is not valid UTF-8 JSON: {exc}") from None
        return cls.from_dict(data)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and (self.words, self.max_len) == (other.words, other.max_len)

    def __repr__(self) -> str:
        return f"Tokenizer(vocab_size={self.vocab_size}, max_len={self.max_len})"


def pad_ids(id_lists: Sequence[Sequence[int]], length: int) -> np.ndarray:
    """int32 (n, length): each id list pre-padded with 0, keeping its last length ids."""
    out = np.zeros((len(id_lists), length), dtype=np.int32)
    for row, ids in enumerate(id_lists):
        ids = ids[-length:] if length else ()
        if len(ids):
            out[row, length - len(ids):] = ids
    return out


def _check_config(vocab: list[Any], max_len: Any) -> None:
    if not isinstance(max_len, int) or isinstance(max_len, bool) or not 1 <= max_len <= 100_000:
        raise TokenizerError(f"max_len must be an integer from 1 to 100000, got {max_len!r}")
    seen: set[str] = set()
    for i, w in enumerate(vocab):
        if not isinstance(w, str) or _WORD.fullmatch(w) is None or _normalize(w) != w:
            raise TokenizerError(f"vocabulary entry {i} ({w!r}) is not a standardised word")
        if w in seen:
            raise TokenizerError(f"vocabulary entry {i} ({w!r}) is a duplicate")
        seen.add(w)
