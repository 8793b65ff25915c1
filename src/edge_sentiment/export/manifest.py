"""export's manifest: the stages' sections put together (write_bundle adds the files' sizes and hashes)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._meta import tool_versions
from ..runtime.bundle import INPUT_NAME, OUTPUT_NAME
from .preprocessing import preprocessing

if TYPE_CHECKING:
    from .stages import Converted, Plan
    from .gates import GateReport
    from .options import ExportOptions

__all__ = ["build_manifest", "model_section", "THRESHOLD", "TRAINING_FIELDS"]

Section = dict[str, Any]
THRESHOLD = 0.5  # the bundle's decision threshold (the manifest's "threshold")
# What a run's metrics.json tells about its training, copied into the manifest where present.
TRAINING_FIELDS = (
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


def build_manifest(
    plan: Plan, options: ExportOptions, converted: Converted, contract: Section, report: GateReport, sections: Section
) -> Section:
    """manifest.json (without its "files", which write_bundle adds): the stages' sections put together.

    sections: "parity", "conformance", "int8" ({} without), "text_model" and "fast_path" (None without)."""
    src, tok, int8 = plan.src, plan.src.tokenizer, sections["int8"]
    return {
        "labels": plan.labels,
        "threshold": THRESHOLD,
        "model": model_section(plan, options, converted, contract),
        "tokenizer": {
            "kind": tok.kind,
            "source": src.tokenizer_source,
            "padding": tok.padding,
            "truncation": tok.truncation,
            "vocab_size": tok.vocab_size,
            "route": src.route,
            "sides": plan.sides,
            "preprocessing": preprocessing(tok),
        },
        "precisions": {"fp32": "model.onnx", **({"int8": "model.int8.onnx"} if int8 else {})},
        "parity": sections["parity"],
        "conformance": sections["conformance"],
        **({"text_model": sections["text_model"]} if sections["text_model"] else {}),
        **({"fast_path": sections["fast_path"]} if sections["fast_path"] else {}),
        "int8": int8 or None,
        "gates": report.lines(),
        "training": {k: src.metrics.get(k) for k in TRAINING_FIELDS if k in src.metrics},
        "source": {"model": _shown_path(src.model_path), "keras": src.keras_version, "command": options.command},
        "versions": tool_versions(),
    }


def model_section(plan: Plan, options: ExportOptions, converted: Converted, contract: Section) -> Section:
    """The manifest's "model": the contract the gates ran the staged runtime on, and what describes it."""
    arch, tok, pads = plan.arch, plan.src.tokenizer, converted.pads
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
    return {
        **contract,
        "file": "model.onnx",
        "opset": options.opset,
        "architecture": arch.describe(),
        "output": {"applied_in_graph": arch.applies, "told_by": arch.head_reason},
        "pads_note": converted.skip_refusal or "the exact pad skip: the pads' effect is tabulated",
        "inputs": [{"name": INPUT_NAME, "dtype": "int32", "shape": ["batch", "length"], "doc": docs[pads]}],
        "outputs": [{"name": OUTPUT_NAME, "dtype": "float32", "shape": ["batch", arch.classes], "doc": output_doc}],
        "op_census": dict(sorted(converted.info.op_census.items())),
    }


def _shown_path(path: Path) -> str:
    """A path for the manifest: relative to the working folder when inside it, else the file's name
    (a bundle carries no machine's absolute paths)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return path.name
