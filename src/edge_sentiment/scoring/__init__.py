"""Scoring files too large for `predict`: streamed, checkpointed, resumable, locally or on Ray Data."""

from .local import ScoreSummary, score_file

__all__ = ["score_file", "ScoreSummary"]
