"""Train a recipe on raw IMDB text and write model.keras, tokenizer.json and metrics.json."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import numpy as np

from .._meta import tool_versions
from ..data import Reviews, load_imdb, resolve_data_path
from ..evaluate import score_figures, text_variants
from ..runtime.files import atomic_folder, check_target, sha256_file
from ..errors import DataError
from ..runtime.keras_tokenizers import KerasImdbTokenizer
from ..runtime.tokenizer import Tokenizer, TokenizerBase, pad_ids, read_json_file
from .recipes import Recipe

__all__ = ["train", "prepare_training_data", "validation_by_length", "validation_rows", "VOCABULARIES"]

VOCABULARIES = ("own", "keras-imdb")


def _read_word_index(path: str | os.PathLike[str] | None) -> dict[str, int]:
    if path is None:
        raise DataError("--vocabulary keras-imdb needs --word-index: the Keras IMDB word index (imdb_word_index.json)")
    index = read_json_file(path, "word index")
    if not isinstance(index, dict):
        raise DataError(f"{path} is not a word index (a JSON object of word -> rank)")
    return index


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
        p = model.predict(x, batch_size=256, verbose=0)[:, 0]
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
    """
    import keras
    import tensorflow as tf

    from .model import build_model

    started = time.perf_counter()
    check_target(out_dir, force=force, what="run folder")
    if vocabulary not in VOCABULARIES:
        raise DataError(f"unknown vocabulary {vocabulary!r}; choose one of {', '.join(VOCABULARIES)}")
    if vocabulary == "keras-imdb" and recipe.word2vec_epochs:
        raise DataError("word2vec pre-training (--word2vec-epochs) needs our own vocabulary; use --vocabulary own")
    index = _read_word_index(word_index) if vocabulary == "keras-imdb" else None
    data_path = resolve_data_path(data)
    splits = load_imdb(data_path)
    train_set, test_set = splits["train"], splits["test"]
    if train_limit:
        train_set = train_set.subset(train_limit, seed=recipe.seed)
    if test_limit:
        test_set = test_set.subset(test_limit, seed=recipe.seed)

    keras.utils.set_random_seed(recipe.seed)
    tf.config.experimental.enable_op_determinism()
    tokenizer: TokenizerBase
    if index is None:
        tokenizer = Tokenizer.fit(train_set.texts, vocab_size=recipe.vocab_size, max_len=recipe.max_len)
    else:
        tokenizer = KerasImdbTokenizer(index, num_words=recipe.vocab_size, max_len=recipe.max_len)
    arrays = prepare_training_data(train_set, tokenizer, recipe)
    x_test = tokenizer.encode_batch(test_set.texts)
    y_test = np.asarray(test_set.labels, dtype=np.float32)

    rows = validation_rows(len(train_set), recipe)  # the reviews held out of training
    steps_per_epoch = -(-len(arrays["y_train"]) // recipe.batch_size)
    model = build_model(recipe, vocab_size=tokenizer.vocab_size, steps_per_epoch=steps_per_epoch)
    word2vec_seconds = None
    if recipe.word2vec_epochs:
        from .word2vec import pretrain_embedding

        w2v_started = time.perf_counter()
        held_out = set(rows.tolist())
        texts = [text for i, text in enumerate(train_set.texts) if i not in held_out]
        matrix = pretrain_embedding(texts, tokenizer, recipe.embedding_dim, recipe.word2vec_epochs, recipe.seed)
        model.get_layer("embedding").set_weights([matrix])
        word2vec_seconds = round(time.perf_counter() - w2v_started, 1)
    callbacks = []
    if recipe.learning_rate_decay != 1.0:  # logs the rate each epoch used
        callbacks.append(
            keras.callbacks.LearningRateScheduler(lambda epoch: recipe.learning_rate * recipe.learning_rate_decay**epoch)
        )
    if recipe.learning_rate_schedule == "cosine":  # logs the rate reached at the end of each epoch

        def log_rate(epoch: int, logs: dict[str, Any]) -> None:
            logs["learning_rate"] = float(model.optimizer.learning_rate)

        callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=log_rate))
    validation = (arrays["x_val"], arrays["y_val"]) if "x_val" in arrays else None
    if recipe.early_stopping_patience and validation is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=recipe.early_stopping_patience, restore_best_weights=True)
        )
    if verbose is None:
        verbose = 1 if sys.stdout.isatty() else 2
    fit_started = time.perf_counter()
    history = model.fit(
        arrays["x_train"],
        arrays["y_train"],
        epochs=recipe.epochs,
        batch_size=recipe.batch_size,
        validation_data=validation,
        shuffle=True,
        callbacks=callbacks,
        verbose=verbose,
    )
    fit_seconds = time.perf_counter() - fit_started
    if recipe.dropout_masks == "step":  # the same weights in Keras's own LSTM/GRU: what is saved and exported
        from .stepdropout import plain_copy

        plain = build_model(recipe.with_overrides(dropout_masks="sequence"), tokenizer.vocab_size, steps_per_epoch)
        model = plain_copy(model, plain)
    fold = None
    if recipe.embedding_rank:  # the folded model ships: the test and by-length figures are its own
        from .fold import fold_embedding, id_counts

        counts = id_counts(arrays["x_train"], tokenizer.vocab_size)
        wide = model.evaluate(*validation, batch_size=256, verbose=0) if validation else None
        model, error = fold_embedding(model, recipe, counts, steps_per_epoch)
        narrow = model.evaluate(*validation, batch_size=256, verbose=0) if validation else None
        fold = {
            "width": recipe.embedding_dim,
            "rank": recipe.embedding_rank,
            "relative_error": round(error, 4),
            "validation_loss": None if wide is None else {"wide": wide[0], "folded": narrow[0]},
            "validation_accuracy": None if wide is None else {"wide": wide[1], "folded": narrow[1]},
        }
    test_loss, test_accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=verbose)
    by_length = validation_by_length(model, tokenizer, train_set, rows) if len(rows) else None

    epochs = []
    for i in range(len(history.history["loss"])):
        row = {"epoch": i + 1}
        for key, values in history.history.items():
            row[key] = float(values[i])
        epochs.append(row)
    # EarlyStopping(restore_best_weights=True) keeps the epoch of lowest validation loss.
    early_stopping = recipe.early_stopping_patience and validation is not None
    kept = min(epochs, key=lambda e: e["val_loss"])["epoch"] if early_stopping else len(epochs)
    metrics: dict[str, Any] = {
        "recipe": recipe.to_dict(),
        "epochs": epochs,
        "train_accuracy": epochs[kept - 1]["accuracy"],  # of the epoch whose weights were kept
        "train_loss": epochs[kept - 1]["loss"],
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "train_reviews": len(train_set),
        "train_examples": int(len(arrays["y_train"])),
        "validation_reviews": int(len(arrays.get("y_val", []))),
        "best_epoch": kept,
        "validation_accuracy_by_length": by_length,  # of the weights kept; for choosing recipes
        "embedding_fold": fold,  # the wide embedding's fold to embedding_rank (None: no fold)
        "test_reviews": len(test_set),
        "data": {
            "path": str(data_path),
            "archive_sha256": sha256_file(data_path) if data_path.is_file() else None,
            "train_sha256": train_set.checksum(),
            "test_sha256": test_set.checksum(),
        },
        "vocabulary": vocabulary,
        "seed": recipe.seed,
        "fit_seconds": round(fit_seconds, 1),
        "word2vec_seconds": word2vec_seconds,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "versions": tool_versions(),
        "command": command,
    }
    with atomic_folder(out_dir, force=force, what="run folder") as tmp:
        model.save(tmp / "model.keras")
        tokenizer.save(tmp / "tokenizer.json")
        (tmp / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n", encoding="utf-8")
    return metrics
