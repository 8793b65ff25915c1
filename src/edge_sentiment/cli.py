"""The edge-sentiment command line: train, export, verify, predict, evaluate, bench.

TensorFlow is imported only inside the commands that need it (train, export, bench --compare keras).
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

from ._meta import __version__
from .errors import EdgeSentimentError
from .export.options import TOKENIZER_HELP, TokenizerOptions
from .train.recipes import ALIASES, CELLS, POOLINGS, RECIPES, SCHEDULES, Recipe, get_recipe


class _Group(click.Group):
    """Turns the library's own errors into a one-line message and exit status 1, without a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgeSentimentError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="edge-sentiment")
def main() -> None:
    """Train an LSTM sentiment model, export it to ONNX, and serve it on small offline CPUs."""


def _command_line() -> str:
    return shlex.join(["edge-sentiment", *sys.argv[1:]])


def _echo_json(obj: Any) -> None:
    click.echo(json.dumps(obj, ensure_ascii=False))


_DATA_HELP = "The IMDB data: the aclImdb .tar.gz (read without extracting) or its folder. Default: $EDGE_SENTIMENT_DATA."
_TRAIN_DATA_HELP = (
    "The IMDB data: the aclImdb .tar.gz (read without extracting) or its folder. Default: "
    "$EDGE_SENTIMENT_DATA, else the archive in the cache, downloaded there first when absent "
    "(see 'edge-sentiment data download')."
)


