"""The bundle: model.onnx + tokenizer.json + manifest.json, verified on load (export/writer.py writes it).

Everything here is checked before an onnxruntime session is created: the manifest's format version
and the type and range of every field the runtime reads (JSON read with depth and number limits), plain
file names, every file's size and sha256, no links and no FIFOs or devices (opened without blocking,
then refused by fstat), no external data, the input/output contract (the output [batch, classes]), the
op set, and the tokenizer's vocabulary size against the model's embedding rows. runtime/verify.py also
holds the whole folder to the manifest.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import BundleError, EdgeSentimentError
from .files import open_regular, parse_json, sha256_bytes
from .older_formats import model_padding
from .onnxinfo import OnnxInfo, raw_initializer, read_onnx_info
from .tokenizer import TokenizerBase, tokenizer_from_dict
from .tokenizer_base import MAX_IDS_PER_TEXT, MAX_TOKENIZER_BYTES

__all__ = [
    "Bundle",
    "load_bundle",
    "default_bundle_path",
    "FORMAT_VERSION",
    "INPUT_NAME",
    "OUTPUT_NAME",
    "EMBEDDING_NAME",
    "LABELS",
]

FORMAT = "edge-sentiment/bundle"
FORMAT_VERSION = 1
INPUT_NAME = "tokens"  # int32 [batch, length], pre-padded with 0
OUTPUT_NAME = "probability"  # float32 [batch, 1], probability of "positive"
EMBEDDING_NAME = "embedding"  # the initializer holding the embedding matrix [vocab_size, dim]
LABELS = ["negative", "positive"]
PRECISION_FILES = {"fp32": "model.onnx", "int8": "model.int8.onnx"}
# The fp32 fast path (export/fastpath.py): graphs for input without pads, and the two directions of a
# bidirectional LSTM as graphs of their own, run side by side. Each part: its file, inputs and outputs.
FAST_FILES = {
    "unpadded": "model.unpadded.onnx",
    "forward": "model.forward.onnx",
    "backward": "model.backward.onnx",
    "head": "model.head.onnx",
    "short": "model.short.onnx",
}
FAST_IO = {  # "words": model.onnx's embedding rows of the tokens, float32 [length, batch, width]
    "unpadded": (["words"], [OUTPUT_NAME]),
    "forward": (["words"], ["sums", "maxes"]),
    "backward": (["words"], ["sums", "maxes"]),
    "head": (["pooled"], [OUTPUT_NAME]),
    "short": (["words"], [OUTPUT_NAME]),  # one text [length, 1, width] of at most fast_path.short_words words
}
_MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_MAX_MODEL_BYTES = 512 * 1024 * 1024
# Ops an exported sentiment LSTM may hold; anything else (Loop, Scan, If, custom domains) is refused.
ALLOWED_OPS = frozenset(
    "Add Cast Concat Constant Div Equal Expand Gather Greater Identity Less LSTM GRU MatMul Max Min Mul Not "
    "ReduceMean Relu Softmax Split Gemm Neg Exp Sqrt Reciprocal Pow Erf "
    "ReduceMax ReduceSum Reshape Shape Sigmoid Slice Squeeze Sub Tanh Transpose Unsqueeze Where DynamicQuantizeLinear "
    "MatMulInteger DequantizeLinear QuantizeLinear com.microsoft.DynamicQuantizeLSTM "
    "com.microsoft.DynamicQuantizeMatMul com.microsoft.MatMulIntegerToFloat "
    "Conv MaxPool AveragePool GlobalMaxPool GlobalAveragePool Flatten".split()  # CNN and pooling-only text classifiers
)


@dataclass
class Bundle:
    """A verified bundle: its manifest, tokenizer and the bytes of the chosen model."""

    path: Path
    manifest: dict[str, Any]
    tokenizer: TokenizerBase
    precision: str
    model_bytes: bytes
    model_info: OnnxInfo
    fast: dict[str, bytes] = field(default_factory=dict)  # verified fast-path parts (fp32 only), by part name
    short_words: int = 0  # the most words the "short" fast-path part takes (0: none)

    def embedding(self) -> Any:
        """model.onnx's embedding matrix as a read-only numpy view [rows, width] (what the fast path reads)."""
        import numpy as np

        found = raw_initializer(self.model_bytes, EMBEDDING_NAME)
        if found is None or found[0] != "float32" or len(found[1]) != 2:
            raise BundleError(f"{self.path}/model.onnx has no float32 embedding stored as raw data; re-export the bundle")
        rows, width = found[1]
        if len(found[2]) != rows * width * 4:
            raise BundleError(f"{self.path}/model.onnx: the embedding's data does not fit its shape; re-export the bundle")
        return np.frombuffer(found[2], dtype="<f4").reshape(rows, width)

    @property
    def max_len(self) -> int:
        return int(self.manifest["model"]["max_len"])


