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
from ..runtime.decision import Decision
from . import rules
from .rules import Item

__all__ = [
    "WINDOW",
    "labels_scores",
    "score_items",
    "result_rows",
    "write_part",
    "write_rejects",
    "join_parts",
    "count_rows",
    "replace_file",
    "write_atomic",
    "first_schema",
    "EXTENSIONS",
]

EXTENSIONS = {"jsonl": "jsonl", "csv": "csv", "parquet": "parquet"}


def labels_scores(labels: Sequence[str], decision: Decision | float, probabilities: np.ndarray) -> tuple[list[str], list[float]]:
    """Each row's label and its score (rounded to 6 places), labelled by the bundle's decision (runtime/decision.py:
    its threshold and uncertain band); a float is a plain threshold. The probabilities are already calibrated."""
    if not isinstance(decision, Decision):
        decision = Decision(threshold=float(decision), head="sigmoid" if probabilities.ndim == 1 else "softmax")
    predictions = decision.predictions(probabilities, list(labels))
    return [p.label for p in predictions], [round(p.score, 6) for p in predictions]


def result_rows(
    items: Sequence[Item], probabilities: np.ndarray, labels: Sequence[str], decision: Decision | float, keep_text: str | None
) -> list[dict[str, Any]]:
    """Output rows for scored items: row, the carried fields (and the text under keep_text), label, score."""
    names, scores = labels_scores(labels, decision, probabilities)
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
        rows.extend(result_rows(part, wait(), predictor.labels, predictor.decision, keep_text))
        if after is not None:
            after(part[-1])

    start = 0
    while start < len(good):
        window, stop = good[start].row // WINDOW, start
        while stop < len(good) and good[stop].row // WINDOW == window:
            stop += 1
        part = good[start:stop]
        encode = predictor.tokenizer.encode
        started = predictor.start_scoring([encode(item.text) for item in part])  # scoring starts in the pool
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


def write_atomic(path: Path, data: bytes) -> None:
    """Write data to path atomically: a temp file beside it, fsynced, renamed; the temp file is removed on failure."""
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        named(exc, path)
        raise


def named(exc: BaseException, path: Path) -> None:
    """Give an OSError without a file name (a write() on a full disk) the name of the file being written."""
    if isinstance(exc, OSError) and not exc.filename:
        exc.filename = str(path)


def write_part(
    path: Path, fmt: str, rows: list[dict[str, Any]], columns: Sequence[str], schema: Any = None
) -> tuple[Any, list[Item]]:
    """Write rows to path atomically (temp file, fsync, rename); returns (the Parquet schema used or None, rows refused).

    CSV parts have no header (join_parts writes it once); columns fixes their order. A Parquet part
    refuses a row whose field does not fit its column's type (set by schema, else by the first part):
    it is left out and returned as a reject Item with the reason.
    """
    if fmt == "jsonl":
        write_atomic(path, "".join(_json_line(row) for row in rows).encode("utf-8"))
        return None, []
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for row in rows:
            writer.writerow([_csv_value(row.get(name)) for name in columns])
        write_atomic(path, out.getvalue().encode("utf-8", "backslashreplace"))
        return None, []
    pa = _pyarrow()
    table, refused = _table(pa, rows, columns, schema)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        pa.parquet.write_table(table, tmp)
        with open(tmp, "rb") as stream:
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        tmp.unlink(missing_ok=True)
        named(exc, path)
        raise
    return table.schema, refused


_FIXED_TYPES = {"row": "int64", "score": "float64", "label": "string"}


def _column_type(pa: Any, name: str, values: list[Any]) -> Any:
    """A column's Parquet type from its values; where they mix types, the first value's that converts wins."""
    if name in _FIXED_TYPES:
        return pa.type_for_alias(_FIXED_TYPES[name])
    try:
        kind = pa.array(values).type
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        kind = None
        for value in values:
            if value is None:
                continue
            try:
                kind = pa.array([value]).type
                break
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                continue
    return pa.string() if kind is None or pa.types.is_null(kind) else kind


