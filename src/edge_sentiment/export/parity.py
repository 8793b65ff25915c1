"""export's parity stage: Keras against the converted model and the staged runtime, from ids and raw strings.

Every gate runs and reports its figures (max |Δp|, labels agreeing) even after another failed.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from ..runtime.bundle import INPUT_NAME, OUTPUT_NAME
from ..runtime.predictor import Predictor
from .architecture import Architecture
from .examples import check_examples as examples_gate
from .gates import PARITY_ATOL, GateReport, check_parity
from .manifest import THRESHOLD
from .sources import Source
from .staged import staged_predictor
from .texts import parity_texts

if TYPE_CHECKING:
    from .stages import Converted, Plan, Sample
    from .options import ExportOptions

__all__ = ["parity_stage", "keras_unchanged_gate", "text_gates", "BATCH"]

Section = dict[str, Any]
BATCH = 256  # rows per Keras or onnxruntime call in the parity gates


def parity_stage(
    report: GateReport,
    plan: Plan,
    options: ExportOptions,
    sample: Sample,
    converted: Converted,
    contract: Section,
    out: str | os.PathLike[str],
) -> tuple[Section, Predictor | None]:
    """Keras against onnxruntime (padded) and against the staged runtime (as it runs), from raw strings and
    on the user's examples, then Keras unchanged; the "parity" section and the staged predictor (None when
    onnxruntime refuses the model)."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    parity: Section = {"source": sample.source, "atol": PARITY_ATOL}
    try:
        session = ort.InferenceSession(converted.model_bytes, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        report.add("onnxruntime session", False, str(exc).splitlines()[0])
        return parity, None
    arch, tok, pads, multi = plan.arch, plan.src.tokenizer, converted.pads, plan.arch.head == "multi-label"

    def run(batch: np.ndarray) -> np.ndarray:
        return _scores(session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0], arch.classes)

    if pads == "none":  # the unmasked model on the words alone equals Keras's masked model on the padded row
        direct = np.concatenate([run(np.asarray([row or [0]], dtype=np.int32)) for row in sample.ids])
        name = "parity, words only (the pads masked in Keras)"
    else:
        direct = np.concatenate([run(sample.padded[i : i + BATCH]) for i in range(0, len(sample.padded), BATCH)])
        name = f"parity, padded to {tok.max_len}{'' if tok.padding == 'pre' else ' after the words'}"
    parity["padded"] = check_parity(report, name, sample.keras_before, direct, multi_label=multi)
    staged = staged_predictor(converted.model_bytes, tok, out, contract)
    runs_as = {
        "skipped": "pads skipped, length-batched",
        "none": "no pads, batched by length",
        "fed": f"{tok.padding}-padded to {tok.max_len}, batched",
    }[pads]
    scores = staged.score_ids(sample.ids)
    parity["runtime"] = check_parity(report, f"parity, runtime ({runs_as})", sample.keras_before, scores, multi_label=multi)
    parity.update(text_gates(report, plan.src, staged, options.parity_samples, options.data, arch))
    if plan.examples is not None:
        got = staged.predict_proba(plan.examples.texts)
        parity["examples"] = examples_gate(report, plan.examples, got, THRESHOLD, multi_label=multi)
    keras_unchanged_gate(report, plan, sample)
    return parity, staged


def keras_unchanged_gate(report: GateReport, plan: Plan, sample: Sample) -> None:
    """Keras gives the same scores after the export as before it (the same batching): the model was not altered."""
    after = plan.arch.keras_scores(plan.src.ids_model.predict(sample.padded[:BATCH], batch_size=BATCH, verbose=0))
    unchanged = bool(np.array_equal(after, sample.keras_before[:BATCH]))
    detail = "same outputs before and after export" if unchanged else "outputs changed after export"
    report.add("keras model unchanged", unchanged, detail)


def _scores(outputs: np.ndarray, classes: int) -> np.ndarray:
    """A model's outputs as scores: (n,) for one sigmoid output, (n, k) for k classes."""
    outputs = np.asarray(outputs)
    return outputs[:, 0] if classes == 1 else outputs


def text_gates(
    report: GateReport, src: Source, staged: Predictor, n: int, data: str | os.PathLike[str] | None, arch: Architecture
) -> Section:
    """From raw strings: the bundle's tokenizer against the original, and the bundle against Keras."""
    if src.reference_ids is None and src.keras_from_text is None:
        return {}
    texts, source = parity_texts(src.tokenizer, n, data)
    out: Section = {"text_source": source}
    reference = src.reference_ids(texts) if src.reference_ids is not None else None
    if reference is not None:
        out["tokenizer"] = _tokenizer_gate(report, src, texts, reference)
    if src.keras_from_text is not None:
        keras_from_text = src.keras_from_text
        chunks = [arch.keras_scores(keras_from_text(texts[i : i + BATCH])) for i in range(0, len(texts), BATCH)]
        keras_p, what = np.concatenate(chunks), "the Keras model on the strings"
    else:
        keras_p = arch.keras_scores(src.ids_model.predict(reference, batch_size=BATCH, verbose=0))
        what = f"Keras on {src.reference_name}'s ids"
    multi = arch.head == "multi-label"
    got = staged.predict_proba(texts)
    out["from_text"] = check_parity(report, f"parity from raw strings ({what})", keras_p, got, multi_label=multi)
    return out


def _tokenizer_gate(report: GateReport, src: Source, texts: list[str], reference: np.ndarray) -> Section:
    """The bundle's tokenizer gives the original's ids for every text."""
    ours = src.tokenizer.encode_batch(texts)
    shaped = ours.shape == reference.shape
    same = int(np.sum(np.all(ours == reference, axis=1))) if shaped else 0
    first = next((i for i in range(len(texts)) if not shaped or not np.array_equal(ours[i], reference[i])), None)
    detail = f"ids equal {src.reference_name}'s for {same}/{len(texts)} texts"
    if first is not None:
        detail += f" (first difference: text {first}, {texts[first][:60]!r})"
    report.add("tokenizer", same == len(texts), detail)
    return {"texts": len(texts), "identical": same, "reference": src.reference_name}
