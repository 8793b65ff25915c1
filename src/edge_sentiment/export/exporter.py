"""Export a trained run to a verified bundle: convert, skip padding exactly, gate, write atomically.

A pipeline of stages, in this order: plan (load the source, recognise the model, measure the padding
side, read what the gates need), sample (the parity ids and Keras's scores on them), convert (tf2onnx,
the pad skip, the structural gates), parity (Keras against the staged bundle), then the optional fast path
and int8 model, and after every gate has passed the conformance vectors and the text model. Each stage
takes what it needs and returns its manifest section (and files); build_manifest (manifest.py) puts them
together. The options are one frozen ExportOptions (options.py); the parity stage is parity.py.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BundleError, DataError, ExportError
from ..labelled import Labelled, LabelledSource
from ..runtime.bundle import INPUT_NAME, LABELS, OUTPUT_NAME, check_model
from ..runtime.conformance import CONFORMANCE_FILE
from ..runtime.files import check_target
from ..runtime.onnxinfo import read_onnx_info
from ..runtime.predictor import Predictor
from ..runtime.tokenizer import pad_ids
from .architecture import Architecture, compiled_loss, recognise
from .conformance import conformance_file
from .convert import to_onnx
from .examples import read_examples
from .fastpath import fast_path_files
from .gates import GateReport, op_census_gate
from .options import INT8_MAX_LOSS_PP, TEXT_FUZZ, ExportOptions, TokenizerOptions
from .manifest import build_manifest
from .stages import Converted, Plan, Sample
from .padskip import add_padding_skip, name_embedding
from .parity import BATCH, parity_stage
from .sides import check_sides
from .sources import load_source
from .texts import parity_sample, parity_texts
from .writer import write_bundle

__all__ = [
    "export_bundle",
    "run_export",
    "build_manifest",
    "ExportOptions",
    "ExportResult",
    "parity_sample",
    "TokenizerOptions",
    "INT8_MAX_LOSS_PP",
    "TEXT_FUZZ",
]

Say = Callable[[str], None]
Files = dict[str, bytes]
Section = dict[str, Any]


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
    labels: Sequence[str] | None = None,
    log: Say | None = None,
    **options: Any,
) -> ExportResult:
    """Convert a run (or a Keras model + its tokenizer) into a bundle; ExportError if any gate fails.

    The keyword arguments are ExportOptions' fields (tokenizer: TokenizerOptions' file, as a shortcut);
    run_export says what they do.
    """
    tok = tokenizer_options or TokenizerOptions()
    if tokenizer is not None:
        tok = replace(tok, tokenizer=tokenizer)
    chosen = ExportOptions(tokenizer=tok, labels=None if labels is None else tuple(labels), **options)
    return run_export(source, out, chosen, log=log)


def run_export(
    source: str | os.PathLike[str], out: str | os.PathLike[str], options: ExportOptions, *, log: Say | None = None
) -> ExportResult:
    """Convert a run (or a Keras model + its tokenizer) into a bundle at out; ExportError if any gate fails.

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
    say: Say = log or (lambda _msg: None)
    check_target(out, force=options.force, what="bundle")
    options.check()
    plan = plan_export(source, options, say)
    say("choosing parity samples")
    sample = sample_stage(plan, options)
    say(f"converting with tf2onnx (opset {options.opset})")
    report = GateReport()
    converted = convert_stage(plan, options, report)
    contract = model_contract(plan, converted)
    contract_gates(report, plan, converted, contract)
    files = {"model.onnx": converted.model_bytes, "tokenizer.json": plan.src.tokenizer.to_json().encode("utf-8")}
    say("checking parity against Keras")  # even after a failed gate: every figure is reported
    parity, staged = parity_stage(report, plan, options, sample, converted, contract, out)
    fast_files, fast_section = fast_path_stage(report, plan, options, sample, converted, staged, say)
    files.update(fast_files)
    int8_files, int8 = int8_stage(report, plan, options, converted, contract, out, say)
    files.update(int8_files)
    if not report.passed:
        raise ExportError("export gates failed; nothing was written:\n" + "\n".join(report.lines()))
    assert staged is not None  # a staged predictor exists whenever every gate passed
    say("writing the conformance vectors")
    files[CONFORMANCE_FILE], conformance = conformance_file(staged)
    text_files, text_section = text_model_stage(report, options, converted, staged, say)
    files.update(text_files)
    decision = calibration_stage(report, plan, options, staged, say)
    sections = {"parity": parity, "conformance": conformance, "text_model": text_section, "fast_path": fast_section}
    manifest = {**build_manifest(plan, options, converted, contract, report, {**sections, "int8": int8}), **decision}
    try:
        written = write_bundle(out, files, manifest, force=options.force)
    except BundleError as exc:
        raise ExportError(f"the runtime refuses the exported bundle, so nothing was replaced: {exc}") from None
    return ExportResult(Path(out), written, report)


