"""int8: onnxruntime's dynamic quantisation (LSTM -> DynamicQuantizeLSTM), gated on test accuracy."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import BundleError, ExportError
from ..labelled import Labelled
from ..runtime.bundle import check_model
from ..runtime.onnxinfo import read_onnx_info
from ..runtime.tokenizer import TokenizerBase
from .gates import GateReport, parity_figures
from .staged import staged_predictor

__all__ = ["quantize_int8", "int8_gate", "INT8_FILE"]

INT8_FILE = "model.int8.onnx"


def quantize_int8(model: Any) -> bytes:
    """int8 weights for the LSTM and the embedding; the padding-skip tables and the 1-unit dense stay fp32."""
    from onnxruntime.quantization import QuantType, quantize_dynamic  # type: ignore[import-untyped]

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


def int8_gate(
    report: GateReport,
    serving: Any,
    tok: TokenizerBase,
    out: str | os.PathLike[str],
    contract: dict[str, Any],
    texts: Labelled,
    max_loss_pp: float,
    fused: dict[str, int],
) -> tuple[bytes, dict[str, Any]]:
    """Quantise, then fail the export if int8 loses more than max_loss_pp points of test accuracy; the int8
    model's bytes and the manifest's "int8" section."""
    from ..evaluate import score_figures

    int8_bytes = quantize_int8(serving)
    census = dict(read_onnx_info(int8_bytes).op_census)
    _int8_census_gate(report, census, fused)
    try:
        check_model(read_onnx_info(int8_bytes), {"model": contract}, tok, INT8_FILE)
    except BundleError as exc:
        report.add("int8 runtime contract", False, str(exc))
    p32 = staged_predictor(serving.SerializeToString(), tok, out, contract).predict_proba(texts.texts)
    p8 = staged_predictor(int8_bytes, tok, out, contract, "int8").predict_proba(texts.texts)
    acc32, acc8 = score_figures(p32, texts.classes), score_figures(p8, texts.classes)
    loss_pp = (acc32["accuracy"] - acc8["accuracy"]) * 100
    report.add(
        "int8 accuracy",
        loss_pp <= max_loss_pp,
        f"{acc8['accuracy']:.4f} vs fp32 {acc32['accuracy']:.4f} on {len(texts)} {texts.source}: "
        f"{loss_pp:+.2f} pp lost (limit {max_loss_pp} pp)",
    )
    vs32 = parity_figures(p32, p8)
    return int8_bytes, {
        "file": INT8_FILE,
        "reviews": len(texts),
        "texts": texts.source,
        "texts_sha256": texts.checksum,
        "accuracy": acc8["accuracy"],
        "log_loss": acc8["log_loss"],
        "fp32_accuracy": acc32["accuracy"],
        "accuracy_loss_pp": loss_pp,
        "max_loss_pp": max_loss_pp,
        "vs_fp32": {k: vs32[k] for k in ("max_abs_diff", "mean_abs_diff", "label_agreement")},
        "op_census": dict(sorted(census.items())),
    }


def _int8_census_gate(report: GateReport, census: dict[str, int], fused: dict[str, int]) -> None:
    """One quantised or float recurrent op per recurrent layer, and no Loop."""
    # onnxruntime quantises an LSTM into DynamicQuantizeLSTM and leaves a GRU in float (its matrix products around it int8)
    quantised = census.get("com.microsoft.DynamicQuantizeLSTM", 0)
    lstm, gru = quantised + census.get("LSTM", 0), census.get("GRU", 0)
    report.add(
        "int8 op census",
        (lstm, gru) == (fused.get("LSTM", 0), fused.get("GRU", 0)) and not census.get("Loop"),
        f"DynamicQuantizeLSTM={quantised}, LSTM={census.get('LSTM', 0)}, GRU={gru}, Loop={census.get('Loop', 0)}",
    )
