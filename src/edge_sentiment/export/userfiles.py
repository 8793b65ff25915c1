"""The tokenizer files users ship beside their models, read into plain data without running their code.

JSON as the Keras APIs write it, or a pickle (read by pickles.py, which runs nothing the file names): a pickled
Keras `Tokenizer` comes back as the dict its `to_json()` would have written, and the widely copied
`pickle.dump({'config': layer.get_config(), 'weights': layer.get_weights()}, f)` of a TextVectorization
layer as {"config": ..., "vocabulary": get_vocabulary()}.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import TokenizerError
from ..runtime.keras_tokenizers import KERAS_FILTERS
from ..runtime.tokenizer import read_json_file
from .pickles import KerasTokenizerRecord, looks_pickled, read_pickle

__all__ = ["read_tokenizer_file", "read_text_vectorization_file"]

_TV_SPECIAL = ["", "[UNK]"]  # TextVectorization's mask and out-of-vocabulary tokens, ids 0 and 1


def read_tokenizer_file(path: str | os.PathLike[str]) -> Any:
    """A tokenizer file's contents: an edge-sentiment tokenizer.json, a Keras Tokenizer.to_json() file, or a
    pickled Keras Tokenizer (as the dict its to_json() writes)."""
    if not looks_pickled(path):
        return read_json_file(path, "tokenizer file")
    data = read_pickle(path, "tokenizer file")
    if isinstance(data, KerasTokenizerRecord):
        return _tokenizer_json(data.state, path)
    if isinstance(data, dict) and "config" in data and ("weights" in data or "vocabulary" in data):
        raise TokenizerError(
            f"{path} is a pickled TextVectorization layer ({{'config', 'weights'}}), not a Tokenizer: "
            "pass it with --text-vectorization"
        )
    if isinstance(data, (dict, str)):  # a pickled to_json() string or dict: checked as the JSON would be
        return data
    raise TokenizerError(f"{path} is a pickle of {type(data).__name__}, not a Keras Tokenizer")


def _json_field(state: dict[str, Any], key: str, path: Any) -> str:
    value = state.get(key)
    if value is None:
        value = {}
    if not isinstance(value, dict):
        raise TokenizerError(f"{path}: the pickled Tokenizer's {key} is {type(value).__name__}, not a mapping")
    try:
        return json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise TokenizerError(f"{path}: the pickled Tokenizer's {key} is not words and counts ({exc})") from None


def _tokenizer_json(state: Any, path: Any) -> dict[str, Any]:
    """The pickled Tokenizer's attributes as Tokenizer.to_json() (get_config()) writes them."""
    if not isinstance(state, dict):
        raise TokenizerError(f"{path} holds a Keras Tokenizer without its attributes")
    if state.get("analyzer") is not None:
        raise TokenizerError(f"{path}: the Tokenizer has a custom analyzer, Python code that cannot be exported")
    word_index = state.get("word_index")
    if not isinstance(word_index, dict) or not word_index:
        raise TokenizerError(f"{path}: the pickled Tokenizer has no word_index: was it fitted (fit_on_texts) before pickling?")
    if "index_word" not in state:  # Keras before 2.2 kept no index_word
        state = {**state, "index_word": {i: w for w, i in word_index.items()}}
    config = {
        "num_words": state.get("num_words", state.get("nb_words")),
        "filters": state.get("filters", KERAS_FILTERS),
        "lower": state.get("lower", True),
        "split": state.get("split", " "),
        "char_level": state.get("char_level", False),
        "oov_token": state.get("oov_token"),
        "document_count": state.get("document_count", 0),
        **{key: _json_field(state, key, path) for key in ("word_counts", "word_docs", "index_docs", "index_word", "word_index")},
    }
    return {"class_name": "Tokenizer", "config": config}


def read_text_vectorization_file(path: str | os.PathLike[str]) -> Any:
    """A TextVectorization layer saved on its own: JSON {"config": ..., "vocabulary": [...]}, or the pickled
    {'config': get_config(), 'weights': get_weights()} (returned as config and vocabulary)."""
    if not looks_pickled(path):
        return read_json_file(path, "TextVectorization file")
    data = read_pickle(path, "TextVectorization file")
    if isinstance(data, KerasTokenizerRecord):
        raise TokenizerError(f"{path} is a pickled Keras Tokenizer, not a TextVectorization layer: pass it with --tokenizer")
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict):
        raise TokenizerError(
            f"{path} is not a pickled TextVectorization layer: expected {{'config': layer.get_config(), "
            "'weights': layer.get_weights()}"
        )
    # the layer's input shape says nothing of its tokens, and Keras 3 refuses tf-keras's batch_input_shape
    config = {k: v for k, v in data["config"].items() if k != "batch_input_shape"}
    tokens = _vocabulary_of(data, config, path)
    words = []
    for token in tokens:
        if isinstance(token, bytes):
            try:
                token = token.decode("utf-8")
            except UnicodeDecodeError:
                raise TokenizerError(f"{path}: the vocabulary holds {token!r}, which is not UTF-8") from None
        if not isinstance(token, str):
            raise TokenizerError(f"{path}: the vocabulary holds {token!r}, not a string")
        words.append(token)
    if words[:2] != _TV_SPECIAL:  # get_weights() leaves the mask and out-of-vocabulary tokens out
        words = _TV_SPECIAL + words
    return {"config": config, "vocabulary": words}


def _vocabulary_of(data: dict[str, Any], config: dict[str, Any], path: Any) -> list[Any]:
    if isinstance(data.get("vocabulary"), list):
        return list(data["vocabulary"])
    weights = data.get("weights")
    if isinstance(weights, list) and weights and isinstance(weights[0], list):
        return list(weights[0])
    given = config.get("vocabulary")
    if isinstance(given, list):
        return list(given)
    if isinstance(given, str):
        raise TokenizerError(
            f"{path}: the layer's vocabulary is the file {given!r}, which the pickle does not hold: pass "
            "{'config': layer.get_config(), 'vocabulary': layer.get_vocabulary()} saved as JSON"
        )
    raise TokenizerError(
        f"{path} holds no vocabulary: its 'weights' are {'empty' if weights == [] else 'not a token list'} "
        "(Keras 3's TextVectorization.get_weights() is empty: its vocabulary is not a weight). Save "
        "{'config': layer.get_config(), 'vocabulary': layer.get_vocabulary()} as JSON and pass that"
    )