def plan_export(source: str | os.PathLike[str], options: ExportOptions, say: Say) -> Plan:
    """Load the source and recognise the model (the one refusal of an unsupported model, before any
    conversion), measure whether the padding side matters, and read what the gates will need."""
    src = load_source(source, options.tokenizer, weights=options.weights)
    tok, model = src.tokenizer, src.ids_model
    arch = recognise(model, options.output, compiled_loss(src.model_path))
    names = class_names(options.labels, arch.classes)
    examples = read_examples(options.check_examples, names) if options.check_examples is not None else None
    say("measuring whether the padding side matters to the model")
    texts, _ = parity_texts(tok, min(options.parity_samples, 400), options.data)
    sides = check_sides(src, arch, texts)
    gate_texts = int8_texts(options, arch, names)
    held_out = calibration_texts(src.metrics, options, arch, names)
    skip_refusal = arch.pad_skip_refusal(tok.padding)
    pads = "none" if arch.mask_zero else "skipped" if skip_refusal is None else "fed"
    return Plan(src, arch, names, examples, sides, gate_texts, pads, skip_refusal, held_out)


def int8_texts(options: ExportOptions, arch: Architecture, names: list[str]) -> Labelled | None:
    """The int8 accuracy gate's labelled texts, read before the conversion so an export that cannot run
    the gate fails first; None without --quantize."""
    if not options.quantize:
        return None
    if arch.head == "multi-label":
        raise ExportError(
            "--quantize int8 is gated on single-label accuracy, which a multi-label head (Dense(k, sigmoid)) "
            "does not have; export it without --quantize"
        )
    try:
        return (options.accuracy_texts or LabelledSource()).load(arch.classes, names, options.data, options.accuracy_samples)
    except DataError as exc:
        raise ExportError(f"--quantize int8 measures the accuracy it loses on labelled texts: {exc}") from None


def calibration_texts(metrics: dict[str, Any], options: ExportOptions, arch: Architecture, names: list[str]) -> Labelled | None:
    """--calibrate's held-out texts, read before the conversion: --labelled FILE, else the training reviews a run
    folder's training held out (its metrics.json: seed, validation_split, the training reviews' sha256); None
    without --calibrate."""
    if not options.calibrate:
        return None
    if arch.head == "softmax" and options.threshold_for is not None:
        raise ExportError(
            f"--threshold-for {options.threshold_for} does not apply: a softmax head labels each text by its most probable class"
        )
    from ..decision_fit import training_holdout
    from ..labelled import read_labelled

    texts = options.accuracy_texts
    try:
        if texts is not None and texts.path is not None:
            return read_labelled(texts.path, names, text_field=texts.text_field, label_field=texts.label_field)
        return training_holdout({"training": metrics, "model": {"classes": arch.classes}}, options.data, "the source")
    except DataError as exc:
        raise ExportError(f"--calibrate fits on held-out labelled texts: {exc}") from None


