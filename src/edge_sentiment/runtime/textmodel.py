"""The text-in model of a bundle (model.text.onnx, export --text-model): NFKC-normalised strings in,
probability and the ids it fed out, the tokenizer inside the graph; verified before a session is made.

The graph cannot normalise Unicode (no stock onnxruntime op does NFKC), so the host does that one
standard step (here unicodedata.normalize; in JavaScript String.prototype.normalize) and the graph
does the rest of the edge-sentiment v1 tokenizer: lower-casing, HTML tags, words, vocabulary.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..errors import BundleError, InputError
from .decision import Decision
from .bundle import ALLOWED_OPS, OUTPUT_NAME, Bundle, read_listed_file, BundleFolder, load_bundle
from .onnxinfo import OnnxInfo, read_onnx_info
from .sessions import direct_run
from .tokenizer import KIND, text_window

__all__ = [
    "TextModel",
    "MAX_TEXT_CHARS",
    "TEXT_MODEL_FILE",
    "TEXT_INPUT",
    "TEXT_TOKENS",
    "LOCALE",
    "TEXT_OPS",
    "prepare",
    "check_text_model",
]

TEXT_MODEL_FILE = "model.text.onnx"
TEXT_INPUT = "text"  # string [batch]: NFKC-normalised text
TEXT_TOKENS = "tokens"  # int32 [batch, length]: the ids fed to the model, pre-padded with 0
LOCALE = "C.UTF-8"  # StringNormalizer's locale: present with glibc >= 2.35, musl and onnxruntime-web
# The ops the text graph adds in front of model.onnx's
TEXT_OPS = frozenset(
    "StringNormalizer com.microsoft.Tokenizer ai.onnx.ml.LabelEncoder ConstantOfShape Range TopK "
    "GatherElements Identity Expand Greater Where".split()
)
_MAX_BYTES = 512 * 1024 * 1024
# The most characters of one text the graph is given: a longer text is cut to the end that holds its
# last max_len words (tokenizer.text_window), and refused when it has no place to cut.
MAX_TEXT_CHARS = 1 << 20
_WINDOW_FROM = MAX_TEXT_CHARS // 64  # texts longer than this are cut to their window first
_OUTPUTS = [OUTPUT_NAME, TEXT_TOKENS]


def prepare(text: str) -> str:
    """What the host does before the graph: NFKC (edge-sentiment v1 normalises only non-ASCII text)."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def check_text_model(info: OnnxInfo, name: str = TEXT_MODEL_FILE) -> None:
    problems = []
    if info.external_data:
        problems.append("stores tensors outside the file")
    if info.functions:
        problems.append("defines functions, which no exported text model has")
    bad = sorted(set(info.op_census) - ALLOWED_OPS - TEXT_OPS)
    if bad:
        problems.append(f"holds ops a text model never has: {', '.join(bad)}")
    if [(i.name, i.dtype) for i in info.inputs] != [(TEXT_INPUT, "string")]:
        problems.append(f"must take one string input {TEXT_INPUT!r}, takes {[(i.name, i.dtype) for i in info.inputs]}")
    outputs = [(o.name, o.dtype) for o in info.outputs]
    if outputs != [(OUTPUT_NAME, "float32"), (TEXT_TOKENS, "int32")]:
        problems.append(f"must give {OUTPUT_NAME!r} float32 and {TEXT_TOKENS!r} int32, gives {outputs}")
    if problems:
        raise BundleError(f"{name} is not a text model this runtime will run: " + "; ".join(problems))