@main.command()
@click.option("--data", type=click.Path(), default=None, help=_TRAIN_DATA_HELP)
@click.option(
    "--out", "out_dir", type=click.Path(), required=True, help="Run folder to write (model.keras, tokenizer.json, metrics.json)."
)
@click.option(
    "--recipe",
    type=click.Choice([*RECIPES, *ALIASES]),
    default="lab",
    show_default=True,
    help="Starting hyper-parameters; the options below override single fields. lab: the lab as written; "
    "bilstm64-w2v256-fold16 (alias default, better): the shipped bundle's, a bidirectional LSTM(64) "
    "pooled over the words, a 256-wide word2vec embedding folded to 16 wide after training (needs "
    "gensim); bilstm64-w2v256 (alias large): the same without the fold (a 13 MiB bundle). "
    "docs/training.md. In the brackets below, 'better' is bilstm64-w2v256-fold16.",
)
@click.option(
    "--vocab-size",
    type=click.IntRange(3),
    help="Token ids, padding (0) and out-of-vocabulary (1) included. [lab: 5000; better: 10000]",
)
@click.option(
    "--max-len", type=click.IntRange(1, 100_000), help="Words per review; longer reviews keep their last words. [lab: 500]"
)
@click.option(
    "--embedding-dim",
    type=click.IntRange(1),
    help="Embedding width while training; above --embedding-rank when that is set. [lab: 32; better: 256]",
)
@click.option("--lstm-units", type=click.IntRange(1), help="Units of the recurrent layer (per direction). [lab: 100; better: 64]")
@click.option(
    "--cell",
    type=click.Choice(CELLS),
    help="The recurrent layer: lstm, or gru (exported as one fused ONNX GRU "
    "op; its bundles pad every text to --max-len, as the pad skip tabulates LSTMs only). [lstm]",
)
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), help="LSTM input dropout. [lab: 0.2; better: 0.4]")
@click.option(
    "--dropout-per-step/--dropout-in-lstm",
    "dropout_per_step",
    default=None,
    help="Input dropout as a Dropout layer on the embeddings (a fresh mask per time step) or the "
    "LSTM's own (one mask per gate for the whole sequence). [lab: in LSTM; better: per step]",
)
@click.option(
    "--word-dropout",
    type=click.FloatRange(0, 1, max_open=True),
    help="Drop whole words during training: each word's embedding vector is zeroed with this "
    "probability (before the input dropout). [lab: 0]",
)
@click.option(
    "--recurrent-dropout", type=click.FloatRange(0, 1, max_open=True), help="LSTM recurrent dropout. [lab: 0.2; better: 0]"
)
@click.option("--epochs", type=click.IntRange(1), help="Training epochs. [lab: 3; better: 2]")
@click.option("--batch-size", type=click.IntRange(1), help="Batch size. [lab: 64]")
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True), help="Adam learning rate. [lab: 0.001]")
@click.option(
    "--learning-rate-decay",
    type=click.FloatRange(0, 1, min_open=True),
    help="Multiply the learning rate by this after every epoch (1 = constant). [lab: 1]",
)
@click.option(
    "--learning-rate-schedule",
    type=click.Choice(SCHEDULES),
    help="constant: the learning rate as given (times --learning-rate-decay after every epoch); "
    "cosine: from the learning rate down to 0 along a half cosine, batch by batch, over --epochs. "
    "[lab: constant; better: cosine]",
)
@click.option("--seed", type=int, help="Seed for shuffling, initialisation and dropout. [lab: 7]")
@click.option(
    "--validation-split",
    type=click.FloatRange(0, 1, max_open=True),
    help="Fraction of the training reviews held out for validation (never the test set). [lab: 0; better: 0.1]",
)
@click.option(
    "--early-stopping-patience",
    type=click.IntRange(0),
    help="Stop after this many epochs without a lower validation loss and keep the best epoch's "
    "weights; 0 = off; needs --validation-split. [lab: 0; better: 2]",
)
@click.option(
    "--crop-fraction",
    type=click.FloatRange(0),
    help="Add this many random crops of training reviews, as a fraction of the training set, so short "
    "texts look like something seen in training. [lab: 0; better: 1.0]",
)
@click.option("--crop-min-words", type=click.IntRange(1), help="Shortest crop, in words. [5; better: 3]")
@click.option("--crop-max-words", type=click.IntRange(1), help="Longest crop, in words. [60; better: 100]")
@click.option(
    "--pooling",
    type=click.Choice(POOLINGS),
    help="What the output layer reads: the LSTM's last state, the maximum of its outputs over the words "
    "(pads left out), or their mean and maximum. [lab: last; better: mean-max]",
)
@click.option(
    "--bidirectional/--forward-only",
    "bidirectional",
    default=None,
    help="Add an LSTM that reads the words backwards (twice the LSTM work; needs --pooling max or "
    "mean-max). [lab: forward only; better: bidirectional]",
)
@click.option(
    "--word2vec-epochs",
    type=click.IntRange(0),
    help="Pre-train the embedding with word2vec (skip-gram, gensim) on the training reviews' text for "
    "this many epochs before training; 0 = random start. [lab: 0; better: 5]",
)
@click.option(
    "--embedding-rank",
    type=click.IntRange(0),
    help="After training, fold the embedding into one this wide (below --embedding-dim): a truncated "
    "SVD of the embedding times the LSTM's input weights, so a wide embedding ships at a narrow "
    "one's size and speed. The model saved and the test figures are the folded one's; the "
    "epochs' figures are the wide one's. 0 = no fold. [lab: 0; better: 16]",
)
@click.option(
    "--vocabulary",
    type=click.Choice(["own", "keras-imdb"]),
    default="own",
    show_default=True,
    help="own: our tokenizer, fit on the training reviews (--vocab-size words); keras-imdb: the ids of "
    "keras.datasets.imdb.load_data(num_words=--vocab-size), rebuilt from the raw reviews with the Keras "
    "word index (--word-index), as the lab trained; the exported bundle scores raw text with those ids.",
)
@click.option(
    "--word-index",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="The Keras IMDB word index (imdb_word_index.json), for --vocabulary keras-imdb.",
)
@click.option(
    "--train-limit",
    type=click.IntRange(2),
    default=None,
    help="Train on a balanced sample of this many reviews (for quick tries).",
)
@click.option(
    "--test-limit", type=click.IntRange(2), default=None, help="Evaluate on a balanced sample of this many test reviews."
)
@click.option("--force", is_flag=True, help="Replace a non-empty --out folder.")
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
def train(
    data: str | None,
    out_dir: str,
    recipe: str,
    vocabulary: str,
    word_index: str | None,
    train_limit: int | None,
    test_limit: int | None,
    force: bool,
    as_json: bool,
    **overrides: Any,
) -> None:
    """Train a recipe on raw IMDB review text (the lab's by default) and write a run folder."""
    try:
        chosen: Recipe = get_recipe(recipe).with_overrides(**overrides)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    _require("tensorflow", "train", "Training")
    if chosen.word2vec_epochs:
        _require("gensim", "train", "Word2vec pre-training (--word2vec-epochs)")
    from .download import resolve_or_download
    from .train.trainer import train as run_training

    with _download_progress() as (progress, log):  # --data, $EDGE_SENTIMENT_DATA, the cache, else a download
        data = str(resolve_or_download(data, progress=progress, log=log))
    metrics = run_training(
        data,
        out_dir,
        chosen,
        force=force,
        train_limit=train_limit,
        test_limit=test_limit,
        verbose=0 if as_json else None,
        command=_command_line(),
        vocabulary=vocabulary,
        word_index=word_index,
    )
    if as_json:
        _echo_json(metrics)
    else:
        click.echo(
            f"wrote {out_dir}: train accuracy {metrics['train_accuracy']:.4f}, "
            f"test accuracy {metrics['test_accuracy']:.4f} (loss {metrics['test_loss']:.4f}), "
            f"{metrics['wall_seconds']:.0f} s"
        )


