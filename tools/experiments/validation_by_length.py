"""Validation accuracy of a run, whole reviews and reviews cut to their first or last 10, 20, 50 words.

`edge-sentiment train` writes these figures into a run's metrics.json ("validation_accuracy_by_length")
when its recipe holds out a validation split; this script computes them for a run trained before that,
from the run's own recipe (the same seeded split) and its Keras model. They are for choosing recipes
on short texts without looking at the test set.

    python tools/experiments/validation_by_length.py --run runs/better [--data ../shared/data/aclImdb.tar.gz]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, type=Path, help="run folder written by edge-sentiment train")
    parser.add_argument("--data", default=None, help="the aclImdb .tar.gz (default: $EDGE_SENTIMENT_DATA)")
    args = parser.parse_args()

    import keras

    from edge_sentiment.data import load_imdb, resolve_data_path
    from edge_sentiment.runtime.tokenizer import Tokenizer
    from edge_sentiment.train.recipes import Recipe
    import edge_sentiment.train.pooling  # noqa: F401  (registers the WordPooling layer)
    from edge_sentiment.train.trainer import validation_by_length, validation_rows

    metrics = json.loads((args.run / "metrics.json").read_text(encoding="utf-8"))
    recipe = Recipe(**metrics["recipe"])
    train_set = load_imdb(resolve_data_path(args.data), splits=("train",))["train"]
    if metrics["train_reviews"] != len(train_set) or not recipe.validation_split:
        raise SystemExit(f"{args.run} was not trained on the whole training set with a validation split")
    rows = validation_rows(len(train_set), recipe)
    if len(rows) != metrics["validation_reviews"]:
        raise SystemExit(f"{args.run}: {len(rows)} validation reviews here, {metrics['validation_reviews']} in training")
    model = keras.saving.load_model(args.run / "model.keras")
    tokenizer = Tokenizer.load(args.run / "tokenizer.json")
    figures = validation_by_length(model, tokenizer, train_set, rows)
    print(json.dumps({"run": str(args.run), "validation_reviews": len(rows), "accuracy": figures}))


if __name__ == "__main__":
    main()
