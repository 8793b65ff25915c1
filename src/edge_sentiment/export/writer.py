"""Write a bundle atomically: built beside the target, verified as the runtime verifies it, then swapped in.

Every write stamps the manifest's facts into each .onnx file's metadata_props (runtime/metadata.py;
every other byte of the file kept) and writes MODEL_CARD.md (export/modelcard.py), both from the
manifest alone, before the checksums: the same manifest gives the same bytes.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import BundleError, MissingDependencyError
from ..runtime.bundle import FORMAT, FORMAT_VERSION, PRECISION_FILES, load_bundle
from ..runtime.conformance import CONFORMANCE_FILE, check_vectors, load_vectors
from ..runtime.files import atomic_folder, sha256_bytes, sha256_file
from ..runtime.metadata import MODEL_CARD_FILE, PREFIX, model_metadata, stamped
from ..runtime.onnxinfo import read_metadata, strip_metadata
from ..runtime.textmodel import TEXT_MODEL_FILE, TextModel
from .modelcard import model_card

__all__ = ["write_bundle", "kept_files", "rewrite_bundle", "stamp_metadata", "stamp_files", "restamp_bundle"]


def write_bundle(
    target: str | os.PathLike[str],
    files: dict[str, bytes],
    manifest: dict[str, Any],
    *,
    force: bool = False,
) -> dict[str, Any]:
    """Write files + manifest.json into target atomically; returns the manifest as written.

    The .onnx files are stamped with the manifest's metadata and MODEL_CARD.md is generated (one given
    in files is replaced). The new bundle is verified as the runtime verifies it before it replaces
    target; if it fails, BundleError is raised and target is left as it was.
    """
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **manifest,
        "files": {},
    }
    files = stamp_files({k: v for k, v in files.items() if k != MODEL_CARD_FILE}, manifest)
    with atomic_folder(target, force=force, what="bundle") as tmp:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
            manifest["files"][name] = {"sha256": sha256_file(tmp / name), "bytes": len(data)}
        card = model_card(manifest)  # from the manifest with every other file's size and sha256
        (tmp / MODEL_CARD_FILE).write_bytes(card)
        manifest["files"][MODEL_CARD_FILE] = {"sha256": sha256_file(tmp / MODEL_CARD_FILE), "bytes": len(card)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        for precision, name in PRECISION_FILES.items():  # the runtime must accept it before it replaces anything
            if name in files:
                load_bundle(tmp, precision=precision)
        if TEXT_MODEL_FILE in files:
            TextModel.load(tmp)
        if CONFORMANCE_FILE in files:  # and its own conformance vectors
            from ..runtime.predictor import Predictor

            result = check_vectors(Predictor(load_bundle(tmp), threads=1), load_vectors(load_bundle(tmp)) or [])
            if not result.passed:
                raise BundleError(f"the bundle fails its own {CONFORMANCE_FILE}: {result.describe()}")
    return manifest


def stamp_metadata(data: bytes, metadata: dict[str, str], name: str = "model.onnx") -> bytes:
    """An ONNX file with its edge_sentiment.* metadata_props replaced by metadata (other keys kept, in
    order, then these sorted); BundleError if anything but metadata_props would change."""
    try:
        import onnx
    except ImportError:
        raise MissingDependencyError.for_extra("onnx", "train", "Writing a bundle (its model files' metadata)") from None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except Exception as exc:  # protobuf's DecodeError
        raise BundleError(f"{name} is not an ONNX file the onnx package reads ({exc}); re-export the bundle") from None
    kept = [(entry.key, entry.value) for entry in model.metadata_props if not entry.key.startswith(PREFIX)]
    del model.metadata_props[:]
    for key, value in [*kept, *sorted(metadata.items())]:
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    out: bytes = model.SerializeToString()
    if strip_metadata(out, PREFIX) != strip_metadata(data, PREFIX):  # byte for byte, read by the runtime's reader
        raise BundleError(
            f"{name} does not come back byte for byte through the onnx package, so its metadata cannot be "
            "stamped without changing the model; re-export it with tf2onnx or onnx"
        )
    return out


def stamp_files(files: dict[str, bytes], manifest: dict[str, Any]) -> dict[str, bytes]:
    """files with every .onnx file stamped with the manifest's metadata (runtime/metadata.py), each read
    back by the runtime's own reader to check it holds exactly those keys."""
    tokenizer = files.get("tokenizer.json")
    if tokenizer is None:
        raise BundleError("a bundle needs tokenizer.json; its sha256 goes into the model files' metadata")
    try:
        expected = {name: model_metadata(manifest, name, sha256_bytes(tokenizer)) for name in files if name.endswith(".onnx")}
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleError(
            f"the manifest's model section cannot describe the model files ({exc!r}); re-export the bundle"
        ) from None
    out = dict(files)
    for name, metadata in expected.items():
        out[name] = stamp_metadata(files[name], metadata, name)
        if stamped(read_metadata(out[name])) != metadata:
            raise BundleError(f"{name}'s metadata does not read back as stamped")
    return out


def restamp_bundle(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Rewrite a bundle (atomically, verified) with its model files' metadata and MODEL_CARD.md made
    from its manifest; every other file kept byte for byte. Returns the manifest as written."""
    folder = Path(path)
    manifest = load_bundle(folder).manifest  # verified: the files read back match the manifest
    return rewrite_bundle(folder, kept_files(folder, manifest, {MODEL_CARD_FILE}), manifest)


def kept_files(path: Path, manifest: dict[str, Any], leave_out: set[str]) -> dict[str, bytes]:
    """A bundle's files but leave_out, each checked against its sha256 in the manifest (to be written back byte for byte)."""
    files = {}
    for name, entry in manifest["files"].items():
        if name in leave_out:
            continue
        content = (path / name).read_bytes()
        if sha256_bytes(content) != entry["sha256"]:
            raise BundleError(f"{path / name} does not match its sha256 in the manifest; re-export the bundle")
        files[name] = content
    return files


def rewrite_bundle(path: Path, files: dict[str, bytes], manifest: dict[str, Any]) -> dict[str, Any]:
    """Write a loaded bundle's (edited) files and manifest back over it, atomically, verified as on export."""
    kept = {k: v for k, v in manifest.items() if k not in ("format", "format_version", "files")}
    return write_bundle(path, files, kept, force=True)