def _say(message: str) -> None:
    click.echo(message, err=True)


@contextlib.contextmanager
def _download_progress() -> Iterator[tuple[Callable[[int, int], None] | None, Callable[[str], None]]]:
    """(progress, log) for a download: a bar on stderr when it is a terminal; a message ends the bar's line."""
    if not sys.stderr.isatty():
        yield None, _say
        return
    bar: list[Any] = []  # the bar on screen, if any

    def progress(done: int, total: int) -> None:
        if not bar:
            bar.append(
                click.progressbar(
                    length=total,
                    label="downloading",
                    file=sys.stderr,
                    item_show_func=lambda n: None if n is None else f"{n / 1e6:.1f} of {total / 1e6:.1f} MB",
                ).__enter__()
            )
        bar[0].update(done - bar[0].pos, done)

    def end_bar() -> None:
        if bar:
            bar.pop().render_finish()

    def log(message: str) -> None:
        end_bar()  # a message gets a line of its own; the next progress call starts a new bar
        _say(message)

    try:
        yield progress, log
    finally:
        end_bar()


@main.group("data")
def data_group() -> None:
    """The IMDB data: download it into the cache, or show where it is read from."""


@data_group.command("download")
@click.option("--json", "as_json", is_flag=True, help="Print path, bytes, sha256 and downloaded (true or false) as JSON.")
def data_download(as_json: bool) -> None:
    """Download the IMDB archive (84 MB) into the cache and check its sha256, unless it is there already.

    The cache is $XDG_CACHE_HOME/edge-sentiment (default ~/.cache/edge-sentiment). An interrupted download
    is resumed by running the command again; only a verified archive is given its final name.
    """
    from .download import download_archive

    with _download_progress() as (progress, log):
        result = download_archive(progress=progress, log=None if as_json else log)
    if as_json:
        _echo_json(result.as_dict())
    elif result.downloaded:
        click.echo(f"downloaded {result.path} ({result.bytes} bytes, sha256 verified)")
    else:
        click.echo(f"{result.path} is there already ({result.bytes} bytes, sha256 verified); nothing downloaded")


@data_group.command("path")
def data_path() -> None:
    """Print where commands read the IMDB data from without --data: $EDGE_SENTIMENT_DATA, else the cache."""
    from .data import resolve_data_path

    click.echo(str(resolve_data_path(None)))


