"""edge-sentiment: an LSTM sentiment classifier trained with Keras, served with onnxruntime."""

import typing

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
from .runtime.tokenizer import Tokenizer, load_tokenizer

if typing.TYPE_CHECKING:
    from .runtime.explain import Explanation
    from .runtime.textmodel import TextModel
    from .runtime.verify import VerifyReport, verify_bundle

__all__ = [
    "__version__",
    "Predictor",
    "Prediction",
    "Explanation",
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


_LAZY = {  # imported on first use: a prediction needs none of them (a cold `predict` skips their import)
    "score_file": "scoring",
    "ScoreSummary": "scoring",
    "ScoreOptions": "scoring",
    "TextModel": "runtime.textmodel",
    "Explanation": "runtime.explain",
    "VerifyReport": "runtime.verify",
    "verify_bundle": "runtime.verify",
}


def __getattr__(name: str) -> object:
    """The names in _LAZY, imported on first use."""
    if name in _LAZY:
        from importlib import import_module

        globals()[name] = value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