def default_bundle_path() -> Path:
    """The bundle shipped inside the package."""
    return Path(__file__).resolve().parent.parent / "assets" / "default"


class BundleFolder:
    """A bundle folder opened once: every file is read relative to the same directory (where the OS
    allows), without following links, so a bundle replaced meanwhile is never read half old, half new."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd: int | None = None
        if os.open in os.supports_dir_fd and hasattr(os, "O_DIRECTORY"):
            self.fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)

    def replaced(self) -> bool:
        """Whether another folder now stands at this path (it was swapped while we read)."""
        if self.fd is None:
            return False
        try:
            now = os.stat(self.path)
        except OSError:
            return True
        then = os.fstat(self.fd)
        return (now.st_dev, now.st_ino) != (then.st_dev, then.st_ino)

    def names_of_links(self) -> list[str]:
        with os.scandir(self.fd if self.fd is not None else self.path) as entries:
            return [e.name for e in entries if e.is_symlink()]

    def exists(self, name: str) -> bool:
        try:
            if self.fd is not None:
                os.stat(name, dir_fd=self.fd, follow_symlinks=False)
            else:
                (self.path / name).lstat()
        except FileNotFoundError:
            return False
        return True

    def read(self, name: str, limit: int, what: str) -> bytes:
        shown = self.path / name
        if not is_plain_name(name):
            raise BundleError(f"bundle file name {name!r} is not a plain file name in {self.path}; re-export the bundle")
        try:  # O_NONBLOCK, then fstat: a FIFO or device named as a bundle file is refused, never waited on
            fd = open_regular(name, dir_fd=self.fd, follow=False) if self.fd is not None else open_regular(shown, follow=False)
        except FileNotFoundError:
            raise BundleError(f"bundle file missing: {shown}; re-export the bundle") from None
        except OSError as exc:  # ELOOP: a symbolic link; EINVAL: a FIFO, device or folder; ENXIO: a socket
            raise BundleError(
                f"{shown} is a link or not a regular file ({exc.strerror}); bundles hold only plain files"
            ) from None
        st = os.fstat(fd)
        if st.st_size > limit:
            os.close(fd)
            raise BundleError(f"{what} {shown} is {st.st_size} bytes, more than the {limit} allowed")
        with os.fdopen(fd, "rb") as fh:
            return fh.read(limit + 1)


def read_manifest(opened: BundleFolder) -> dict[str, Any]:
    """The folder's manifest.json, parsed and every field the runtime reads checked (BundleError if not)."""
    folder = opened.path
    if not opened.exists("manifest.json"):
        raise BundleError(f"{folder} is not a bundle: it has no manifest.json; make one with 'edge-sentiment export'")
    raw = opened.read("manifest.json", _MAX_MANIFEST_BYTES, "manifest")
    try:
        data = parse_json(raw, f"{folder}/manifest.json")
    except ValueError as exc:
        raise BundleError(f"{exc}; re-export the bundle") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise BundleError(f"{folder}/manifest.json is not an edge-sentiment bundle manifest")
    version = data.get("format_version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BundleError(f"{folder}/manifest.json has no valid format_version")
    if version > FORMAT_VERSION:
        raise BundleError(
            f"bundle format_version {version} is newer than this edge-sentiment reads ({FORMAT_VERSION}); upgrade edge-sentiment"
        )
    for key in ("files", "model"):
        if not isinstance(data.get(key), dict):
            raise BundleError(f"{folder}/manifest.json has no {key!r} section")
    model, labels = data["model"], data.get("labels", LABELS)
    classes = model.get("classes", 1)
    if not isinstance(classes, int) or isinstance(classes, bool) or classes < 1:
        raise BundleError(f"{folder}/manifest.json has classes {classes!r}: 1 (one sigmoid output) or k (softmax over k)")
    if (
        not isinstance(labels, list)
        or len(labels) != max(classes, 2)
        or len(set(labels)) != len(labels)
        or not all(isinstance(label, str) and label for label in labels)
    ):
        raise BundleError(
            f"{folder}/manifest.json has labels {labels!r}: {max(classes, 2)} distinct names for {classes} output(s)"
        )
    head = model.get("head", "sigmoid" if classes == 1 else "softmax")
    if head not in ("sigmoid", "softmax", "multi-label") or (head == "sigmoid") != (classes == 1):
        raise BundleError(
            f"{folder}/manifest.json has head {head!r} for {classes} output(s): 'sigmoid' for one, "
            "'softmax' or 'multi-label' for k"
        )
    if model.get("pads", "skipped") not in ("skipped", "fed", "none"):
        raise BundleError(f"{folder}/manifest.json has pads {model.get('pads')!r}: one of skipped, fed, none")
    threshold = data.get("threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0.0 < threshold < 1.0:
        raise BundleError(f"{folder}/manifest.json has threshold {threshold!r}; it must be a number between 0 and 1")
    problems = _manifest_problems(data, classes) + decision_problems(data, head)
    if problems:
        raise BundleError(f"{folder}/manifest.json: " + "; ".join(problems) + "; re-export the bundle")
    return data


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def decision_problems(data: dict[str, Any], head: str) -> list[str]:
    """What is wrong with the manifest's calibration and uncertain band (runtime/decision.py reads them)."""
    problems = []
    calibration = data.get("calibration")
    if calibration is not None:
        if not isinstance(calibration, dict) or not _number(calibration.get("temperature")):
            problems.append("calibration has no numeric temperature")
        elif not 0.01 <= calibration["temperature"] <= 100 or not _number(calibration.get("bias", 0.0)):
            problems.append("calibration's temperature must be within 0.01..100 and its bias a number")
        elif head == "softmax" and calibration.get("bias", 0.0) != 0:
            problems.append("calibration has a bias, which a softmax head cannot take")
        elif abs(calibration.get("bias", 0.0)) > 100:
            problems.append("calibration's bias must be within -100..100")
    uncertain = data.get("uncertain")
    if uncertain is not None:
        threshold = data.get("threshold", 0.5)
        if head != "sigmoid":
            problems.append("an uncertain band needs a two-label bundle")
        elif (
            not isinstance(uncertain, dict)
            or not _number(uncertain.get("low"))
            or not _number(uncertain.get("high"))
            or not 0.0 < uncertain["low"] <= threshold <= uncertain["high"] < 1.0
            or uncertain["low"] == uncertain["high"]
        ):
            problems.append("uncertain must be {'low': lo, 'high': hi} with 0 < lo <= threshold <= hi < 1 and lo < hi")
        elif not isinstance(uncertain.get("label", "uncertain"), str) or not str(uncertain.get("label", "uncertain")).strip():
            problems.append("uncertain's label must be a non-empty string")
        elif uncertain.get("label", "uncertain") in data.get("labels", LABELS):
            problems.append("uncertain's label must differ from the bundle's labels")
    return problems


def is_plain_name(name: object) -> bool:
    """A file name a bundle may list: no folder part, not hidden, no '..', nothing the OS would read elsewhere."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= 255
        and name not in (".", "..")
        and not name.startswith(".")
        and not any(c in name for c in "/\\\x00:")
        and name.isprintable()
        and _utf8(name)
    )


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _count(value: Any, low: int, high: int | None = None) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)


def _manifest_problems(data: dict[str, Any], classes: int) -> list[str]:
    """Every field the runtime reads, checked for type and range (collected, so one message names them all)."""
    problems = []
    if not all(label.isprintable() and _utf8(label) for label in data.get("labels", LABELS)):
        problems.append(f"labels {data.get('labels')!r} are not printable UTF-8 names")
    for name, entry in data["files"].items():
        if not is_plain_name(name) or name == "manifest.json":
            problems.append(f"files lists {name!r}, not a plain file name beside manifest.json")
        elif (
            not isinstance(entry, dict)
            or not isinstance(entry.get("sha256"), str)
            or not _SHA256.fullmatch(entry["sha256"])
            or not _count(entry.get("bytes"), 0)
        ):
            problems.append(f"files entry {name!r} is not {{'sha256': 64 hex digits, 'bytes': a count}}")
    model = data["model"]
    if not _count(model.get("max_len"), 1, MAX_IDS_PER_TEXT):
        problems.append(f"model max_len {model.get('max_len')!r} is not a whole number from 1 to {MAX_IDS_PER_TEXT}")
    if not _count(model.get("vocab_size"), 3):
        problems.append(f"model vocab_size {model.get('vocab_size')!r} is not a whole number of at least 3")
    if model_padding(model) not in ("pre", "post"):
        problems.append(f"model padding {model.get('padding')!r} is not 'pre' or 'post'")
    empty = model.get("empty_text")
    if empty is not None and (
        not isinstance(empty, list)
        or len(empty) != classes
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 <= v <= 1 for v in empty)
    ):
        problems.append(f"model empty_text {str(empty)[:40]!r} is not {classes} probabilit{'y' if classes == 1 else 'ies'}")
    if not isinstance(model.get("padding_skip"), (dict, type(None))):
        problems.append(f"model padding_skip {str(model.get('padding_skip'))[:40]!r} is not an object")
    for key in ("precisions", "int8", "source"):  # read by precision="auto" and bench
        if not isinstance(data.get(key), (dict, type(None))):
            problems.append(f"{key} {str(data.get(key))[:40]!r} is not an object")
    precisions = data.get("precisions") or {}
    if isinstance(precisions, dict):
        for precision, name in precisions.items():
            if precision not in PRECISION_FILES or name != PRECISION_FILES[precision] or name not in data["files"]:
                problems.append(f"precisions lists {precision!r}: {name!r}, not a model file it holds")
    return problems


def read_listed_file(opened: BundleFolder, name: str, entry: Any, limit: int) -> bytes:
    """The bytes of a file the manifest lists, checked against its size and sha256 (BundleError if not)."""
    if not isinstance(entry, dict) or not isinstance(entry.get("sha256"), str):
        raise BundleError(f"manifest entry for {name} has no sha256")
    data = opened.read(name, limit, "bundle file")
    if len(data) != entry.get("bytes"):
        raise BundleError(
            f"{name} is {len(data)} bytes but the manifest says {entry.get('bytes')}: "
            "the bundle is truncated or was changed; re-export it"
        )
    if sha256_bytes(data) != entry["sha256"]:
        raise BundleError(f"{name} does not match its sha256 in the manifest: the bundle was changed; re-export it")
    return data


def _fits(shape: list[int | str], classes: int) -> bool:
    """An output shape [batch, classes]: rank 2, its last dimension the classes (or named: the graph decides)."""
    return len(shape) == 2 and (isinstance(shape[1], str) or shape[1] == classes)


def check_model(info: OnnxInfo, manifest: dict[str, Any], tokenizer: TokenizerBase, name: str) -> None:
    problems = []
    if info.external_data:
        problems.append(f"stores tensors outside the file ({', '.join(info.external_data[:3])})")
    if info.functions:
        problems.append(f"defines functions, which no exported bundle has ({', '.join(info.functions[:3])})")
    bad_ops = sorted(set(info.op_census) - ALLOWED_OPS)
    if bad_ops:
        problems.append(f"holds ops a sentiment LSTM bundle never has: {', '.join(bad_ops)}")
    if [i.name for i in info.inputs] != [INPUT_NAME] or info.inputs[0].dtype != "int32":
        problems.append(f"must take one int32 input {INPUT_NAME!r}, takes {[(i.name, i.dtype) for i in info.inputs]}")
    if [o.name for o in info.outputs] != [OUTPUT_NAME] or info.outputs[0].dtype != "float32":
        problems.append(f"must give one float32 output {OUTPUT_NAME!r}, gives {[(o.name, o.dtype) for o in info.outputs]}")
    elif not _fits(info.outputs[0].shape, manifest["model"].get("classes", 1)):
        problems.append(
            f"gives {OUTPUT_NAME!r} of shape {info.outputs[0].shape}, not [batch, {manifest['model'].get('classes', 1)}] "
            "as the manifest's classes say"
        )
    if info.inputs and len(info.inputs[0].shape) != 2:
        problems.append(f"takes {INPUT_NAME!r} of shape {info.inputs[0].shape}, not [batch, length]")
    embedding = info.initializers.get(EMBEDDING_NAME, info.initializers.get(f"{EMBEDDING_NAME}_quantized"))
    if embedding is None or len(embedding) != 2:
        problems.append(f"has no 2-D embedding initializer named {EMBEDDING_NAME!r}")
    elif (
        embedding[0] != manifest["model"].get("vocab_size")
        or embedding[0] < tokenizer.vocab_size
        or (tokenizer.exact_rows and embedding[0] != tokenizer.vocab_size)
    ):
        problems.append(
            f"has {embedding[0]} embedding rows but the tokenizer has {tokenizer.vocab_size} ids "
            f"and the manifest says {manifest['model'].get('vocab_size')}"
        )
    if problems:
        raise BundleError(f"{name} is not a model this runtime will run: " + "; ".join(problems))


def load_bundle(path: str | os.PathLike[str] | None = None, precision: str = "fp32") -> Bundle:
    """Verify a bundle folder and return it, ready for a session; BundleError on any failed check."""
    folder = default_bundle_path() if path is None else Path(path)
    if precision not in PRECISION_FILES:
        raise BundleError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISION_FILES)}")
    if folder.is_symlink():
        raise BundleError(f"{folder} is a symbolic link; pass the bundle folder itself")
    if not folder.is_dir():
        hint = " (the package was installed without its default bundle)" if path is None else ""
        raise BundleError(f"no bundle folder at {folder}{hint}; make one with 'edge-sentiment export'")
    attempts = 3
    while True:
        attempts -= 1
        opened = BundleFolder(folder)
        try:
            return _load(opened, precision)
        except BundleError:
            if not attempts or not opened.replaced():
                raise
            # swapped for a newer bundle while we read: read that one
        finally:
            opened.close()


def _load(opened: BundleFolder, precision: str) -> Bundle:
    folder = opened.path
    links = opened.names_of_links()
    if links:
        raise BundleError(f"{folder / links[0]} is a symbolic link; bundles hold only plain files")
    manifest = read_manifest(opened)
    files = manifest["files"]
    model_name = PRECISION_FILES[precision]
    if model_name not in files:
        have = [p for p, f in PRECISION_FILES.items() if f in files]
        raise BundleError(
            f"bundle {folder} has no {precision} model (it has: {', '.join(have)}); "
            + ("export with --quantize int8" if precision == "int8" else "re-export it")
        )
    if "tokenizer.json" not in files:
        raise BundleError(f"bundle {folder} lists no tokenizer.json in its manifest")
    tok_bytes = read_listed_file(opened, "tokenizer.json", files["tokenizer.json"], MAX_TOKENIZER_BYTES)
    try:
        tokenizer = tokenizer_from_dict(parse_json(tok_bytes, f"{folder}/tokenizer.json"))
    except EdgeSentimentError as exc:
        raise BundleError(f"bundle tokenizer: {exc}") from None
    except ValueError as exc:
        raise BundleError(f"{exc}; re-export the bundle") from None
    if tokenizer.max_len != manifest["model"].get("max_len"):
        raise BundleError(f"tokenizer max_len {tokenizer.max_len} differs from the manifest's {manifest['model'].get('max_len')}")
    skip = manifest["model"].get("padding_skip")
    if not isinstance(skip, (dict, type(None))) or (skip and tokenizer.padding != "pre"):
        raise BundleError(f"the manifest's padding_skip {skip!r} does not fit a {tokenizer.padding}-padded model; re-export it")
    if tokenizer.padding != model_padding(manifest["model"]):
        raise BundleError(
            f"tokenizer pads {tokenizer.padding!r} but the manifest's model is {model_padding(manifest['model'])!r}-padded"
        )
    model_bytes = read_listed_file(opened, model_name, files[model_name], _MAX_MODEL_BYTES)
    info = read_onnx_info(model_bytes)
    check_model(info, manifest, tokenizer, model_name)
    fast = _fast_parts(opened, manifest) if precision == "fp32" else {}
    short_words = int(manifest["fast_path"]["short_words"]) if "short" in fast else 0
    return Bundle(folder, manifest, tokenizer, precision, model_bytes, info, fast, short_words)


def _fast_parts(opened: BundleFolder, manifest: dict[str, Any]) -> dict[str, bytes]:
    """The fast path's files, each checked like model.onnx (sha256, ops, no external data, its inputs and outputs)."""
    section = manifest.get("fast_path")
    if section is None:
        return {}
    parts = section.get("files") if isinstance(section, dict) else None
    if not isinstance(parts, dict) or "unpadded" not in parts or not set(parts) <= set(FAST_FILES):
        raise BundleError(f"{opened.path}/manifest.json has a fast_path section this runtime cannot read; re-export the bundle")
    if {"forward", "backward", "head"} & set(parts) and not {"forward", "backward", "head"} <= set(parts):
        raise BundleError(f"{opened.path}/manifest.json has part of a split fast path; re-export the bundle")
    if manifest["model"].get("pads", "skipped") != "skipped":
        raise BundleError(f"{opened.path}/manifest.json has a fast path for a model whose pads are not skipped")
    if "short" in parts and not _count(section.get("short_words"), 1, manifest["model"]["max_len"]):
        raise BundleError(
            f"{opened.path}/manifest.json has a short-text fast path without short_words from 1 to max_len; re-export the bundle"
        )
    out = {}
    for part, name in parts.items():
        if name != FAST_FILES[part] or name not in manifest["files"]:
            raise BundleError(f"{opened.path}/manifest.json lists fast-path part {part!r} as {name!r}, not a file it holds")
        data = read_listed_file(opened, name, manifest["files"][name], _MAX_MODEL_BYTES)
        part_info = read_onnx_info(data)
        inputs, outputs = FAST_IO[part]
        problems = []
        if part_info.external_data:
            problems.append("stores tensors outside the file")
        if part_info.functions:
            problems.append("defines functions, which no exported bundle has")
        bad_ops = sorted(set(part_info.op_census) - ALLOWED_OPS)
        if bad_ops:
            problems.append(f"holds ops a sentiment LSTM bundle never has: {', '.join(bad_ops)}")
        if [i.name for i in part_info.inputs] != inputs or [o.name for o in part_info.outputs] != outputs:
            problems.append(f"must take {inputs} and give {outputs}")
        if problems:
            raise BundleError(f"{name} is not a model this runtime will run: " + "; ".join(problems))
        out[part] = data
    return out
