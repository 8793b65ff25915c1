"""Labelled texts to measure a bundle on: IMDB's own labels, IMDB's star ratings as classes, or a user's file.

The labels are class indexes in the order of the bundle's `labels` (for one sigmoid output: 0 negative,
1 positive). `evaluate` and export's int8 accuracy gate read them, so a bundle of several classes is
measured as one of two is.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import Reviews, load_imdb
from .errors import DataError

__all__ = ["Labelled", "LabelledSource", "from_imdb", "parse_rating_classes", "read_labelled", "read_rows", "class_of"]

_MAX_REPORTED = 10  # bad rows named in one error


@dataclass(frozen=True)
class Labelled:
    """Texts with their class indexes (into the bundle's labels), and what they are, for reports."""

    texts: list[str]
    classes: np.ndarray
    source: str
    checksum: str

    def __len__(self) -> int:
        return len(self.texts)


@dataclass(frozen=True)
class LabelledSource:
    """Where labelled texts come from: a file (path), else IMDB's test split, by its labels or by rating_classes."""

    path: str | os.PathLike[str] | None = None
    rating_classes: str | None = None
    text_field: str = "text"
    label_field: str = "label"

    def load(
        self, classes: int, labels: Sequence[str], data: str | os.PathLike[str] | None = None, limit: int | None = None
    ) -> Labelled:
        """The texts for a bundle of `classes` outputs named `labels`; limit: the file's first rows, or a
        class-balanced sample of IMDB's test reviews."""
        if self.path is not None:
            if self.rating_classes is not None:
                raise DataError("--rating-classes labels IMDB's reviews; a --labelled file carries its own labels")
            return read_labelled(self.path, labels, text_field=self.text_field, label_field=self.label_field, limit=limit)
        reviews = load_imdb(data, splits=("test",))["test"]
        return from_imdb(reviews.subset(limit, seed=0) if limit else reviews, classes, self.rating_classes)


def parse_rating_classes(spec: str) -> list[tuple[int, int]]:
    """ "1-4,7-8,9-10" → [(1, 4), (7, 8), (9, 10)]: IMDB star ratings (1-10) per class, in the bundle's order."""
    ranges = []
    for part in spec.split(","):
        low, _, high = part.strip().partition("-")
        try:
            pair = (int(low), int(high or low))
        except ValueError:
            raise DataError(f"rating classes {spec!r}: {part.strip()!r} is not a rating or a range like 7-8") from None
        if not 1 <= pair[0] <= pair[1] <= 10:
            raise DataError(f"rating classes {spec!r}: {part.strip()!r} is not a range of ratings within 1-10")
        if ranges and pair[0] <= ranges[-1][1]:
            raise DataError(f"rating classes {spec!r}: the ranges must rise and not overlap, e.g. 1-4,7-8,9-10")
        ranges.append(pair)
    return ranges


def from_imdb(reviews: Reviews, classes: int, rating_classes: str | None = None) -> Labelled:
    """IMDB reviews labelled for a bundle of `classes` outputs (1: one sigmoid output).

    Without rating_classes: IMDB's negative/positive, for a bundle of one sigmoid output or two classes.
    With it ("1-4,7-8,9-10"): one class per range of star ratings, in order; reviews rated outside every
    range are left out.
    """
    if rating_classes is None:
        if classes > 2:
            raise DataError(
                f"the bundle has {classes} classes and IMDB's labels are two: give the star ratings of each class "
                "(--rating-classes, e.g. 1-4,7-8,9-10 for three) or labelled texts of your own (--labelled FILE)"
            )
        return Labelled(
            list(reviews.texts),
            np.asarray(reviews.labels, dtype=np.int64),
            f"IMDB {reviews.split} reviews",
            reviews.checksum(),
        )
    ranges = parse_rating_classes(rating_classes)
    if len(ranges) != max(classes, 2):
        raise DataError(
            f"--rating-classes {rating_classes} gives {len(ranges)} classes; the bundle has {max(classes, 2)}: "
            "one range of ratings per class, in the order of its labels"
        )
    keep, labels = [], []
    for i, rating in enumerate(reviews.ratings):
        found = [c for c, (low, high) in enumerate(ranges) if low <= rating <= high]
        if found:
            keep.append(i)
            labels.append(found[0])
    if not keep:
        raise DataError(f"no IMDB {reviews.split} review has a rating within --rating-classes {rating_classes}")
    h = hashlib.sha256(f"{reviews.checksum()}\t{ranges}".encode())
    return Labelled(
        [reviews.texts[i] for i in keep],
        np.asarray(labels, dtype=np.int64),
        f"IMDB {reviews.split} reviews, classes by star rating {rating_classes}",
        h.hexdigest(),
    )


def read_labelled(
    path: str | os.PathLike[str],
    labels: Sequence[str],
    *,
    text_field: str = "text",
    label_field: str = "label",
    limit: int | None = None,
) -> Labelled:
    """Labelled texts from a JSON Lines file (objects) or a CSV file with a header row (by its suffix, .csv).

    Each row has a text and a label: one of `labels` (the bundle's) or its index. Every bad row is
    collected (the first ten named) and reported in one DataError; nothing is guessed.
    """
    file = Path(path)
    rows, raw = read_rows(file, "labelled texts")
    index = {name: i for i, name in enumerate(labels)}
    texts: list[str] = []
    classes: list[int] = []
    problems: list[str] = []
    for where, row in rows:
        if limit is not None and len(texts) >= limit:
            break
        if not isinstance(row, dict):
            problems.append(f"{where}: not an object with {text_field!r} and {label_field!r}")
            continue
        text, label = row.get(text_field), row.get(label_field)
        if not isinstance(text, str):
            problems.append(f"{where}: no text in {text_field!r}" if text is None else f"{where}: {text_field!r} is not text")
            continue
        found = class_of(label, index)
        if found is None:
            problems.append(f"{where}: label {label!r} is none of {', '.join(labels)} (nor 0-{len(labels) - 1})")
            continue
        texts.append(text)
        classes.append(found)
    if problems:
        more = f" (and {len(problems) - _MAX_REPORTED} more)" if len(problems) > _MAX_REPORTED else ""
        count = f"{len(problems)} bad row{'s' if len(problems) > 1 else ''}"
        raise DataError(f"{file}: {count}{more}; fix them or leave them out:\n  " + "\n  ".join(problems[:_MAX_REPORTED]))
    if not texts:
        raise DataError(f"{file} holds no labelled texts")
    return Labelled(texts, np.asarray(classes, dtype=np.int64), f"labelled texts of {file.name}", hashlib.sha256(raw).hexdigest())


def read_rows(file: Path, what: str) -> tuple[list[tuple[str, object]], bytes]:
    """The rows of a JSON Lines file (one object a line) or a CSV file with a header row (by its suffix,
    .csv), each with where it stands ("line 3", "row 3"), and the file's bytes."""
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise DataError(f"cannot read {what} {file}: {exc.strerror or exc}") from None
    try:
        content = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(f"{file} is not valid UTF-8 (line {line}, byte 0x{raw[exc.start]:02x}): save it as UTF-8") from None
    return (_csv_rows(file, content) if file.suffix.lower() == ".csv" else _jsonl_rows(file, content)), raw


def class_of(label: object, index: dict[str, int]) -> int | None:
    """The class index of a label given by name or index (index: name -> class), or None."""
    if isinstance(label, str):
        if label in index:
            return index[label]
        label = label.strip()
        if label.isdigit():
            label = int(label)
    if isinstance(label, int) and not isinstance(label, bool) and 0 <= label < len(index):
        return label
    return None


def _jsonl_rows(file: Path, content: str) -> list[tuple[str, object]]:
    rows: list[tuple[str, object]] = []
    for number, line in enumerate(content.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append((f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise DataError(f"{file} line {number} is not JSON ({exc.msg}): one JSON object per line, or a .csv file") from None
    return rows


def _csv_rows(file: Path, content: str) -> list[tuple[str, object]]:
    reader = csv.DictReader(io.StringIO(content, newline=""))
    try:
        rows: list[tuple[str, object]] = [(f"row {reader.line_num}", dict(row)) for row in reader]
    except csv.Error as exc:
        raise DataError(f"{file} is not readable as CSV (line {reader.line_num}): {exc}") from None
    return rows
