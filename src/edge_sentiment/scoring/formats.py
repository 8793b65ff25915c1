"""Input files for `score`: text lines, JSON Lines, CSV and Parquet, read as a stream of rows.

Every row of the input becomes one Item, in order: either a text to score or a reason it cannot be
scored (a reject), so the row numbers of the output and the reject file together cover the input.
Items carry the byte offset (row index for Parquet) just past them, so a run can resume there.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import ScoreError
from . import rules
from .csvinput import csv_header, csv_items
from .options import INPUT_FORMATS, OUTPUT_FORMATS
from .rules import Item, lone_surrogate, output_names, rename_fields, too_long, utf8_problem, value_problem

__all__ = [
    "Item",
    "INPUT_FORMATS",
    "OUTPUT_FORMATS",
    "input_format",
    "output_format",
    "read_items",
    "carried_columns",
    "parquet_file",
]

_EXTENSIONS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def input_format(path: str | Path, given: str | None = None) -> str:
    """The input's format: the one given, else from the extension (.jsonl, .csv, .parquet; anything else is text)."""
    if given and given != "auto":
        return given
    return _EXTENSIONS.get(Path(path).suffix.lower(), "text")


def output_format(path: str | Path, given: str | None = None) -> str:
    """The output's format: the one given, else from the extension (.csv, .parquet; anything else is JSON Lines)."""
    if given and given != "auto":
        return given
    fmt = _EXTENSIONS.get(Path(path).suffix.lower(), "jsonl")
    return fmt if fmt in OUTPUT_FORMATS else "jsonl"


def _lines(path: Path, start: int, end: int | None) -> Iterator[tuple[bytes | None, int]]:
    """(line without its line end, offset after it) from byte start up to byte end (None: the end of the file).

    A line longer than rules.MAX_FIELD is read past in blocks and given as None: memory stays bounded.
    """
    with open(path, "rb") as stream:
        stream.seek(start)
        offset = start
        while raw := stream.readline(rules.MAX_FIELD + 1):
            offset += len(raw)
            if len(raw) > rules.MAX_FIELD and not raw.endswith(b"\n"):
                while raw and not raw.endswith(b"\n"):
                    raw = stream.readline(1 << 20)
                    offset += len(raw)
                yield None, offset
            else:
                yield raw.rstrip(b"\r\n"), offset
            if end is not None and offset >= end:
                return


def _text_items(path: Path, row: int, start: int, end: int | None) -> Iterator[Item]:
    for line, offset in _lines(path, start, end):
        if line is None:
            yield Item(row, None, None, too_long("a line"), offset)
            row += 1
            continue
        if start == 0 and row == 0 and line.startswith(b"\xef\xbb\xbf"):
            line = line[3:]
        try:
            yield Item(row, line.decode("utf-8"), None, None, offset)
        except UnicodeDecodeError:
            yield Item(row, None, None, utf8_problem(line), offset)
        row += 1


def _json_items(path: Path, text_field: str, row: int, start: int, end: int | None) -> Iterator[Item]:
    for line, offset in _lines(path, start, end):
        yield _json_item(line, text_field, row, offset) if line is not None else Item(row, None, None, too_long("a line"), offset)
        row += 1


def _json_item(line: bytes, text_field: str, row: int, offset: int) -> Item:
    try:
        decoded = line.decode("utf-8-sig" if row == 0 else "utf-8")
    except UnicodeDecodeError:
        return Item(row, None, None, utf8_problem(line), offset)
    try:
        value = _DECODER.decode(decoded)
    except RecursionError:
        return Item(row, None, None, f"nested deeper than {rules.MAX_DEPTH} levels", offset)
    except ValueError as exc:
        reason = "empty line, not a JSON object" if not decoded.strip() else f"not valid JSON ({exc})"
        return Item(row, None, None, reason, offset)
    if not isinstance(value, dict):
        return Item(row, None, None, f"a JSON {type(value).__name__}, not an object", offset)
    if text_field not in value:
        return Item(row, None, None, f"no field {text_field!r} (pass --text-field)", offset)
    text = value.pop(text_field)
    if not isinstance(text, str):
        return Item(row, None, None, f"field {text_field!r} is {_json_type(text)}, not a string", offset)
    if lone_surrogate(text):
        return Item(row, None, None, f"field {text_field!r} holds a lone surrogate escape (not valid Unicode)", offset)
    deep = line.count(b"[") + line.count(b"{") > rules.MAX_DEPTH  # else no field can be nested too deep
    escapes = b"\\ud" in line or b"\\uD" in line  # else no string can hold a lone surrogate
    if deep or escapes:
        for name, field in value.items():
            problem = value_problem(name, field)
            if problem:
                return Item(row, None, None, problem, offset)
    return Item(row, text, rename_fields(value, text_field), None, offset)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_no_constant)  # NaN and Infinity are not JSON: such a row is rejected


def _json_type(value: Any) -> str:
    return {type(None): "null", bool: "a boolean", int: "a number", float: "a number", list: "an array", dict: "an object"}.get(
        type(value), type(value).__name__
    )


