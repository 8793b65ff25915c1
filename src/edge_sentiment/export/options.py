"""What the user says about a model's tokenizer (export's options): plain data, no heavy imports."""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["TokenizerOptions", "TOKENIZER_HELP"]

TOKENIZER_HELP = """Which tokenizer a model needs:
  a run folder of 'edge-sentiment train'   nothing: its tokenizer.json is used
  TextVectorization as the first layer     nothing: the layer is read from the model
  TextVectorization saved on its own       --text-vectorization layer.keras|layer.json
  classic keras Tokenizer (Keras 2)        --tokenizer tokenizer.to_json() file, with --max-len,
                                           --padding and --truncating as given to pad_sequences
  keras.datasets.imdb ids (the lab)        --word-index imdb_word_index.json (--index-from 3,
                                           --start-char 1, --oov-char 2; num_words = embedding rows)
  edge-sentiment tokenizer.json            --tokenizer tokenizer.json"""


@dataclass
class TokenizerOptions:
    """How the user said to tokenize (export's options); None where not given."""

    tokenizer: str | os.PathLike[str] | None = None
    text_vectorization: str | os.PathLike[str] | None = None
    word_index: str | os.PathLike[str] | None = None
    max_len: int | None = None
    padding: str | None = None
    truncating: str | None = None
    index_from: int = 3
    start_char: int | None = 1
    oov_char: int = 2

    def given(self) -> list[str]:
        names = {"tokenizer": "--tokenizer", "text_vectorization": "--text-vectorization", "word_index": "--word-index"}
        return [flag for key, flag in names.items() if getattr(self, key) is not None]
