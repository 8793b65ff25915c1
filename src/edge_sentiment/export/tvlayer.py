"""A Keras TextVectorization layer read into the bundle's pure-Python tokenizer, and checked against the layer.

A custom `standardize` callable is traced to its steps (export/standardize.py). Whatever the layer's
settings, the tokenizer's ids are compared with the layer's own on fuzzed strings (punctuation, HTML line
breaks, Unicode, every kind of whitespace) before the exporter uses it; the first difference refuses it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import TokenizerError
from ..runtime.keras_tokenizers import TextVectorizationTokenizer
from ..runtime.tokenizer import pad_ids
from .standardize import check_steps, fuzz_texts, trace_standardize

__all__ = ["tokenizer_from_layer", "FUZZ_TEXTS"]

FUZZ_TEXTS = 2000


def tokenizer_from_layer(layer: Any, max_len: int | None) -> TextVectorizationTokenizer:
    """The layer's tokenizer (config and vocabulary), cut or padded to max_len ids; TokenizerError when it
    cannot be reproduced or its ids differ from the layer's on a fuzzed string."""
    config = layer.get_config()
    standardize = config.get("standardize")
    steps = None
    if callable(standardize):
        steps = trace_standardize(standardize)
    tok = TextVectorizationTokenizer.from_layer_config(config, layer.get_vocabulary(), max_len, steps)
    texts = fuzz_texts(tok.known_words(), FUZZ_TEXTS, steps)
    if steps is not None:
        check_steps(standardize, steps, texts)
    _check_ids(layer, tok, texts)
    return tok


def _check_ids(layer: Any, tok: TextVectorizationTokenizer, texts: list[str]) -> None:
    import tensorflow as tf

    theirs = np.asarray(layer(tf.constant(texts, dtype=tf.string)), dtype=np.int64)[:, : tok.max_len]
    id_lists = [tok.encode(text) for text in texts]
    # compared as wide as the longest text, not max_len: a layer with no fixed length has max_len 100,000,
    # and 2,000 rows that wide took gigabytes; the columns left out are pads in both
    width = max(theirs.shape[1], max(map(len, id_lists), default=0), 1)
    theirs = np.pad(theirs, ((0, 0), (0, width - theirs.shape[1])))
    ours = pad_ids(id_lists, width, tok.padding)
    differ = np.flatnonzero(np.any(ours != theirs, axis=1))
    if differ.size:
        k = int(differ[0])
        raise TokenizerError(
            f"the TextVectorization layer and edge-sentiment's copy of it give different ids on {differ.size} of "
            f"{len(texts)} fuzzed texts (first: {texts[k][:80]!r}: layer {theirs[k][:8].tolist()}..., ours "
            f"{ours[k][:8].tolist()}...); the layer cannot be exported exactly"
        )


def unregistered_functions_hint(path: Any) -> str:
    """For a .keras file Keras could not load: the TextVectorization functions (standardize, split) it names
    that no code in this process has registered, and what to do; "" when there are none."""
    import json
    import zipfile

    import keras

    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return ""
    missing: list[str] = []
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("class_name") == "TextVectorization" and isinstance(item.get("config"), dict):
                for key in ("standardize", "split"):
                    value = item["config"].get(key)
                    if isinstance(value, dict) and value.get("class_name") == "function":
                        name = str(value.get("config"))
                        if keras.saving.get_registered_object(name) is None:
                            missing.append(f"{key}={name!r}")
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    if not missing:
        return ""
    return (
        f". Its TextVectorization layer's {', '.join(missing)} is a Python function Keras saves by its registered "
        "name only, and this process has not registered it. Run the export where the code that defines it "
        '(with @keras.saving.register_keras_serializable) is imported, e.g. python -c "import my_code; '
        "from edge_sentiment.cli import main; main(['export', 'model.keras', '--out', 'bundle'])\"; "
        "edge-sentiment then traces the function and records it in the bundle"
    )
