"""What one export stage hands the next: frozen records, so no stage changes what another decided."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..labelled import Labelled
from ..runtime.onnxinfo import OnnxInfo
from .architecture import Architecture
from .examples import Examples
from .sources import Source

__all__ = ["Plan", "Sample", "Converted"]

Section = dict[str, Any]


@dataclass(frozen=True)
class Plan:
    """What loading and measuring decided before conversion."""

    src: Source
    arch: Architecture
    labels: list[str]
    examples: Examples | None
    sides: Section
    gate_texts: Labelled | None
    pads: str  # "skipped" (the exact pad skip), "fed" (the pads go through the model) or "none" (masked)
    skip_refusal: str | None  # why the pads are not skipped
    held_out: Labelled | None = None  # --calibrate's held-out texts (read before the conversion)


@dataclass(frozen=True)
class Sample:
    """The parity sample: its ids, where they came from, padded as the model takes them, and Keras's scores."""

    ids: list[list[int]]
    source: str
    padded: np.ndarray
    keras_before: np.ndarray


@dataclass(frozen=True)
class Converted:
    """The converted model as served, and what its conversion decided about the pads."""

    serving: Any  # onnx.ModelProto
    model_bytes: bytes
    info: OnnxInfo
    pads: str
    skip_refusal: str | None
    padskip: Section
