"""The first stages of an export: load what the user has, find its tokenizer, and the model that takes ids.

A user arrives with a run folder of ours, or a Keras model and one of: our tokenizer.json, a classic Keras
`Tokenizer.to_json()` file, the `keras.datasets.imdb` word index, or a `TextVectorization` layer (inside the
model as its first layer, or saved on its own). Everything that cannot be exported exactly is refused here,
before any conversion.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EdgeSentimentError, ExportError
from ..runtime.keras_tokenizers import KerasImdbTokenizer, KerasTokenizer, TextVectorizationTokenizer
from ..runtime.tokenizer import TokenizerBase, read_json_file, tokenizer_from_dict
from ..runtime.tokenizer_base import FORMAT
from .kerasfile import is_saved_model, keras_module, load_keras_model
from .tvlayer import tokenizer_from_layer, unregistered_functions_hint
from .userfiles import read_text_vectorization_file, read_tokenizer_file
from .options import KERAS_IMDB_DEFAULTS, MAX_IDS_PER_TEXT, TOKENIZER_HELP, TokenizerOptions, refuse_unused

__all__ = ["Source", "load_source", "embedding_rows"]


@dataclass
class Source:
    """What the later stages convert and gate."""

    model_path: Path
    model: Any  # the Keras model as saved (it may take raw strings)
    ids_model: Any  # the model that takes token ids: what is converted
    tokenizer: TokenizerBase
    tokenizer_source: str  # for the manifest: where the tokenizer came from
    metrics: dict[str, Any] = field(default_factory=dict)
    # texts -> the Keras model's probabilities from raw strings, as the user's own pipeline computes them
    keras_from_text: Callable[[Sequence[str]], np.ndarray] | None = None
    # texts -> the original tokenizer's padded ids, where the original is at hand
    reference_ids: Callable[[Sequence[str]], np.ndarray] | None = None
    reference_name: str = ""
    keras_version: str = ""  # of the Keras that loaded the model: keras (3) or tf_keras (2)
    route: str = "run"  # how the tokenizer was found (options.ROUTES)
    # "padding"/"truncating" -> what says how the model was trained (a file, the layer, a flag), where known
    sides_fixed: dict[str, str] = field(default_factory=dict)


def embedding_rows(model: Any) -> int | None:
    found = [layer for layer in model.layers if type(layer).__name__ == "Embedding"]
    return int(found[0].input_dim) if found else None


def _input_length(model: Any) -> int | None:
    shape = model.inputs[0].shape
    return int(shape[1]) if len(shape) == 2 and shape[1] is not None else None


def _first_layer(model: Any) -> Any:
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    return layers[0] if layers else None


def _is_text_vectorization(layer: Any) -> bool:
    return type(layer).__name__ == "TextVectorization"


def _reads_only(layer: Any, previous: Any) -> bool:
    """Whether every call of layer in the model reads one tensor, the previous layer's output (Keras 3 also
    passes the previous layer's mask, as the keyword mask=, which the layer recomputes on the ids model)."""
    nodes = getattr(layer, "_inbound_nodes", [])
    for node in nodes:
        arguments = getattr(node, "arguments", None)  # Keras 3: the call's positional and keyword arguments
        if arguments is not None:
            if set(arguments.kwargs) - {"mask", "training"}:
                return False
            tensors = list(arguments.args)
        else:
            tensors = node.input_tensors
            tensors = list(tensors) if isinstance(tensors, (list, tuple)) else [tensors]
        history = getattr(tensors[0], "_keras_history", None) if len(tensors) == 1 else None
        # Keras 3 names the producing layer history.operation, tf-keras history.layer
        if getattr(history, "operation", None) is not previous and getattr(history, "layer", None) is not previous:
            return False
    return bool(nodes)


def _single_chain(layers: list[Any], subject: str, why: str = "") -> None:
    """ExportError naming the first layer that reads more than the one before it."""
    for previous, layer in zip(layers, layers[1:]):
        if not _reads_only(layer, previous):
            raise ExportError(
                f"{subject} not a single chain (layer {layer.name!r} does not read only {previous.name!r}){why}. "
                "Export the part after the layer with --text-vectorization instead"
            )