class TextModel:
    """Scores texts with a bundle's model.text.onnx (one onnxruntime CPU session, one thread)."""

    def __init__(self, bundle: Bundle, model_bytes: bytes, calibrated: bool = True) -> None:
        import onnxruntime as ort  # type: ignore[import-untyped]

        check_text_model(read_onnx_info(model_bytes))
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self._session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types
            raise BundleError(f"onnxruntime could not load {bundle.path}/{TEXT_MODEL_FILE}: {exc}") from None
        self._session_run = direct_run(self._session)  # without the wrapper's per-call checks (runtime/sessions.py)
        self.bundle = bundle
        self.classes = int(bundle.manifest["model"].get("classes", 1))
        self.max_len = bundle.max_len
        # the manifest's calibration (runtime/decision.py), applied to the graph's output; calibrated=False: the model's own
        self.decision = Decision.from_manifest(bundle.manifest, calibrated)

    @classmethod
    def load(cls, bundle: str | os.PathLike[str] | None = None, calibrated: bool = True) -> "TextModel":
        """Verify a bundle and its model.text.onnx (sha256, inputs, outputs, ops) and open a session."""
        loaded = load_bundle(bundle)
        entry = loaded.manifest["files"].get(TEXT_MODEL_FILE)
        if entry is None:
            raise BundleError(f"bundle {loaded.path} has no {TEXT_MODEL_FILE}; export it with --text-model")
        opened = BundleFolder(loaded.path)
        try:
            data = read_listed_file(opened, TEXT_MODEL_FILE, entry, _MAX_BYTES)
        finally:
            opened.close()
        return cls(loaded, data, calibrated)

    def _window(self, k: int, text: str) -> str:
        """The end of a long text that holds its last max_len words (the graph's work and memory grow with
        the whole string: ~40 bytes a character); a longer text with nowhere to cut it is refused."""
        if len(text) <= _WINDOW_FROM or self.bundle.tokenizer.kind != KIND:  # the cuts follow edge-sentiment v1
            return text
        window = text_window(text, self.max_len, "pre")
        if len(window) > MAX_TEXT_CHARS:
            raise InputError(
                f"text {k} is {len(text):,} characters long and its last {self.max_len} words are not within its last "
                f"{MAX_TEXT_CHARS:,} (too few words, or no space or punctuation to cut at); the text model takes at most "
                f"{MAX_TEXT_CHARS:,} characters a text (Predictor reads any length)"
            )
        return window

    def run(self, texts: Iterable[str]) -> tuple[np.ndarray, list[list[int]]]:
        """Scores (n,) or (n, k) and the ids the graph fed the model, for one batch of texts."""
        scores, tokens = self._run(texts)
        return scores, [list(filter(None, row)) for row in tokens.tolist()]  # the pads dropped (fewer numpy calls)

    def _run(self, texts: Iterable[str]) -> tuple[np.ndarray, np.ndarray]:
        """Scores (n,) or (n, k) and the graph's tokens output (the ids, pre-padded with 0), for one batch."""
        batch = texts if isinstance(texts, list) else list(texts)
        if not batch:
            return np.empty((0,) if self.classes == 1 else (0, self.classes), dtype=np.float32), np.empty((0, 0), np.int32)
        feed = np.empty(len(batch), dtype=object)
        for k, text in enumerate(batch):
            if not isinstance(text, str):
                raise InputError(f"text {k} is {type(text).__name__}, not str")
            if text.isascii():
                feed[k] = self._window(k, text) if len(text) > _WINDOW_FROM else text
                continue
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise InputError(f"text {k} holds a lone surrogate, which UTF-8 cannot carry to the graph") from None
            feed[k] = prepare(self._window(k, text) if len(text) > _WINDOW_FROM else text)
        scores: Any
        scores, tokens = self._session_run(_OUTPUTS, {TEXT_INPUT: feed})
        scores = self.decision.calibrate(scores)
        return (scores[:, 0] if self.classes == 1 else scores), tokens

    def predict_proba(self, texts: str | Iterable[str], batch_size: int = 32) -> np.ndarray:
        """Probability that each text is positive (n,), in batches of batch_size."""
        batch = [texts] if isinstance(texts, str) else list(texts)
        if len(batch) <= batch_size:  # one batch: no copies
            return self._run(batch)[0]
        return np.concatenate([self._run(batch[i : i + batch_size])[0] for i in range(0, len(batch), batch_size)])