def _table(pa: Any, rows: list[dict[str, Any]], columns: Sequence[str], schema: Any) -> tuple[Any, list[Item]]:
    """The rows as a table of schema (else one made from these rows), and the rows left out with their reasons."""
    data = {name: [row.get(name) for row in rows] for name in columns}
    if schema is None:
        schema = pa.schema([pa.field(name, _column_type(pa, name, values)) for name, values in data.items()])
    try:
        return pa.Table.from_pydict(data, schema=schema), []
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        pass
    reasons: dict[int, str] = {}
    for field in schema:
        for i, value in enumerate(data[field.name]):
            if i in reasons or value is None:
                continue
            try:
                pa.array([value], type=field.type)
            except (pa.ArrowException, TypeError, ValueError, OverflowError):
                shown = json.dumps(value, default=str)
                shown = shown if len(shown) <= 40 else shown[:37] + "..."
                reasons[i] = (
                    f"field {field.name!r} holds {shown}, which does not fit the column's Parquet type {field.type} "
                    "(set by the rows before it); write CSV or JSON Lines output to keep such rows"
                )
    kept = [row for i, row in enumerate(rows) if i not in reasons]
    refused = [Item(rows[i]["row"], None, None, reason, 0) for i, reason in sorted(reasons.items())]
    data = {name: [row.get(name) for row in kept] for name in columns}
    return pa.Table.from_pydict(data, schema=schema), refused


def write_rejects(path: Path, items: Sequence[Item]) -> None:
    """A reject part: one JSON object per bad row, with its row number and the reason."""
    write_atomic(path, "".join(_json_line({"row": item.row, "reason": item.reason}) for item in items).encode("utf-8"))


def join_parts(parts: Sequence[Path], fmt: str, columns: Sequence[str], target: Path) -> None:
    """Join parts into target (a temporary file the caller renames), fsynced; memory holds one part at a time.

    On failure (a full disk) the temporary file is removed and the parts are left as they were.
    """
    try:
        _join(parts, fmt, columns, target)
    except BaseException as exc:
        target.unlink(missing_ok=True)
        named(exc, target)
        raise


def _join(parts: Sequence[Path], fmt: str, columns: Sequence[str], target: Path) -> None:
    if fmt in ("jsonl", "csv"):
        with open(target, "wb") as out:
            if fmt == "csv":
                out.write(csv_header(columns).encode("utf-8", "backslashreplace"))
            for part in parts:
                with open(part, "rb") as stream:
                    shutil.copyfileobj(stream, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        return
    pa = _pyarrow()
    schema = first_schema(parts) if parts else _table(pa, [], columns, None)[0].schema
    with pa.parquet.ParquetWriter(target, schema) as writer:
        written = False
        for part in parts:
            if pa.parquet.ParquetFile(part).metadata.num_rows:  # an empty part's types may be placeholders
                writer.write_table(pa.parquet.read_table(part, schema=schema))
                written = True
        if not written:
            writer.write_table(schema.empty_table())
    with open(target, "rb") as stream:
        os.fsync(stream.fileno())


def first_schema(parts: Sequence[Path]) -> Any:
    """The Parquet schema of the first part holding rows (else of the first part): the one every later part keeps."""
    pq = _pyarrow().parquet
    for part in parts:
        if pq.ParquetFile(part).metadata.num_rows:
            return pq.read_schema(part)
    return pq.read_schema(parts[0])


def count_rows(path: Path, fmt: str) -> int:
    """The rows in a finished output file (JSON Lines: lines; CSV: records after the header; Parquet: metadata)."""
    if fmt == "jsonl":
        count = 0
        with open(path, "rb") as stream:
            while block := stream.read(1 << 22):
                count += block.count(b"\n")
        return count
    if fmt == "csv":
        csv.field_size_limit(rules.MAX_FIELD)
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
