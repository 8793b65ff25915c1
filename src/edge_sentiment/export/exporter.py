"""Export a trained run to a verified bundle: convert, skip padding exactly, gate, write atomically."""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._meta import tool_versions
from ..data import load_imdb
from ..errors import BundleError, DataError, ExportError
from ..runtime.bundle import INPUT_NAME, LABELS, OUTPUT_NAME, check_model, write_bundle
from ..runtime.files import check_target
from ..runtime.onnxinfo import read_onnx_info
from ..runtime.predictor import Predictor
from ..runtime.tokenizer import Tokenizer, pad_ids
from .convert import DEFAULT_OPSET, load_keras_model, to_onnx
from .gates import GateReport, check_parity, op_census_gate
from .padskip import add_padding_skip

__all__ = ["export_bundle", "ExportResult", "parity_sample"]


@dataclass
class ExportResult:
    bundle: Path
    manifest: dict[str, Any]
    report: GateReport


def _resolve_source(source: Path, tokenizer: Path | None) -> tuple[Path, Path, dict[str, Any]]:
    if source.is_dir():
        model_path, tok_path = source / "model.keras", tokenizer or source / "tokenizer.json"
        metrics_path = source / "metrics.json"
        metrics = json.loads(metrics_path.read_text(encoding="utf-8")) if metrics_path.is_file() else {}
    else:
        model_path, metrics = source, {}
        if tokenizer is None:
            raise ExportError(f"{source} is a model file: pass --tokenizer with the tokenizer.json it was trained with")
        tok_path = tokenizer
    if not model_path.is_file():
        raise ExportError(f"no Keras model at {model_path}: pass a run folder written by 'edge-sentiment train' or a .keras file")
    return model_path, tok_path, metrics


def parity_sample(tokenizer: Tokenizer, n: int, data: str | os.PathLike[str] | None) -> tuple[list[list[int]], str]:
    """Token ids of n real test reviews when the data is at hand, else n generated sequences."""
    try:
        reviews = load_imdb(data, splits=("test",))["test"].subset(n, seed=0) if n else None
    except DataError as exc:
        if data is not None:
            raise
        reviews, reason = None, str(exc).split(":")[0]
    if reviews is not None:
        return [tokenizer.encode(t) for t in reviews.texts], f"{len(reviews)} IMDB test reviews"
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, tokenizer.max_len + 1, size=n)
    ids = [rng.integers(1, tokenizer.vocab_size, size=int(k)).tolist() for k in lengths]
    return ids, f"{n} generated token sequences (no IMDB data: {reason if n else 'none asked'})"


