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
from .scoring import ScoreSummary, score_file

__all__ = [
    "__version__",
    "Predictor",
    "Prediction",
    "TextModel",
    "Bundle",
    "load_bundle",
    "Tokenizer",
    "load_tokenizer",
    "score_file",
    "ScoreSummary",
    "EdgeSentimentError",
    "BundleError",
    "DataError",
    "ExportError",
    "InputError",
    "MissingDependencyError",
    "ScoreError",
    "TokenizerError",
]