def calibration_stage(report: GateReport, plan: Plan, options: ExportOptions, staged: Predictor, say: Say) -> Section:
    """With --calibrate: the manifest's "calibration" (and "threshold", "threshold_choice"), fitted on the held-out
    texts through the staged bundle's model (decision_fit.py); else nothing."""
    if plan.held_out is None:
        return {}
    from ..decision_fit import fit_decision
    from ..errors import EdgeSentimentError

    say(f"calibrating on {len(plan.held_out)} held-out texts")
    try:
        found = fit_decision(staged.bundle, plan.held_out, threshold_for=options.threshold_for, predictor=staged)
    except EdgeSentimentError as exc:
        raise ExportError(f"--calibrate: {exc}; nothing was written") from None
    c = found.sections["calibration"]
    line = (
        f"T = {c['temperature']:.4f} on {c['texts']['count']} held-out texts: ECE {c['before']['ece']:.4f} -> "
        f"{c['after']['ece']:.4f}, log loss {c['before']['log_loss']:.4f} -> {c['after']['log_loss']:.4f}"
    )
    if "threshold_choice" in found.sections:
        line += f"; threshold {found.threshold:.4g} ({found.sections['threshold_choice']['rule']})"
    report.add("calibration", True, line)
    return found.sections


def sample_stage(plan: Plan, options: ExportOptions) -> Sample:
    """The parity ids and Keras's scores on them, before conversion (to show conversion leaves Keras alone)."""
    tok, model = plan.src.tokenizer, plan.src.ids_model
    ids, source = parity_sample(tok, options.parity_samples, options.data)
    # a masked model reads words only: its rows are padded to the longest (the pads are masked in Keras)
    width = tok.max_len if plan.pads != "none" else max([len(row) for row in ids] + [1])
    padded = pad_ids(ids, width, tok.padding)
    before = plan.arch.keras_scores(model.predict(padded, batch_size=BATCH, verbose=0)) if len(ids) else np.empty(0)
    return Sample(ids, source, padded, before)


def convert_stage(plan: Plan, options: ExportOptions, report: GateReport) -> Converted:
    """tf2onnx, the op census, the exact pad skip (where the census passed), the ONNX checker and no
    external data."""
    import onnx

    arch, tok = plan.arch, plan.src.tokenizer
    reference = to_onnx(plan.src.ids_model, opset=options.opset, strip_dropout=options.strip_dropout, architecture=arch)
    op_census_gate(report, dict(read_onnx_info(reference.SerializeToString()).op_census), arch.fused_ops())
    if arch.applies:  # said in the output and recorded: the bundle's scores are not the model's raw outputs
        report.add("output", True, f"the model gives logits ({arch.head_reason}): the bundle applies {arch.applies} in the graph")
    pads, skip_refusal = plan.pads, plan.skip_refusal
    padskip: Section = {}
    if pads == "skipped" and not report.passed:  # the pad skip edits only the fused graph it knows
        pads, skip_refusal = "fed", "the op census failed: no pad skip"
    if pads == "skipped":
        serving, padskip = add_padding_skip(copy.deepcopy(reference), tok.max_len)
    else:
        serving = name_embedding(copy.deepcopy(reference))
    try:
        onnx.checker.check_model(serving, full_check=True)
        report.add("onnx checker", True, "passed (full check, with shape inference)")
    except Exception as exc:  # onnx raises several types
        report.add("onnx checker", False, str(exc).splitlines()[0])
    model_bytes = serving.SerializeToString()
    info = read_onnx_info(model_bytes)
    outside = info.external_data
    report.add("self-contained", not outside, "no external data" if not outside else f"external data: {outside[:3]}")
    return Converted(serving, model_bytes, info, pads, skip_refusal, padskip)