def parquet_file(path: Path) -> Any:
    """The input as a pyarrow ParquetFile, or ScoreError (or the install command for pyarrow)."""
    from ..errors import MissingDependencyError

    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError.for_extra("pyarrow", "parquet", "Parquet input and output") from None
    try:
        return pq.ParquetFile(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, ...
        raise ScoreError(f"{path} cannot be read as Parquet: {exc}") from None


def _parquet_items(path: Path, text_field: str, row: int, end: int | None) -> Iterator[Item]:
    import pyarrow as pa

    parquet = parquet_file(path)
    schema = parquet.schema_arrow
    if text_field not in schema.names:
        raise ScoreError(f"{path}: no column {text_field!r} (columns: {', '.join(schema.names)}); pass --text-column")
    twice = sorted({name for name in schema.names if schema.names.count(name) > 1})
    if twice:
        raise ScoreError(f"{path}: the Parquet schema names {', '.join(map(repr, twice))} more than once; rename the copies")
    kind = schema.field(text_field).type
    is_binary = pa.types.is_binary(kind) or pa.types.is_large_binary(kind)
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind) or is_binary):
        raise ScoreError(f"{path}: column {text_field!r} holds {kind}, not text; pass the column of texts with --text-column")
    first = 0
    for group in range(parquet.num_row_groups):
        rows = parquet.metadata.row_group(group).num_rows
        if first + rows <= row:
            first += rows
            continue
        for batch in parquet.iter_batches(row_groups=[group], batch_size=4096):
            columns = batch.to_pydict()
            texts = columns.pop(text_field)
            columns = rename_fields(columns, text_field)
            for i, value in enumerate(texts):
                here = first + i
                if here < row:
                    continue
                if end is not None and here >= end:
                    return
                if value is None:
                    yield Item(here, None, None, "the text is null", here + 1)
                    continue
                if len(value) > rules.MAX_FIELD:
                    yield Item(here, None, None, too_long("a text"), here + 1)
                    continue
                if is_binary:
                    try:
                        value = value.decode("utf-8")
                    except UnicodeDecodeError:
                        yield Item(here, None, None, utf8_problem(value), here + 1)
                        continue
                yield Item(here, value, {name: values[i] for name, values in columns.items()}, None, here + 1)
            first += len(texts)


def read_items(
    path: str | Path, fmt: str, text_field: str = "text", *, row: int = 0, start: int = 0, end: int | None = None
) -> Iterator[Item]:
    """The input's rows in order from row (at byte start; for Parquet start is ignored), up to byte end (row end)."""
    path = Path(path)
    if not path.is_file():
        raise ScoreError(f"{path}: no such file" if not path.exists() else f"{path} is not a file")
    if fmt == "text":
        return _text_items(path, row, start, end)
    if fmt == "jsonl":
        return _json_items(path, text_field, row, start, end)
    if fmt == "csv":
        return csv_items(path, text_field, row, start, end)
    if fmt == "parquet":
        return _parquet_items(path, text_field, row, end)
    raise ScoreError(f"unknown input format {fmt!r}; choose one of {', '.join(INPUT_FORMATS)}")


def carried_columns(path: str | Path, fmt: str, text_field: str) -> list[str]:
    """The other columns a CSV or Parquet output carries: the header or schema, or the first JSON object's fields."""
    path = Path(path)
    if fmt == "text":
        return []
    if fmt == "csv":
        return output_names([name for name in csv_header(path)[0] if name != text_field], text_field)
    if fmt == "parquet":
        return output_names([name for name in parquet_file(path).schema_arrow.names if name != text_field], text_field)
    for item in read_items(path, fmt, text_field):
        if item.fields is not None:
            return list(item.fields)
        if item.row >= 1000:
            break
    return []


def window_starts(path: str | Path, window: int) -> tuple[list[int], int]:
    """Byte offsets where rows 0, window, 2*window, ... of a line-per-row file start, and its row count."""
    starts, row_in_window, base, rows = [0], 0, 0, 0
    last = b""
    with open(path, "rb") as stream:
        while block := stream.read(1 << 22):
            count = block.count(b"\n")
            rows += count
            position = 0
            while row_in_window + count >= window:  # a window ends in this block: find its last line end
                for _ in range(window - row_in_window):
                    position = block.index(b"\n", position) + 1
                count -= window - row_in_window
                row_in_window = 0
                starts.append(base + position)
            row_in_window += count
            base += len(block)
            last = block[-1:]
    if last and last != b"\n":
        rows += 1  # a last line without its line end
    if starts[-1] >= base and len(starts) > 1:
        starts.pop()  # the file ends exactly at a window's end
    return starts, rows


def window_splits(path: str | Path, window: int, target_bytes: int) -> list[dict[str, int]]:
    """Cut a line-per-row file into splits of whole windows of rows, about target_bytes each."""
    size = Path(path).stat().st_size
    if size == 0:
        return []
    starts, rows = window_starts(path, window)
    splits: list[dict[str, int]] = []
    first = 0
    for k in range(1, len(starts) + 1):
        end = starts[k] if k < len(starts) else size
        if end - starts[first] >= target_bytes or k == len(starts):
            last_row = k * window if k < len(starts) else rows
            splits.append({"start": starts[first], "end": end, "first_row": first * window, "rows": last_row - first * window})
            first = k
    return splits
