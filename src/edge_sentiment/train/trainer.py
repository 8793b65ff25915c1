"""Train a recipe on raw IMDB text and write model.keras, tokenizer.json and metrics.json.

A run is a pipeline of stages, each a function that takes what it needs and returns its part of the
result; `build_metrics` is the one place that assembles metrics.json.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._meta import tool_versions
from ..data import Reviews, load_imdb, resolve_data_path
from ..errors import DataError
from ..evaluate import score_figures, text_variants
from ..runtime.files import atomic_folder, check_target, sha256_file
from ..runtime.keras_tokenizers import KerasImdbTokenizer
from ..runtime.tokenizer import Tokenizer, TokenizerBase, pad_ids, read_json_file
from .recipes import VOCABULARIES, Recipe

__all__ = [
    "train",
    "TrainOptions",
    "build_metrics",
    "prepare_training_data",
    "validation_by_length",
    "validation_rows",
    "VOCABULARIES",
]

_WORD2VEC_NEEDS_OWN = "word2vec pre-training (--word2vec-epochs) needs our own vocabulary; use --vocabulary own"
EVALUATE_BATCH = 256  # batch size of every evaluation pass (test set, validation, by length)


@dataclass(frozen=True)
class TrainOptions:
    """What a training run reads and writes, besides the recipe (see `train` for each field)."""

    data: str | os.PathLike[str] | None
    out_dir: str | os.PathLike[str]
    recipe: Recipe
    force: bool = False
    train_limit: int | None = None
    test_limit: int | None = None
    verbose: int | None = None
    command: str | None = None
    vocabulary: str = "own"
    word_index: str | os.PathLike[str] | None = None


@dataclass(frozen=True)
class Splits:
    """The reviews a run reads: where from, and the (possibly sampled) train and test sets."""

    path: Path
    train: Reviews
    test: Reviews


@dataclass(frozen=True)
class Fitted:
    """What fitting returns: the model to save (after any plain copy and fold) and its training figures."""

    model: Any
    history: dict[str, list[float]]
    fit_seconds: float
    fold: dict[str, Any] | None


def _read_word_index(path: str | os.PathLike[str] | None) -> dict[str, int]:
    if path is None:
        raise DataError("--vocabulary keras-imdb needs --word-index: the Keras IMDB word index (imdb_word_index.json)")
    index = read_json_file(path, "word index")
    if not isinstance(index, dict):
        raise DataError(f"{path} is not a word index (a JSON object of word -> rank)")
    return index


def _word_index(options: TrainOptions) -> dict[str, int] | None:
    """The Keras word index for the keras-imdb vocabulary (None for our own), refusing what cannot run."""
    if options.vocabulary not in VOCABULARIES:
        raise DataError(f"unknown vocabulary {options.vocabulary!r}; choose one of {', '.join(VOCABULARIES)}")
    if options.vocabulary == "keras-imdb" and options.recipe.word2vec_epochs:
        raise DataError(_WORD2VEC_NEEDS_OWN)
    return _read_word_index(options.word_index) if options.vocabulary == "keras-imdb" else None


def _shuffle(n: int, recipe: Recipe) -> tuple[np.random.Generator, np.ndarray, int]:
    """The seeded generator, the order of the n reviews it draws first, and how many of the last are held out."""
    rng = np.random.default_rng(recipe.seed)
    return rng, rng.permutation(n), int(round(n * recipe.validation_split))


def validation_rows(n: int, recipe: Recipe) -> np.ndarray:
    """Indices of the reviews prepare_training_data holds out for validation (the tail of a seeded shuffle)."""
    _, order, n_val = _shuffle(n, recipe)
    return order[n - n_val :]


def validation_by_length(model: Any, tokenizer: TokenizerBase, reviews: Reviews, rows: np.ndarray) -> dict[str, float]:
    """A Keras model's accuracy on the validation reviews, whole and cut to their first or last k words
    (the same cuts as `edge-sentiment evaluate` makes of the test set)."""
    labels = np.asarray([reviews.labels[i] for i in rows], dtype=np.float32)
    out = {}
    for name, cut in text_variants().items():
        x = tokenizer.encode_batch([cut(reviews.texts[i]) for i in rows])
        p = model.predict(x, batch_size=EVALUATE_BATCH, verbose=0)[:, 0]
        out[name] = round(score_figures(p, labels)["accuracy"], 4)
    return out


def prepare_training_data(reviews: Reviews, tokenizer: TokenizerBase, recipe: Recipe) -> dict[str, np.ndarray]:
    """Token ids and labels: shuffled (seeded), a validation tail held out, crops added to training only."""
    rng, order, n_val = _shuffle(len(reviews), recipe)
    ids = [tokenizer.encode(reviews.texts[i]) for i in order]
    labels = np.asarray([reviews.labels[i] for i in order], dtype=np.float32)
    train_ids, val_ids = ids[: len(ids) - n_val], ids[len(ids) - n_val :]
    y_train, y_val = labels[: len(ids) - n_val], labels[len(ids) - n_val :]
    n_crops = int(round(len(train_ids) * recipe.crop_fraction))
    if n_crops:
        crops, crop_labels = [], []
        for row in rng.integers(0, len(train_ids), size=n_crops):
            source = train_ids[row]
            k = int(rng.integers(recipe.crop_min_words, recipe.crop_max_words + 1))
            start = int(rng.integers(0, max(len(source) - k, 0) + 1))
            crops.append(source[start : start + k])
            crop_labels.append(y_train[row])
        train_ids = train_ids + crops
        y_train = np.concatenate([y_train, np.asarray(crop_labels, dtype=np.float32)])
    out = {"x_train": pad_ids(train_ids, tokenizer.max_len), "y_train": y_train}
    if n_val:
        out.update(x_val=pad_ids(val_ids, tokenizer.max_len), y_val=y_val)
    return out


def _load_splits(options: TrainOptions) -> Splits:
    """The IMDB train and test reviews, each cut to a balanced sample when a limit is given."""
    path = resolve_data_path(options.data)
    splits = load_imdb(path)
    train_set, test_set = splits["train"], splits["test"]
    if options.train_limit:
        train_set = train_set.subset(options.train_limit, seed=options.recipe.seed)
    if options.test_limit:
        test_set = test_set.subset(options.test_limit, seed=options.recipe.seed)
    return Splits(path, train_set, test_set)


def _make_tokenizer(recipe: Recipe, index: dict[str, int] | None, train_set: Reviews) -> TokenizerBase:
    """Our tokenizer fit on the training reviews, or the Keras IMDB ids from the word index."""
    if index is None:
        return Tokenizer.fit(train_set.texts, vocab_size=recipe.vocab_size, max_len=recipe.max_len)
    return KerasImdbTokenizer(index, num_words=recipe.vocab_size, max_len=recipe.max_len)


def _pretrain_embedding(
    model: Any, recipe: Recipe, tokenizer: TokenizerBase, train_set: Reviews, rows: np.ndarray
) -> float | None:
    """Start the embedding from word2vec vectors of the training reviews (never the held-out ones);
    returns the seconds it took, None when the recipe asks for no pre-training."""
    if not recipe.word2vec_epochs:
        return None
    if not isinstance(tokenizer, Tokenizer):  # _word_index refuses word2vec with the Keras ids before any work
        raise DataError(_WORD2VEC_NEEDS_OWN)
    from .word2vec import pretrain_embedding

    started = time.perf_counter()
    held_out = set(rows.tolist())
    texts = [text for i, text in enumerate(train_set.texts) if i not in held_out]
    matrix = pretrain_embedding(texts, tokenizer, recipe.embedding_dim, recipe.word2vec_epochs, recipe.seed)
    model.get_layer("embedding").set_weights([matrix])
    return round(time.perf_counter() - started, 1)


def _callbacks(model: Any, recipe: Recipe, validated: bool) -> list[Any]:
    """The Keras callbacks the recipe asks for: learning-rate decay or its log, early stopping."""
    import keras

    callbacks: list[Any] = []
    if recipe.learning_rate_decay != 1.0:  # logs the rate each epoch used
        callbacks.append(
            keras.callbacks.LearningRateScheduler(lambda epoch: recipe.learning_rate * recipe.learning_rate_decay**epoch)
        )
    if recipe.learning_rate_schedule == "cosine":  # logs the rate reached at the end of each epoch

        def log_rate(epoch: int, logs: dict[str, Any]) -> None:
            logs["learning_rate"] = float(model.optimizer.learning_rate)

        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=log_rate))
    if recipe.early_stopping_patience and validated:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=recipe.early_stopping_patience, restore_best_weights=True)
        )
    return callbacks


def _fold(
    model: Any, recipe: Recipe, arrays: dict[str, np.ndarray], vocab_size: int, steps_per_epoch: int
) -> tuple[Any, dict[str, Any] | None]:
    """The model to save and the fold's figures: the folded model ships, so the test and by-length figures
    are its own (None: the recipe folds nothing)."""
    if not recipe.embedding_rank:
        return model, None
    from .fold import fold_embedding, id_counts

    validation = (arrays["x_val"], arrays["y_val"]) if "x_val" in arrays else None
    counts = id_counts(arrays["x_train"], vocab_size)
    wide = model.evaluate(*validation, batch_size=EVALUATE_BATCH, verbose=0) if validation else None
    model, error = fold_embedding(model, recipe, counts, steps_per_epoch)
    narrow = model.evaluate(*validation, batch_size=EVALUATE_BATCH, verbose=0) if validation else None
    pair = None if wide is None or narrow is None else {"wide": wide, "folded": narrow}  # each [loss, accuracy]
    return model, {
        "width": recipe.embedding_dim,
        "rank": recipe.embedding_rank,
        "relative_error": round(error, 4),
        "validation_loss": None if pair is None else {k: v[0] for k, v in pair.items()},
        "validation_accuracy": None if pair is None else {k: v[1] for k, v in pair.items()},
    }


def _fit(
    model: Any, recipe: Recipe, arrays: dict[str, np.ndarray], tokenizer: TokenizerBase, steps_per_epoch: int, verbose: int
) -> Fitted:
    """Fit the model, then make the model that is saved: Keras's own LSTM/GRU and the fold, if any."""
    from .model import build_model

    validation = (arrays["x_val"], arrays["y_val"]) if "x_val" in arrays else None
    started = time.perf_counter()
    history = model.fit(
        arrays["x_train"],
        arrays["y_train"],
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        validation_data=validation,
        shuffle=True,
        callbacks=_callbacks(model, recipe, validation is not None),
        verbose=verbose,
    )
    fit_seconds = time.perf_counter() - started
    if recipe.dropout_masks == "step":  # the same weights in Keras's own LSTM/GRU: what is saved and exported
        from .stepdropout import plain_copy

        plain = build_model(recipe.with_overrides(dropout_masks="sequence"), tokenizer.vocab_size, steps_per_epoch)
        model = plain_copy(model, plain)
    model, fold = _fold(model, recipe, arrays, tokenizer.vocab_size, steps_per_epoch)
    return Fitted(model, history.history, fit_seconds, fold)


