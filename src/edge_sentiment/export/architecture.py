"""Recognise the model a user brings, before any conversion: the text classifiers the exporter serves
exactly, and one refusal listing every problem found (the layers found, what is supported) for the rest.

The family: Embedding -> [Dropout | SpatialDropout1D] -> a body of Conv1D / MaxPooling1D /
AveragePooling1D layers and/or recurrent layers (LSTM, GRU, or a Bidirectional of either; all but the
last with return_sequences=True), or nothing -> the last state, or a pooling over the time steps
(GlobalMaxPooling1D, GlobalAveragePooling1D, edge-sentiment's WordPooling), or Flatten -> Dense layers ->
a head: Dense(1, sigmoid), Dense(k, softmax), Dense(k, sigmoid) (multi-label), or a linear Dense whose
logits the bundle turns into probabilities in the graph. Works on Keras 3 and tf-keras (Keras 2) alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ExportError

__all__ = ["Recurrent", "Architecture", "recognise", "compiled_loss", "SUPPORTED", "OUTPUTS", "HARD_SIGMOID"]

SUPPORTED = (
    "Embedding (mask_zero with the last state or GlobalAveragePooling1D); Dropout, SpatialDropout1D; "
    "Conv1D (padding 'valid' or 'same'), MaxPooling1D, AveragePooling1D ('valid'); "
    "LSTM, GRU (reset_after=True; recurrent_activation sigmoid or hard_sigmoid), Bidirectional of either "
    "(merge_mode='concat'), stacked with return_sequences=True; then the last state, GlobalMaxPooling1D, "
    "GlobalAveragePooling1D, WordPooling or Flatten; Dense layers (relu, tanh, sigmoid, linear); last "
    "Dense(1, sigmoid), Dense(k, softmax), Dense(k, sigmoid) (multi-label) or a linear Dense (logits, --output)"
)
IDENTITY = ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout")
POOLINGS = {"GlobalMaxPooling1D": "max", "GlobalAveragePooling1D": "average"}
WINDOWS = ("Conv1D", "MaxPooling1D", "AveragePooling1D")
HIDDEN_ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
# --output: what a linear last Dense layer's outputs are, and so what the bundle applies to them.
OUTPUTS = {
    "logits": "logits: a sigmoid for Dense(1); for Dense(k) the compiled loss must say softmax or multi-label",
    "softmax-logits": "logits of a softmax over the k classes (one label per text)",
    "multi-label-logits": "logits of k independent sigmoids (multi-label)",
    "probabilities": "already the scores to serve (a linear Dense(1), e.g. trained with a squared error)",
}
# hard_sigmoid(x) = clip(alpha * x + beta, 0, 1): Keras 2 (tf-keras) 0.2x + 0.5; Keras 3 relu6(x + 3) / 6.
HARD_SIGMOID = {"tf_keras": (0.2, 0.5), "keras": (1.0 / 6.0, 0.5)}


@dataclass(frozen=True)
class Recurrent:
    cell: str  # "LSTM" or "GRU"
    units: int
    bidirectional: bool
    return_sequences: bool
    hard_sigmoid: tuple[float, float] | None = None  # (alpha, beta) of a hard_sigmoid recurrent activation


@dataclass(frozen=True)
class Architecture:
    layers: tuple[str, ...]  # class names, in order
    vocab_rows: int
    mask_zero: bool
    recurrent: tuple[Recurrent, ...]
    pooling: str  # "last", "max", "average", "words-max", "words-mean-max", "flatten"
    classes: int  # 1: one sigmoid output; k >= 2: k outputs (softmax, or independent sigmoids)
    head: str = "sigmoid"  # "sigmoid", "softmax" or "multi-label"
    applies: str | None = None  # the activation the bundle adds to the model's logits: "sigmoid", "softmax"
    head_reason: str = ""  # how the head was told (the layer, the compiled loss, --output)
    windows: tuple[str, ...] = ()  # Conv1D / pooling layers before the recurrent ones or the pooling

    def describe(self) -> str:
        body = [*self.windows, *(f"{'Bi' if r.bidirectional else ''}{r.cell}({r.units})" for r in self.recurrent)]
        hard = " [hard_sigmoid gates]" if any(r.hard_sigmoid for r in self.recurrent) else ""
        head = {"sigmoid": "sigmoid", "softmax": f"softmax over {self.classes}", "multi-label": f"{self.classes} sigmoids"}[
            self.head
        ]
        if self.applies:
            head += " (applied to the logits by the bundle)"
        mask = ", mask_zero" if self.mask_zero else ""
        return " -> ".join([f"Embedding({self.vocab_rows}{mask})", *body, self.pooling, head]) + hard

    def keras_scores(self, outputs: Any) -> np.ndarray:
        """Keras's outputs as the bundle's scores: (n,) for one output, (n, k) for k; the head's activation
        applied (float64) where the model gives logits."""
        out = np.asarray(outputs)
        if self.applies == "sigmoid":
            out = (1.0 / (1.0 + np.exp(-out.astype(np.float64)))).astype(np.float32)
        elif self.applies == "softmax":
            shifted = out.astype(np.float64) - out.max(axis=-1, keepdims=True)
            out = (np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)).astype(np.float32)
        return out[:, 0] if self.classes == 1 else out

    def pad_skip_refusal(self, padding: str) -> str | None:
        """Why the exact pad skip cannot serve this model, or None when it can."""
        if self.mask_zero:
            return "the embedding masks the pads (mask_zero): texts run at their own length, no pads fed"
        if not self.recurrent:
            reads = f"the {self.pooling} pooling" + (" and the windows" if self.windows else "")
            return f"no recurrent layer: {reads} read the pads' steps too, so they are fed as in training"
        if padding != "pre":
            return f"{padding}-padded: the model reads the pads after the words"
        if self.windows:
            return "the windows before the recurrent layer read the pads: they are fed"
        if len(self.recurrent) != 1 or self.recurrent[0].cell != "LSTM":
            return "the pad skip tabulates one LSTM layer; this model has " + ", ".join(r.cell for r in self.recurrent)
        if self.pooling in ("max", "average", "flatten"):
            return f"{self.pooling} pooling reads the pads' steps too"
        if self.pooling == "last" and self.recurrent[0].bidirectional:
            return "a bidirectional last state ends on the pads (backward direction)"
        return None

    def fused_ops(self) -> dict[str, int]:
        """The fused ONNX recurrent ops a faithful conversion has: one per recurrent layer (none without)."""
        out: dict[str, int] = {}
        for r in self.recurrent:
            out[r.cell] = out.get(r.cell, 0) + 1
        return out


def _name(layer: Any) -> str:
    return type(layer).__name__


class _Problems:
    """Every problem found in a model, reported at once."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.found: list[str] = []

    def add(self, index: int, why: str) -> None:
        self.found.append(f"layer {index + 1} ({self.names[index]}) {why}")

    def raise_any(self) -> None:
        if not self.found:
            return
        shown = " -> ".join(self.names)
        if len(self.found) == 1:
            head = f"this model cannot be exported exactly: {self.found[0]}."
        else:
            head = f"this model cannot be exported exactly ({len(self.found)} problems):\n" + "\n".join(
                f"  - {line}" for line in self.found
            )
        raise ExportError(f"{head}\n  layers found: {shown}\n  supported: {SUPPORTED}")


