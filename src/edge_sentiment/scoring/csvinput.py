"""CSV input for `score`: records read with the csv module from a binary file, counting bytes for --resume.

A record over rules.MAX_FIELD bytes (one 200 MB line, or a quoted field over many lines) is read past in
blocks to where csv.reader would end it and becomes one reject; a malformed record is a reject too.
Either way the rows after it keep their numbers and the run goes on.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from ..errors import ScoreError
from . import rules
from .rules import Item, output_names, too_long, utf8_problem

__all__ = ["csv_header", "csv_items"]


class _TooLong(Exception):
    """A CSV record longer than rules.MAX_FIELD, read past."""


# The states of a CSV record (Python's default dialect) that matter to find where it ends
_FIELD_START, _UNQUOTED, _QUOTED, _QUOTE_IN_QUOTED = range(4)


def _csv_scan(data: bytes, state: int) -> int:
    """The state after data, read from state: a record ends at a line end outside quotes, as csv.reader reads it."""
    i, n = 0, len(data)
    while i < n:
        if state == _QUOTED:
            j = data.find(b'"', i)
            if j < 0:
                return _QUOTED
            state, i = _QUOTE_IN_QUOTED, j + 1
        elif state == _UNQUOTED:  # a quote opens a field only right after a comma
            newline, quote = data.find(b"\n", i), data.find(b',"', i)
            if quote >= 0 and (newline < 0 or quote < newline):
                state, i = _QUOTED, quote + 2
            elif newline >= 0:
                state, i = _FIELD_START, newline + 1
            else:
                return _FIELD_START if data.endswith(b",") else _UNQUOTED
        else:  # a field's start, or just after a closing quote: the same three ways on
            c = data[i : i + 1]
            if c == b'"':
                state = _QUOTED
            elif c in (b",", b"\n"):
                state = _FIELD_START
            else:
                state = _UNQUOTED
            i += 1
    return state


class _Counted:
    """Physical lines of a binary file decoded for the csv module, counting the bytes handed out.

    A record over rules.MAX_FIELD bytes is read past in blocks to its end (a line end outside quotes) and
    raises _TooLong instead: memory stays bounded. record_done() marks the start of the next record.
    """

    def __init__(self, stream: io.BufferedReader, offset: int) -> None:
        self._stream, self.offset = stream, offset
        self._record: list[bytes] = []
        self._size = 0

    def __iter__(self) -> "_Counted":
        return self

    def record_done(self) -> None:
        self._record, self._size = [], 0

    def __next__(self) -> str:
        raw = self._stream.readline(rules.MAX_FIELD + 1 - self._size)
        if not raw:
            raise StopIteration
        self.offset += len(raw)
        if self._size + len(raw) > rules.MAX_FIELD:
            self._skip(raw)
        self._record.append(raw)
        self._size += len(raw)
        return raw.decode("utf-8", "surrogateescape")

    def _skip(self, raw: bytes) -> None:
        state = _FIELD_START
        for line in self._record:
            state = _csv_scan(line, state)
        state = _csv_scan(raw, state)
        while not (raw.endswith(b"\n") and state != _QUOTED):
            raw = self._stream.readline(1 << 20)
            if not raw:
                break
            self.offset += len(raw)
            state = _csv_scan(raw, state)
        self.record_done()
        raise _TooLong


def csv_header(path: Path) -> tuple[list[str], int]:
    """The header's columns and the byte offset after it."""
    csv.field_size_limit(rules.MAX_FIELD)
    with open(path, "rb") as stream:
        lines = _Counted(stream, 0)
        try:
            header = next(csv.reader(lines), None)
        except csv.Error as exc:
            raise ScoreError(f"{path}: the CSV header cannot be read ({exc})") from None
        except _TooLong:
            raise ScoreError(f"{path}: {too_long('the CSV header is')}") from None
        if header is None:
            return [], lines.offset
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        if any(_has_bad_bytes(name) for name in header):
            raise ScoreError(f"{path}: the CSV header is not valid UTF-8")
        twice = sorted({name for name in header if header.count(name) > 1})
        if twice:
            raise ScoreError(f"{path}: the CSV header names {', '.join(map(repr, twice))} more than once; rename the copies")
        return header, lines.offset


def _has_bad_bytes(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def csv_items(path: Path, text_field: str, row: int, start: int, end: int | None) -> Iterator[Item]:
    header, body = csv_header(path)
    if not header:
        return
    if text_field not in header:
        raise ScoreError(
            f"{path}: the CSV header has no column {text_field!r} (columns: {', '.join(header)}); pass --text-column"
        )
    at = header.index(text_field)
    names = output_names([name for name in header if name != text_field], text_field)
    with open(path, "rb") as stream:
        stream.seek(max(start, body))
        lines = _Counted(stream, max(start, body))
        reader = csv.reader(lines)
        while True:
            try:
                record = next(reader, None)
            except _TooLong:
                yield Item(row, None, None, too_long("a CSV record"), lines.offset)
                record = []
            except csv.Error as exc:
                yield Item(row, None, None, f"a malformed CSV record ({exc})", lines.offset)
                record = []
            else:
                if record is None:
                    return
                yield _csv_item(record, header, at, names, row, lines.offset)
            lines.record_done()
            row += 1
            if end is not None and lines.offset >= end:
                return


def _csv_item(record: list[str], header: list[str], at: int, names: list[str], row: int, offset: int) -> Item:
    if len(record) != len(header):
        return Item(row, None, None, f"{len(record)} fields where the header has {len(header)}", offset)
    bad = next((value for value in record if _has_bad_bytes(value)), None)
    if bad is not None:
        return Item(row, None, None, utf8_problem(bad.encode("utf-8", "surrogateescape")), offset)
    return Item(row, record[at], dict(zip(names, record[:at] + record[at + 1 :])), None, offset)
