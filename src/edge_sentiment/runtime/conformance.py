"""Conformance vectors: texts that hit every tokenizer rule, with the ids and fp32 score the reference
runtime gives them, shipped in a bundle as conformance.jsonl so a port to another host can prove itself.

One JSON object a line (ASCII: other characters as \\u escapes; lines split on "\\n" only):
{"text": str, "ids": [int, ...], "score": float | [float, ...]}. "ids" is
tokenizer.encode(text): at most max_len ids, truncated as the tokenizer says, not padded; "score" is
the fp32 model's own output through the Python runtime (Predictor(calibrated=False).predict_proba: the
bundle's calibration, runtime/decision.py, is not in it), a float for one sigmoid output, a list for k
classes. A port passes when its ids are identical and every score is within ATOL. The runtime reads and
checks them; export/vectors.py makes them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import BundleError
from .files import parse_json
from .tokenizer_base import MAX_TOKENIZER_BYTES

if TYPE_CHECKING:
    from .bundle import Bundle
    from .predictor import Predictor

__all__ = [
    "CONFORMANCE_FILE",
    "ATOL",
    "Vector",
    "ConformanceResult",
    "parse_vectors",
    "check_vectors",
    "compare",
    "load_vectors",
]

CONFORMANCE_FILE = "conformance.jsonl"
ATOL = 1e-5
_MAX_BYTES = MAX_TOKENIZER_BYTES  # conformance.jsonl: as large as a tokenizer file may be


@dataclass(frozen=True)
class Vector:
    """One conformance text with the ids and score the reference runtime gives it."""

    text: str
    ids: list[int]
    score: float | list[float]

    def to_json(self) -> str:
        return json.dumps({"text": self.text, "ids": self.ids, "score": self.score})  # ASCII: \\u escapes


@dataclass(frozen=True)
class ConformanceResult:
    """How a runtime's ids and scores compare with a bundle's vectors."""

    texts: int
    ids_identical: int
    max_abs_diff: float
    first_failure: str | None

    @property
    def passed(self) -> bool:
        return self.ids_identical == self.texts and self.max_abs_diff <= ATOL and self.first_failure is None

    def describe(self) -> str:
        line = f"{self.ids_identical}/{self.texts} texts with identical ids, max |dp| {self.max_abs_diff:.1e} (limit {ATOL:.0e})"
        return line + (f"; first failure: {self.first_failure}" if self.first_failure else "")


def parse_vectors(data: bytes, where: str = CONFORMANCE_FILE) -> list[Vector]:
    """Read conformance.jsonl; BundleError naming the line when it is malformed."""
    try:
        lines = [line for line in data.decode("utf-8").split("\n") if line.strip()]
    except UnicodeDecodeError as exc:
        raise BundleError(f"{where} is not UTF-8 ({exc}); re-export the bundle") from None
    vectors = []
    for number, line in enumerate(lines, 1):
        try:
            item = parse_json(line, "it")
        except ValueError as exc:  # not JSON, nested too deep, a number out of range
            raise BundleError(f"{where} line {number} is not JSON this runtime reads ({exc}); re-export the bundle") from None
        text, ids, score = (item.get(k) for k in ("text", "ids", "score")) if isinstance(item, dict) else (None, None, None)
        scores: list[Any] = score if isinstance(score, list) else [score]
        if (
            not isinstance(text, str)
            or not isinstance(ids, list)
            or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids)
            or not scores
            or not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in scores)
        ):
            raise BundleError(f"{where} line {number} is not {{'text': str, 'ids': [int], 'score': number or [number]}}")
        values = [float(s) for s in scores]
        vectors.append(Vector(text, ids, values if isinstance(score, list) else values[0]))
    if not vectors:
        raise BundleError(f"{where} holds no vectors; re-export the bundle")
    return vectors


def compare(vectors: Sequence[Vector], ids: Sequence[Sequence[int]], scores: Any) -> ConformanceResult:
    """Compare another runtime's ids and scores (one per vector, in order) with the vectors."""
    import numpy as np

    same, worst, first = 0, 0.0, None
    for k, v in enumerate(vectors):
        got = [int(i) for i in ids[k]]
        want_p = np.atleast_1d(np.asarray(v.score, dtype=np.float64))
        got_p = np.atleast_1d(np.asarray(scores[k], dtype=np.float64))
        diff = float(np.max(np.abs(want_p - got_p))) if want_p.shape == got_p.shape else float("inf")
        if not np.isfinite(diff):
            diff = float("inf")
        worst = max(worst, diff)
        if got == v.ids:
            same += 1
        elif first is None:
            first = f"text {k} ({v.text[:40]!r}): ids differ"
        if diff > ATOL and first is None:
            first = f"text {k} ({v.text[:40]!r}): score {got_p.tolist()} vs {want_p.tolist()}"
    return ConformanceResult(len(vectors), same, worst, first)


def check_vectors(predictor: Predictor, vectors: Sequence[Vector]) -> ConformanceResult:
    """Run the bundle's own tokenizer and fp32 model on the vectors' texts and compare.

    The vectors hold the model's own scores: a predictor that applies the bundle's calibration is compared
    through an uncalibrated one on the same bundle (calibrated=False)."""
    if not predictor.decision.identity:
        from .predictor import Predictor

        predictor = Predictor(predictor.bundle, threads=1, calibrated=False)
    texts = [v.text for v in vectors]
    ids = [predictor.tokenizer.encode(t) for t in texts]
    return compare(vectors, ids, predictor.predict_proba(texts))


def load_vectors(bundle: Bundle) -> list[Vector] | None:
    """The bundle's vectors, checked against the manifest's sha256; None for a bundle made before them."""
    from .bundle import read_listed_file, BundleFolder

    entry = bundle.manifest.get("files", {}).get(CONFORMANCE_FILE)
    if entry is None:
        return None
    opened = BundleFolder(bundle.path)
    try:
        data = read_listed_file(opened, CONFORMANCE_FILE, entry, _MAX_BYTES)
    finally:
        opened.close()
    return parse_vectors(data, f"{bundle.path}/{CONFORMANCE_FILE}")