def model_contract(plan: Plan, converted: Converted) -> Section:
    """The manifest's model contract the runtime runs the bundle by (and the gates run the staged runtime on)."""
    tok, arch = plan.src.tokenizer, plan.arch
    contract: Section = {
        "max_len": tok.max_len,
        "vocab_size": arch.vocab_rows,
        "padding": tok.padding,
        "padding_skip": converted.padskip,
        "pads": converted.pads,
        "classes": arch.classes,
        "head": arch.head,
    }
    if converted.pads == "none":  # what Keras gives a text with no words: every step masked
        no_words = np.zeros((1, tok.max_len), dtype=np.int32)
        empty = arch.keras_scores(plan.src.ids_model.predict(no_words, verbose=0))[0]
        contract["empty_text"] = np.atleast_1d(empty).astype(float).tolist() if np.all(np.isfinite(empty)) else None
    return contract


def contract_gates(report: GateReport, plan: Plan, converted: Converted, contract: Section) -> None:
    """The runtime's own check of the model against its contract, as it loads a bundle."""
    try:
        check_model(converted.info, {"model": contract}, plan.src.tokenizer, "model.onnx")
        detail = f"{INPUT_NAME} int32 -> {OUTPUT_NAME} float32, ops allowed, {plan.arch.vocab_rows} embedding rows"
        report.add("runtime contract", True, detail)
    except BundleError as exc:
        report.add("runtime contract", False, str(exc))


def fast_path_stage(
    report: GateReport,
    plan: Plan,
    options: ExportOptions,
    sample: Sample,
    converted: Converted,
    staged: Predictor | None,
    say: Say,
) -> tuple[Files, Section | None]:
    """The fast path's files and section where the model has one and every gate so far passed; --fast-path
    given where none is built fails the export."""
    if not report.passed:
        return {}, None
    if options.fast_path is not False and converted.pads == "skipped":
        assert staged is not None
        say("building the fast path and checking it against model.onnx, bit for bit")
        files, section, line = fast_path_files(converted.serving, staged.bundle, sample.ids)
        if section:
            report.add("fast path", True, line)
        elif options.fast_path:  # asked for outright: not having it is a failure, not a note
            report.add("fast path", False, f"--fast-path was given but none is built: {line}")
        else:
            say(f"no fast path: {line}")
        return files, section
    if options.fast_path:
        why = f"it needs the exact pad skip ({converted.skip_refusal})"
        report.add("fast path", False, f"--fast-path was given but this model has none: {why}")
    return {}, None


def int8_stage(
    report: GateReport,
    plan: Plan,
    options: ExportOptions,
    converted: Converted,
    contract: Section,
    out: str | os.PathLike[str],
    say: Say,
) -> tuple[Files, Section]:
    """model.int8.onnx and the "int8" section with --quantize, when every gate so far passed; else nothing."""
    if not options.quantize or not report.passed:
        return {}, {}
    from .quantize import INT8_FILE, int8_gate

    say("quantising to int8 and measuring test accuracy")
    assert plan.gate_texts is not None
    tok, fused = plan.src.tokenizer, plan.arch.fused_ops()
    int8_bytes, section = int8_gate(report, converted.serving, tok, out, contract, plan.gate_texts, options.max_loss_pp, fused)
    return {INT8_FILE: int8_bytes}, section


def text_model_stage(
    report: GateReport, options: ExportOptions, converted: Converted, staged: Predictor, say: Say
) -> tuple[Files, Section | None]:
    """model.text.onnx and its section with --text-model (ExportError, nothing written, when any IMDB test
    review differs); else nothing."""
    if not options.text_model:
        return {}, None
    from ..runtime.textmodel import TEXT_MODEL_FILE
    from .textgate import text_model_files

    data, section, lines = text_model_files(converted.model_bytes, staged, converted.pads, options.data, options.fuzz, say)
    for line in lines:
        report.add(line.split(":")[0], True, line.split(": ", 1)[1])
    return {TEXT_MODEL_FILE: data}, section


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
