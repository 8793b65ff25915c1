"""edge-sentiment export and verify."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import click

from ..export.options import (
    DEFAULT_OPSET,
    DEFAULT_PARITY_SAMPLES,
    INT8_MAX_LOSS_PP,
    KERAS_IMDB_DEFAULTS,
    MAX_IDS_PER_TEXT,
    TEXT_FUZZ,
    TOKENIZER_HELP,
    ExportOptions,
    TokenizerOptions,
    refuse_orphans,
)
from .base import DATA_HELP, command_line, echo_json, labelled_source, require_extra, labelled_options, main

FC = TypeVar("FC", bound=Callable[..., object])


def _keras_imdb_option(name: str) -> Callable[[FC], FC]:
    """--index-from, --start-char, --oov-char: keras.datasets.imdb.load_data's argument of that name."""
    text = f"With --word-index: load_data's {name}. [{KERAS_IMDB_DEFAULTS[name]}]"
    return click.option(f"--{name.replace('_', '-')}", type=click.IntRange(0), default=None, help=text)


@main.command(epilog=TOKENIZER_HELP.replace("\n", "\n\n\b\n", 1))
@click.argument("source", type=click.Path(exists=True))
@click.option(
    "--out",
    "out_dir",
    type=click.Path(),
    required=True,
    help="Bundle folder to write (model.onnx, tokenizer.json, manifest.json).",
)
@click.option(
    "--weights",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="The weights file (model.save_weights()) of a SOURCE that is model.to_json()'s architecture alone.",
)
@click.option(
    "--tokenizer",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="The tokenizer the model's ids came from, when SOURCE is a model file: an edge-sentiment "
    "tokenizer.json, the file a classic Keras Tokenizer's to_json() wrote, or pickle.dump(tokenizer)'s file "
    "(read without running it).",
)
@click.option(
    "--text-vectorization",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="A Keras TextVectorization layer saved on its own, for a model that takes its ids: a .keras "
    'file whose first layer it is, or JSON {"config": get_config(), "vocabulary": get_vocabulary()}.',
)
@click.option(
    "--word-index",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="The keras.datasets.imdb word index (imdb_word_index.json), for a model trained on "
    "keras.datasets.imdb ids; num_words is the model's embedding rows.",
)
@_keras_imdb_option("index_from")
@_keras_imdb_option("start_char")
@_keras_imdb_option("oov_char")
@click.option(
    "--max-len",
    type=click.IntRange(1, MAX_IDS_PER_TEXT),
    default=None,
    help="Ids per text (pad_sequences' maxlen, or the length for a TextVectorization layer without "
    "output_sequence_length). Default: the model's input length; a masked model without one reads whole texts.",
)
@click.option(
    "--padding",
    type=click.Choice(["pre", "post"]),
    default=None,
    help="Where the training ids' pads went (pad_sequences' padding), for --tokenizer and --word-index. "
    "Required where the model's scores depend on it and no file records it (measured). [pre]",
)
@click.option(
    "--truncating",
    type=click.Choice(["pre", "post"]),
    default=None,
    help="Which end of long texts the training ids lost (pad_sequences' truncating), for --tokenizer and "
    "--word-index. Required where the model's scores depend on it and no file records it (measured). [pre]",
)
@click.option("--opset", type=click.IntRange(14, 21), default=DEFAULT_OPSET, show_default=True, help="ONNX opset to convert to.")
@click.option(
    "--parity-samples",
    type=click.IntRange(1),
    default=DEFAULT_PARITY_SAMPLES,
    show_default=True,
    help="Texts compared between Keras and ONNX: real IMDB test reviews when the data is at hand, "
    "else generated ones (the manifest says which).",
)
@click.option("--data", type=click.Path(), default=None, help=DATA_HELP)
@click.option(
    "--quantize",
    type=click.Choice(["int8"]),
    default=None,
    help="Also add an int8 model (dynamic quantisation, DynamicQuantizeLSTM), gated on the test accuracy it "
    "loses: needs --data (IMDB's test reviews; --rating-classes for a model of several classes) or --labelled.",
)
@click.option(
    "--int8-max-loss",
    type=click.FloatRange(0),
    default=None,
    help=f"With --quantize: fail the export if int8 loses more than this many points of test accuracy. [{INT8_MAX_LOSS_PP}]",
)
@click.option(
    "--accuracy-samples",
    type=click.IntRange(2),
    default=None,
    help="Texts for the int8 accuracy gate: a class-balanced sample of this many test reviews (with "
    "--labelled: its first rows). Default: all of them.",
)
@labelled_options("the int8 accuracy gate")
@click.option(
    "--output",
    "output",
    type=click.Choice(["logits", "softmax-logits", "multi-label-logits", "probabilities"]),
    default=None,
    help="What a linear last Dense layer gives, where the model does not say (its compiled loss's from_logits): "
    "logits (Dense(1): the bundle applies a sigmoid), softmax-logits or multi-label-logits (Dense(k)), or "
    "probabilities (served as they are). Refused for a sigmoid or softmax last layer.",
)
@click.option(
    "--labels",
    default=None,
    help="The classes' names, comma-separated, in the order of the model's outputs. Default: "
    "negative,positive for one sigmoid output; class_0,class_1,... for a softmax.",
)
@click.option(
    "--text-model",
    is_flag=True,
    help="Also write model.text.onnx: NFKC-normalised strings in, probability out, the tokenizer in the graph "
    "(stock onnxruntime ops); refused unless its ids equal the runtime's on every IMDB test review (needs --data).",
)
@click.option(
    "--text-fuzz",
    type=click.IntRange(0),
    default=None,
    help=f"With --text-model: fuzzed texts the text model is compared on (reported in the manifest). [{TEXT_FUZZ}]",
)
@click.option(
    "--check-examples",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Texts with the label (and optionally the score) your own pipeline gives them, as JSON Lines "
    '({"text": ..., "label": ..., "score": ...}) or CSV: the bundle must reproduce each from the raw text '
    "(labels, scores within 1e-5). Catches text cleaning your code did before the tokenizer.",
)
@click.option(
    "--fast-path/--no-fast-path",
    default=None,
    help="Also write the fp32 graphs for texts without pads: one text at batch 1 skips the pooling mask's ops, "
    "and a bidirectional LSTM's two directions run on two threads. Built for one LSTM pooled over the words "
    "(WordPooling) and one dense layer, and kept only when its scores equal model.onnx's bit for bit at every length. "
    "Default: where the model has one; --fast-path fails the export where it has none.",
)
@click.option(
    "--calibrate",
    is_flag=True,
    help="Fit a temperature on held-out labelled texts (the bundle reports sigmoid(logit(p) / T), exactly): "
    "--labelled FILE, or for a run folder the training reviews its training held out (--data); never the test "
    "reviews. The manifest records T, the texts and ECE / log loss before and after ('edge-sentiment calibrate' "
    "does the same for a bundle).",
)
@click.option(
    "--threshold-for",
    "threshold_for",
    metavar="RULE",
    default=None,
    help="With --calibrate: choose the threshold on the held-out texts: precision=P, recall=R or f1 "
    "(sigmoid and multi-label heads). [0.5]",
)
@click.option("--force", is_flag=True, help="Replace an existing bundle at --out (atomically).")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def export(
    source: str,
    out_dir: str,
    weights: str | None,
    tokenizer: str | None,
    text_vectorization: str | None,
    word_index: str | None,
    index_from: int | None,
    start_char: int | None,
    oov_char: int | None,
    max_len: int | None,
    padding: str | None,
    truncating: str | None,
    opset: int,
    parity_samples: int,
    data: str | None,
    quantize: str | None,
    int8_max_loss: float | None,
    accuracy_samples: int | None,
    rating_classes: str | None,
    labelled_path: str | None,
    text_field: str,
    label_field: str,
    output: str | None,
    labels: str | None,
    text_model: bool,
    text_fuzz: int | None,
    check_examples: str | None,
    fast_path: bool | None,
    calibrate: bool,
    threshold_for: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Convert a trained run, or your own Keras model, into a verified ONNX bundle.

    SOURCE is a run folder of 'edge-sentiment train', a Keras model file: .keras (Keras 3, or tf-keras) or
    .h5 (Keras 2), a TF 2.x SavedModel folder (model.save(dir)), or model.to_json()'s file with --weights.
    The model is Embedding -> Conv1D/pooling windows and/or LSTM/GRU layers
    (Bidirectional, stacked; sigmoid or hard_sigmoid gates), or neither -> the last state, a pooling or
    Flatten -> Dense layers -> Dense(1, sigmoid), Dense(k, softmax), Dense(k, sigmoid) (multi-label) or
    a linear Dense giving logits (the bundle applies the sigmoid or softmax; --output where the model does
    not say which); anything else is refused before conversion, every problem in one message. Gates (all
    reported, any failure writes nothing): one fused op per recurrent layer and no loops, the ONNX checker, no
    external data, Keras vs ONNX parity (max |dp| <= 1e-5, all labels agree) padded and as the runtime
    runs it, the bundle's tokenizer against the original one and parity from raw strings (where the
    original is at hand), and the Keras model unchanged afterwards.
    """
    refuse_orphans(_given_options())  # before TensorFlow loads: an option that would do nothing is refused
    if threshold_for is not None:
        from ..calibration import parse_rule

        parse_rule(threshold_for)  # an unknown rule is refused naming the option, before TensorFlow loads
    require_extra("tf2onnx", "train", "Export")
    from ..export.exporter import run_export

    log = None if as_json else (lambda msg: click.echo(f"  {msg} ...", err=True))
    tokenizer_options = TokenizerOptions(
        tokenizer=tokenizer,
        text_vectorization=text_vectorization,
        word_index=word_index,
        max_len=max_len,
        padding=padding,
        truncating=truncating,
        index_from=index_from,
        start_char=start_char,
        oov_char=oov_char,
    )
    options = ExportOptions(
        tokenizer=tokenizer_options,
        weights=weights,
        opset=opset,
        parity_samples=parity_samples,
        data=data,
        force=force,
        quantize=quantize,
        labels=tuple(labels.split(",")) if labels is not None else None,
        accuracy_texts=labelled_source(rating_classes, labelled_path, text_field, label_field),
        int8_max_loss_pp=int8_max_loss,
        accuracy_samples=accuracy_samples,
        command=command_line(),
        text_model=text_model,
        text_fuzz=text_fuzz,
        fast_path=fast_path,
        output=output,
        check_examples=check_examples,
        calibrate=calibrate,
        threshold_for=threshold_for,
    )
    result = run_export(source, out_dir, options, log=log)
    if as_json:
        echo_json(result.manifest)
        return
    for line in result.report.lines():
        click.echo(line)
    done = result.manifest["tokenizer"]["preprocessing"]
    click.echo(f"the bundle does: {done['done']}")
    click.echo(f"it does not do: {done['not_done']}")
    size = sum(f["bytes"] for f in result.manifest["files"].values())
    click.echo(f"wrote {out_dir} ({size / 1024:.0f} KiB)")


def _given_options() -> set[str]:
    """The options the user typed (not left at their defaults) of the command that runs."""
    from click.core import ParameterSource

    ctx = click.get_current_context()
    return {name for name in ctx.params if ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)}
