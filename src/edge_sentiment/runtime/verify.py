"""verify_bundle: re-check everything a bundle holds, as `edge-sentiment verify` does.

load_bundle reads only the files a session needs; verify_bundle also holds the folder to its manifest:
every listed file present, a plain file name, its size and sha256; nothing in the folder the manifest
does not list; each .onnx file's edge_sentiment.* metadata_props equal to what the manifest gives
(runtime/metadata.py; a bundle made before them, with none and no MODEL_CARD.md, is said to be one);
then each precision's model loaded and run on a sample, and the conformance vectors through the Python
runtime and through model.text.onnx. File and metadata problems are collected and raised together.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BundleError
from .bundle import PRECISION_FILES, read_listed_file, BundleFolder, read_manifest, is_plain_name, default_bundle_path
from .conformance import CONFORMANCE_FILE, ConformanceResult, check_vectors, compare, load_vectors
from .metadata import MODEL_CARD_FILE, PREFIX, metadata_problems, model_metadata, stamped
from .onnxinfo import read_metadata

__all__ = ["verify_bundle", "VerifyReport", "SAMPLE_TEXT"]

SAMPLE_TEXT = "A wonderful, moving film."
_MAX_FILE_BYTES = 512 * 1024 * 1024


@dataclass
class VerifyReport:
    """What verify_bundle checked; it only returns when every check passed."""

    path: Path
    format_version: int
    files: dict[str, Any]
    models: dict[str, dict[str, Any]] = field(default_factory=dict)  # precision -> file, sample_score
    conformance: ConformanceResult | None = None
    text_model: ConformanceResult | None = None
    metadata: dict[str, int] | None = None  # model file -> edge_sentiment.* keys, all equal to the manifest's; None: none

    def to_dict(self, shown: str | None = None) -> dict[str, Any]:
        def figures(r: ConformanceResult | None) -> dict[str, Any] | None:
            return None if r is None else {"texts": r.texts, "ids_identical": r.ids_identical, "max_abs_diff": r.max_abs_diff}

        text = figures(self.text_model)
        return {
            "bundle": shown or str(self.path),
            "ok": True,
            "format_version": self.format_version,
            "files": self.files,
            "models": self.models,
            "metadata": self.metadata,
            "conformance": figures(self.conformance),
            "text_model": None if text is None else {"file": "model.text.onnx", **text},
        }

    def lines(self, shown: str | None = None) -> list[str]:
        out = [f"✓ {shown or self.path}: format {self.format_version}, {len(self.files)} files match their sha256"]
        out += [f"✓ {p} ({r['file']}): verified and ran, sample score {r['sample_score']:.4f}" for p, r in self.models.items()]
        if self.conformance is None:
            out.append(
                f"- no {CONFORMANCE_FILE} (a bundle made before conformance vectors; "
                "tools/maintenance/add_conformance.py adds them)"
            )
        else:
            out.append(f"✓ {CONFORMANCE_FILE}: {self.conformance.describe()}")
        if self.text_model is not None:
            out.append(f"✓ text (model.text.onnx), batch of {self.text_model.texts}: {self.text_model.describe()}")
        if self.metadata is None:
            out.append(
                f"- no {PREFIX}* metadata in the model files and no {MODEL_CARD_FILE} (a bundle made before them; "
                "tools/maintenance/add_metadata.py adds them)"
            )
        else:
            keys = max(self.metadata.values(), default=0)
            out.append(f"✓ metadata in {', '.join(self.metadata)}: the manifest's {keys} {PREFIX}* keys; {MODEL_CARD_FILE}")
        return out


def _audit(folder: Path) -> tuple[dict[str, Any], list[str], dict[str, dict[str, str]]]:
    """The manifest, every way the folder differs from it (missing, unlisted, odd names, bad sha256), and
    the metadata_props of each .onnx file that matches."""
    opened = BundleFolder(folder)
    try:
        manifest = read_manifest(opened)  # field types and names; BundleError at once when it cannot be read
        problems, metadata = [], {}
        with os.scandir(opened.fd if opened.fd is not None else folder) as entries:
            present = {e.name: e for e in entries}
        for name, entry in present.items():
            if name == "manifest.json":
                continue
            if name not in manifest["files"]:
                kind = "folder" if entry.is_dir(follow_symlinks=False) else "file"
                problems.append(f"{folder / name}: a {kind} the manifest does not list (a bundle holds only its listed files)")
        for name, entry in manifest["files"].items():
            if not is_plain_name(name):
                problems.append(f"the manifest lists {name!r}, not a plain file name inside the bundle")
            elif name not in present:
                problems.append(f"{folder / name}: listed in the manifest but missing")
            else:
                try:
                    data = read_listed_file(opened, name, entry, _MAX_FILE_BYTES)
                    if name.endswith(".onnx"):
                        metadata[name] = read_metadata(data)
                except BundleError as exc:
                    problems.append(f"{name}: {exc}" if name not in str(exc) else str(exc))
        return manifest, problems, metadata
    finally:
        opened.close()


def _metadata_check(manifest: dict[str, Any], found: dict[str, dict[str, str]]) -> tuple[dict[str, int] | None, list[str]]:
    """Each model file's stamped keys against the manifest's (file -> keys), and every difference; (None, [])
    for a bundle made before metadata: no model file carries any and there is no MODEL_CARD.md."""
    if MODEL_CARD_FILE not in manifest["files"] and not any(stamped(m) for m in found.values()):
        return None, []
    tokenizer_sha256 = str((manifest["files"].get("tokenizer.json") or {}).get("sha256", ""))
    problems, keys = [], {}
    for name, metadata in found.items():
        expected = model_metadata(manifest, name, tokenizer_sha256)
        problems += metadata_problems(name, metadata, expected)
        keys[name] = len(expected)
    if MODEL_CARD_FILE not in manifest["files"]:
        problems.append(
            f"{MODEL_CARD_FILE}: not in the bundle, though its model files carry metadata (every bundle written has both)"
        )
    return keys, problems


def verify_bundle(path: str | os.PathLike[str] | None = None) -> VerifyReport:
    """Re-check a bundle folder (the shipped default when None) and run each of its models; BundleError
    naming every file that differs from the manifest, or the first model or vector that fails."""
    from .predictor import Predictor
    from .textmodel import TEXT_MODEL_FILE, TextModel

    folder = default_bundle_path() if path is None else Path(path)
    if folder.is_symlink():
        raise BundleError(f"{folder} is a symbolic link; pass the bundle folder itself")
    if not folder.is_dir():
        raise BundleError(f"no bundle folder at {folder}; make one with 'edge-sentiment export'")
    manifest, problems, metadata = _audit(folder)
    keys, wrong = _metadata_check(manifest, metadata)
    problems += wrong
    if problems:
        raise BundleError(f"{folder} does not match its manifest:\n  " + "\n  ".join(problems) + "\nre-export the bundle")
    report = VerifyReport(folder, manifest["format_version"], manifest["files"], metadata=keys)
    vectors = None
    for precision, name in PRECISION_FILES.items():
        if precision != "fp32" and name not in manifest["files"]:
            continue
        predictor = Predictor.load(folder, precision=precision, threads=1)  # verifies before the session
        score = predictor.predict(SAMPLE_TEXT)[0].score
        if not 0.0 <= score <= 1.0:
            raise BundleError(f"the {precision} model of {folder} gave {score}, not a probability")
        report.models[precision] = {"file": name, "sample_score": score}
        if precision == "fp32":
            vectors = load_vectors(predictor.bundle)
            report.conformance = None if vectors is None else check_vectors(predictor, vectors)
            if report.conformance is not None and not report.conformance.passed:
                raise BundleError(f"{folder} fails its own {CONFORMANCE_FILE}: {report.conformance.describe()}")
    if TEXT_MODEL_FILE in manifest["files"]:  # verified (sha256, contract) before its session, then run on the vectors
        text_model = TextModel.load(folder, calibrated=False)  # the vectors hold the model's own scores
        if vectors is not None:
            scores, ids = text_model.run([v.text for v in vectors])
            report.text_model = compare(vectors, ids, scores)
            if not report.text_model.passed:
                raise BundleError(f"{folder}/{TEXT_MODEL_FILE} fails {CONFORMANCE_FILE}: {report.text_model.describe()}")
    return report
