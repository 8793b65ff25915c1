"""Load a Keras model file of either generation: Keras 3 (`keras`), or Keras 2 (`tf_keras`, the files the
lab's era wrote: `.h5`, and `.keras` written by tf-keras), telling them apart before loading.

A file whose config holds a Lambda layer (arbitrary Python code) is refused before anything loads it.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

from ..errors import ExportError

__all__ = ["load_keras_model", "keras_generation", "keras_module", "is_saved_model"]

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


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
    """Load a Keras 3 or Keras 2 model file for inference; ExportError for what cannot be loaded safely.

    weights: the weights file of a model given as model.to_json()'s architecture alone.
    """
    path = Path(path)
    if weights is not None or path.is_dir():
        raise ExportError(f"{path}: SavedModel folders and architecture + --weights pairs are not read yet")
    try:
        config, version, form = _config_and_version(path)
    except OSError as exc:
        raise ExportError(f"cannot read the Keras model {path}: {exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError, zipfile.BadZipFile, KeyError) as exc:
        raise ExportError(f"{path} is not a Keras model file edge-sentiment can read ({exc})") from None
    if "Lambda" in _class_names(config):
        raise ExportError(
            f"{path} holds a Lambda layer (arbitrary Python code); edge-sentiment loads Keras models "
            "with safe_mode=True and refuses it"
        )
    generation = 2 if version and version.split(".")[0] == "2" else 3
    if generation == 2:
        return _load_keras2(path, version, form)
    import keras

    from ..train import pooling  # noqa: F401  (registers the WordPooling layer)

    try:
        return keras.models.load_model(path, safe_mode=True, compile=False)
    except (ValueError, TypeError) as exc:
        text = str(exc)
        if "Lambda" in text or "safe_mode" in text:
            raise ExportError(
                f"{path} holds a Lambda layer (arbitrary Python code); edge-sentiment loads Keras models "
                "with safe_mode=True and refuses it"
            ) from None
        hint = ""
        if "TextVectorization" in text and "vocabu" in text:
            hint = (
                " (Keras 3 saves a TextVectorization vocabulary one token a line and reads it back with "
                "str.splitlines(), so a token holding U+0085, U+2028 or another line separator breaks its "
                "own file: save the layer as JSON {'config': get_config(), 'vocabulary': get_vocabulary()} "
                "and the model after it separately, then export with --text-vectorization layer.json)"
            )
        raise ExportError(f"{path} is not a Keras model edge-sentiment can load: {text.splitlines()[0]}{hint}") from None
    except OSError as exc:
        raise ExportError(f"cannot read the Keras model {path}: {exc}") from None


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
