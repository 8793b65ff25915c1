"""edge-sentiment export and verify."""

from __future__ import annotations

from typing import Any

import click

from ..export.options import TOKENIZER_HELP, TokenizerOptions
from .base import _DATA_HELP, _command_line, _echo_json, _labelled_source, _require, labelled_options, main


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
    "tokenizer.json, or the file a classic Keras Tokenizer's to_json() wrote.",
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
@click.option(
    "--index-from", type=click.IntRange(0), default=3, show_default=True, help="With --word-index: load_data's index_from."
)
@click.option(
    "--start-char", type=click.IntRange(0), default=1, show_default=True, help="With --word-index: load_data's start_char."
)
@click.option("--oov-char", type=click.IntRange(0), default=2, show_default=True, help="With --word-index: load_data's oov_char.")
@click.option(
    "--max-len",
    type=click.IntRange(1, 100_000),
    default=None,
    help="Ids per text (pad_sequences' maxlen, or a TextVectorization output_sequence_length). "
    "Default: the model's input length.",
)
@click.option(
    "--padding",
    type=click.Choice(["pre", "post"]),
    default=None,
    help="Where pad_sequences put the pads, for --tokenizer (Keras) and --word-index. [pre]",
)
@click.option(
    "--truncating",
    type=click.Choice(["pre", "post"]),
    default=None,
    help="Which end pad_sequences cut from long texts, for --tokenizer (Keras) and --word-index. [pre]",
)
@click.option("--opset", type=click.IntRange(14, 21), default=17, show_default=True, help="ONNX opset to convert to.")
@click.option(
    "--parity-samples",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="Texts compared between Keras and ONNX: real IMDB test reviews when the data is at hand, "
    "else generated ones (the manifest says which).",
)
@click.option("--data", type=click.Path(), default=None, help=_DATA_HELP)
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
    default=0.3,
    show_default=True,
    help="Fail the export if int8 loses more than this many points of test accuracy.",
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
    default=100_000,
    show_default=True,
    help="Fuzzed texts the text model is compared on (reported in the manifest).",
)
@click.option(
    "--fast-path/--no-fast-path",
    default=True,
    show_default=True,
    help="Also write the fp32 graphs for texts without pads: one text at batch 1 skips the pooling mask's ops, "
    "and a bidirectional LSTM's two directions run on two threads. Built for one LSTM pooled over the words "
    "(WordPooling) and one dense layer, and kept only when its scores equal model.onnx's bit for bit at every length.",
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
    index_from: int,
    start_char: int,
    oov_char: int,
    max_len: int | None,
    padding: str | None,
    truncating: str | None,
    opset: int,
    parity_samples: int,
    data: str | None,
    quantize: str | None,
    int8_max_loss: float,
    accuracy_samples: int | None,
    rating_classes: str | None,
    labelled_path: str | None,
    text_field: str,
    label_field: str,
    labels: str | None,
    text_model: bool,
    text_fuzz: int,
    fast_path: bool,
    force: bool,
    as_json: bool,
) -> None:
    """Convert a trained run, or your own Keras model, into a verified ONNX bundle.

    SOURCE is a run folder of 'edge-sentiment train' or a Keras model file: .keras (Keras 3, or tf-keras),
    or .h5 (Keras 2). The model is Embedding -> LSTM/GRU layers (Bidirectional, stacked) -> the last
    state or a pooling -> Dense layers -> Dense(1, sigmoid) or Dense(k, softmax); anything else is
    refused before conversion, naming the layer. Gates (all
    reported, any failure writes nothing): one fused op per recurrent layer and no loops, the ONNX checker, no
    external data, Keras vs ONNX parity (max |dp| <= 1e-5, all labels agree) padded and as the runtime
    runs it, the bundle's tokenizer against the original one and parity from raw strings (where the
    original is at hand), and the Keras model unchanged afterwards.
    """
    _require("tf2onnx", "train", "Export")
    from ..export.exporter import export_bundle

    log = None if as_json else (lambda msg: click.echo(f"  {msg} ...", err=True))
    options = TokenizerOptions(
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
    result = export_bundle(
        source,
        out_dir,
        tokenizer_options=options,
        opset=opset,
        parity_samples=parity_samples,
        data=data,
        force=force,
        quantize=quantize,
        int8_max_loss_pp=int8_max_loss,
        labels=labels.split(",") if labels is not None else None,
        accuracy_samples=accuracy_samples,
        accuracy_texts=_labelled_source(rating_classes, labelled_path, text_field, label_field),
        command=_command_line(),
        log=log,
        text_model=text_model,
        text_fuzz=text_fuzz,
        fast_path=fast_path,
        weights=weights,
    )
    if as_json:
        _echo_json(result.manifest)
        return
    for line in result.report.lines():
        click.echo(line)
    size = sum(f["bytes"] for f in result.manifest["files"].values())
    click.echo(f"wrote {out_dir} ({size / 1024:.0f} KiB)")


@main.command()
@click.argument("bundle", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify(bundle: str, as_json: bool) -> None:
    """Re-check a bundle: format version, checksums, names, vocab size, one prediction per model, and
    its conformance vectors (ids identical, fp32 scores within 1e-5)."""
    from ..runtime.bundle import PRECISION_FILES
    from ..runtime.predictor import Predictor

    from ..runtime.conformance import CONFORMANCE_FILE, ConformanceResult, check_vectors, compare, load_vectors
    from ..runtime.textmodel import TEXT_MODEL_FILE, TextModel

    models = {}
    manifest: dict[str, Any] = {}
    conformance: ConformanceResult | None = None
    vectors = None
    for precision, name in PRECISION_FILES.items():
        if manifest and name not in manifest["files"]:
            continue
        predictor = Predictor.load(bundle, precision=precision, threads=1)  # verifies before the session
        manifest = predictor.manifest
        score = predictor.predict("A wonderful, moving film.")[0].score
        if not 0.0 <= score <= 1.0:
            raise click.ClickException(f"the {precision} model gave {score}, not a probability")
        models[precision] = {"file": name, "sample_score": score}
        if precision == "fp32":
            vectors = load_vectors(predictor.bundle)
            conformance = None if vectors is None else check_vectors(predictor, vectors)
    if conformance is not None and not conformance.passed:
        raise click.ClickException(f"{bundle} fails its own {CONFORMANCE_FILE}: {conformance.describe()}")
    text_check = None
    if TEXT_MODEL_FILE in manifest["files"]:  # verified (sha256, contract) before its session, then run on the vectors
        text_model = TextModel.load(bundle)
        if vectors is not None:
            scores, ids = text_model.run([v.text for v in vectors])
            text_check = compare(vectors, ids, scores)
            if not text_check.passed:
                raise click.ClickException(f"{bundle}/{TEXT_MODEL_FILE} fails {CONFORMANCE_FILE}: {text_check.describe()}")
    checked = (
        None
        if conformance is None
        else {"texts": conformance.texts, "ids_identical": conformance.ids_identical, "max_abs_diff": conformance.max_abs_diff}
    )
    if as_json:
        _echo_json(
            {
                "bundle": bundle,
                "ok": True,
                "format_version": manifest["format_version"],
                "files": manifest["files"],
                "models": models,
                "conformance": checked,
                "text_model": None
                if text_check is None
                else {
                    "file": TEXT_MODEL_FILE,
                    "texts": text_check.texts,
                    "ids_identical": text_check.ids_identical,
                    "max_abs_diff": text_check.max_abs_diff,
                },
            }
        )
        return
    click.echo(f"✓ {bundle}: format {manifest['format_version']}, {len(manifest['files'])} files match their sha256")
    for precision, r in models.items():
        click.echo(f"✓ {precision} ({r['file']}): verified and ran, sample score {r['sample_score']:.4f}")
    if conformance is None:
        click.echo(f"- no {CONFORMANCE_FILE} (a bundle made before conformance vectors; scripts/add_conformance.py adds them)")
    else:
        click.echo(f"✓ {CONFORMANCE_FILE}: {conformance.describe()}")
    if text_check is not None:
        click.echo(f"✓ text ({TEXT_MODEL_FILE}), batch of {text_check.texts}: {text_check.describe()}")