def _after_text_vectorization(model: Any, length: int | None) -> Any:
    """The model from the TextVectorization layer's output on: the same layers on an int32 ids input."""
    keras = keras_module(model)
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    _single_chain(
        layers,
        "the layers after TextVectorization are",
        "; edge-sentiment splits models with the layer in front of a chain of layers",
    )
    # A Sequential chain (not a functional graph): a clone of it recomputes the masks from its layers
    # instead of replaying the mask tensors Keras 3 records as arguments (export/inference.py unmasks it).
    chain = _unnested(layers[1:], keras)
    return keras.Sequential([keras.Input(shape=(length,), dtype="int32", name="tokens"), *chain], name=f"{model.name}_ids")


def _unnested(layers: list[Any], keras: Any) -> list[Any]:
    """A model used as a layer (keras.io's end-to-end model wraps the trained model) as its own chain of layers."""
    out: list[Any] = []
    for layer in layers:
        if not isinstance(layer, keras.Model):
            out.append(layer)
            continue
        inner = [x for x in layer.layers if type(x).__name__ != "InputLayer"]
        _single_chain(inner, f"the model {layer.name!r} after TextVectorization is")
        out += _unnested(inner, keras)
    return out


def _string_batch(model: Any, texts: Sequence[str]) -> Any:
    import tensorflow as tf

    batch = tf.constant(list(texts), dtype=tf.string)
    return batch[:, None] if len(model.inputs[0].shape) == 2 else batch


def _load_text_vectorization(path: Path, max_len: int | None, keras: Any) -> tuple[TextVectorizationTokenizer, Any]:
    """A TextVectorization layer saved on its own: a .keras model that starts with it, or
    {"config": layer.get_config(), "vocabulary": layer.get_vocabulary()} (JSON or pickle); returns the
    tokenizer with the layer, rebuilt from the file by keras (the model's Keras) when it came as data."""
    if path.suffix == ".keras":
        holder = load_keras_model(path)
        layer = _first_layer(holder)
        if layer is None or not _is_text_vectorization(layer):
            raise ExportError(f"{path} does not start with a TextVectorization layer")
        return tokenizer_from_layer(layer, max_len), layer
    data = read_text_vectorization_file(path)
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict) or not isinstance(data.get("vocabulary"), list):
        raise ExportError(
            f"{path} is not a saved TextVectorization layer: expected a .keras file whose first layer is "
            "the layer, or JSON {'config': layer.get_config(), 'vocabulary': layer.get_vocabulary()}"
        )
    tok = TextVectorizationTokenizer.from_layer_config(data["config"], data["vocabulary"], max_len)
    try:  # the original layer, to check the bundle's tokenizer against
        layer = keras.layers.TextVectorization.from_config(data["config"])
        layer.set_vocabulary([str(w) for w in data["vocabulary"]])
    except Exception as exc:  # Keras raises several types for a config or vocabulary it does not take
        raise ExportError(
            f"{keras.__name__} {keras.__version__} cannot rebuild the TextVectorization layer of {path} to check the "
            f"bundle's tokenizer against it: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
        ) from None
    return tok, layer


def _classic_reference(raw: Any, tok: KerasTokenizer) -> Callable[[Sequence[str]], np.ndarray] | None:
    """tf-keras's own Tokenizer and pad_sequences, where tf-keras is installed."""
    try:
        from tf_keras.preprocessing.sequence import pad_sequences
        from tf_keras.preprocessing.text import tokenizer_from_json
    except ImportError:
        return None
    original = tokenizer_from_json(raw if isinstance(raw, str) else json.dumps(raw))

    def ids(texts: Sequence[str]) -> np.ndarray:
        sequences = original.texts_to_sequences(list(texts))
        padded = pad_sequences(
            sequences, maxlen=tok.max_len, padding=tok.padding, truncating=tok.truncation, dtype="int32", value=0
        )
        return np.asarray(padded)

    return ids


