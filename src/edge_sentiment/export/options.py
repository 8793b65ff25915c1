"""export's options: ExportOptions (everything one export is told, built once, never changed), what the user
says about a model's tokenizer, where each option applies, and export's defaults and limits, each written
once. Plain data, no heavy imports.

Every option of `export` either takes effect (recorded in the manifest and covered by a gate) or is refused
naming itself: ROUTE_OPTIONS says, for each way a model's tokenizer is found (a route), what each tokenizer
option does there, and EXPORT_OPTIONS what every other option needs. docs/cli.md is generated from both.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

from ..errors import EdgeSentimentError, ExportError
from ..runtime.keras_tokenizers import KerasImdbTokenizer
from ..runtime.tokenizer_base import MAX_IDS_PER_TEXT, MAX_TOKENIZER_BYTES

if TYPE_CHECKING:
    from ..labelled import LabelledSource

__all__ = [
    "ExportOptions",
    "TokenizerOptions",
    "KERAS_IMDB_DEFAULTS",
    "MAX_IDS_PER_TEXT",
    "MAX_USER_FILE_BYTES",
    "DEFAULT_OPSET",
    "DEFAULT_PARITY_SAMPLES",
    "INT8_MAX_LOSS_PP",
    "TEXT_FUZZ",
    "TOKENIZER_HELP",
    "ROUTES",
    "ROUTE_OPTIONS",
    "EXPORT_OPTIONS",
    "APPLIES",
    "refuse_unused",
    "refuse_orphans",
    "REQUIRES",
    "REQUIRES_ONE_OF",
    "options_table",
]

# keras.datasets.imdb.load_data's index_from, start_char and oov_char: the keras-imdb tokenizer's defaults.
KERAS_IMDB_DEFAULTS: dict[str, int | None] = {
    name: param.default
    for name, param in inspect.signature(KerasImdbTokenizer).parameters.items()
    if name in ("index_from", "start_char", "oov_char")
}
# MAX_IDS_PER_TEXT (the runtime's): a masked model without a fixed length reads whole texts up to it.
# The largest file of the user's export reads before parsing it (a pickle, model.to_json()'s file).
MAX_USER_FILE_BYTES = MAX_TOKENIZER_BYTES
DEFAULT_OPSET = 17
DEFAULT_PARITY_SAMPLES = 1000
INT8_MAX_LOSS_PP = 0.3  # the int8 model may lose at most this many points of accuracy
TEXT_FUZZ = 100_000  # fuzzed texts the text model is compared on

TOKENIZER_HELP = """Which tokenizer a model needs:
  a run folder of 'edge-sentiment train'   nothing: its tokenizer.json is used
  TextVectorization as the first layer     nothing: the layer is read from the model
  TextVectorization saved on its own       --text-vectorization layer.keras|layer.json|layer.pkl
  classic keras Tokenizer (Keras 2)        --tokenizer tokenizer.json|tokenizer.pickle, with --max-len,
                                           --padding and --truncating as given to pad_sequences
  keras.datasets.imdb ids (the lab)        --word-index imdb_word_index.json (--index-from {index_from},
                                           --start-char {start_char}, --oov-char {oov_char}; num_words = embedding rows)
  edge-sentiment tokenizer.json            --tokenizer tokenizer.json""".format(**KERAS_IMDB_DEFAULTS)

APPLIES = "applies"

# The ways an export finds a model's tokenizer.
ROUTES = {
    "run": "a run folder of 'edge-sentiment train' (its tokenizer.json)",
    "tokenizer": "--tokenizer with an edge-sentiment tokenizer.json",
    "keras-tokenizer": "--tokenizer with a classic Keras Tokenizer (to_json() or pickle)",
    "word-index": "--word-index (keras.datasets.imdb ids)",
    "text-vectorization": "a TextVectorization layer: the model's first layer, or --text-vectorization",
}

_RUN = "a run folder's tokenizer.json records how its model was trained; export the run as it is"
_TV_SIDES = "TextVectorization pads and cuts after the words, and only there"
_IMDB_ONLY = "only keras.datasets.imdb ids have it (--word-index)"

# option (the TokenizerOptions field) -> route -> APPLIES, or why the option is refused on that route.
ROUTE_OPTIONS: dict[str, dict[str, str]] = {
    "max_len": {
        "run": _RUN,
        "tokenizer": APPLIES,
        "keras-tokenizer": APPLIES,
        "word-index": APPLIES,
        "text-vectorization": APPLIES + " when the layer has no output_sequence_length (or the same one)",
    },
    "padding": {
        "run": _RUN,
        "tokenizer": APPLIES,
        "keras-tokenizer": APPLIES,
        "word-index": APPLIES,
        "text-vectorization": APPLIES + " as 'post' only: " + _TV_SIDES,
    },
    "truncating": {
        "run": _RUN,
        "tokenizer": APPLIES,
        "keras-tokenizer": APPLIES,
        "word-index": APPLIES,
        "text-vectorization": APPLIES + " as 'post' only: " + _TV_SIDES,
    },
    **{
        name: {
            "run": _RUN,
            "tokenizer": _IMDB_ONLY,
            "keras-tokenizer": _IMDB_ONLY,
            "word-index": APPLIES,
            "text-vectorization": _IMDB_ONLY,
        }
        for name in ("index_from", "start_char", "oov_char")
    },
}

# Every other option of export (the click parameter's name) -> where it takes effect.
EXPORT_OPTIONS: dict[str, str] = {
    "source": "always: the model (a run folder, a .keras/.h5 file, a SavedModel folder, or model.to_json()'s file)",
    "out_dir": "always",
    "weights": "only with a SOURCE that is model.to_json()'s architecture alone",
    "tokenizer": "the tokenizer routes above",
    "text_vectorization": "the text-vectorization route",
    "word_index": "the word-index route",
    "opset": "always (recorded in the manifest)",
    "parity_samples": "always (every parity gate)",
    "data": "always: the parity texts; the int8 gate's test reviews with --quantize",
    "quantize": "always (gated on the accuracy it loses)",
    "int8_max_loss": "only with --quantize",
    "accuracy_samples": "only with --quantize",
    "rating_classes": "only with --quantize",
    "labelled_path": "with --quantize (the int8 gate's texts) or --calibrate (the held-out texts calibrated on)",
    "calibrate": "always: fits the calibration on held-out texts (--labelled, or a run folder's training hold-out "
    "with --data), recorded in the manifest with its figures",
    "threshold_for": "only with --calibrate, for a sigmoid or multi-label head (recorded with its figures)",
    "text_field": "only with --labelled",
    "label_field": "only with --labelled",
    "labels": "always (the manifest's labels)",
    "output": "a linear last Dense layer (logits); refused for a sigmoid or softmax one (recorded in the manifest)",
    "check_examples": "always (a gate: the bundle must reproduce every example)",
    "text_model": "always (gated on every IMDB test review; needs --data)",
    "text_fuzz": "only with --text-model",
    "fast_path": "where the model has one (one LSTM pooled over the words); --fast-path given is refused elsewhere",
    "force": "always",
    "as_json": "always",
    **{name: "the routes in the table above" for name in ROUTE_OPTIONS},
}

# An option -> the option it acts through: given without it, it would change nothing, so it is refused.
REQUIRES = {
    "int8_max_loss": "quantize",
    "accuracy_samples": "quantize",
    "rating_classes": "quantize",
    "threshold_for": "calibrate",
    "text_field": "labelled_path",
    "label_field": "labelled_path",
    "text_fuzz": "text_model",
}
# An option -> the options it may act through (any one of them).
REQUIRES_ONE_OF = {"labelled_path": ("quantize", "calibrate")}

_FLAGS = {
    "source": "SOURCE",
    "out_dir": "--out",
    "as_json": "--json",
    "labelled_path": "--labelled",
    "fast_path": "--fast-path/--no-fast-path",
}


def _flag(name: str) -> str:
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


@dataclass(frozen=True)
class TokenizerOptions:
    """How the user said to tokenize (export's options); None where not given."""

    tokenizer: str | os.PathLike[str] | None = None
    text_vectorization: str | os.PathLike[str] | None = None
    word_index: str | os.PathLike[str] | None = None
    max_len: int | None = None
    padding: str | None = None
    truncating: str | None = None
    index_from: int | None = None
    start_char: int | None = None
    oov_char: int | None = None

    def given(self) -> list[str]:
        names = {"tokenizer": "--tokenizer", "text_vectorization": "--text-vectorization", "word_index": "--word-index"}
        return [flag for key, flag in names.items() if getattr(self, key) is not None]

    def set_options(self) -> dict[str, object]:
        """The tokenizer options given (not the tokenizer files), by field name."""
        return {
            f.name: getattr(self, f.name) for f in fields(self) if f.name in ROUTE_OPTIONS and getattr(self, f.name) is not None
        }


@dataclass(frozen=True)
class ExportOptions:
    """Everything export is told, built once (by the CLI or export_bundle) and never changed; None where not
    given: int8_max_loss_pp (INT8_MAX_LOSS_PP), text_fuzz (TEXT_FUZZ) and fast_path (where the model has one)
    then take their defaults."""

    tokenizer: TokenizerOptions = field(default_factory=TokenizerOptions)
    weights: str | os.PathLike[str] | None = None
    opset: int = DEFAULT_OPSET
    parity_samples: int = DEFAULT_PARITY_SAMPLES
    data: str | os.PathLike[str] | None = None
    force: bool = False
    strip_dropout: bool = True
    quantize: str | None = None
    labels: tuple[str, ...] | None = None
    accuracy_texts: LabelledSource | None = None
    int8_max_loss_pp: float | None = None
    accuracy_samples: int | None = None
    command: str | None = None
    text_model: bool = False
    text_fuzz: int | None = None
    fast_path: bool | None = None
    output: str | None = None
    check_examples: str | os.PathLike[str] | None = None
    calibrate: bool = False
    threshold_for: str | None = None

    def check(self) -> None:
        """ExportError for a value no export can use, or an option given without the one it acts through."""
        from ..labelled import LabelledSource

        if self.parity_samples < 1:
            raise ExportError("parity needs at least 1 sample (--parity-samples); an export without parity is not gated")
        if self.quantize not in (None, "int8"):
            raise ExportError(f"unknown quantisation {self.quantize!r}; the choice is int8")
        texts_given = self.accuracy_texts if self.accuracy_texts != LabelledSource() else None  # IMDB's labels: the default
        given = {
            "quantize": self.quantize,
            "int8_max_loss": self.int8_max_loss_pp,
            "accuracy_samples": self.accuracy_samples,
            "labelled_path": texts_given,
            "text_model": self.text_model or None,
            "text_fuzz": self.text_fuzz,
            "calibrate": self.calibrate or None,
            "threshold_for": self.threshold_for,
        }
        refuse_orphans({name for name, value in given.items() if value is not None})
        if self.threshold_for is not None:
            from ..calibration import parse_rule

            try:
                parse_rule(self.threshold_for)
            except EdgeSentimentError as exc:
                raise ExportError(str(exc)) from None

    @property
    def max_loss_pp(self) -> float:
        return INT8_MAX_LOSS_PP if self.int8_max_loss_pp is None else self.int8_max_loss_pp

    @property
    def fuzz(self) -> int:
        return TEXT_FUZZ if self.text_fuzz is None else self.text_fuzz


def refuse_unused(options: TokenizerOptions, route: str, facts: dict[str, object] | None = None) -> None:
    """ExportError naming every tokenizer option given that does not apply on this route (all in one message).

    facts: what the route does itself where an option may only agree with it (TextVectorization's
    "padding"/"truncating" "post", and its "max_len" when the layer has output_sequence_length).
    """
    facts = facts or {}
    problems = []
    for name, value in options.set_options().items():
        rule = ROUTE_OPTIONS[name][route]
        if rule.startswith(APPLIES):
            fixed = facts.get(name)
            if fixed is None or fixed == value:
                continue
            rule = f"{ROUTES[route]} gives {fixed!r} itself ({rule.removeprefix(APPLIES).strip()})"
        problems.append(f"{_flag(name)} {value} does not apply here: {rule}")
    if problems:
        raise ExportError("\n".join(problems))


def refuse_orphans(given: set[str]) -> None:
    """ExportError naming every option given without the option it acts through (REQUIRES), in one message."""
    problems = [
        f"{_flag(name)} does nothing without {_flag(needs)}"
        for name, needs in REQUIRES.items()
        if name in given and needs not in given
    ]
    problems += [
        f"{_flag(name)} does nothing without {' or '.join(_flag(n) for n in needs)}"
        for name, needs in REQUIRES_ONE_OF.items()
        if name in given and not set(needs) & given
    ]
    if problems:
        raise ExportError("; ".join(problems) + ": add the option it needs, or leave it out")


def _cell(rule: str) -> str:
    if rule == APPLIES:
        return "yes"
    return "yes, " + rule.removeprefix(APPLIES + " ") if rule.startswith(APPLIES) else "refused"


def options_table() -> str:
    """The Markdown table of which tokenizer option applies on which route (for docs/cli.md)."""
    routes = list(ROUTES)
    lines = ["| option | " + " | ".join(routes) + " |", "|---|" + "---|" * len(routes)]
    for name, rules in ROUTE_OPTIONS.items():
        cells = [_cell(rules[r]) for r in routes]
        lines.append(f"| `{_flag(name)}` | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Routes: " + "; ".join(f"**{r}**: {text}" for r, text in ROUTES.items()) + ".")
    lines.append("")
    lines.append("| other option | takes effect |")
    lines.append("|---|---|")
    for name, rule in EXPORT_OPTIONS.items():
        if name not in ROUTE_OPTIONS:
            lines.append(f"| `{_flag(name)}` | {rule} |")
    return "\n".join(lines)
