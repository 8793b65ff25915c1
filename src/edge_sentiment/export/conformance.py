"""Conformance vectors for a bundle: computed from the staged bundle itself (its tokenizer and fp32
model through the runtime), written by export, and added to bundles made before them (add_conformance)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..runtime.bundle import load_bundle
from ..runtime.conformance import CONFORMANCE_FILE
from ..runtime.predictor import Predictor
from .vectors import conformance_vectors, vectors_to_jsonl
from .gates import PARITY_ATOL
from .writer import kept_files, rewrite_bundle

__all__ = ["conformance_file", "add_conformance"]


def conformance_file(predictor: Predictor) -> tuple[bytes, dict[str, Any]]:
    """conformance.jsonl's bytes and the manifest's "conformance" section, from a fp32 predictor."""
    vectors = conformance_vectors(predictor)
    section = {
        "file": CONFORMANCE_FILE,
        "texts": len(vectors),
        "precision": "fp32",
        "atol": PARITY_ATOL,
        "ids": "tokenizer.encode(text): at most max_len ids, truncated as the tokenizer says, not padded",
        "score": "the fp32 model's own output through the Python runtime (Predictor.predict_proba, calibrated=False)",
    }
    return vectors_to_jsonl(vectors), section


def add_conformance(bundle: str | os.PathLike[str]) -> dict[str, Any]:
    """Rewrite a bundle (atomically) with conformance.jsonl computed from its own files; returns the manifest."""
    path = Path(bundle)
    loaded = load_bundle(path)  # verified, fp32
    manifest = dict(loaded.manifest)
    files = kept_files(path, manifest, {CONFORMANCE_FILE})
    data, section = conformance_file(Predictor(loaded, threads=1, calibrated=False))  # the model's own scores
    files[CONFORMANCE_FILE] = data
    manifest["conformance"] = section
    return rewrite_bundle(path, files, manifest)