def _layer_reference(layer: Any, length: int) -> Callable[[Sequence[str]], np.ndarray]:
    """The layer's own ids, cut or padded after the words to length (it pads to the batch's longest
    text when it has no output_sequence_length)."""
    import tensorflow as tf

    def ids(texts: Sequence[str]) -> np.ndarray:
        found = np.asarray(layer(tf.constant(list(texts), dtype=tf.string)), dtype=np.int32)[:, :length]
        return np.pad(found, ((0, 0), (0, length - found.shape[1])))

    return ids


def load_source(
    source: str | os.PathLike[str], options: TokenizerOptions, weights: str | os.PathLike[str] | None = None
) -> Source:
    """Load the model and its tokenizer; ExportError for anything that cannot be exported exactly.

    weights: a weights file for a model given as its architecture alone (model.to_json()).
    """
    source = Path(source)
    metrics: dict[str, Any] = {}
    tok_path = options.tokenizer
    from_run = False
    if source.is_dir() and is_saved_model(source):
        model_path = source
    elif source.is_dir():
        model_path = source / "model.keras"
        metrics_path = source / "metrics.json"
        if metrics_path.is_file():
            metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
        if not options.given() and (source / "tokenizer.json").is_file():
            tok_path, from_run = source / "tokenizer.json", True
    else:
        model_path = source
    if not model_path.exists():
        raise ExportError(
            f"no Keras model at {model_path}: pass a run folder written by 'edge-sentiment train', a .keras/.h5 "
            "file, a SavedModel folder, or model.to_json()'s file with --weights"
        )
    try:
        model = load_keras_model(model_path, weights=weights)
    except ExportError as exc:  # a custom standardize this process has not registered: say which, and what to do
        raise ExportError(f"{exc}{unregistered_functions_hint(model_path)}") from None
    try:
        found = _resolve(model, model_path, tok_path, options, from_run=from_run)
    except EdgeSentimentError as exc:
        if isinstance(exc, ExportError):
            raise
        raise ExportError(str(exc)) from None
    found.metrics = metrics
    found.keras_version = f"{keras_module(model).__name__} {keras_module(model).__version__}"
    _check_rows(found)
    return found


def _masks(model: Any) -> bool:
    """Whether the model's Embedding masks the pads (mask_zero): its scores do not depend on them."""
    found = [layer for layer in model.layers if type(layer).__name__ == "Embedding"]
    return bool(found) and bool(found[0].get_config().get("mask_zero"))


def _resolve(model: Any, model_path: Path, tok_path: Any, options: TokenizerOptions, from_run: bool) -> Source:
    given = options.given()
    if len(given) > 1:
        raise ExportError(f"give one tokenizer, not {' and '.join(given)}\n{TOKENIZER_HELP}")
    first = _first_layer(model)
    if first is not None and _is_text_vectorization(first):
        if given:
            raise ExportError(f"{model_path} holds its own TextVectorization layer, which is its tokenizer: leave out {given[0]}")
        return _text_vectorization_inside(model, model_path, first, options)
    first_is_embedding = first is not None and type(first).__name__ == "Embedding"  # Keras 2 types its input float
    if len(model.inputs) != 1 or not ("int" in str(model.inputs[0].dtype) or first_is_embedding):
        raise ExportError(
            f"{model_path} takes {[str(i.dtype) for i in model.inputs]} inputs; edge-sentiment exports "
            "models that take one tensor of token ids, or strings through a TextVectorization first layer"
        )
    length = options.max_len or _input_length(model)
    if options.text_vectorization is not None:
        return _text_vectorization_file(model, model_path, Path(options.text_vectorization), options, length)
    if options.word_index is not None:
        return _word_index(model, model_path, options, length)
    if tok_path is None:
        raise ExportError(f"{model_path} is a model file: say which tokenizer its ids came from\n{TOKENIZER_HELP}")
    return _tokenizer_file(model, model_path, tok_path, options, length, from_run)


def _flagged(options: TokenizerOptions) -> dict[str, str]:
    """The pad_sequences sides the user gave (--padding, --truncating): what fixes them."""
    return {side: f"--{side}" for side in ("padding", "truncating") if getattr(options, side) is not None}


