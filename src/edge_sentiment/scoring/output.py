"""Output files for `score`: parts written atomically (JSON Lines, CSV or Parquet), joined into one file,
and the rows of a finished file counted so a run checks what it wrote."""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MissingDependencyError, ScoreError
from .formats import MAX_FIELD, Item

__all__ = [
    "WINDOW",
    "score_items",
    "result_rows",
    "write_part",
    "write_rejects",
    "join_parts",
    "count_rows",
    "replace_file",
    "EXTENSIONS",
]

EXTENSIONS = {"jsonl": "jsonl", "csv": "csv", "parquet": "parquet"}


def _labels_scores(labels: Sequence[str], threshold: float, probabilities: np.ndarray) -> tuple[list[str], list[float]]:
    if probabilities.ndim == 1:
        return [labels[int(p >= threshold)] for p in probabilities], [round(float(p), 6) for p in probabilities]
    best = np.argmax(probabilities, axis=1)
    return [labels[int(i)] for i in best], [round(float(p[i]), 6) for p, i in zip(probabilities, best)]


def result_rows(
    items: Sequence[Item], probabilities: np.ndarray, labels: Sequence[str], threshold: float, keep_text: str | None
) -> list[dict[str, Any]]:
    """Output rows for scored items: row, the carried fields (and the text under keep_text), label, score."""
    names, scores = _labels_scores(labels, threshold, probabilities)
    rows = []
    for item, label, score in zip(items, names, scores):
        row: dict[str, Any] = {"row": item.row}
        row.update(item.fields or {})
        if keep_text:
            row[keep_text] = item.text
        row["label"], row["score"] = label, score
        rows.append(row)
    return rows


WINDOW = 1024  # rows scored together: both engines cut at the same multiples of it, so their batches, and scores, agree


def score_items(
    predictor: Any, items: Sequence[Item], keep_text: str | None, after: Callable[[Item], None] | None = None
) -> tuple[list[dict[str, Any]], list[Item]]:
    """Score the good items window by window (rows k*WINDOW .. (k+1)*WINDOW-1 together); returns (output rows, bad items).

    A window is tokenized while the one before it is scored on the predictor's threads, as
    Predictor.predict_proba does with its chunks. after, if given, is called with the last good item
    of each window once it is scored.
    """
    rows: list[dict[str, Any]] = []
    bad = [item for item in items if item.reason is not None]
    good = [item for item in items if item.reason is None]
    pending: tuple[list[Item], Callable[[], np.ndarray]] | None = None

    def finish(part: list[Item], wait: Callable[[], np.ndarray]) -> None:
        rows.extend(result_rows(part, wait(), predictor.labels, predictor.threshold, keep_text))
        if after is not None:
            after(part[-1])

    start = 0
    while start < len(good):
        window, stop = good[start].row // WINDOW, start
        while stop < len(good) and good[stop].row // WINDOW == window:
            stop += 1
        part = good[start:stop]
        encode = predictor._encode
        started = predictor._start([encode(item.text) for item in part])  # scoring starts in the pool
        if pending is not None:
            finish(*pending)
        pending, start = (part, started), stop
    if pending is not None:
        finish(*pending)
    return rows, bad


def _json_line(row: dict[str, Any]) -> str:
    try:
        line = json.dumps(row, ensure_ascii=False, default=str)
        line.encode("utf-8")
    except UnicodeEncodeError:  # a carried field with a lone surrogate: escape it instead
        line = json.dumps(row, default=str)
    return line + "\n"


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    return json.dumps(value, ensure_ascii=False, default=str)


def csv_header(columns: Sequence[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(columns)
    return out.getvalue()


def _pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise MissingDependencyError.for_extra("pyarrow", "parquet", "Parquet output") from None
    return pa


def _atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())
    os.replace(tmp, path)


def write_part(path: Path, fmt: str, rows: list[dict[str, Any]], columns: Sequence[str], schema: Any = None) -> Any:
    """Write rows to path atomically (temp file, fsync, rename); returns the Parquet schema used (else None).

    CSV parts have no header (join_parts writes it once); columns fixes their order.
    """
    if fmt == "jsonl":
        _atomic(path, "".join(_json_line(row) for row in rows).encode("utf-8"))
        return None
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for row in rows:
            writer.writerow([_csv_value(row.get(name)) for name in columns])
        _atomic(path, out.getvalue().encode("utf-8"))
        return None
    pa = _pyarrow()
    table = _table(pa, rows, columns, schema)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    pa.parquet.write_table(table, tmp)
    with open(tmp, "rb") as stream:
        os.fsync(stream.fileno())
    os.replace(tmp, path)
    return table.schema


def _table(pa: Any, rows: list[dict[str, Any]], columns: Sequence[str], schema: Any) -> Any:
    data = {name: [row.get(name) for row in rows] for name in columns}
    if schema is not None:
        try:
            return pa.Table.from_pydict(data, schema=schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
            raise ScoreError(
                f"a carried column changes type part-way through the input ({exc}); "
                "write JSON Lines (--output-format jsonl) instead"
            ) from None
    table = pa.Table.from_pydict(data)
    fields = [pa.field(f.name, pa.string()) if pa.types.is_null(f.type) else f for f in table.schema]
    fields = [pa.field("row", pa.int64()) if f.name == "row" else f for f in fields]
    fields = [pa.field("score", pa.float64()) if f.name == "score" else f for f in fields]
    return table.cast(pa.schema(fields))


def write_rejects(path: Path, items: Sequence[Item]) -> None:
    """A reject part: one JSON object per bad row, with its row number and the reason."""
    _atomic(path, "".join(_json_line({"row": item.row, "reason": item.reason}) for item in items).encode("utf-8"))


def join_parts(parts: Sequence[Path], fmt: str, columns: Sequence[str], target: Path) -> None:
    """Join parts into target (a temporary file the caller renames), fsynced; memory holds one part at a time."""
    if fmt in ("jsonl", "csv"):
        with open(target, "wb") as out:
            if fmt == "csv":
                out.write(csv_header(columns).encode("utf-8"))
            for part in parts:
                with open(part, "rb") as stream:
                    shutil.copyfileobj(stream, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        return
    pa = _pyarrow()
    schema = pa.parquet.read_schema(parts[0]) if parts else _table(pa, [], columns, None).schema
    with pa.parquet.ParquetWriter(target, schema) as writer:
        for part in parts:
            writer.write_table(pa.parquet.read_table(part, schema=schema))
        if not parts:
            writer.write_table(schema.empty_table())
    with open(target, "rb") as stream:
        os.fsync(stream.fileno())


def count_rows(path: Path, fmt: str) -> int:
    """The rows in a finished output file (JSON Lines: lines; CSV: records after the header; Parquet: metadata)."""
    if fmt == "jsonl":
        count = 0
        with open(path, "rb") as stream:
            while block := stream.read(1 << 22):
                count += block.count(b"\n")
        return count
    if fmt == "csv":
        csv.field_size_limit(MAX_FIELD)
        with open(path, newline="", encoding="utf-8") as stream:
            return max(sum(1 for _ in csv.reader(stream)) - 1, 0)
    return int(_pyarrow().parquet.ParquetFile(path).metadata.num_rows)


def replace_file(tmp: Path, target: Path, fmt: str, expected: int, what: str) -> None:
    """Check tmp holds the expected rows, then rename it over target; a mismatch keeps target untouched."""
    found = count_rows(tmp, fmt)
    if found != expected:
        tmp.unlink()
        raise ScoreError(f"{what}: the joined file holds {found} rows where the run scored {expected}; nothing was replaced")
    os.replace(tmp, target)
