"""int8: onnxruntime's dynamic quantisation (LSTM -> DynamicQuantizeLSTM), gated on test accuracy."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from ..errors import ExportError

__all__ = ["quantize_int8"]


def quantize_int8(model: Any) -> bytes:
    """int8 weights for the LSTM and the embedding; the padding-skip tables and the 1-unit dense stay fp32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    import logging

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.ERROR))  # its pre-processing hint
    keep_fp32 = [n.name for n in model.graph.node if n.name.startswith("padskip/")]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model.int8.onnx"
        try:
            quantize_dynamic(
                model, out, op_types_to_quantize=["LSTM", "Gather"], weight_type=QuantType.QInt8, nodes_to_exclude=keep_fp32
            )
        except Exception as exc:  # onnxruntime.quantization raises many types
            raise ExportError(f"int8 quantisation failed: {exc}") from None
        return out.read_bytes()
