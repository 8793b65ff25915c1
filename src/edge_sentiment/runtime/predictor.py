"""Predictor: text in, probability out, with one onnxruntime CPU session per verified bundle."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import islice
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import BundleError, EdgeSentimentError, InputError
from .bundle import FAST_FILES, FAST_IO, INPUT_NAME, LABELS, OUTPUT_NAME, PRECISION_FILES, Bundle, load_bundle
from .decision import Decision, Prediction
from .sessions import Unopened, direct_run
from .tokenizer import pad_ids

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from .explain import Explanation

__all__ = ["Predictor", "Prediction", "batch_by_length"]

WORDS, POOLED = FAST_IO["unpadded"][0][0], FAST_IO["head"][0][0]  # the fast path's input names
CHUNK = 4096  # texts tokenized and held at once: memory stays bounded for any input size
# From this many words on, one text's two LSTM directions run on two threads (when the bundle has the split
# fast path and the predictor may use two threads); shorter texts stay on one, where the hand-over costs more
# than it saves. Measured by tools/benchmarks/fastpath.py on the 2-core AMD EPYC: docs/benchmarks.md.
SPLIT_MIN_WORDS = 64


def batch_by_length(id_lists: Sequence[Sequence[int]], batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (row indices, int32 ids) batches of similar length, pre-padded to the batch's longest.

    Sorting by length keeps padding inside a batch small; the padding that remains is computed as
    real pad steps, so results equal the unbatched ones. An empty text is one pad token.
    """
    lengths = np.fromiter((len(ids) for ids in id_lists), dtype=np.int64, count=len(id_lists))
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(int(lengths[rows[-1]]), 1)
        batch = np.zeros((len(rows), width), dtype=np.int32)
        for out_row, row in enumerate(rows):
            ids = id_lists[row]
            if ids:
                batch[out_row, width - len(ids) :] = ids
        yield rows, batch


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def _as_texts(texts: str | Iterable[str]) -> Iterable[str]:
    if isinstance(texts, str):
        return [texts]
    if texts is None or isinstance(texts, (bytes, bytearray, memoryview, Mapping)) or not isinstance(texts, Iterable):
        raise InputError(
            f"expected a text or a sequence of texts, got {type(texts).__name__}"
            + ("; decode bytes first, e.g. data.decode('utf-8')" if isinstance(texts, (bytes, bytearray)) else "")
        )
    return texts


