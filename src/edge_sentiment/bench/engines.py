"""The engines a benchmark compares: the onnxruntime Predictor and the same weights in Keras."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from ..errors import EdgeSentimentError
from ..runtime.predictor import Predictor
from ..runtime.tokenizer import TokenizerBase

__all__ = ["Engine", "OnnxEngine", "KerasEngine"]


class Engine(Protocol):
    """What the runner times: a text (or its ids, in the engine's own form) in, a probability out."""

    key: str  # the report's name for the engine
    name: str  # what it is, for people

    def tokenize(self, text: str) -> Any: ...
    def infer(self, ids: Any) -> float: ...
    def e2e(self, text: str) -> float: ...
    def throughput_run(self, texts: Sequence[str], batch_size: int) -> None: ...
    def ids_for_throughput(self, texts: Sequence[str]) -> Any: ...
    def throughput_ids_run(self, ids: Any, batch_size: int) -> None: ...


class OnnxEngine:
    """The runtime as users embed it: Predictor with pads skipped and length-aware batching."""

    def __init__(self, bundle: str | None, *, threads: int, precision: str, batch_size: int = 32) -> None:
        self.predictor = Predictor.load(bundle, threads=threads, precision=precision, batch_size=batch_size)
        self.tokenizer = self.predictor.tokenizer
        self.name = f"onnxruntime {precision}, Predictor(threads={threads})"
        self.key = f"onnx-{precision}-t{threads}"

    def tokenize(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def infer(self, ids: list[int]) -> float:  # the first output (the first class's, for several)
        return float(np.ravel(self.predictor.score_ids([ids])[0])[0])

    def e2e(self, text: str) -> float:
        return float(np.ravel(self.predictor.predict_proba(text)[0])[0])

    def throughput_run(self, texts: Sequence[str], batch_size: int) -> None:
        self.predictor.batch_size = batch_size
        self.predictor.predict_proba(texts)

    def ids_for_throughput(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.tokenizer.encode(text) for text in texts]

    def throughput_ids_run(self, ids: list[list[int]], batch_size: int) -> None:  # the model alone: ids in
        self.predictor.batch_size = batch_size
        self.predictor.score_ids(ids)


class KerasEngine:
    """The same weights in Keras (a tf.function on inputs padded to max_len, as the lab runs it)."""

    def __init__(self, model_path: str | Path, tokenizer: TokenizerBase) -> None:
        import importlib
        import os

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        tf = importlib.import_module("tensorflow")  # untyped: kept Any

        from ..export.convert import load_keras_model

        if not Path(model_path).is_file():
            raise EdgeSentimentError(f"--keras-model {model_path} does not exist; pass the run's model.keras")
        self.model = load_keras_model(model_path)
        self.tokenizer = tokenizer
        self._fn = tf.function(lambda x: self.model(x, training=False), reduce_retracing=True)
        self._tf = tf
        self.name = f"keras {__import__('keras').__version__} (tf.function), TF default threads"
        self.key = "keras"

    def tokenize(self, text: str) -> np.ndarray:
        return self.tokenizer.encode_batch([text])

    def infer(self, ids: np.ndarray) -> float:
        return float(self._fn(self._tf.constant(ids)).numpy()[0, 0])

    def e2e(self, text: str) -> float:
        return self.infer(self.tokenize(text))

    def throughput_run(self, texts: Sequence[str], batch_size: int) -> None:
        self.throughput_ids_run(self.tokenizer.encode_batch(texts), batch_size)

    def ids_for_throughput(self, texts: Sequence[str]) -> np.ndarray:
        return self.tokenizer.encode_batch(texts)

    def throughput_ids_run(self, x: np.ndarray, batch_size: int) -> None:  # the model alone: padded ids in
        for start in range(0, len(x), batch_size):
            self._fn(self._tf.constant(x[start : start + batch_size])).numpy()
