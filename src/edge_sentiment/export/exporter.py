"""Export a trained run to a verified bundle: convert, skip padding exactly, gate, write atomically."""

from __future__ import annotations

import copy
import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._meta import tool_versions
from ..errors import BundleError, DataError, ExportError
from ..labelled import Labelled, LabelledSource
from ..runtime.bundle import INPUT_NAME, LABELS, OUTPUT_NAME, check_model
from ..runtime.files import check_target
from ..runtime.onnxinfo import read_onnx_info
from ..runtime.predictor import Predictor
from ..runtime.tokenizer import TokenizerBase, pad_ids
from ..runtime.conformance import CONFORMANCE_FILE
from .conformance import conformance_file
from .convert import DEFAULT_OPSET, to_onnx
from .gates import PARITY_ATOL, GateReport, check_parity, op_census_gate
from .fastpath import fast_path_files
from .padskip import add_padding_skip, name_embedding
from .architecture import Architecture, compiled_loss, recognise
from .sources import Source, TokenizerOptions, load_source
from .texts import parity_sample, parity_texts
from .examples import check_examples as examples_gate, read_examples
from .options import refuse_orphans
from .preprocessing import preprocessing
from .sides import check_sides
from .writer import write_bundle

__all__ = ["export_bundle", "ExportResult", "parity_sample", "TokenizerOptions", "INT8_MAX_LOSS_PP", "TEXT_FUZZ"]

INT8_MAX_LOSS_PP = 0.3  # the int8 model may lose at most this many points of accuracy
TEXT_FUZZ = 100_000  # fuzzed texts the text model is compared on


@dataclass
class ExportResult:
    bundle: Path
    manifest: dict[str, Any]
    report: GateReport


