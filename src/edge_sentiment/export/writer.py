"""Write a bundle atomically: built beside the target, verified as the runtime verifies it, then swapped in."""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import BundleError
from ..runtime.bundle import FORMAT, FORMAT_VERSION, PRECISION_FILES, load_bundle
from ..runtime.conformance import CONFORMANCE_FILE, check_vectors, load_vectors
from ..runtime.files import atomic_folder, sha256_bytes, sha256_file
from ..runtime.textmodel import TEXT_MODEL_FILE, TextModel

__all__ = ["write_bundle", "kept_files", "rewrite_bundle"]


def write_bundle(
    target: str | os.PathLike[str],
    files: dict[str, bytes],
    manifest: dict[str, Any],
    *,
    force: bool = False,
) -> dict[str, Any]:
    """Write files + manifest.json into target atomically; returns the manifest as written.

    The new bundle is verified as the runtime verifies it before it replaces target; if it fails,
    BundleError is raised and target is left as it was.
    """
    manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **manifest,
        "files": {},
    }
    with atomic_folder(target, force=force, what="bundle") as tmp:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
            manifest["files"][name] = {"sha256": sha256_file(tmp / name), "bytes": len(data)}
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