def _text_vectorization_file(model: Any, model_path: Path, path: Path, options: TokenizerOptions, length: int | None) -> Source:
    """The text-vectorization route with the layer saved on its own (--text-vectorization)."""
    refuse_unused(options, "text-vectorization", {"padding": "post", "truncating": "post"})
    tok, layer = _load_text_vectorization(path, length, keras_module(model))
    refuse_unused(options, "text-vectorization", {"max_len": tok.max_len})
    reference = _layer_reference(layer, tok.max_len)
    return Source(
        model_path,
        model,
        model,
        tok,
        f"TextVectorization {path.name}",
        keras_from_text=lambda texts: np.asarray(model(reference(texts), training=False)),
        reference_ids=reference,
        reference_name="the TextVectorization layer",
        route="text-vectorization",
        sides_fixed=dict.fromkeys(("padding", "truncating"), "the TextVectorization layer"),
    )


def _word_index(model: Any, model_path: Path, options: TokenizerOptions, length: int | None) -> Source:
    """The word-index route: keras.datasets.imdb ids (load_data's defaults where an option is not given)."""
    assert options.word_index is not None
    refuse_unused(options, "word-index")
    rows = embedding_rows(model)
    if rows is None:
        raise ExportError(f"{model_path} has no Embedding layer to take num_words from")
    if not length:
        raise ExportError("the model's input has no fixed length: pass --max-len (pad_sequences' maxlen)")
    index = read_json_file(options.word_index, "word index")
    tok = KerasImdbTokenizer(
        index,
        num_words=rows,
        **{name: getattr(options, name) for name in KERAS_IMDB_DEFAULTS if getattr(options, name) is not None},
        max_len=length,
        padding=options.padding or "pre",
        truncation=options.truncating or "pre",
    )
    name = f"keras.datasets.imdb word index {Path(options.word_index).name}"
    return _own_ids(model_path, model, tok, name, "word-index", _flagged(options))


def _tokenizer_file(
    model: Any, model_path: Path, tok_path: Any, options: TokenizerOptions, length: int | None, from_run: bool
) -> Source:
    """The routes of a tokenizer file: a classic Keras Tokenizer's JSON, or an edge-sentiment tokenizer.json
    (a run's own, or --tokenizer)."""
    padding, truncating = options.padding or "pre", options.truncating or "pre"
    raw = read_tokenizer_file(tok_path)
    unwrapped = raw
    if isinstance(raw, str):  # written with json.dump(tokenizer.to_json(), f): JSON inside a JSON string
        try:
            unwrapped = json.loads(raw)
        except json.JSONDecodeError:
            pass
    if isinstance(unwrapped, dict) and unwrapped.get("class_name") == "Tokenizer":
        refuse_unused(options, "keras-tokenizer")
        if not length:
            raise ExportError("the model's input has no fixed length: pass --max-len (pad_sequences' maxlen)")
        keras_tok = KerasTokenizer.from_keras_json(unwrapped, max_len=length, padding=padding, truncation=truncating)
        return Source(
            model_path,
            model,
            model,
            keras_tok,
            f"Keras Tokenizer {Path(tok_path).name}",
            keras_from_text=_from_ids(model, keras_tok),
            reference_ids=_classic_reference(unwrapped, keras_tok),
            reference_name="tf-keras's Tokenizer and pad_sequences",
            route="keras-tokenizer",
            sides_fixed=_flagged(options),
        )
    if isinstance(unwrapped, dict) and unwrapped.get("format") == FORMAT:
        route = "run" if from_run else "tokenizer"
        refuse_unused(options, route)
        tok = tokenizer_from_dict(unwrapped)
        overrides = {"max_len": options.max_len, "padding": options.padding, "truncation": options.truncating}
        if any(v is not None for v in overrides.values()):  # the user's pad_sequences settings over the file's
            tok = tokenizer_from_dict({**tok.to_dict(), **{k: v for k, v in overrides.items() if v is not None}})
        fixed = dict.fromkeys(("padding", "truncating"), "the run's tokenizer.json") if from_run else _flagged(options)
        return _own_ids(model_path, model, tok, f"{Path(tok_path).name}", route, fixed)
    raise ExportError(
        f"{tok_path} is neither an edge-sentiment tokenizer.json nor a Keras Tokenizer.to_json() file\n{TOKENIZER_HELP}"
    )


