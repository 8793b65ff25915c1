"""edge-sentiment: an LSTM sentiment classifier trained with Keras, served with onnxruntime."""

from ._meta import __version__
from .errors import (
    BundleError,
    DataError,
    EdgeSentimentError,
    ExportError,
    InputError,
    MissingDependencyError,
    ScoreError,
    TokenizerError,
)
from .runtime.bundle import Bundle, load_bundle
from .runtime.predictor import Prediction, Predictor
from .runtime.textmodel import TextModel
from .runtime.tokenizer import Tokenizer, load_tokenizer
from .runtime.verify import VerifyReport, verify_bundle

__all__ = [
    "__version__",
    "Predictor",
    "Prediction",
    "TextModel",
    "Bundle",
    "load_bundle",
    "verify_bundle",
    "VerifyReport",
    "Tokenizer",
    "load_tokenizer",
    "score_file",
    "ScoreSummary",
    "ScoreOptions",
    "EdgeSentimentError",
    "BundleError",
    "DataError",
    "ExportError",
    "InputError",
    "MissingDependencyError",
    "ScoreError",
    "TokenizerError",
]


def __getattr__(name: str) -> object:
    """score_file, ScoreSummary and ScoreOptions, imported on first use (the scoring code is not needed to predict)."""
    if name in ("score_file", "ScoreSummary", "ScoreOptions"):
        from . import scoring

        globals()[name] = value = getattr(scoring, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
