"""The not-yet-written bundle as the runtime will run it: the gates score exactly what ships."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..runtime.bundle import Bundle
from ..runtime.onnxinfo import read_onnx_info
from ..runtime.predictor import Predictor
from ..runtime.tokenizer import TokenizerBase

__all__ = ["staged_predictor"]


def staged_predictor(
    model_bytes: bytes, tok: TokenizerBase, out: str | os.PathLike[str], contract: dict[str, Any], precision: str = "fp32"
) -> Predictor:
    """A Predictor over a model of the not-yet-written bundle, to gate exactly what the runtime will run."""
    bundle = Bundle(Path(out), {"model": contract}, tok, precision, model_bytes, read_onnx_info(model_bytes))
    return Predictor(bundle)