def export_bundle(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    tokenizer: str | os.PathLike[str] | None = None,
    opset: int = DEFAULT_OPSET,
    parity_samples: int = 1000,
    data: str | os.PathLike[str] | None = None,
    force: bool = False,
    strip_dropout: bool = True,
    quantize: str | None = None,
    int8_max_loss_pp: float = 0.3,
    accuracy_samples: int | None = None,
    command: str | None = None,
    log: Any = None,
) -> ExportResult:
    """Convert a run (or a .keras file + tokenizer) into a bundle; ExportError if any gate fails."""
    import onnx

    say = log or (lambda _msg: None)
    check_target(out, force=force, what="bundle")
    if parity_samples < 1:
        raise ExportError("parity needs at least 1 sample (--parity-samples); an export without parity is not gated")
    if quantize not in (None, "int8"):
        raise ExportError(f"unknown quantisation {quantize!r}; the choice is int8")
    test_reviews = None
    if quantize:  # fail before any work when the accuracy gate cannot run
        try:
            test_reviews = load_imdb(data, splits=("test",))["test"]
        except DataError as exc:
            raise ExportError(f"--quantize int8 measures test accuracy at export and needs the IMDB data: {exc}") from None
        if accuracy_samples:
            test_reviews = test_reviews.subset(accuracy_samples, seed=0)
    model_path, tok_path, metrics = _resolve_source(Path(source), Path(tokenizer) if tokenizer else None)
    tok = Tokenizer.load(tok_path)
    model = load_keras_model(model_path)
    rows = model.get_layer("embedding").input_dim if "embedding" in [l.name for l in model.layers] else None
    if rows is not None and rows != tok.vocab_size:
        raise ExportError(f"the model's embedding has {rows} rows but {tok_path} has {tok.vocab_size} ids: not the tokenizer it was trained with")

    say("choosing parity samples")
    ids, sample_source = parity_sample(tok, parity_samples, data)
    padded = pad_ids(ids, tok.max_len)
    keras_before = model.predict(padded, batch_size=256, verbose=0).ravel() if len(ids) else np.empty(0)

    say(f"converting with tf2onnx (opset {opset})")
    report = GateReport()
    reference = to_onnx(model, opset=opset, strip_dropout=strip_dropout)
    ref_census = dict(read_onnx_info(reference.SerializeToString()).op_census)
    op_census_gate(report, ref_census)
    padskip: dict[str, Any] = {}
    serving = reference
    if report.passed:
        serving, padskip = add_padding_skip(copy.deepcopy(reference), tok.max_len)
    model_bytes = serving.SerializeToString()
    try:
        onnx.checker.check_model(serving, full_check=True)
        report.add("onnx checker", True, "passed (full check, with shape inference)")
    except Exception as exc:  # onnx raises several types
        report.add("onnx checker", False, str(exc).splitlines()[0])
    info = read_onnx_info(model_bytes)
    report.add("self-contained", not info.external_data,
               "no external data" if not info.external_data else f"external data: {info.external_data[:3]}")

    contract = {"model": {"max_len": tok.max_len, "vocab_size": tok.vocab_size}}
    try:
        check_model(info, contract, tok, "model.onnx")
        report.add("runtime contract", True, f"{INPUT_NAME} int32 -> {OUTPUT_NAME} float32, ops allowed, {tok.vocab_size} embedding rows")
    except BundleError as exc:
        report.add("runtime contract", False, str(exc))
    files = {"model.onnx": model_bytes, "tokenizer.json": tok.to_json().encode("utf-8")}
    parity: dict[str, Any] = {"source": sample_source, "atol": 1e-5}
    say("checking parity against Keras")  # even after a failed gate: every figure is reported
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        session = None
        report.add("onnxruntime session", False, str(exc).splitlines()[0])
    if session is not None:
        full = np.concatenate([session.run([OUTPUT_NAME], {INPUT_NAME: padded[i:i + 256]})[0].ravel()
                               for i in range(0, len(padded), 256)])
        parity["padded"] = check_parity(report, f"parity, padded to {tok.max_len}", keras_before, full)
        staged = _staged_predictor(model_bytes, tok, out)
        parity["runtime"] = check_parity(report, "parity, runtime (pads skipped, length-batched)", keras_before, staged.score_ids(ids))
        keras_after = model.predict(padded[:256], batch_size=256, verbose=0).ravel()  # same batching as before
        unchanged = bool(np.array_equal(keras_after, keras_before[:256]))
        report.add("keras model unchanged", unchanged, "same outputs before and after export" if unchanged else "outputs changed after export")
    int8: dict[str, Any] = {}
    if quantize and report.passed:
        say("quantising to int8 and measuring test accuracy")
        int8 = _int8_gate(report, serving, tok, out, test_reviews, int8_max_loss_pp)
        files["model.int8.onnx"] = int8.pop("bytes")
    if not report.passed:
        raise ExportError("export gates failed; nothing was written:\n" + "\n".join(report.lines()))

    manifest = {
        "labels": LABELS,
        "threshold": 0.5,
        "model": {
            "file": "model.onnx",
            "opset": opset,
            "inputs": [{"name": INPUT_NAME, "dtype": "int32", "shape": ["batch", "length"],
                        "doc": f"token ids pre-padded with 0; any length from 1, the last {tok.max_len} are used"}],
            "outputs": [{"name": OUTPUT_NAME, "dtype": "float32", "shape": ["batch", 1],
                         "doc": "probability that the text is positive"}],
            "max_len": tok.max_len,
            "vocab_size": tok.vocab_size,
            "op_census": dict(sorted(info.op_census.items())),
            "padding_skip": padskip,
        },
        "precisions": {"fp32": "model.onnx", **({"int8": "model.int8.onnx"} if int8 else {})},
        "parity": parity,
        "int8": int8 or None,
        "gates": report.lines(),
        "training": {k: metrics.get(k) for k in (
            "recipe", "train_accuracy", "test_accuracy", "test_loss", "train_reviews", "test_reviews",
            "embedding_fold", "data", "seed", "wall_seconds", "command") if k in metrics},
        "source": {"model": str(model_path), "command": command},
        "versions": tool_versions(),
    }
    try:
        written = write_bundle(out, files, manifest, force=force)
    except BundleError as exc:
        raise ExportError(f"the runtime refuses the exported bundle, so nothing was replaced: {exc}") from None
    return ExportResult(Path(out), written, report)


