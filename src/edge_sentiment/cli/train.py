"""edge-sentiment train, and edge-sentiment data (the IMDB archive: download, path)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import Any

import click

from ..runtime.tokenizer_base import MAX_IDS_PER_TEXT
from ..train.recipes import ALIASES, CELLS, DROPOUT_MASKS, POOLINGS, RECIPES, SCHEDULES, VOCABULARIES, Recipe, get_recipe
from .base import command_line, echo_json, require_extra, main


_TRAIN_DATA_HELP = (
    "The IMDB data: the aclImdb .tar.gz (read without extracting) or its folder. Default: "
    "$EDGE_SENTIMENT_DATA, else the archive in the cache, downloaded there first when absent "
    "(see 'edge-sentiment data download')."
)


def _values(field: str, words: dict[Any, str] | None = None, recipes: tuple[str, ...] = ("lab", "better", "default")) -> str:
    """The brackets closing an option's help: its value in each recipe named, where it differs from the one before."""
    shown: list[str] = []
    last: Any = None
    for name in recipes:
        value = getattr(get_recipe(name), field)
        if not shown or value != last:
            text = words[value] if words else (f"{value:g}" if isinstance(value, float) else str(value))
            shown.append(f"{name}: {text}")
        last = value
    return "[" + "; ".join(shown) + "]"


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
    help="Starting hyper-parameters; the options below override single fields. lab: the lab as written, "
    "on Keras 3; lab-keras2: the same with Keras 2's per-step dropout masks (--dropout-masks step), "
    "which is what reproduces the lab's accuracy (docs/lab.md); "
    "bilstm32-w2v256-fold16 (alias default): the shipped bundle's, a bidirectional LSTM(32) "
    "pooled over the words, a 256-wide word2vec embedding folded to 16 wide after training (needs "
    "gensim); bilstm64-w2v256-fold16 (alias better): the same with LSTM(64); "
    "bilstm64-w2v256 (alias large): that without the fold (a 13 MiB bundle). docs/training.md. In the "
    "brackets below, each recipe's value, given where it differs from the one before.",
)
@click.option(
    "--vocab-size",
    type=click.IntRange(3),
    help="Token ids, padding (0) and out-of-vocabulary (1) included. " + _values("vocab_size"),
)
@click.option(
    "--max-len",
    type=click.IntRange(1, MAX_IDS_PER_TEXT),
    help="Words per review; longer reviews keep their last words. " + _values("max_len"),
)
@click.option(
    "--embedding-dim",
    type=click.IntRange(1),
    help="Embedding width while training; above --embedding-rank when that is set. " + _values("embedding_dim"),
)
@click.option(
    "--lstm-units",
    type=click.IntRange(1),
    help="Units of the recurrent layer (per direction). " + _values("lstm_units"),
)
@click.option(
    "--cell",
    type=click.Choice(CELLS),
    help="The recurrent layer: lstm, or gru (exported as one fused ONNX GRU "
    "op; its bundles pad every text to --max-len, as the pad skip tabulates LSTMs only). " + _values("cell"),
)
@click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), help="LSTM input dropout. " + _values("dropout"))
@click.option(
    "--dropout-per-step/--dropout-in-lstm",
    "dropout_per_step",
    default=None,
    help="Input dropout as a Dropout layer on the embeddings (a fresh mask per time step) or the "
    "LSTM's own (one mask per gate for the whole sequence). " + _values("dropout_per_step", {False: "in LSTM", True: "per step"}),
)
@click.option(
    "--word-dropout",
    type=click.FloatRange(0, 1, max_open=True),
    help="Drop whole words during training: each word's embedding vector is zeroed with this "
    "probability (before the input dropout). " + _values("word_dropout"),
)
@click.option(
    "--recurrent-dropout",
    type=click.FloatRange(0, 1, max_open=True),
    help="LSTM recurrent dropout. " + _values("recurrent_dropout"),
)
@click.option(
    "--dropout-masks",
    type=click.Choice(DROPOUT_MASKS),
    help="The recurrent layer's input and recurrent dropout while training: sequence, Keras 3's one mask "
    "per sequence reused at every word; step, new masks at every word, as Keras 2's fit() drew them. "
    "Either way the saved model is Keras's own LSTM/GRU. " + _values("dropout_masks", recipes=("lab", "lab-keras2")),
)
@click.option("--epochs", type=click.IntRange(1), help="Training epochs. " + _values("epochs"))
@click.option("--batch-size", type=click.IntRange(1), help="Batch size. " + _values("batch_size"))
@click.option("--learning-rate", type=click.FloatRange(0, min_open=True), help="Adam learning rate. " + _values("learning_rate"))
@click.option(
    "--learning-rate-decay",
    type=click.FloatRange(0, 1, min_open=True),
    help="Multiply the learning rate by this after every epoch (1 = constant). " + _values("learning_rate_decay"),
)
@click.option(
    "--learning-rate-schedule",
    type=click.Choice(SCHEDULES),
    help="constant: the learning rate as given (times --learning-rate-decay after every epoch); "
    "cosine: from the learning rate down to 0 along a half cosine, batch by batch, over --epochs. "
    + _values("learning_rate_schedule"),
)
@click.option("--seed", type=int, help="Seed for shuffling, initialisation and dropout. " + _values("seed"))
@click.option(
    "--validation-split",
    type=click.FloatRange(0, 1, max_open=True),
    help="Fraction of the training reviews held out for validation (never the test set). " + _values("validation_split"),
)
@click.option(
    "--early-stopping-patience",
    type=click.IntRange(0),
    help="Stop after this many epochs without a lower validation loss and keep the best epoch's "
    "weights; 0 = off; needs --validation-split. " + _values("early_stopping_patience"),
)
@click.option(
    "--crop-fraction",
    type=click.FloatRange(0),
    help="Add this many random crops of training reviews, as a fraction of the training set, so short "
    "texts look like something seen in training. " + _values("crop_fraction"),
)
@click.option("--crop-min-words", type=click.IntRange(1), help="Shortest crop, in words. " + _values("crop_min_words"))
@click.option("--crop-max-words", type=click.IntRange(1), help="Longest crop, in words. " + _values("crop_max_words"))
@click.option(
    "--pooling",
    type=click.Choice(POOLINGS),
    help="What the output layer reads: the LSTM's last state, the maximum of its outputs over the words "
    "(pads left out), or their mean and maximum. " + _values("pooling"),
)
@click.option(
    "--bidirectional/--forward-only",
    "bidirectional",
    default=None,
    help="Add an LSTM that reads the words backwards (twice the LSTM work; needs --pooling max or "
    "mean-max). " + _values("bidirectional", {False: "forward only", True: "bidirectional"}),
)
@click.option(
    "--word2vec-epochs",
    type=click.IntRange(0),
    help="Pre-train the embedding with word2vec (skip-gram, gensim) on the training reviews' text for "
    "this many epochs before training; 0 = random start. " + _values("word2vec_epochs"),
)
@click.option(
    "--embedding-rank",
    type=click.IntRange(0),
    help="After training, fold the embedding into one this wide (below --embedding-dim): a truncated "
    "SVD of the embedding times the LSTM's input weights, so a wide embedding ships at a narrow "
    "one's size and speed. The model saved and the test figures are the folded one's; the "
    "epochs' figures are the wide one's. 0 = no fold. " + _values("embedding_rank"),
)
@click.option(
    "--vocabulary",
    type=click.Choice(VOCABULARIES),
    default=VOCABULARIES[0],
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
    require_extra("tensorflow", "train", "Training")
    if chosen.word2vec_epochs:
        require_extra("gensim", "train", "Word2vec pre-training (--word2vec-epochs)")
    from ..download import resolve_or_download
    from ..train.trainer import TrainOptions, run_training

    with _download_progress() as (progress, log):  # --data, $EDGE_SENTIMENT_DATA, the cache, else a download
        data = str(resolve_or_download(data, progress=progress, log=log))
    options = TrainOptions(
        data,
        out_dir,
        chosen,
        force=force,
        train_limit=train_limit,
        test_limit=test_limit,
        verbose=0 if as_json else None,
        command=command_line(),
        vocabulary=vocabulary,
        word_index=word_index,
    )
    metrics = run_training(options)
    if as_json:
        echo_json(metrics)
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
    from ..download import download_archive

    with _download_progress() as (progress, log):
        result = download_archive(progress=progress, log=None if as_json else log)
    if as_json:
        echo_json(result.as_dict())
    elif result.downloaded:
        click.echo(f"downloaded {result.path} ({result.bytes} bytes, sha256 verified)")
    else:
        click.echo(f"{result.path} is there already ({result.bytes} bytes, sha256 verified); nothing downloaded")


@data_group.command("path")
def data_path() -> None:
    """Print where commands read the IMDB data from without --data: $EDGE_SENTIMENT_DATA, else the cache."""
    from ..data import resolve_data_path

    click.echo(str(resolve_data_path(None)))
