"""What edge-sentiment wrote before today's file formats, and how it is read: every allowance for an
older file is here, so the readers elsewhere know only today's format.

- tokenizer.json of format_version 1: edge-sentiment's own kind only, with no "kind" field; its
  padding and truncation default to "pre" where absent (Tokenizer.from_dict).
- manifest.json whose model has no "padding": the model is "pre"-padded (model_padding).
- a bundle without conformance.jsonl: it has no vectors to check (conformance.load_vectors gives None,
  verify says so and passes).
- a bundle whose model files carry no edge_sentiment.* metadata_props and which has no MODEL_CARD.md:
  made before them (verify says so and passes; tools/maintenance/add_metadata.py adds them).

tests/assets/tiny_bundle and tests/assets/tiny_run are of the first two kinds, so the tests read them.
"""

from __future__ import annotations

from typing import Any

from ..errors import TokenizerError
from .tokenizer_base import KIND

__all__ = ["v1_tokenizer_kind", "model_padding", "OLDER_PADDING"]

OLDER_PADDING = "pre"  # what every file written before padding was recorded holds


def v1_tokenizer_kind(data: dict[str, Any]) -> str:
    """The kind of a tokenizer file of format_version 1: always edge-sentiment's own."""
    if "kind" in data:
        raise TokenizerError("tokenizer format_version 1 has no 'kind' field; this file is not one edge-sentiment wrote")
    return KIND


def model_padding(model: dict[str, Any]) -> Any:
    """The manifest model's padding side ("pre" or "post"; checked by the manifest's reader)."""
    return model.get("padding", OLDER_PADDING)