def _epochs_section(history: dict[str, list[float]], recipe: Recipe, validated: bool) -> dict[str, Any]:
    """Every epoch's figures, the epoch whose weights were kept, and its training figures."""
    epochs = []
    for i in range(len(history["loss"])):
        row: dict[str, float] = {"epoch": i + 1}
        for key, values in history.items():
            row[key] = float(values[i])
        epochs.append(row)
    # EarlyStopping(restore_best_weights=True) keeps the epoch of lowest validation loss.
    early_stopping = recipe.early_stopping_patience and validated
    kept = int(min(epochs, key=lambda e: e["val_loss"])["epoch"]) if early_stopping else len(epochs)
    return {"epochs": epochs, "best_epoch": kept, "train": epochs[kept - 1]}


def _data_section(splits: Splits) -> dict[str, Any]:
    """Where the reviews came from and the checksums of what was read."""
    return {
        "path": str(splits.path),
        "archive_sha256": sha256_file(splits.path) if splits.path.is_file() else None,
        "train_sha256": splits.train.checksum(),
        "test_sha256": splits.test.checksum(),
    }


def build_metrics(
    options: TrainOptions,
    splits: Splits,
    arrays: dict[str, np.ndarray],
    fitted: Fitted,
    test: tuple[float, float],
    by_length: dict[str, float] | None,
    word2vec_seconds: float | None,
    started: float,
) -> dict[str, Any]:
    """metrics.json: every stage's figures in one record (test: (loss, accuracy) of the model saved;
    started: the run's perf_counter start, for its wall time)."""
    recipe = options.recipe
    epochs = _epochs_section(fitted.history, recipe, "x_val" in arrays)
    return {
        "recipe": recipe.to_dict(),
        "epochs": epochs["epochs"],
        "train_accuracy": epochs["train"]["accuracy"],  # of the epoch whose weights were kept
        "train_loss": epochs["train"]["loss"],
        "test_accuracy": float(test[1]),
        "test_loss": float(test[0]),
        "train_reviews": len(splits.train),
        "train_examples": int(len(arrays["y_train"])),
        "validation_reviews": int(len(arrays.get("y_val", []))),
        "best_epoch": epochs["best_epoch"],
        "validation_accuracy_by_length": by_length,  # of the weights kept; for choosing recipes
        "embedding_fold": fitted.fold,  # the wide embedding's fold to embedding_rank (None: no fold)
        "test_reviews": len(splits.test),
        "data": _data_section(splits),
        "vocabulary": options.vocabulary,
        "seed": recipe.seed,
        "fit_seconds": round(fitted.fit_seconds, 1),
        "word2vec_seconds": word2vec_seconds,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "versions": tool_versions(),
        "command": options.command,
    }


