"""The package's exceptions: one small tree whose messages say what was wrong and what to do."""

from __future__ import annotations

__all__ = [
    "EdgeSentimentError",
    "DataError",
    "TokenizerError",
    "BundleError",
    "ExportError",
    "InputError",
    "MissingDependencyError",
    "ScoreError",
]


class EdgeSentimentError(Exception):
    """Base class of every error edge-sentiment raises on purpose."""


class DataError(EdgeSentimentError):
    """The IMDB data is missing, unreadable or not in the expected layout."""


class TokenizerError(EdgeSentimentError):
    """A tokenizer file is missing, malformed or of an unknown format version."""


class BundleError(EdgeSentimentError):
    """A bundle is missing, tampered with, or not one this version can load."""


class ExportError(EdgeSentimentError):
    """An export failed one of its gates; nothing was written."""


class InputError(EdgeSentimentError, TypeError):
    """A caller passed something that is not text (or a sequence of texts)."""


class ScoreError(EdgeSentimentError):
    """A scoring run cannot start or finish: unreadable input, an output in the way, a bad row under --strict."""


class MissingDependencyError(EdgeSentimentError, ImportError):
    """An optional dependency is needed for this command."""

    @classmethod
    def for_extra(cls, package: str, extra: str, what: str) -> "MissingDependencyError":
        return cls(f"{what} needs {package}, which is not installed. Install it with: pip install 'edge-sentiment[{extra}]'")