def _staged_predictor(model_bytes: bytes, tok: Tokenizer, out: str | os.PathLike[str], precision: str = "fp32") -> Predictor:
    """A Predictor over a model of the not-yet-written bundle, to gate exactly what the runtime will run."""
    from ..runtime.bundle import Bundle

    bundle = Bundle(Path(out), {"model": {"max_len": tok.max_len}}, tok, precision, model_bytes,
                    read_onnx_info(model_bytes))
    return Predictor(bundle)


def _int8_gate(report: GateReport, serving: Any, tok: Tokenizer, out: str | os.PathLike[str],
               reviews: Any, max_loss_pp: float) -> dict[str, Any]:
    """Quantise, then fail the export if int8 loses more than max_loss_pp points of test accuracy."""
    from ..evaluate import score_figures
    from .gates import parity_figures
    from .quantize import quantize_int8

    int8_bytes = quantize_int8(serving)
    census = dict(read_onnx_info(int8_bytes).op_census)
    fused = census.get("com.microsoft.DynamicQuantizeLSTM", 0)
    report.add("int8 op census", fused == 1 and not census.get("Loop"), f"DynamicQuantizeLSTM={fused}, Loop={census.get('Loop', 0)}")
    try:
        check_model(read_onnx_info(int8_bytes), {"model": {"vocab_size": tok.vocab_size}}, tok, "model.int8.onnx")
    except BundleError as exc:
        report.add("int8 runtime contract", False, str(exc))
    labels = np.asarray(reviews.labels)
    p32 = _staged_predictor(serving.SerializeToString(), tok, out).predict_proba(reviews.texts)
    p8 = _staged_predictor(int8_bytes, tok, out, "int8").predict_proba(reviews.texts)
    acc32, acc8 = score_figures(p32, labels), score_figures(p8, labels)
    loss_pp = (acc32["accuracy"] - acc8["accuracy"]) * 100
    report.add("int8 accuracy", loss_pp <= max_loss_pp,
               f"{acc8['accuracy']:.4f} vs fp32 {acc32['accuracy']:.4f} on {len(labels)} test reviews: "
               f"{loss_pp:+.2f} pp lost (limit {max_loss_pp} pp)")
    vs32 = parity_figures(p32, p8)
    return {"bytes": int8_bytes, "file": "model.int8.onnx", "reviews": len(labels),
            "accuracy": acc8["accuracy"], "log_loss": acc8["log_loss"], "fp32_accuracy": acc32["accuracy"],
            "accuracy_loss_pp": loss_pp, "max_loss_pp": max_loss_pp,
            "vs_fp32": {k: vs32[k] for k in ("max_abs_diff", "mean_abs_diff", "label_agreement")},
            "op_census": dict(sorted(census.items()))}
