"""Load a Keras model of either generation: Keras 3 (`keras`), or Keras 2 (`tf_keras`, the files the lab's
era wrote: `.h5`, `.keras` written by tf-keras, a SavedModel folder from `model.save(dir)`, and
`model.to_json()` with its weights file), telling them apart before loading.

A model whose config holds a Lambda layer (arbitrary Python code) is refused before anything loads it. A
Keras 3 `.keras` whose TextVectorization vocabulary holds a line separator Keras's own loader splits on
(U+0085, U+2028, ...) is read with the vocabulary taken from the archive line by line.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from ..errors import ExportError
from .options import MAX_USER_FILE_BYTES

__all__ = ["load_keras_model", "keras_generation", "keras_module", "is_saved_model"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_LAMBDA = "holds a Lambda layer (arbitrary Python code); edge-sentiment loads Keras models with safe_mode=True and refuses it"


def _config_and_version(path: Path) -> tuple[Any, str | None, str]:
    """(model config, keras_version, format) read from the file without loading the model."""
    with open(path, "rb") as fh:
        head = fh.read(8)
    if head == _HDF5_MAGIC:
        import h5py

        with h5py.File(path, "r") as h5:
            version, config = h5.attrs.get("keras_version"), h5.attrs.get("model_config")
        version = version.decode() if isinstance(version, bytes) else version
        config = config.decode() if isinstance(config, bytes) else config
        return (json.loads(config) if config else None), version, "h5"
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            meta = json.loads(archive.read("metadata.json")) if "metadata.json" in names else {}
            config = json.loads(archive.read("config.json")) if "config.json" in names else None
        return config, meta.get("keras_version"), "keras"
    if head.lstrip()[:1] == b"{":
        raise ExportError(
            f"{path} looks like model.to_json()'s architecture, which holds no weights: pass the weights file "
            "model.save_weights() wrote with --weights"
        )
    raise ExportError(f"{path} is neither a .keras (zip) nor an .h5 Keras model file")


def _class_names(config: Any) -> set[str]:
    found: set[str] = set()
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if isinstance(item.get("class_name"), str):
                found.add(item["class_name"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def keras_generation(path: str | os.PathLike[str]) -> int:
    """2 for a file written by Keras 2 / tf-keras, 3 for Keras 3."""
    _, version, _ = _config_and_version(Path(path))
    return 2 if version and version.split(".")[0] == "2" else 3


def keras_module(model: Any) -> Any:
    """The Keras package a model object belongs to: keras (3) or tf_keras (2)."""
    if type(model).__module__.split(".")[0] == "tf_keras":
        import tf_keras

        return tf_keras
    import keras

    return keras


def is_saved_model(path: str | os.PathLike[str]) -> bool:
    """Whether a folder is a TensorFlow SavedModel (model.save(dir) in TF 2.x Keras, tf.saved_model.save)."""
    return (Path(path) / "saved_model.pb").is_file()


def load_keras_model(path: str | os.PathLike[str], weights: str | os.PathLike[str] | None = None) -> Any:
    """Load a Keras 3 or Keras 2 model (file, SavedModel folder, or model.to_json()'s file with its weights)
    for inference; ExportError for what cannot be loaded safely.

    weights: the weights file of a model given as model.to_json()'s architecture alone.
    """
    path = Path(path)
    if path.is_dir():
        if weights is not None:
            raise ExportError(f"--weights goes with model.to_json()'s file; the SavedModel folder {path} holds its weights")
        return _load_saved_model(path)
    if weights is not None:
        return _load_json_and_weights(path, Path(weights))
    try:
        config, version, form = _config_and_version(path)
    except OSError as exc:
        raise ExportError(f"cannot read the Keras model {path}: {exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, zipfile.BadZipFile, KeyError) as exc:
        raise ExportError(f"{path} is not a Keras model file edge-sentiment can read ({exc})") from None
    if "Lambda" in _class_names(config):
        raise ExportError(f"{path} {_LAMBDA}")
    generation = 2 if version and version.split(".")[0] == "2" else 3
    if generation == 2:
        return _load_keras2(path, version, form)
    vocabularies = _split_vocabularies(path, config) if form == "keras" else {}
    if not vocabularies:
        return _load_keras3(path, path)
    with tempfile.TemporaryDirectory(prefix="edge-sentiment-") as tmp:
        return _load_keras3(_with_vocabularies(path, config, vocabularies, Path(tmp)), path)


def _load_keras3(path: Path, shown: Path) -> Any:
    import keras

    from ..train import pooling  # noqa: F401  (registers the WordPooling layer)

    try:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except (ValueError, TypeError) as exc:
        text = str(exc)
        if "Lambda" in text or "safe_mode" in text:
            raise ExportError(f"{shown} {_LAMBDA}") from None
        raise ExportError(f"{shown} is not a Keras model edge-sentiment can load: {text.splitlines()[0]}") from None
    except OSError as exc:
        raise ExportError(f"cannot read the Keras model {shown}: {exc}") from None


# -- a .keras whose vocabulary Keras 3 cannot read back ---------------------------------------------


def _split_vocabularies(path: Path, config: Any) -> dict[str, tuple[dict[str, Any], list[str]]]:
    """The vocabulary.txt assets Keras 3 would misread (by asset name: the layer config, the tokens), read as
    written: one token a line, lines ended by "\\n" alone. Keras reads them back with str.splitlines(), which
    also splits on U+0085, U+2028 and other separators a token can hold: it refuses the file, or loads a
    vocabulary that is not the one saved."""
    layers = _text_vectorization_assets(config, "assets/layers")
    found: dict[str, tuple[dict[str, Any], list[str]]] = {}
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        for name, layer in layers.items():
            if name not in names:
                continue
            try:
                text = archive.read(name).decode("utf-8")
            except UnicodeDecodeError:
                raise ExportError(f"{path}: the vocabulary asset {name} is not UTF-8") from None
            if text.split("\n") == text.splitlines():
                continue
            tokens = text.split("\n")
            size = layer.get("vocabulary_size")
            if size is not None and len(tokens) != size:
                raise ExportError(
                    f"{path}: the vocabulary asset {name} has {len(tokens)} lines but the layer has {size} tokens "
                    "(a token is a newline): save the layer as JSON {'config': get_config(), 'vocabulary': "
                    "get_vocabulary()} and export the model after it with --text-vectorization layer.json"
                )
            found[name] = (layer, tokens)
    return found


def _snake_case(name: str) -> str:
    """A class name as Keras 3 names its folder in a .keras archive (keras.src.utils.naming.to_snake_case)."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _text_vectorization_assets(model: Any, prefix: str) -> dict[str, dict[str, Any]]:
    """Where Keras 3 saves each TextVectorization layer's vocabulary in a .keras archive, with the layer's config:
    a model's layers are saved in order under their class's snake_case name, the second of a class with "_1"."""
    found: dict[str, dict[str, Any]] = {}
    layers = model.get("config", {}).get("layers") if isinstance(model, dict) and isinstance(model.get("config"), dict) else None
    if not isinstance(layers, list):
        return found
    used: dict[str, int] = {}
    for layer in layers:
        if not isinstance(layer, dict) or not isinstance(layer.get("class_name"), str):
            continue
        base = _snake_case(layer["class_name"])
        used[base] = used.get(base, -1) + 1
        folder = f"{prefix}/{base}" if used[base] == 0 else f"{prefix}/{base}_{used[base]}"
        if layer["class_name"] == "TextVectorization" and isinstance(layer.get("config"), dict):
            found[f"{folder}/vocabulary.txt"] = layer["config"]
        found.update(_text_vectorization_assets(layer, f"{folder}/layers"))
    return found


def _with_vocabularies(path: Path, config: Any, vocabularies: dict[str, tuple[dict[str, Any], list[str]]], tmp: Path) -> Path:
    """A copy of the archive whose TextVectorization configs carry their vocabularies, which Keras then
    takes from the config instead of the asset (the weights and everything else are the archive's own)."""
    for layer, tokens in vocabularies.values():
        layer["vocabulary"] = tokens
    copy = tmp / path.name
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(copy, "w") as target:
        for item in source.infolist():
            data = json.dumps(config).encode("utf-8") if item.filename == "config.json" else source.read(item)
            target.writestr(item, data)
    return copy


# -- SavedModel folders and model.to_json() + weights (Keras 2) ------------------------------------

_KERAS_OBJECTS = (
    "_tf_keras_input_layer",
    "_tf_keras_layer",
    "_tf_keras_metric",
    "_tf_keras_model",
    "_tf_keras_network",
    "_tf_keras_rnn_layer",
    "_tf_keras_sequential",
)
# Graph ops that touch files or run Python: a SavedModel of Keras layers has none of them.
_UNSAFE_OPS = frozenset({"WriteFile", "ReadFile", "MatchingFiles", "PyFunc", "PyFuncStateless", "EagerPyFunc", "ImmutableConst"})


def _tf_keras(path: Path, what: str) -> Any:
    try:
        import tf_keras
    except ImportError:
        raise ExportError(f"{path} is {what}, which only tf-keras loads: pip install 'edge-sentiment[train]'") from None
    return tf_keras


def _saved_model_metadata(path: Path) -> list[Any]:
    """The Keras metadata of a SavedModel's objects (keras_metadata.pb, or inside saved_model.pb before TF 2.5),
    each a JSON config; ExportError for a SavedModel that is not a Keras model."""
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    try:
        saved.ParseFromString((path / "saved_model.pb").read_bytes())
    except Exception as exc:  # protobuf's DecodeError, or an unreadable file
        raise ExportError(f"{path}/saved_model.pb is not a SavedModel edge-sentiment can read ({exc})") from None
    graphs = list(saved.meta_graphs)
    ops = {n.op for g in graphs for n in g.graph_def.node} | {
        n.op for g in graphs for f in g.graph_def.library.function for n in f.node_def
    }
    if ops & _UNSAFE_OPS:
        raise ExportError(
            f"{path} holds {', '.join(sorted(ops & _UNSAFE_OPS))} ops, which read or write files or run Python: a "
            "SavedModel of Keras layers has none, and edge-sentiment does not load it"
        )
    objects = [n.user_object for g in graphs[:1] for n in g.object_graph_def.nodes if n.WhichOneof("kind") == "user_object"]
    keras_objects = [o for o in objects if o.identifier in _KERAS_OBJECTS]
    metadata_file = path / "keras_metadata.pb"
    if metadata_file.is_file():
        from tf_keras.protobuf import saved_metadata_pb2

        metadata = saved_metadata_pb2.SavedMetadata()
        try:
            metadata.ParseFromString(metadata_file.read_bytes())
        except Exception as exc:  # protobuf's DecodeError
            raise ExportError(f"{metadata_file} is not Keras metadata ({exc})") from None
        texts = [node.metadata for node in metadata.nodes]
    else:
        texts = [o.metadata for o in keras_objects if o.metadata]
    if not keras_objects and not texts:
        raise ExportError(
            f"{path} is a SavedModel with no Keras model in it (Keras 3's model.export() and tf.saved_model.save() "
            "write its graph alone), which no Keras can load as a model. Pass the model itself: the .keras file "
            "model.save('model.keras') writes (or .h5), or a TF 2.x Keras model.save(dir) folder"
        )
    if not texts:
        raise ExportError(
            f"{path} is a Keras SavedModel without its keras_metadata.pb (model.save(dir) writes it beside "
            "saved_model.pb from TF 2.5 on): put the file back, or pass the model as a .keras or .h5 file"
        )
    try:
        return [json.loads(text) for text in texts]
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ExportError(f"{path}: its Keras metadata is not JSON ({exc})") from None


def _load_saved_model(path: Path) -> Any:
    """A TF 2.x Keras model.save(dir) folder, loaded by tf-keras once its metadata shows no Lambda layer."""
    if not is_saved_model(path):
        raise ExportError(f"{path} is a folder without saved_model.pb: not a SavedModel")
    tf_keras = _tf_keras(path, "a TF 2.x Keras SavedModel folder")
    metadata = _saved_model_metadata(path)
    if "Lambda" in _class_names(metadata):
        raise ExportError(f"{path} {_LAMBDA}")
    try:
        model = tf_keras.models.load_model(str(path), compile=False)
    except Exception as exc:  # tf-keras and TensorFlow raise many kinds for a folder they cannot load
        raise ExportError(f"{path} could not be loaded by tf-keras: {str(exc).splitlines()[0]}") from None
    if not isinstance(model, tf_keras.Model):
        raise ExportError(f"{path} loads as {type(model).__name__}, not a Keras model")
    return model


def _load_json_and_weights(path: Path, weights: Path) -> Any:
    """model.to_json()'s architecture with model.save_weights()'s file: .h5, .weights.h5, or a TF checkpoint
    (tf-keras's save_weights("ckpt") writes ckpt.index and ckpt.data-*: given as ckpt.index)."""
    if weights.suffix == ".index":
        weights = weights.with_suffix("")
    elif not weights.is_file():
        raise ExportError(f"--weights {weights}: no such file")
    try:
        if path.stat().st_size > MAX_USER_FILE_BYTES:
            raise ExportError(f"{path} is larger than any model.to_json() file ({MAX_USER_FILE_BYTES} bytes)")
        text = path.read_text(encoding="utf-8")
        config = json.loads(text)
    except OSError as exc:
        raise ExportError(f"cannot read the Keras model {path}: {exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ExportError(
            f"{path} is not model.to_json()'s JSON: --weights goes with the architecture file model.to_json() wrote"
        ) from None
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str) or "config" not in config:
        raise ExportError(f"{path} is not model.to_json()'s JSON ({{'class_name': ..., 'config': ...}})")
    if "Lambda" in _class_names(config):
        raise ExportError(f"{path} {_LAMBDA}")
    version = config.get("keras_version")
    if isinstance(version, str) and version.split(".")[0] == "2":
        keras: Any = _tf_keras(path, f"written by Keras {version} (Keras 2)")
    else:
        import keras  # type: ignore[no-redef]

        from ..train import pooling  # noqa: F401  (registers the WordPooling layer)
    try:
        model = keras.models.model_from_json(text)
    except (ValueError, TypeError, KeyError) as exc:
        raise ExportError(f"{path}: {keras.__name__} cannot build this architecture: {str(exc).splitlines()[0]}") from None
    try:
        model.load_weights(str(weights))
    except Exception as exc:  # h5py, TensorFlow's checkpoint reader and Keras raise many kinds
        raise ExportError(f"the weights in {weights} do not fit the architecture in {path}: {str(exc).splitlines()[0]}") from None
    return model


def _load_keras2(path: Path, version: str | None, form: str) -> Any:
    try:
        import tf_keras
    except ImportError:
        raise ExportError(
            f"{path} was written by Keras {version} (Keras 2), which Keras 3 cannot load; it needs tf-keras: "
            "pip install 'edge-sentiment[train]'"
        ) from None
    try:
        if form == "h5":
            return tf_keras.models.load_model(path, compile=False)
        return tf_keras.models.load_model(path, compile=False, safe_mode=True)
    except (ValueError, TypeError, OSError) as exc:
        raise ExportError(f"{path} (Keras {version}) could not be loaded by tf-keras: {str(exc).splitlines()[0]}") from None