def _recurrent(layer: Any, index: int, problems: _Problems, keras_name: str) -> Recurrent:
    config = layer.get_config()
    bidirectional = _name(layer) == "Bidirectional"
    inner = layer.forward_layer if bidirectional else layer
    cell = _name(inner)
    if cell not in ("LSTM", "GRU"):
        problems.add(index, f"wraps a {cell}, not an LSTM or GRU")
        return Recurrent("LSTM", 1, bidirectional, True)
    if bidirectional and config.get("merge_mode", "concat") != "concat":
        problems.add(index, f"merges its directions with {config.get('merge_mode')!r}; only 'concat' is supported")
    inner_config = inner.get_config()
    found = []
    if inner_config.get("stateful"):
        found.append("is stateful")
    if inner_config.get("return_state"):
        found.append("returns its state")
    if inner_config.get("go_backwards") and not bidirectional:
        found.append("reads the words backwards (go_backwards)")
    gate = inner_config.get("recurrent_activation", "sigmoid")
    if inner_config.get("activation", "tanh") != "tanh" or gate not in ("sigmoid", "hard_sigmoid"):
        found.append(
            f"has activation {inner_config.get('activation')!r} / recurrent_activation {gate!r}: "
            "the activation must be tanh, the recurrent one sigmoid or hard_sigmoid"
        )
    if cell == "GRU" and not inner_config.get("reset_after", True):
        found.append(
            "is a GRU with reset_after=False, which tf2onnx converts only as a loop (retrain with the default reset_after=True)"
        )
    if inner_config.get("time_major"):
        found.append("is time-major")
    if found:
        problems.add(index, " and ".join(found))
    hard = HARD_SIGMOID[keras_name] if gate == "hard_sigmoid" else None
    return Recurrent(cell, int(inner_config["units"]), bidirectional, bool(inner_config.get("return_sequences")), hard)