def _write_run(options: TrainOptions, model: Any, tokenizer: TokenizerBase, metrics: dict[str, Any]) -> None:
    """The run folder, written whole or not at all."""
    with atomic_folder(options.out_dir, force=options.force, what="run folder") as tmp:
        model.save(tmp / "model.keras")
        tokenizer.save(tmp / "tokenizer.json")
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")


def run_training(options: TrainOptions) -> dict[str, Any]:
    """Train and evaluate one recipe as `options` say; returns the metrics written to metrics.json."""
    import keras
    import tensorflow as tf

    from .model import build_model

    started = time.perf_counter()
    recipe = options.recipe
    check_target(options.out_dir, force=options.force, what="run folder")
    index = _word_index(options)
    splits = _load_splits(options)

    keras.utils.set_random_seed(recipe.seed)
    tf.config.experimental.enable_op_determinism()
    tokenizer = _make_tokenizer(recipe, index, splits.train)
    arrays = prepare_training_data(splits.train, tokenizer, recipe)
    x_test = tokenizer.encode_batch(splits.test.texts)
    y_test = np.asarray(splits.test.labels, dtype=np.float32)

    rows = validation_rows(len(splits.train), recipe)  # the reviews held out of training
    steps_per_epoch = -(-len(arrays["y_train"]) // recipe.batch_size)
    model = build_model(recipe, vocab_size=tokenizer.vocab_size, steps_per_epoch=steps_per_epoch)
    word2vec_seconds = _pretrain_embedding(model, recipe, tokenizer, splits.train, rows)
    verbose = (1 if sys.stdout.isatty() else 2) if options.verbose is None else options.verbose
    fitted = _fit(model, recipe, arrays, tokenizer, steps_per_epoch, verbose)
    test = fitted.model.evaluate(x_test, y_test, batch_size=EVALUATE_BATCH, verbose=verbose)
    by_length = validation_by_length(fitted.model, tokenizer, splits.train, rows) if len(rows) else None
    metrics = build_metrics(options, splits, arrays, fitted, (test[0], test[1]), by_length, word2vec_seconds, started)
    _write_run(options, fitted.model, tokenizer, metrics)
    return metrics


def train(
    data: str | os.PathLike[str] | None,
    out_dir: str | os.PathLike[str],
    recipe: Recipe,
    *,
    force: bool = False,
    train_limit: int | None = None,
    test_limit: int | None = None,
    verbose: int | None = None,
    command: str | None = None,
    vocabulary: str = "own",
    word_index: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Train and evaluate one recipe; returns the metrics written to metrics.json.

    vocabulary "own": our tokenizer, fit on the training reviews (the recipe's vocab_size words);
    "keras-imdb": the ids of keras.datasets.imdb.load_data(num_words=vocab_size), from the Keras word
    index at word_index, as the lab trained on (the run's tokenizer.json is that tokenizer).
    verbose: Keras's fit/evaluate verbosity (None: a progress bar on a terminal, a line an epoch else).
    """
    options = TrainOptions(data, out_dir, recipe, force, train_limit, test_limit, verbose, command, vocabulary, word_index)
    return run_training(options)