def export_bundle(
    source: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    tokenizer: str | os.PathLike[str] | None = None,
    tokenizer_options: TokenizerOptions | None = None,
    opset: int = DEFAULT_OPSET,
    parity_samples: int = 1000,
    data: str | os.PathLike[str] | None = None,
    force: bool = False,
    strip_dropout: bool = True,
    quantize: str | None = None,
    labels: Sequence[str] | None = None,
    accuracy_texts: LabelledSource | None = None,
    int8_max_loss_pp: float | None = None,
    accuracy_samples: int | None = None,
    command: str | None = None,
    log: Any = None,
    text_model: bool = False,
    text_fuzz: int | None = None,
    fast_path: bool | None = None,
    weights: str | os.PathLike[str] | None = None,
    output: str | None = None,
    check_examples: str | os.PathLike[str] | None = None,
) -> ExportResult:
    """Convert a run (or a Keras model + its tokenizer) into a bundle; ExportError if any gate fails.

    quantize="int8" also writes model.int8.onnx, gated on the accuracy it loses on accuracy_texts (default:
    IMDB's test reviews from data, by their labels; accuracy_samples of them); labelled.py says what else.
    fast_path adds the fp32 graphs for texts without pads (export/fastpath.py) where the model has them,
    kept only when they give model.onnx's scores bit for bit. weights: the weights file of a source that is
    model.to_json()'s architecture alone. output (--output): what a linear last layer gives
    (architecture.OUTPUTS), where the model does not say. check_examples: texts with the labels (and scores)
    the user's own pipeline gives them, which the bundle must reproduce (export/examples.py).
    Options left None take their defaults (int8_max_loss_pp 0.3, text_fuzz 100,000, the fast path where the
    model has one); one given where it cannot act (options.REQUIRES) is refused.
    """
    import onnx

    say = log or (lambda _msg: None)
    check_target(out, force=force, what="bundle")
    if parity_samples < 1:
        raise ExportError("parity needs at least 1 sample (--parity-samples); an export without parity is not gated")
    if quantize not in (None, "int8"):
        raise ExportError(f"unknown quantisation {quantize!r}; the choice is int8")
    options = tokenizer_options or TokenizerOptions()
    if tokenizer is not None:
        options = dataclasses.replace(options, tokenizer=tokenizer)
    given = {"quantize": quantize, "int8_max_loss": int8_max_loss_pp, "accuracy_samples": accuracy_samples}
    texts_given = accuracy_texts if accuracy_texts != LabelledSource() else None  # IMDB's labels: the default
    given |= {"labelled_path": texts_given, "text_model": text_model or None, "text_fuzz": text_fuzz}
    refuse_orphans({name for name, value in given.items() if value is not None})
    src = load_source(source, options, weights=weights)
    tok, model = src.tokenizer, src.ids_model
    # the one refusal for an unsupported model, before any conversion
    arch = recognise(model, output, compiled_loss(src.model_path))
    names = class_names(labels, arch.classes)
    examples = read_examples(check_examples, names) if check_examples is not None else None
    say("measuring whether the padding side matters to the model")
    texts, _ = parity_texts(tok, min(parity_samples, 400), data)
    sides = check_sides(src, arch, texts)
    if quantize and arch.head == "multi-label":
        raise ExportError(
            "--quantize int8 is gated on single-label accuracy, which a multi-label head (Dense(k, sigmoid)) "
            "does not have; export it without --quantize"
        )
    gate_texts: Labelled | None = None
    if quantize:  # fail before the conversion when the accuracy gate cannot run
        try:
            gate_texts = (accuracy_texts or LabelledSource()).load(arch.classes, names, data, accuracy_samples)
        except DataError as exc:
            raise ExportError(f"--quantize int8 measures the accuracy it loses on labelled texts: {exc}") from None
    rows = arch.vocab_rows
    skip_refusal = arch.pad_skip_refusal(tok.padding)
    pads = "none" if arch.mask_zero else "skipped" if skip_refusal is None else "fed"

    say("choosing parity samples")
    ids, sample_source = parity_sample(tok, parity_samples, data)
    # a masked model reads words only: its rows are padded to the longest (the pads are masked in Keras)
    width = tok.max_len if pads != "none" else max([len(row) for row in ids] + [1])
    padded = pad_ids(ids, width, tok.padding)
    keras_before = arch.keras_scores(model.predict(padded, batch_size=256, verbose=0)) if len(ids) else np.empty(0)

    say(f"converting with tf2onnx (opset {opset})")
    report = GateReport()
    reference = to_onnx(model, opset=opset, strip_dropout=strip_dropout, architecture=arch)
    ref_census = dict(read_onnx_info(reference.SerializeToString()).op_census)
    op_census_gate(report, ref_census, arch.fused_ops())
    if arch.applies:  # said in the output and recorded: the bundle's scores are not the model's raw outputs
        report.add("output", True, f"the model gives logits ({arch.head_reason}): the bundle applies {arch.applies} in the graph")
    padskip: dict[str, Any] = {}
    if pads == "skipped" and not report.passed:  # the pad skip edits only the fused graph it knows
        pads, skip_refusal = "fed", "the op census failed: no pad skip"
    if pads == "skipped":
        serving, padskip = add_padding_skip(copy.deepcopy(reference), tok.max_len)
    else:
        serving = name_embedding(copy.deepcopy(reference))
    model_bytes = serving.SerializeToString()
    try:
        onnx.checker.check_model(serving, full_check=True)
        report.add("onnx checker", True, "passed (full check, with shape inference)")
    except Exception as exc:  # onnx raises several types
        report.add("onnx checker", False, str(exc).splitlines()[0])
    info = read_onnx_info(model_bytes)
    report.add(
        "self-contained",
        not info.external_data,
        "no external data" if not info.external_data else f"external data: {info.external_data[:3]}",
    )

    model_contract: dict[str, Any] = {
        "max_len": tok.max_len,
        "vocab_size": rows,
        "padding": tok.padding,
        "padding_skip": padskip,
        "pads": pads,
        "classes": arch.classes,
        "head": arch.head,
    }
    if pads == "none":  # what Keras gives a text with no words: every step masked
        empty = arch.keras_scores(model.predict(np.zeros((1, tok.max_len), dtype=np.int32), verbose=0))[0]
        model_contract["empty_text"] = np.atleast_1d(empty).astype(float).tolist() if np.all(np.isfinite(empty)) else None
    try:
        check_model(info, {"model": model_contract}, tok, "model.onnx")
        report.add("runtime contract", True, f"{INPUT_NAME} int32 -> {OUTPUT_NAME} float32, ops allowed, {rows} embedding rows")
    except BundleError as exc:
        report.add("runtime contract", False, str(exc))
    files = {"model.onnx": model_bytes, "tokenizer.json": tok.to_json().encode("utf-8")}
    parity: dict[str, Any] = {"source": sample_source, "atol": PARITY_ATOL}
    say("checking parity against Keras")  # even after a failed gate: every figure is reported
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        session = None
        report.add("onnxruntime session", False, str(exc).splitlines()[0])
    if session is not None:

        def run(batch: np.ndarray) -> np.ndarray:
            return _scores(session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0], arch.classes)

        if pads == "none":  # the unmasked model on the words alone equals Keras's masked model on the padded row
            direct = np.concatenate([run(np.asarray([row or [0]], dtype=np.int32)) for row in ids])
            name = "parity, words only (the pads masked in Keras)"
        else:
            direct = np.concatenate([run(padded[i : i + 256]) for i in range(0, len(padded), 256)])
            name = f"parity, padded to {tok.max_len}{'' if tok.padding == 'pre' else ' after the words'}"
        multi = arch.head == "multi-label"
        parity["padded"] = check_parity(report, name, keras_before, direct, multi_label=multi)
        staged = _staged_predictor(model_bytes, tok, out, model_contract)
        runs_as = {
            "skipped": "pads skipped, length-batched",
            "none": "no pads, batched by length",
            "fed": f"{tok.padding}-padded to {tok.max_len}, batched",
        }[pads]
        parity["runtime"] = check_parity(
            report, f"parity, runtime ({runs_as})", keras_before, staged.score_ids(ids), multi_label=multi
        )
        parity.update(_text_gates(report, src, staged, parity_samples, data, arch))
        if examples is not None:
            parity["examples"] = examples_gate(report, examples, staged.predict_proba(examples.texts), 0.5, multi_label=multi)
        keras_after = arch.keras_scores(model.predict(padded[:256], batch_size=256, verbose=0))  # same batching
        unchanged = bool(np.array_equal(keras_after, keras_before[:256]))
        report.add(
            "keras model unchanged",
            unchanged,
            "same outputs before and after export" if unchanged else "outputs changed after export",
        )
    fast_section = None
    if fast_path is not False and pads == "skipped" and report.passed:
        say("building the fast path and checking it against model.onnx, bit for bit")
        fast_files, fast_section, fast_line = fast_path_files(serving, staged.bundle, ids)
        files.update(fast_files)
        if fast_section:
            report.add("fast path", True, fast_line)
        elif fast_path:  # asked for outright: not having it is a failure, not a note
            report.add("fast path", False, f"--fast-path was given but none is built: {fast_line}")
        else:
            say(f"no fast path: {fast_line}")
    elif fast_path and report.passed:
        why = f"it needs the exact pad skip ({skip_refusal})"
        report.add("fast path", False, f"--fast-path was given but this model has none: {why}")
    int8: dict[str, Any] = {}
    if quantize and report.passed:
        say("quantising to int8 and measuring test accuracy")
        assert gate_texts is not None
        max_loss = INT8_MAX_LOSS_PP if int8_max_loss_pp is None else int8_max_loss_pp
        int8 = _int8_gate(report, serving, tok, out, model_contract, gate_texts, max_loss, arch.fused_ops())
        files["model.int8.onnx"] = int8.pop("bytes")
    if not report.passed:
        raise ExportError("export gates failed; nothing was written:\n" + "\n".join(report.lines()))
    say("writing the conformance vectors")
    files[CONFORMANCE_FILE], conformance = conformance_file(staged)
    text_section = None
    if text_model:  # refused (ExportError, nothing written) when any IMDB test review differs
        from ..runtime.textmodel import TEXT_MODEL_FILE
        from .textgate import text_model_files

        files[TEXT_MODEL_FILE], text_section, text_lines = text_model_files(
            model_bytes, staged, pads, data, TEXT_FUZZ if text_fuzz is None else text_fuzz, say
        )
        for line in text_lines:
            report.add(line.split(":")[0], True, line.split(": ", 1)[1])

    docs = {
        "skipped": f"token ids pre-padded with 0; any length from 1, the last {tok.max_len} are used",
        "fed": f"token ids {tok.padding}-padded with 0 to exactly {tok.max_len}",
        "none": f"token ids of one length, no pads (at most {tok.max_len}); the model was trained with the pads masked",
    }
    output_doc = {
        "sigmoid": "probability that the text is positive",
        "softmax": f"probabilities of the {arch.classes} classes, in the order of 'labels'",
        "multi-label": f"independent probabilities of the {arch.classes} labels, in the order of 'labels' (several may hold)",
    }[arch.head]
    if arch.applies:
        output_doc += f"; the model gives logits and the bundle applies {arch.applies} in the graph ({arch.head_reason})"
    manifest = {
        "labels": names,
        "threshold": 0.5,
        "model": {  # the contract the gates ran the staged runtime on, and what describes it
            **model_contract,
            "file": "model.onnx",
            "opset": opset,
            "architecture": arch.describe(),
            "output": {"applied_in_graph": arch.applies, "told_by": arch.head_reason},
            "pads_note": skip_refusal or "the exact pad skip: the pads' effect is tabulated",
            "inputs": [{"name": INPUT_NAME, "dtype": "int32", "shape": ["batch", "length"], "doc": docs[pads]}],
            "outputs": [{"name": OUTPUT_NAME, "dtype": "float32", "shape": ["batch", arch.classes], "doc": output_doc}],
            "op_census": dict(sorted(info.op_census.items())),
        },
        "tokenizer": {
            "kind": tok.kind,
            "source": src.tokenizer_source,
            "padding": tok.padding,
            "truncation": tok.truncation,
            "vocab_size": tok.vocab_size,
            "route": src.route,
            "sides": sides,
            "preprocessing": preprocessing(tok),
        },
        "precisions": {"fp32": "model.onnx", **({"int8": "model.int8.onnx"} if int8 else {})},
        "parity": parity,
        "conformance": conformance,
        **({"text_model": text_section} if text_section else {}),
        **({"fast_path": fast_section} if fast_section else {}),
        "int8": int8 or None,
        "gates": report.lines(),
        "training": {
            k: src.metrics.get(k)
            for k in (
                "recipe",
                "train_accuracy",
                "test_accuracy",
                "test_loss",
                "train_reviews",
                "test_reviews",
                "embedding_fold",
                "data",
                "seed",
                "wall_seconds",
                "command",
            )
            if k in src.metrics
        },
        "source": {"model": _shown_path(src.model_path), "keras": src.keras_version, "command": command},
        "versions": tool_versions(),
    }
    try:
        written = write_bundle(out, files, manifest, force=force)
    except BundleError as exc:
        raise ExportError(f"the runtime refuses the exported bundle, so nothing was replaced: {exc}") from None
    return ExportResult(Path(out), written, report)


