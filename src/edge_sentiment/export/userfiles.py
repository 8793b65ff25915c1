"""The tokenizer files users ship beside their models, read into plain data without running their code."""

from __future__ import annotations

import os
from typing import Any

from ..runtime.tokenizer import read_json_file

__all__ = ["read_tokenizer_file", "read_text_vectorization_file"]


def read_tokenizer_file(path: str | os.PathLike[str]) -> Any:
    """A tokenizer file's contents: an edge-sentiment tokenizer.json or a Keras Tokenizer.to_json() file."""
    return read_json_file(path, "tokenizer file")


def read_text_vectorization_file(path: str | os.PathLike[str]) -> Any:
    """A TextVectorization layer saved on its own as JSON {"config": ..., "vocabulary": [...]}."""
    return read_json_file(path, "TextVectorization file")