class Predictor:
    """Scores texts with a verified bundle; safe to share between threads.

    threads is how many CPU threads large inputs may use: each runs whole batches with a
    single-threaded onnxruntime session call (an LSTM step is too small to split across threads,
    so batches in parallel scale better). One text runs on the calling thread, except that with the
    bundle's fast path, threads >= 2 and at least split_min_words words, its forward direction runs on
    onnxruntime's own thread beside it. A text of at most short_words words (bundles with the short-text
    graph) is one session call. Sessions open when first needed: at load, the one a first text needs.
    """

    def __init__(
        self,
        bundle: Bundle,
        *,
        threads: int | None = None,
        batch_size: int = 32,
        fast: bool = True,
        split_min_words: int | None = None,
        calibrated: bool = True,
    ) -> None:
        import onnxruntime as ort  # type: ignore[import-untyped]

        if threads is not None and threads < 1:
            raise InputError(f"threads must be at least 1, got {threads}")
        if batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {batch_size}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        side = ort.SessionOptions()  # the forward direction's: one thread of onnxruntime's own beside the caller
        side.intra_op_num_threads = 2
        side.inter_op_num_threads = 1
        side.log_severity_level = 3

        def session(model: bytes, what: str, options: Any = options) -> Any:
            try:
                return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
            except Exception as exc:  # onnxruntime raises its own exception types
                raise BundleError(f"onnxruntime could not load {bundle.path}/{what}: {exc}") from None

        self._open = session
        self._session_lock = threading.Lock()
        self.bundle = bundle
        self.tokenizer = bundle.tokenizer
        self.threads = threads or usable_cores()
        self.batch_size = batch_size
        # the manifest's calibration and threshold (runtime/decision.py); calibrated=False: the model's own scores
        self.decision = Decision.from_manifest(bundle.manifest, calibrated)
        self.threshold = self.decision.threshold
        self._encode = bundle.tokenizer.encode
        model = bundle.manifest["model"]
        # "skipped": the exact pad skip, batches only as long as their texts (bundles before "pads" had it);
        # "fed": every text padded to max_len as the model was trained (post-padded models, or pads that
        # cannot be skipped); "none": texts batched by exact length, no pads (models that masked them).
        self.pads = model.get("pads", "skipped" if model.get("padding_skip") else "fed")
        self.classes = int(model.get("classes", 1))
        self.head = str(model.get("head", "sigmoid" if self.classes == 1 else "softmax"))  # or "multi-label"
        self.labels = list(bundle.manifest.get("labels", LABELS))
        empty = model.get("empty_text")
        empty_scores = np.asarray([empty if empty is not None else [1.0 / max(self.classes, 2)] * self.classes], dtype=np.float32)
        self._empty = self.decision.calibrate(empty_scores)[0]
        # Sessions are made when first needed (a short text needs only the short-text graph's): each run
        # attribute starts as a stand-in that opens its session, then puts the session's run in its place.
        self._run = self._lazy_run("_run", bundle.model_bytes, PRECISION_FILES[bundle.precision])
        self.precision_choice: dict[str, Any] | None = None  # what precision="auto" measured and chose
        self._pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        # The fast path (export/fastpath.py): texts without pads skip the mask's ops; a long text's two
        # directions run side by side. Bit for bit the scores of model.onnx (the exporter checks it).
        self._unpadded = self._split = None
        self.split_min_words = SPLIT_MIN_WORDS if split_min_words is None else split_min_words
        # The short-text graph (one text of at most short_words words: its pad-skip state a constant).
        self.short_words = bundle.short_words if bundle.fast and fast and "short" in bundle.fast else 0
        first = "_run"  # the session a first prediction needs, opened now (a bad model fails at load)
        if bundle.fast and fast:
            # An aligned copy of the embedding (the view into the model's bytes is unaligned: gathering rows
            # from it is slow), its rows gathered with take (fancy indexing converts a list of ids slowly).
            self._embedding = np.array(bundle.embedding())
            self._embedding.setflags(write=False)
            self._words = self._embedding.reshape(len(self._embedding), 1, -1)  # one text's rows: [length, 1, width]
            self._unpadded = self._lazy_run("_unpadded", bundle.fast["unpadded"], FAST_FILES["unpadded"])
            first = "_unpadded"
            if self.short_words:
                self._short = self._lazy_run("_short", bundle.fast["short"], FAST_FILES["short"])
                first = "_short"
            if "forward" in bundle.fast and self.threads >= 2:
                parts = {part: session(bundle.fast[part], "fast path") for part in ("backward", "head")}
                parts["forward"] = session(bundle.fast["forward"], "fast path", side)
                self._split = (parts["forward"], parts["backward"], parts["head"])
                # mean and max of both directions, or the max alone: the head's width says which
                self._mean_max = parts["head"].get_inputs()[0].shape[1] == 4 * parts["forward"].get_outputs()[0].shape[1]
        self._opened(first)

    def _lazy_run(self, attribute: str, model: bytes, what: str) -> Callable[..., Any]:
        return Unopened(self, attribute, model, what)

    def _opened(self, attribute: str) -> Callable[..., Any]:
        """The run of the session behind self.<attribute>, opening the session if it is not open yet."""
        with self._session_lock:
            run = getattr(self, attribute)
            if isinstance(run, Unopened):
                run = direct_run(self._open(run.model, run.what))
                setattr(self, attribute, run)
            return run  # type: ignore[no-any-return]

    @classmethod
    def load(
        cls,
        bundle: str | os.PathLike[str] | None = None,
        *,
        threads: int | None = None,
        precision: str = "fp32",
        batch_size: int = 32,
        fast: bool = True,
        calibrated: bool = True,
    ) -> "Predictor":
        """Verify a bundle (the shipped default when None) and open a CPU session on it.

        threads: CPU threads for large inputs, and for one long text's two directions (default: the
        cores this process may use). precision: "fp32" (exact), "int8" (where the bundle has one), or
        "auto": the faster of the two on this machine, measured once (runtime/precision.py; the choice
        and its figures in .precision_choice). fast=False leaves the bundle's fast path unused.
        calibrated=False reports the model's own probabilities, without the bundle's calibration.
        """
        if precision == "auto":
            from .precision import choose_precision

            chosen: Predictor = choose_precision(
                bundle, threads=threads or usable_cores(), batch_size=batch_size, predictor_class=cls, fast=fast
            )
            return chosen
        return cls(
            load_bundle(bundle, precision=precision), threads=threads, batch_size=batch_size, fast=fast, calibrated=calibrated
        )

    @property
    def manifest(self) -> dict[str, Any]:
        return self.bundle.manifest

    def score_batch(self, batch: np.ndarray) -> np.ndarray:
        """Scores of one int32 batch of token ids, padded as the bundle pads, through model.onnx."""
        return self._scores(self._run([OUTPUT_NAME], {INPUT_NAME: batch})[0], len(batch))

    def _scores(self, out: np.ndarray, rows: int) -> np.ndarray:
        """A model's output as (n,) or (n, k); BundleError when it is not [rows, classes] (never a silent mislabel)."""
        if out.shape != (rows, self.classes):
            raise BundleError(
                f"{self.bundle.path}: the model gave {OUTPUT_NAME!r} of shape {list(out.shape)} for {rows} texts, "
                f"not [{rows}, {self.classes}] as the manifest's classes say; re-export the bundle"
            )
        out = self.decision.calibrate(out)
        return out[:, 0] if self.classes == 1 else out

    def _score_padless(self, batch: np.ndarray) -> np.ndarray:
        """A batch without pads, in one of several running side by side: the unpadded graph, no split."""
        return self.score_unpadded(batch, split=False)

    def score_unpadded(self, batch: np.ndarray, split: bool = True) -> np.ndarray:
        """Texts of one length, no pads, through the fast path (the bundle must have one): one short text
        through the short-text graph; both directions side by side when long enough; else the unpadded graph."""
        if len(batch) == 1 and batch.shape[1] <= self.short_words:
            return self._score_short(batch[0])
        feed = {WORDS: self._embedding.take(batch.T, axis=0)}  # [length, batch, width], as the LSTM reads them
        if split and self._split is not None and batch.shape[1] >= self.split_min_words:
            forward, backward, head = self._split
            done: list[tuple[Any, str]] = []
            # onnxruntime runs the forward direction on its own thread (a Python thread's hand-over costs
            # more here); this thread runs the backward one, then waits, the GIL released, for the other.
            forward.run_async(None, feed, lambda results, _data, error: done.append((results, error)), None)
            b_sums, b_maxes = backward.run(None, feed)
            while not done:
                time.sleep(0)
            results, error = done[0]
            if error:
                raise EdgeSentimentError(f"onnxruntime failed on the forward direction: {error}")
            f_sums, f_maxes = results
            if self._mean_max:
                words = np.float32(batch.shape[1])  # the graph's mean: the sum over the words / their number
                pooled = np.concatenate([f_sums / words, b_sums / words, f_maxes, b_maxes], axis=1)
            else:
                pooled = np.concatenate([f_maxes, b_maxes], axis=1)
            out: np.ndarray = head.run([OUTPUT_NAME], {POOLED: pooled})[0]
        else:
            assert self._unpadded is not None
            out = self._unpadded([OUTPUT_NAME], feed)[0]
        return self._scores(out, len(batch))

    def _score_short(self, ids: Sequence[int] | np.ndarray) -> np.ndarray:
        """One text of 1 to short_words ids through the short-text graph."""
        return self._scores(self._short([OUTPUT_NAME], {WORDS: self._words.take(ids, axis=0)})[0], 1)

    def start_scoring(self, id_lists: Sequence[Sequence[int]]) -> Callable[[], np.ndarray]:
        """Start scoring id lists (in the pool when there are several batches); returns a waiter."""
        out = np.empty((len(id_lists),) if self.classes == 1 else (len(id_lists), self.classes), dtype=np.float32)
        if self.pads == "fed":
            batches = self._fixed_batches(id_lists)
        elif self.pads == "none":
            batches = self._exact_batches(id_lists, out)
        elif len(id_lists) == 1:  # the common single-text call: no sorting, no copies, no pool
            ids = id_lists[0]
            if len(ids) and self._unpadded is not None:
                out[0] = self.score_unpadded(np.asarray([ids], dtype=np.int32))[0]
            else:
                out[0] = self.score_batch(np.asarray([ids if len(ids) else [0]], dtype=np.int32))[0]
            return lambda: out
        else:
            batches = list(batch_by_length(id_lists, self.batch_size))

        def scorer(batch: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
            # pre-padded: a batch whose first column holds no pad has none; the fast path takes it whole
            padless = self._unpadded is not None and self.pads == "skipped" and bool(batch[:, 0].all())
            return self._score_padless if padless else self.score_batch

        if self.threads == 1 or len(batches) == 1:
            for rows, batch in batches:
                out[rows] = scorer(batch)(batch)
            return lambda: out
        pool = self._get_pool()
        futures = [(rows, pool.submit(scorer(batch), batch)) for rows, batch in batches]

        def wait() -> np.ndarray:
            for rows, future in futures:
                out[rows] = future.result()
            return out

        return wait

    def _fixed_batches(self, id_lists: Sequence[Sequence[int]]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Batches in order, each text padded to max_len on the tokenizer's side."""
        length, padding, size = self.bundle.max_len, self.tokenizer.padding, self.batch_size
        return [
            (np.arange(start, min(start + size, len(id_lists))), pad_ids(id_lists[start : start + size], length, padding))
            for start in range(0, len(id_lists), size)
        ]

    def _exact_batches(self, id_lists: Sequence[Sequence[int]], out: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Batches of texts of one length, no pads; an empty text gets the model's score for no words."""
        by_length: dict[int, list[int]] = {}
        for row, ids in enumerate(id_lists):
            by_length.setdefault(len(ids), []).append(row)
        for row in by_length.pop(0, []):
            out[row] = self._empty if self.classes > 1 else self._empty[0]
        batches = []
        for length, rows in sorted(by_length.items()):
            for start in range(0, len(rows), self.batch_size):
                part = np.asarray(rows[start : start + self.batch_size])
                batches.append((part, np.asarray([id_lists[r] for r in part], dtype=np.int32).reshape(len(part), length)))
        return batches

    def _get_pool(self) -> ThreadPoolExecutor:
        from concurrent.futures import ThreadPoolExecutor  # imported when first needed: one text needs no pool

        with self._pool_lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="edge-sentiment")
            return self._pool

    def score_ids(self, id_lists: Sequence[Sequence[int]]) -> np.ndarray:
        """Probabilities for token id lists (each at most max_len long, unpadded)."""
        return self.start_scoring(id_lists)()

    def predict_proba(self, texts: str | Iterable[str]) -> np.ndarray:
        """Probability that each text is positive, shape (n,); for a bundle of k classes, (n, k)."""
        if isinstance(texts, str):  # one text: no chunks
            one = self._encode(texts)
            if 0 < len(one) <= self.short_words:  # the common call: one short text, one session call
                return self._score_short(one)
            return self.start_scoring([one])()
        it = iter(_as_texts(texts))
        parts = []
        pending: Callable[[], np.ndarray] | None = None
        index = 0
        while chunk := list(islice(it, CHUNK)):
            ids = []
            for text in chunk:
                if not isinstance(text, str):
                    raise InputError(f"text {index} is {type(text).__name__}, not str")
                ids.append(self._encode(text))
                index += 1
            started = self.start_scoring(ids)  # runs while the next chunk is tokenized
            if pending is not None:
                parts.append(pending())
            pending = started
        if pending is not None:
            parts.append(pending())
        if parts:
            return np.concatenate(parts)
        return np.empty((0,) if self.classes == 1 else (0, self.classes), dtype=np.float32)

    def close(self) -> None:
        """Stop the worker threads (the predictor stays usable; they restart when needed)."""
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    def __enter__(self) -> "Predictor":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def predict(self, texts: str | Iterable[str]) -> list[Prediction]:
        """A label and score for each text, labelled by the bundle's decision (runtime/decision.py)."""
        return self.decision.predictions(self.predict_proba(texts), self.labels)

    def explain(self, text: str, *, top: int = 5, max_words: int | None = None) -> Explanation:
        """Each word's effect on the score, by leaving it out, every variant scored in one batch (runtime/explain.py).

        top: how many words to name each way; max_words: the most words examined (default the bundle's max_len).
        """
        from .explain import explain

        return explain(self, text, top=top, max_words=max_words)

    def __repr__(self) -> str:
        return f"Predictor(bundle={str(self.bundle.path)!r}, precision={self.bundle.precision!r}, threads={self.threads})"