def _shown_path(path: Path) -> str:
    """A path for the manifest: relative to the working folder when inside it, else the file's name
    (a bundle carries no machine's absolute paths)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path.name


def _scores(outputs: np.ndarray, classes: int) -> np.ndarray:
    """A model's outputs as scores: (n,) for one sigmoid output, (n, k) for k classes."""
    outputs = np.asarray(outputs)
    return outputs[:, 0] if classes == 1 else outputs


def class_names(labels: Sequence[str] | None, classes: int) -> list[str]:
    """The bundle's labels: given (--labels), else negative/positive for one sigmoid output, class_0... for k."""
    default = list(LABELS) if classes == 1 else [f"class_{i}" for i in range(classes)]
    if labels is None:
        return default
    names = [str(label).strip() for label in labels]
    if len(names) != len(default) or len(set(names)) != len(names) or not all(names):
        raise ExportError(
            f"--labels names {len(names)} labels ({', '.join(names)}) but the model has "
            f"{'one sigmoid output: two labels, negative first' if classes == 1 else f'{classes} classes'}"
            "; give that many distinct names, comma-separated"
        )
    return names


def _text_gates(
    report: GateReport, src: Source, staged: Predictor, n: int, data: str | os.PathLike[str] | None, arch: Architecture
) -> dict[str, Any]:
    """From raw strings: the bundle's tokenizer against the original, and the bundle against Keras."""
    if src.reference_ids is None and src.keras_from_text is None:
        return {}
    texts, source = parity_texts(src.tokenizer, n, data)
    out: dict[str, Any] = {"text_source": source}
    reference = src.reference_ids(texts) if src.reference_ids is not None else None
    if reference is not None:
        ours = src.tokenizer.encode_batch(texts)
        same = int(np.sum(np.all(ours == reference, axis=1))) if ours.shape == reference.shape else 0
        first = next(
            (i for i in range(len(texts)) if ours.shape != reference.shape or not np.array_equal(ours[i], reference[i])), None
        )
        detail = f"ids equal {src.reference_name}'s for {same}/{len(texts)} texts"
        if first is not None:
            detail += f" (first difference: text {first}, {texts[first][:60]!r})"
        report.add("tokenizer", same == len(texts), detail)
        out["tokenizer"] = {"texts": len(texts), "identical": same, "reference": src.reference_name}
    if src.keras_from_text is not None:
        keras_p = np.concatenate([arch.keras_scores(src.keras_from_text(texts[i : i + 256])) for i in range(0, len(texts), 256)])
        what = "the Keras model on the strings"
    else:
        keras_p = arch.keras_scores(src.ids_model.predict(reference, batch_size=256, verbose=0))
        what = f"Keras on {src.reference_name}'s ids"
    out["from_text"] = check_parity(
        report,
        f"parity from raw strings ({what})",
        keras_p,
        staged.predict_proba(texts),
        multi_label=arch.head == "multi-label",
    )
    return out