def _window(layer: Any, index: int, problems: _Problems) -> str:
    """Check a Conv1D or window pooling layer; its short description."""
    config = layer.get_config()
    name = _name(layer)
    padding = config.get("padding", "valid")
    found = []
    if config.get("data_format", "channels_last") != "channels_last":
        found.append(f"has data_format {config.get('data_format')!r}; only 'channels_last' (the Keras default)")
    if name == "Conv1D":
        if padding not in ("valid", "same"):
            found.append(f"has padding {padding!r}; 'valid' or 'same' are supported")
        if int(config.get("groups", 1)) != 1:
            found.append("has groups > 1")
        if config.get("activation", "linear") not in HIDDEN_ACTIVATIONS:
            found.append(f"has activation {config.get('activation')!r}; Conv1D may use {', '.join(HIDDEN_ACTIVATIONS)}")
        shown = (
            f"Conv1D({config.get('filters')}, {tuple(config.get('kernel_size', ()))[0] if config.get('kernel_size') else '?'})"
        )
    else:
        if name == "AveragePooling1D" and padding != "valid":
            found.append("averages with padding 'same', whose edge windows onnxruntime counts differently")
        shown = f"{name}({tuple(config.get('pool_size') or (2,))[0]})"
    if found:
        problems.add(index, " and ".join(found))
    return shown


def compiled_loss(path: Any) -> Any:
    """The loss a Keras file was compiled with, as its saved config (None when not saved or not a file):
    a .keras file's compile_config, an .h5 file's training_config."""
    import json
    import zipfile
    from pathlib import Path

    path = Path(path)
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                config = json.loads(archive.read("config.json")) if "config.json" in archive.namelist() else {}
            return (config.get("compile_config") or {}).get("loss")
        if path.is_file():
            import h5py

            with h5py.File(path, "r") as h5:
                raw = h5.attrs.get("training_config")
            if raw is None:
                return None
            return json.loads(raw.decode() if isinstance(raw, bytes) else raw).get("loss")
    except (OSError, ValueError, KeyError, AttributeError):  # not a readable Keras file: nothing is said
        return None
    return None