@contextlib.contextmanager
def _quiet_native_stderr() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration (Python exceptions still propagate)."""
    import os

    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _require(module: str, extra: str, what: str) -> None:
    """Import an optional dependency now, or fail with the install command; quiet TensorFlow's logging."""
    import importlib
    import os

    from .errors import MissingDependencyError

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with _quiet_native_stderr():  # TensorFlow's C++ start-up notes ignore TF_CPP_MIN_LOG_LEVEL
            importlib.import_module(module)
    except ImportError as exc:
        message = str(MissingDependencyError.for_extra(module, extra, what))
        if getattr(exc, "name", None) != module or "No module named" not in str(exc):
            message = message.replace("is not installed", f"could not be imported ({exc})")
        raise click.ClickException(message) from None


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
    help="Also add an int8 model (dynamic quantisation, DynamicQuantizeLSTM); needs --data for its accuracy gate.",
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
    help="Test reviews for the int8 accuracy gate. Default: the whole test split.",
)
@click.option(
    "--labels",
    default=None,
    help="The classes' names, comma-separated, in the order of the model's outputs. Default: "
    "negative,positive for one sigmoid output; class_0,class_1,... for a softmax.",
)
@click.option("--force", is_flag=True, help="Replace an existing bundle at --out (atomically).")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
def export(
    source: str,
    out_dir: str,
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
    labels: str | None,
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
    from .export.exporter import export_bundle

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
        command=_command_line(),
        log=log,
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
    """Re-check a bundle: format version, checksums, names, vocab size, and one prediction per model."""
    from .runtime.bundle import PRECISION_FILES
    from .runtime.predictor import Predictor

    models = {}
    manifest: dict[str, Any] = {}
    for precision, name in PRECISION_FILES.items():
        if manifest and name not in manifest["files"]:
            continue
        predictor = Predictor.load(bundle, precision=precision, threads=1)  # verifies before the session
        manifest = predictor.manifest
        score = predictor.predict("A wonderful, moving film.")[0].score
        if not 0.0 <= score <= 1.0:
            raise click.ClickException(f"the {precision} model gave {score}, not a probability")
        models[precision] = {"file": name, "sample_score": score}
    if as_json:
        _echo_json(
            {
                "bundle": bundle,
                "ok": True,
                "format_version": manifest["format_version"],
                "files": manifest["files"],
                "models": models,
            }
        )
        return
    click.echo(f"✓ {bundle}: format {manifest['format_version']}, {len(manifest['files'])} files match their sha256")
    for precision, r in models.items():
        click.echo(f"✓ {precision} ({r['file']}): verified and ran, sample score {r['sample_score']:.4f}")


PRECISIONS = ("fp32", "int8")  # the runtime's precisions (runtime/bundle.py PRECISION_FILES; a test checks they agree)
_BUNDLE_HELP = "Bundle folder. Default: the bundle shipped inside the package."
_PRECISION_HELP = "Model precision: fp32, or int8 where the bundle has one (export --quantize int8)."
_THREADS_HELP = (
    "CPU threads for many texts: batches run in parallel, one thread each; a single text "
    "always uses one. Small hosts often want 1. Default: the cores this process may use."
)


def _read_lines(source: str, errors: str) -> Iterator[str]:
    """Texts from a file or '-' (stdin), one per line; invalid UTF-8 names the line unless errors='replace'."""
    try:
        stream = click.open_file(source, "rb")
    except OSError as exc:
        raise click.ClickException(f"cannot read {source}: {exc.strerror or exc}") from None
    with stream:
        for number, raw in enumerate(stream, start=1):
            line = raw.rstrip(b"\r\n")
            try:
                yield line.decode("utf-8", errors)
            except UnicodeDecodeError as exc:
                where = "standard input" if source == "-" else source
                raise click.ClickException(
                    f"line {number} of {where} is not valid UTF-8 (byte 0x{line[exc.start]:02x} at column "
                    f"{exc.start + 1}); fix the text or pass --errors replace"
                ) from None


@main.command()
@click.argument("texts", nargs=-1)
@click.option(
    "--file",
    "file_",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    default=None,
    help="Read texts from this file, one per line ('-' for standard input).",
)
@click.option("--bundle", type=click.Path(), default=None, help=_BUNDLE_HELP)
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True, help=_PRECISION_HELP)
@click.option("--threads", type=click.IntRange(1), default=None, help=_THREADS_HELP)
@click.option(
    "--errors",
    type=click.Choice(["strict", "replace"]),
    default="strict",
    show_default=True,
    help="Invalid UTF-8 in --file or stdin: stop with an error naming the line, or replace the bad bytes.",
)
@click.option("--json", "as_json", is_flag=True, help="JSON Lines output: index, label, score.")
def predict(
    texts: tuple[str, ...], file_: str | None, bundle: str | None, precision: str, threads: int | None, errors: str, as_json: bool
) -> None:
    """Score texts: given as arguments, with --file, or on standard input (one per line).

    \b
    Examples:
      edge-sentiment predict "A wonderful, moving film."
      edge-sentiment predict --file reviews.txt --json
      cat reviews.txt | edge-sentiment predict
    """
    from itertools import islice

    from .runtime.predictor import CHUNK, Predictor

    if texts and file_:
        raise click.UsageError("give texts as arguments or with --file, not both")
    if not texts and file_ is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise click.UsageError("no texts: pass them as arguments, with --file PATH, or on standard input")
        file_ = "-"
    predictor = Predictor.load(bundle, threads=threads, precision=precision)
    source = iter(texts) if texts else _read_lines(file_, errors)  # type: ignore[arg-type]
    index = 0
    while chunk := list(islice(source, CHUNK)):
        for text, result in zip(chunk, predictor.predict(chunk)):
            if as_json:
                row: dict[str, Any] = {"index": index, "label": result.label, "score": round(result.score, 6)}
                if result.probabilities is not None:
                    row["probabilities"] = dict(zip(predictor.labels, (round(p, 6) for p in result.probabilities)))
                _echo_json(row)
            else:
                shown = " ".join(text.split()).encode("utf-8", "backslashreplace").decode("utf-8")
                shown = shown if len(shown) <= 70 else shown[:67] + "..."
                click.echo(f"{result.label:<8}  {result.score:.4f}  {shown}")
            index += 1


