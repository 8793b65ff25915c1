"""Score a Ray Dataset you already hold: edge_sentiment.ray.score_dataset(ds) (pip install 'edge-sentiment[ray]')."""

from __future__ import annotations

import os
from typing import Any

from .scoring.output import labels_scores
from .scoring.ray_engine import WorkerPredictor, bundle_files, import_ray
from .scoring.rules import output_names

__all__ = ["score_dataset"]


class _BatchScorer(WorkerPredictor):
    """The Ray Data UDF: one Predictor per worker, label and score columns added to each batch."""

    def __init__(self, files: Any, precision: str, threads: int, text_column: str) -> None:
        super().__init__(files, precision, threads)
        self.text_column = text_column

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        texts = batch.column(self.text_column).to_pylist()
        ok = [i for i, text in enumerate(texts) if isinstance(text, str)]
        predictor = self.predictor
        names, scores = labels_scores(predictor.labels, predictor.decision, predictor.predict_proba([texts[i] for i in ok]))
        labels: list[str | None] = [None] * len(texts)
        values: list[float | None] = [None] * len(texts)
        for i, label, score in zip(ok, names, scores):
            labels[i], values[i] = label, score
        others = [name for name in batch.column_names if name != self.text_column]
        renamed = dict(zip(others, output_names(others, self.text_column)))
        if any(old != new for old, new in renamed.items()):  # an input column named row, label or score: input_ prefix
            batch = batch.rename_columns([renamed.get(name, name) for name in batch.column_names])
        batch = batch.append_column("label", pa.array(labels, pa.string()))
        return batch.append_column("score", pa.array(values, pa.float64()))


def score_dataset(
    dataset: Any,
    *,
    bundle: str | os.PathLike[str] | None = None,
    precision: str = "fp32",
    text_column: str = "text",
    threads: int = 1,
    concurrency: int | None = None,
    batch_size: int = 4096,
) -> Any:
    """The dataset with label and score columns added (null where the text is null or not a string), lazily.

    An input column already named label, score or row is kept as input_label, input_score or input_row.

    Each of concurrency workers (default: the cluster's CPUs / threads) holds one Predictor on the bundle
    (default: the shipped one), sent once through the object store and verified on the worker.
    """
    from .runtime.bundle import load_bundle

    ray = import_ray()
    load_bundle(bundle, precision=precision)  # a bad bundle fails here, not on every worker
    if concurrency is None:
        concurrency = max(1, int(ray.cluster_resources().get("CPU", 1) // threads)) if ray.is_initialized() else None
    files = [ray.put(bundle_files(bundle))]
    return dataset.map_batches(
        _BatchScorer,
        batch_format="pyarrow",
        batch_size=batch_size,
        compute=ray.data.ActorPoolStrategy(min_size=1, max_size=concurrency) if concurrency else ray.data.ActorPoolStrategy(),
        num_cpus=threads,
        fn_constructor_kwargs={"files": files, "precision": precision, "threads": threads, "text_column": text_column},
    )