def _from_ids(model: Any, tok: TokenizerBase) -> Callable[[Sequence[str]], np.ndarray]:
    """The Keras model from raw strings through the tokenizer's padded ids: the user's own pipeline."""
    return lambda texts: np.asarray(model(tok.encode_batch(texts), training=False))


def _own_ids(model_path: Path, model: Any, tok: TokenizerBase, name: str, route: str, fixed: dict[str, str]) -> Source:
    """A model on the ids of a tokenizer that is itself the original (no other implementation to check it
    against): the tokenizer gate checks the bundle's file gives the same ids, parity runs from raw strings."""
    reloaded = lambda texts: tokenizer_from_dict(json.loads(tok.to_json())).encode_batch(texts)  # noqa: E731
    return Source(
        model_path,
        model,
        model,
        tok,
        name,
        keras_from_text=_from_ids(model, tok),
        reference_ids=reloaded,
        reference_name=f"the source {name}",
        route=route,
        sides_fixed=fixed,
    )


def _text_vectorization_inside(model: Any, model_path: Path, layer: Any, options: TokenizerOptions) -> Source:
    """A model whose first layer is its TextVectorization: the layer is the tokenizer, the rest takes its ids.

    Without output_sequence_length Keras pads each batch to its longest text: a masked model's scores do
    not depend on that (the bundle reads whole texts, up to MAX_IDS_PER_TEXT ids); an unmasked one's do, so the
    bundle needs a length (--max-len), compared with the layer's ids padded to it.
    """
    fixed_len = layer.get_config().get("output_sequence_length")
    refuse_unused(options, "text-vectorization", {"padding": "post", "truncating": "post", "max_len": fixed_len})
    masked = _masks(model)
    if not fixed_len and not options.max_len and not masked:
        raise ExportError(
            "TextVectorization has no output_sequence_length and the model does not mask its pads "
            "(Embedding mask_zero=False): Keras pads each batch to its longest text, so the model's scores depend "
            "on what else is in the batch. Pass --max-len N: the bundle pads after the words to N ids, and the "
            "export compares it with the layer's ids padded the same way"
        )
    whole = not fixed_len and not options.max_len  # masked: whole texts, as Keras reads them
    tok = tokenizer_from_layer(layer, MAX_IDS_PER_TEXT if whole else options.max_len)
    ids_model = _after_text_vectorization(model, tok.max_len if fixed_len or not masked else None)
    reference = _layer_reference(layer, tok.max_len)
    if fixed_len or whole:
        from_text = lambda texts: np.asarray(model(_string_batch(model, texts), training=False))  # noqa: E731
    else:  # the bundle pads to --max-len, compared on those ids
        from_text = lambda texts: np.asarray(ids_model(reference(texts), training=False))  # noqa: E731
    return Source(
        model_path,
        model,
        ids_model,
        tok,
        "the model's TextVectorization layer" + (" (whole texts: the model masks its pads)" if whole else ""),
        keras_from_text=from_text,
        reference_ids=reference,
        reference_name="the TextVectorization layer",
        route="text-vectorization",
        sides_fixed=dict.fromkeys(("padding", "truncating"), "the TextVectorization layer"),
    )


def _check_rows(found: Source) -> None:
    """Refuse a tokenizer whose ids do not fit the model's embedding, before any conversion."""
    rows = embedding_rows(found.ids_model)
    tok = found.tokenizer
    if rows is None:
        raise ExportError(
            f"{found.model_path} has no Embedding layer after its input; edge-sentiment exports "
            "Embedding -> recurrent layer -> Dense text classifiers"
        )
    if rows < tok.vocab_size or (tok.exact_rows and rows != tok.vocab_size):
        raise ExportError(
            f"the model's embedding has {rows} rows but {found.tokenizer_source} has {tok.vocab_size} ids"
            f"{' (ids up to ' + str(tok.vocab_size - 1) + ')' if rows < tok.vocab_size else ''}: "
            "not the tokenizer it was trained with"
        )
    length = _input_length(found.ids_model)
    if length is not None and length != tok.max_len:
        raise ExportError(
            f"the model takes {length} ids per text but the tokenizer gives {tok.max_len}: pass --max-len to match the model"
        )