@main.command()
@click.option("--bundle", type=click.Path(), default=None, help=_BUNDLE_HELP)
@click.option("--data", type=click.Path(), default=None, help=_DATA_HELP)
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True, help=_PRECISION_HELP)
@click.option("--threads", type=click.IntRange(1), default=None, help=_THREADS_HELP)
@click.option("--limit", type=click.IntRange(2), default=None, help="Evaluate a balanced sample of this many test reviews.")
@click.option(
    "--cuts/--no-cuts",
    default=True,
    show_default=True,
    help="Also score reviews cut to their first and last 10, 20 and 50 words (short-text accuracy).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def evaluate(
    bundle: str | None, data: str | None, precision: str, threads: int | None, limit: int | None, cuts: bool, as_json: bool
) -> None:
    """Accuracy and log loss of a bundle on the IMDB test split (and on cut reviews)."""
    from .data import load_imdb
    from .evaluate import evaluate_bundle

    predictor_args = {"bundle": bundle, "threads": threads, "precision": precision}
    reviews = load_imdb(data, splits=("test",))["test"]
    if limit:
        reviews = reviews.subset(limit)
    with click.progressbar(length=len(reviews) * (7 if cuts else 1), label="scoring", file=sys.stderr, show_pos=True) as bar:
        report = evaluate_bundle(reviews, cuts=cuts, progress=bar.update, **predictor_args)
    if as_json:
        _echo_json(report)
        return
    click.echo(f"{report['bundle']} ({precision}) on {report['reviews']} IMDB test reviews:")
    click.echo(f"  {'text':<16} {'accuracy':>9} {'log loss':>9}")
    for name, row in report["results"].items():
        click.echo(f"  {name:<16} {row['accuracy']:>9.4f} {row['log_loss']:>9.4f}")


