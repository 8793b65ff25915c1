"""Export gates: every check runs and reports its figure; the export fails once, listing each failure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..runtime.conformance import ATOL

__all__ = ["Gate", "GateReport", "parity_figures", "op_census_gate", "PARITY_ATOL"]

# The one tolerance on scores: every parity gate, the examples, the text model and the conformance vectors
# (the runtime's, so an export gates what a host is later held to).
PARITY_ATOL = ATOL


@dataclass
class Gate:
    name: str
    passed: bool
    detail: str

    def line(self) -> str:
        return f"{'✓' if self.passed else '✗'} {self.name}: {self.detail}"


@dataclass
class GateReport:
    gates: list[Gate] = field(default_factory=list)

    def add(self, name: str, passed: bool, detail: str) -> Gate:
        gate = Gate(name, bool(passed), detail)
        self.gates.append(gate)
        return gate

    @property
    def passed(self) -> bool:
        return all(g.passed for g in self.gates)

    def lines(self) -> list[str]:
        return [g.line() for g in self.gates]


def parity_figures(
    reference: np.ndarray, candidate: np.ndarray, threshold: float = 0.5, multi_label: bool = False
) -> dict[str, Any]:
    """max |Δp|, mean |Δp| and label agreement between two sets of scores: probability vectors (n,), or
    class probabilities (n, k) whose labels are the most probable class; with multi_label, (n, k)
    independent probabilities, a text's labels agreeing when every one is on the same side of threshold.
    Texts Keras scores NaN (a masked average over no words is 0/0) are left out and counted."""
    reference = np.asarray(reference, dtype=np.float64)
    candidate = np.asarray(candidate, dtype=np.float64)
    undefined = 0
    if reference.shape == candidate.shape and reference.ndim >= 1 and len(reference):
        rows = ~np.isfinite(reference.reshape(len(reference), -1)).all(axis=1)
        undefined = int(rows.sum())
        if undefined:
            candidate_ok = np.isfinite(candidate).all()
            reference, candidate = reference[~rows], candidate[~rows]
            if not candidate_ok:  # the bundle's own NaN must still fail the gate
                candidate = np.full_like(candidate, np.nan)
    if multi_label and reference.ndim == 2:
        same = candidate.shape == reference.shape
        agree = int(np.sum(np.all((reference >= threshold) == (candidate >= threshold), axis=1))) if same else 0
        samples = reference.shape[0]
    elif reference.ndim == 2 and reference.shape[1] > 1:
        agree = (
            int(np.sum(np.argmax(reference, axis=1) == np.argmax(candidate, axis=1))) if candidate.shape == reference.shape else 0
        )
        samples = reference.shape[0]
    else:
        reference, candidate = reference.ravel(), candidate.ravel()
        agree = int(np.sum((reference >= threshold) == (candidate >= threshold)))
        samples = reference.size
    diff = np.abs(reference - candidate) if candidate.shape == reference.shape else np.array([np.inf])
    return {
        "samples": int(samples),
        "max_abs_diff": float(diff.max()) if diff.size else 0.0,
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        "label_agreement": agree / samples if samples else 1.0,
        "labels_agreeing": agree,
        "finite": bool(np.isfinite(candidate).all()),
        "undefined_in_keras": undefined,
    }


def check_parity(
    report: GateReport,
    name: str,
    reference: np.ndarray,
    candidate: np.ndarray,
    atol: float = PARITY_ATOL,
    multi_label: bool = False,
) -> dict[str, Any]:
    fig = parity_figures(reference, candidate, multi_label=multi_label)
    ok = fig["finite"] and fig["max_abs_diff"] <= atol and fig["labels_agreeing"] == fig["samples"]
    report.add(
        name,
        ok,
        f"max |Δp| {fig['max_abs_diff']:.2e} (limit {atol:.0e}), labels agree {fig['labels_agreeing']}/{fig['samples']}"
        + (
            f" ({fig['undefined_in_keras']} texts with no words left out: Keras scores them NaN)"
            if fig["undefined_in_keras"]
            else ""
        ),
    )
    return fig


def op_census_gate(report: GateReport, census: dict[str, int], fused: dict[str, int] | None = None) -> None:
    """One fused ONNX op per recurrent layer (fused: op type -> layers; {} for a model without one: no
    recurrent op at all), and no Loop, Scan or If."""
    fused = {"LSTM": 1} if fused is None else fused
    found = {op: census.get(op, 0) for op in ("LSTM", "GRU")}
    loops = {op: census.get(op, 0) for op in ("Loop", "Scan", "If")}
    ok = all(found[op] == fused.get(op, 0) for op in found) and not any(loops.values())
    shown = {op: n for op, n in found.items() if n or fused.get(op)} or {"recurrent ops": 0}
    detail = ", ".join(f"{k}={v}" for k, v in {**shown, **loops}.items())
    if not ok:
        want = " and ".join(f"{n} fused {op}" for op, n in fused.items()) or "no recurrent op"
        detail += f" (want {want} and no Loop/Scan/If: was the model exported with recurrent dropout?)"
    report.add("op census", ok, detail)
