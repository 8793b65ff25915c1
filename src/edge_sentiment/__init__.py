"""edge-sentiment: an LSTM sentiment classifier trained with Keras, served with onnxruntime."""

from ._meta import __version__
from .errors import (
    BundleError,
    DataError,
    EdgeSentimentError,
    ExportError,
    InputError,
    MissingDependencyError,
    TokenizerError,
)
from .runtime.bundle import Bundle, load_bundle
from .runtime.predictor import Prediction, Predictor
from .runtime.textmodel import TextModel
from .runtime.tokenizer import Tokenizer, load_tokenizer

__all__ = [
    "__version__",
    "Predictor",
    "Prediction",
    "TextModel",
    "Bundle",
    "load_bundle",
    "Tokenizer",
    "load_tokenizer",
    "EdgeSentimentError",
    "BundleError",
    "DataError",
    "ExportError",
    "InputError",
    "MissingDependencyError",
    "TokenizerError",
]