def _staged_predictor(
    model_bytes: bytes, tok: TokenizerBase, out: str | os.PathLike[str], model_contract: dict[str, Any], precision: str = "fp32"
) -> Predictor:
    """A Predictor over a model of the not-yet-written bundle, to gate exactly what the runtime will run."""
    from ..runtime.bundle import Bundle

    bundle = Bundle(Path(out), {"model": model_contract}, tok, precision, model_bytes, read_onnx_info(model_bytes))
    return Predictor(bundle)


def _int8_gate(
    report: GateReport,
    serving: Any,
    tok: TokenizerBase,
    out: str | os.PathLike[str],
    model_contract: dict[str, Any],
    texts: Labelled,
    max_loss_pp: float,
    fused: dict[str, int],
) -> dict[str, Any]:
    """Quantise, then fail the export if int8 loses more than max_loss_pp points of test accuracy."""
    from ..evaluate import score_figures
    from .gates import parity_figures
    from .quantize import quantize_int8

    int8_bytes = quantize_int8(serving)
    census = dict(read_onnx_info(int8_bytes).op_census)
    # onnxruntime quantises an LSTM into DynamicQuantizeLSTM and leaves a GRU in float (its matrix products around it int8)
    lstm, gru = census.get("com.microsoft.DynamicQuantizeLSTM", 0) + census.get("LSTM", 0), census.get("GRU", 0)
    want = {"LSTM": fused.get("LSTM", 0), "GRU": fused.get("GRU", 0)}
    report.add(
        "int8 op census",
        (lstm, gru) == (want["LSTM"], want["GRU"]) and not census.get("Loop"),
        f"DynamicQuantizeLSTM={census.get('com.microsoft.DynamicQuantizeLSTM', 0)}, LSTM={census.get('LSTM', 0)}, "
        f"GRU={gru}, Loop={census.get('Loop', 0)}",
    )
    try:
        check_model(read_onnx_info(int8_bytes), {"model": model_contract}, tok, "model.int8.onnx")
    except BundleError as exc:
        report.add("int8 runtime contract", False, str(exc))
    p32 = _staged_predictor(serving.SerializeToString(), tok, out, model_contract).predict_proba(texts.texts)
    p8 = _staged_predictor(int8_bytes, tok, out, model_contract, "int8").predict_proba(texts.texts)
    acc32, acc8 = score_figures(p32, texts.classes), score_figures(p8, texts.classes)
    loss_pp = (acc32["accuracy"] - acc8["accuracy"]) * 100
    report.add(
        "int8 accuracy",
        loss_pp <= max_loss_pp,
        f"{acc8['accuracy']:.4f} vs fp32 {acc32['accuracy']:.4f} on {len(texts)} {texts.source}: "
        f"{loss_pp:+.2f} pp lost (limit {max_loss_pp} pp)",
    )
    vs32 = parity_figures(p32, p8)
    return {
        "bytes": int8_bytes,
        "file": "model.int8.onnx",
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
