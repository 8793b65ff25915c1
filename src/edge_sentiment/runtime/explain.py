"""Word attributions: each word's effect on a text's score, by leaving it out (Predictor.explain)."""

from __future__ import annotations

from typing import Any

from ..errors import EdgeSentimentError

__all__ = ["explain"]


def explain(predictor: Any, text: str, **options: Any) -> Any:
    raise EdgeSentimentError("explain is not built yet")