def _compiled_head(loss: Any) -> tuple[str | None, str]:
    """What a saved loss config says the model outputs: ("sigmoid" | "softmax", reason), or (None, "")
    when there is none or it says nothing of logits."""
    if isinstance(loss, list) and len(loss) == 1:
        loss = loss[0]
    if isinstance(loss, dict) and "class_name" not in loss and len(loss) == 1:  # {output name: loss}
        loss = next(iter(loss.values()))
    if not isinstance(loss, dict) or not isinstance(loss.get("config"), dict) or not loss["config"].get("from_logits"):
        return None, ""
    kind = str(loss.get("class_name"))
    if kind in ("BinaryCrossentropy", "BinaryFocalCrossentropy"):
        return "sigmoid", f"the compiled loss ({kind}(from_logits=True))"
    if kind in ("CategoricalCrossentropy", "SparseCategoricalCrossentropy", "CategoricalFocalCrossentropy"):
        return "softmax", f"the compiled loss ({kind}(from_logits=True))"
    return None, ""


def _head(
    units: int, activation: str, index: int, problems: _Problems, output: str | None, loss: Any
) -> tuple[str, str | None, str]:
    """(head kind, the activation the bundle applies or None, how it was told) for the last Dense."""
    said = f"--output {output}"
    if activation in ("sigmoid", "softmax"):
        if output not in (None, "probabilities"):
            problems.add(index, f"applies {activation} already: its outputs are probabilities (drop {said})")
        if units == 1 and activation == "softmax":
            problems.add(index, "is Dense(1, softmax), which gives 1.0 for every text; use Dense(1, sigmoid)")
        kind = "sigmoid" if units == 1 else ("softmax" if activation == "softmax" else "multi-label")
        return kind, None, f"the last layer's activation ({activation})"
    if activation != "linear":
        problems.add(
            index,
            f"is Dense({units}, {activation}); the output must be Dense(1, sigmoid), Dense(k, softmax), "
            "Dense(k, sigmoid) or a linear Dense giving logits",
        )
        return "sigmoid", None, ""
    compiled, reason = _compiled_head(loss)
    if output == "probabilities":
        if units != 1:
            problems.add(index, f"is a linear Dense({units}): its outputs are not probabilities ({said})")
        return "sigmoid", None, said
    if output in ("softmax-logits", "multi-label-logits"):
        if units == 1:
            problems.add(index, f"is Dense(1): {said} is for k >= 2 outputs; use --output logits")
        kind = "softmax" if output == "softmax-logits" else "multi-label"
        return kind, "softmax" if kind == "softmax" else "sigmoid", said
    if units == 1:
        if compiled == "softmax":
            problems.add(index, f"is a linear Dense(1) but {reason} is a softmax's, which gives 1.0 for every text")
        return "sigmoid", "sigmoid", reason or (said if output else "a linear Dense(1): logits (from_logits=True)")
    if compiled is not None:
        kind = "softmax" if compiled == "softmax" else "multi-label"
        return kind, compiled, reason
    problems.add(
        index,
        f"is a linear Dense({units}): logits of a softmax (one label per text) or of {units} independent "
        "sigmoids (multi-label)? the saved model does not say: give --output softmax-logits or "
        "--output multi-label-logits",
    )
    return "softmax", "softmax", ""


def _fixed_length(model: Any) -> bool:
    shape = getattr(model, "input_shape", None)
    return isinstance(shape, tuple) and len(shape) == 2 and shape[1] is not None


