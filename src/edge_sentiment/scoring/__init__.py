"""Scoring files too large for `predict`: streamed, checkpointed, resumable, locally or on Ray Data."""

from .options import ScoreOptions

__all__ = ["score_file", "ScoreSummary", "ScoreOptions"]


def __getattr__(name: str) -> object:
    """score_file and ScoreSummary, imported on first use (the CLI reads ScoreOptions' defaults without them)."""
    if name in ("score_file", "ScoreSummary"):
        from . import local

        value = getattr(local, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
