"""Recognise the model a user brings, before any conversion: the text classifiers the exporter serves
exactly, and one clear refusal (the layers found, the first one not supported, what is) for the rest.

The family: Embedding -> [Dropout | SpatialDropout1D] -> one or more recurrent layers (LSTM, GRU, or a
Bidirectional of either; all but the last with return_sequences=True) -> the last state, or a pooling
over the time steps (GlobalMaxPooling1D, GlobalAveragePooling1D, edge-sentiment's WordPooling) -> Dense
layers -> Dense(1, sigmoid) or Dense(k, softmax). Works on Keras 3 and tf-keras (Keras 2) models alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import ExportError

__all__ = ["Recurrent", "Architecture", "recognise", "SUPPORTED"]

SUPPORTED = (
    "Embedding (mask_zero with the last state or GlobalAveragePooling1D); Dropout, SpatialDropout1D; "
    "LSTM, GRU (reset_after=True), Bidirectional of either (merge_mode='concat'), stacked with "
    "return_sequences=True; then the last state, GlobalMaxPooling1D, GlobalAveragePooling1D or WordPooling; "
    "Dense layers (relu, tanh, sigmoid, linear); last Dense(1, sigmoid) or Dense(k, softmax)"
)
IDENTITY = ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout")
POOLINGS = {"GlobalMaxPooling1D": "max", "GlobalAveragePooling1D": "average"}
HIDDEN_ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")


@dataclass(frozen=True)
class Recurrent:
    cell: str  # "LSTM" or "GRU"
    units: int
    bidirectional: bool
    return_sequences: bool


@dataclass(frozen=True)
class Architecture:
    layers: tuple[str, ...]  # class names, in order
    vocab_rows: int
    mask_zero: bool
    recurrent: tuple[Recurrent, ...]
    pooling: str  # "last", "max", "average", "words-max", "words-mean-max"
    classes: int  # 1: one sigmoid output; k >= 2: softmax over k

    def describe(self) -> str:
        cells = " -> ".join(f"{'Bi' if r.bidirectional else ''}{r.cell}({r.units})" for r in self.recurrent)
        head = "sigmoid" if self.classes == 1 else f"softmax over {self.classes}"
        return f"Embedding({self.vocab_rows}{', mask_zero' if self.mask_zero else ''}) -> {cells} -> {self.pooling} -> {head}"

    def pad_skip_refusal(self, padding: str) -> str | None:
        """Why the exact pad skip cannot serve this model, or None when it can."""
        if self.mask_zero:
            return "the embedding masks the pads (mask_zero): texts run at their own length, no pads fed"
        if padding != "pre":
            return f"{padding}-padded: the model reads the pads after the words"
        if len(self.recurrent) != 1 or self.recurrent[0].cell != "LSTM":
            return "the pad skip tabulates one LSTM layer; this model has " + ", ".join(r.cell for r in self.recurrent)
        if self.pooling in ("max", "average"):
            return f"Global{self.pooling.title()}Pooling pools over the pads' steps too"
        if self.pooling == "last" and self.recurrent[0].bidirectional:
            return "a bidirectional last state ends on the pads (backward direction)"
        return None

    def fused_ops(self) -> dict[str, int]:
        """The fused ONNX recurrent ops a faithful conversion has: one per recurrent layer."""
        out: dict[str, int] = {}
        for r in self.recurrent:
            out[r.cell] = out.get(r.cell, 0) + 1
        return out


def _name(layer: Any) -> str:
    return type(layer).__name__


def _refuse(names: list[str], index: int, why: str) -> ExportError:
    shown = " -> ".join(names)
    return ExportError(
        f"this model cannot be exported exactly: layer {index + 1} ({names[index]}) {why}.\n"
        f"  layers found: {shown}\n  supported: {SUPPORTED}"
    )


def _recurrent(layer: Any, names: list[str], index: int) -> Recurrent:
    config = layer.get_config()
    bidirectional = _name(layer) == "Bidirectional"
    inner = layer.forward_layer if bidirectional else layer
    cell = _name(inner)
    if cell not in ("LSTM", "GRU"):
        raise _refuse(names, index, f"wraps a {cell}, not an LSTM or GRU")
    if bidirectional and config.get("merge_mode", "concat") != "concat":
        raise _refuse(names, index, f"merges its directions with {config.get('merge_mode')!r}; only 'concat' is supported")
    inner_config = inner.get_config()
    problems = []
    if inner_config.get("stateful"):
        problems.append("is stateful")
    if inner_config.get("return_state"):
        problems.append("returns its state")
    if inner_config.get("go_backwards") and not bidirectional:
        problems.append("reads the words backwards (go_backwards)")
    if inner_config.get("activation", "tanh") != "tanh" or inner_config.get("recurrent_activation", "sigmoid") != "sigmoid":
        problems.append("has activations other than tanh / sigmoid")
    if cell == "GRU" and not inner_config.get("reset_after", True):
        problems.append(
            "is a GRU with reset_after=False, which tf2onnx converts only as a loop (retrain with the default reset_after=True)"
        )
    if inner_config.get("time_major"):
        problems.append("is time-major")
    if problems:
        raise _refuse(names, index, " and ".join(problems))
    return Recurrent(cell, int(inner_config["units"]), bidirectional, bool(inner_config.get("return_sequences")))


def recognise(model: Any) -> Architecture:
    """The model's Architecture, or ExportError naming the first layer that is not supported."""
    layers = [layer for layer in model.layers if _name(layer) != "InputLayer"]
    names = [_name(layer) for layer in layers]
    if not layers or names[0] != "Embedding":
        raise _refuse(names or ["(none)"], 0, "is not an Embedding: the model must start from token ids")
    embedding = layers[0].get_config()
    mask_zero = bool(embedding.get("mask_zero"))
    recurrent: list[Recurrent] = []
    pooling = ""
    dense: list[tuple[int, str]] = []
    for index, layer in enumerate(layers[1:], start=1):
        name = names[index]
        if name in IDENTITY:
            continue
        if name in ("LSTM", "GRU", "Bidirectional"):
            if pooling or dense:
                raise _refuse(names, index, "comes after the pooling or dense layers")
            if recurrent and not recurrent[-1].return_sequences:
                raise _refuse(
                    names,
                    index,
                    f"follows a recurrent layer that returns only its last state "
                    f"(layer {index}: set return_sequences=True there)",
                )
            recurrent.append(_recurrent(layer, names, index))
        elif name in POOLINGS or name == "WordPooling":
            if not recurrent or not recurrent[-1].return_sequences or pooling:
                raise _refuse(names, index, "pools without a recurrent layer returning sequences before it")
            pooling = POOLINGS.get(name) or f"words-{layer.get_config().get('mode', 'max')}"
        elif name == "Dense":
            if not recurrent:
                raise _refuse(names, index, "comes before any recurrent layer")
            if recurrent[-1].return_sequences and not pooling:
                raise _refuse(
                    names,
                    index,
                    "reads every time step: pool the recurrent layer's sequences first "
                    "(GlobalMaxPooling1D, GlobalAveragePooling1D) or set return_sequences=False",
                )
            config = layer.get_config()
            dense.append((int(config["units"]), str(config.get("activation", "linear"))))
        else:
            raise _refuse(names, index, "is not a layer edge-sentiment exports")
    if not recurrent:
        raise _refuse(names, len(names) - 1, "ends a model with no recurrent layer")
    if not dense:
        raise _refuse(names, len(names) - 1, "is not a Dense output layer")
    dense_at = [i for i, name in enumerate(names) if name == "Dense"]
    units, activation = dense[-1]
    if not ((units == 1 and activation == "sigmoid") or (units >= 2 and activation == "softmax")):
        raise _refuse(
            names, dense_at[-1], f"is Dense({units}, {activation}); the output must be Dense(1, sigmoid) or Dense(k, softmax)"
        )
    for at, (_, hidden) in zip(dense_at, dense[:-1]):
        if hidden not in HIDDEN_ACTIVATIONS:
            raise _refuse(names, at, f"has activation {hidden!r}; hidden Dense layers may use {', '.join(HIDDEN_ACTIVATIONS)}")
    if mask_zero and (pooling or "last") not in ("last", "average"):
        raise _refuse(
            names,
            0,
            f"masks the pads (mask_zero=True) before {pooling} pooling, which edge-sentiment "
            "does not reproduce exactly; use the last state or GlobalAveragePooling1D",
        )
    return Architecture(
        tuple(names), int(embedding["input_dim"]), mask_zero, tuple(recurrent), pooling or "last", units if units >= 2 else 1
    )
