"""What every tokenizer kind shares: the tokenizer.json header, ids padded into batches, and TokenizerBase,
which runtime/tokenizer.py (edge-sentiment's own) and runtime/keras_tokenizers.py (Keras') extend."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

__all__ = [
    "TokenizerBase",
    "pad_ids",
    "FORMAT",
    "FORMAT_VERSION",
    "KIND",
    "PADDINGS",
    "PAD_ID",
    "MAX_IDS_PER_TEXT",
    "MAX_TOKENIZER_BYTES",
]

FORMAT = "edge-sentiment/tokenizer"
# 1: edge-sentiment's own tokenizer only (no "kind" field); 2: a "kind" field, Keras tokenizers too.
FORMAT_VERSION = 2
KIND = "edge-sentiment"  # the kind of edge-sentiment's own tokenizer (runtime/tokenizer.py)
PADDINGS = ("pre", "post")
PAD_ID = 0
MAX_IDS_PER_TEXT = 100_000  # the most ids a tokenizer gives one text (max_len's upper bound)
MAX_TOKENIZER_BYTES = 64 * 1024 * 1024  # the largest tokenizer file (or other JSON a user hands the tools) read


class TokenizerBase:
    """What every tokenizer kind offers the runtime: ids of a text, padded batches, its file."""

    kind: str = ""
    max_len: int = 500
    padding: str = "pre"  # where pads go: "pre" (Keras pad_sequences' default) or "post"
    truncation: str = "pre"  # which end of a long text is dropped: "pre" keeps the last ids
    # The embedding must have exactly vocab_size rows (our own tokenizer), or at least that many.
    exact_rows: bool = False

    @property
    def vocab_size(self) -> int:
        """One more than the largest id this tokenizer gives."""
        raise NotImplementedError

    def all_ids(self, text: str) -> list[int]:
        """Every id of a text, before truncation."""
        raise NotImplementedError

    def known_words(self) -> list[str]:
        """The tokens that have ids of their own, most frequent first where the tokenizer knows."""
        raise NotImplementedError

    def encode(self, text: str, max_len: int | None = None) -> list[int]:
        """Token ids of a text, truncated to max_len (the tokenizer's by default; no padding)."""
        if not isinstance(text, str):
            raise InputError(f"expected text (str), got {type(text).__name__}")
        n = self.max_len if max_len is None else max_len
        ids = self.all_ids(text)
        if len(ids) <= n:
            return ids
        return (ids[len(ids) - n :] if self.truncation == "pre" else ids[:n]) if n else []

    def encode_batch(self, texts: Sequence[str], max_len: int | None = None) -> np.ndarray:
        """Ids as int32 (n, max_len), padded with 0 and truncated as the tokenizer says, like Keras pad_sequences."""
        length = self.max_len if max_len is None else int(max_len)
        if isinstance(texts, str):
            raise InputError("encode_batch takes a sequence of texts; wrap a single text in a list")
        return pad_ids([self.encode(text, length) for text in texts], length, self.padding)

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def _header(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": self.kind,
            "max_len": self.max_len,
            "padding": self.padding,
            "truncation": self.truncation,
            "pad_id": PAD_ID,
            "vocab_size": self.vocab_size,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=0) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write tokenizer.json (atomically: a temporary file, then a rename)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        tmp.write_text(self.to_json(), encoding="utf-8")
        os.replace(tmp, path)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TokenizerBase) and type(other) is type(self) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash((self.kind, self.max_len, self.vocab_size))


def pad_ids(id_lists: Sequence[Sequence[int]], length: int, padding: str = "pre") -> np.ndarray:
    """int32 (n, length): each id list padded with 0 before ("pre") or after ("post") it.

    A list longer than length keeps its last ids; tokenizers truncate before padding, as they say.
    """
    out = np.zeros((len(id_lists), length), dtype=np.int32)
    for row, ids in enumerate(id_lists):
        ids = ids[-length:] if length else ()
        if len(ids):
            if padding == "pre":
                out[row, length - len(ids) :] = ids
            else:
                out[row, : len(ids)] = ids
    return out