def recognise(model: Any, output: str | None = None, loss: Any = None) -> Architecture:
    """The model's Architecture, or one ExportError naming every layer that is not supported.

    output (--output): what a linear last Dense layer gives (OUTPUTS); None to tell it from the model's
    saved loss (compiled_loss(path)), which says logits with from_logits=True."""
    from .kerasfile import keras_module

    if output is not None and output not in OUTPUTS:
        raise ExportError(f"--output {output!r} is not one of {', '.join(OUTPUTS)}")
    keras_name = keras_module(model).__name__ if hasattr(model, "layers") else "keras"
    layers = [layer for layer in model.layers if _name(layer) != "InputLayer"]
    names = [_name(layer) for layer in layers] or ["(none)"]
    problems = _Problems(names)
    if not layers or names[0] != "Embedding":
        problems.add(0, "is not an Embedding: the model must start from token ids")
        problems.raise_any()
    embedding = layers[0].get_config()
    mask_zero = bool(embedding.get("mask_zero"))
    recurrent, windows, pooling, dense = _walk(model, layers, names, problems, keras_name)
    if not dense:
        problems.add(len(names) - 1, "is not a Dense output layer")
        problems.raise_any()
    for _, hidden, at in dense[:-1]:
        if hidden not in HIDDEN_ACTIVATIONS:
            problems.add(at, f"has activation {hidden!r}; hidden Dense layers may use {', '.join(HIDDEN_ACTIVATIONS)}")
    units, activation, at = dense[-1]
    head, applies, reason = _head(units, activation, at, problems, output, loss)
    if mask_zero and ((pooling or "last") not in ("last", "average") or windows or (pooling == "last" and not recurrent)):
        problems.add(
            0,
            f"masks the pads (mask_zero=True) before {'the windows' if windows else (pooling or 'last') + ' pooling'}, "
            "which edge-sentiment does not reproduce exactly; use the last state or GlobalAveragePooling1D",
        )
    problems.raise_any()
    return Architecture(
        tuple(names),
        int(embedding["input_dim"]),
        mask_zero,
        tuple(recurrent),
        pooling or "last",
        units if units >= 2 else 1,
        head,
        applies,
        reason,
        tuple(windows),
    )


def _walk(
    model: Any, layers: list[Any], names: list[str], problems: _Problems, keras_name: str
) -> tuple[list[Recurrent], list[str], str, list[tuple[int, str, int]]]:
    """The layers after the Embedding, in the order they must come: (recurrent layers, windows, pooling,
    dense layers as (units, activation, index)); every layer out of place is added to problems."""
    recurrent: list[Recurrent] = []
    windows: list[str] = []
    pooling = ""
    dense: list[tuple[int, str, int]] = []
    for index, layer in enumerate(layers[1:], start=1):
        name = names[index]
        if name in IDENTITY:
            continue
        if name in WINDOWS:
            if recurrent or pooling or dense:
                problems.add(index, "comes after the recurrent, pooling or dense layers; windows go right after the Embedding")
            windows.append(_window(layer, index, problems))
        elif name in ("LSTM", "GRU", "Bidirectional"):
            if pooling or dense:
                problems.add(index, "comes after the pooling or dense layers")
            elif recurrent and not recurrent[-1].return_sequences:
                problems.add(
                    index,
                    f"follows a recurrent layer that returns only its last state "
                    f"(layer {index}: set return_sequences=True there)",
                )
            recurrent.append(_recurrent(layer, index, problems, keras_name))
        elif name in POOLINGS or name in ("WordPooling", "Flatten"):
            if pooling or dense:
                problems.add(index, "pools again after a pooling or dense layer")
            elif recurrent and not recurrent[-1].return_sequences:
                problems.add(index, "pools the last state of a recurrent layer: set return_sequences=True there")
            elif name == "WordPooling" and not recurrent:
                problems.add(index, "pools a recurrent layer's outputs over the words: it needs one before it")
            elif name == "Flatten" and not _fixed_length(model):
                problems.add(
                    index, "flattens a sequence of no fixed length: give the Embedding input_length (or the Input a shape)"
                )
            pooling = "flatten" if name == "Flatten" else POOLINGS.get(name) or f"words-{layer.get_config().get('mode', 'max')}"
        elif name == "Dense":
            if not pooling and not dense and (not recurrent or recurrent[-1].return_sequences):
                problems.add(
                    index,
                    "reads every time step: pool the sequence first (GlobalMaxPooling1D, GlobalAveragePooling1D, "
                    "Flatten) or end the recurrent layers with return_sequences=False",
                )
            config = layer.get_config()
            dense.append((int(config["units"]), str(config.get("activation", "linear")), index))
        else:
            problems.add(index, "is not a layer edge-sentiment exports")
    return recurrent, windows, pooling, dense