def _int_list(_ctx: click.Context, _param: click.Parameter, value: str) -> list[int]:
    try:
        out = [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated whole numbers, got {value!r}") from None
    if not out or min(out) < 1:
        raise click.BadParameter("expected whole numbers of 1 or more, e.g. 1,64")
    return out


@main.command()
@click.option("--bundle", type=click.Path(), default=None, help=_BUNDLE_HELP)
@click.option(
    "--data",
    type=click.Path(),
    default=None,
    help="IMDB data for real test reviews. Default: $EDGE_SENTIMENT_DATA; without either, texts generated from the "
    "bundle's vocabulary.",
)
@click.option(
    "--texts",
    "text_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Benchmark on your own texts instead (a file, one text per line).",
)
@click.option("--batch-sizes", default="1,64", show_default=True, callback=_int_list, help="Batch sizes for the throughput runs.")
@click.option(
    "--threads",
    default="1",
    show_default=True,
    callback=_int_list,
    help="Predictor thread counts to measure, e.g. 1,2 (batch 1 always runs on one thread).",
)
@click.option(
    "--precision",
    "precisions",
    default="fp32",
    show_default=True,
    help="Precisions to measure, comma-separated: fp32, int8 (where the bundle has one).",
)
@click.option(
    "--compare",
    type=click.Choice(["none", "keras"]),
    default="none",
    show_default=True,
    help="Also run the same weights in Keras in this run and report ratios (needs the [train] extra).",
)
@click.option(
    "--keras-model",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="The .keras file for --compare keras. Default: the model the bundle was exported from.",
)
@click.option(
    "--repeats", type=click.IntRange(10), default=200, show_default=True, help="Timed calls per batch-1 figure, after warm-up."
)
@click.option("--throughput-texts", type=click.IntRange(1), default=5000, show_default=True, help="Texts per throughput run.")
@click.option(
    "--cold-repeats",
    type=click.IntRange(0),
    default=5,
    show_default=True,
    help="Fresh processes for the cold-start figure (0 skips it).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write a PNG: latency against review length, and the batch-1 distribution.",
)
def bench(
    bundle: str | None,
    data: str | None,
    text_file: str | None,
    batch_sizes: list[int],
    threads: list[int],
    precisions: str,
    compare: str,
    keras_model: str | None,
    repeats: int,
    throughput_texts: int,
    cold_repeats: int,
    as_json: bool,
    plot_path: str | None,
) -> None:
    """Measure CPU latency, throughput and cold start; with --compare keras, ratios against Keras.

    Figures are medians over repeated runs after warm-up, with percentiles and spread; on a shared,
    noisy machine trust the ratios between engines of the same run more than absolute times.
    """
    from .bench.report import plot, render_text
    from .bench.runner import BenchConfig, run_bench

    chosen = [p.strip() for p in precisions.split(",") if p.strip()]
    for p in chosen:
        if p not in PRECISIONS:
            raise click.BadParameter(f"unknown precision {p!r}; use {' and/or '.join(PRECISIONS)}", param_hint="--precision")
    if compare == "keras":
        _require("tensorflow", "train", "--compare keras")
    config = BenchConfig(
        bundle=bundle,
        data=data,
        text_file=text_file,
        threads=threads,
        batch_sizes=batch_sizes,
        precisions=chosen,
        compare_keras=compare == "keras",
        keras_model=keras_model,
        repeats=repeats,
        throughput_texts=throughput_texts,
        cold_repeats=cold_repeats,
    )
    report = run_bench(config, progress=lambda msg: click.echo(f"  measuring {msg} ...", err=True))
    report["command"] = _command_line()
    if plot_path:
        plot(report, plot_path)
    if as_json:
        _echo_json(report)
    else:
        click.echo(render_text(report))
        if plot_path:
            click.echo(f"\nplot: {plot_path}")
