"""Validation loss of a wide run folded to several embedding widths: how `better`'s rank was chosen.

Folds the run's model with the same code `train --embedding-rank` uses (edge_sentiment/train/fold.py,
the same word counts from the same training arrays) and scores the wide model and every fold on the
run's own validation split (never the test set). One JSON line per width.

    python tools/experiments/fold_sweep.py --run runs/large-e256-s7 --ranks 8,16,24,32,40 [--data aclImdb.tar.gz]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, type=Path, help="run folder of a model trained without a fold")
    parser.add_argument("--ranks", default="8,16,24,32,40", help="comma-separated widths to fold to")
    parser.add_argument("--data", default=None, help="the aclImdb .tar.gz (default: $EDGE_SENTIMENT_DATA)")
    args = parser.parse_args()
    ranks = [int(r) for r in args.ranks.split(",")]

    import keras

    import edge_sentiment.train.pooling  # noqa: F401  (registers the WordPooling layer)
    from edge_sentiment.data import load_imdb, resolve_data_path
    from edge_sentiment.runtime.tokenizer import Tokenizer
    from edge_sentiment.train.fold import fold_embedding, id_counts
    from edge_sentiment.train.recipes import Recipe
    from edge_sentiment.train.trainer import prepare_training_data

    metrics = json.loads((args.run / "metrics.json").read_text(encoding="utf-8"))
    recipe = Recipe(**metrics["recipe"])
    if recipe.embedding_rank or not recipe.validation_split:
        raise SystemExit(f"{args.run}: needs a run trained without a fold and with a validation split")
    train_set = load_imdb(resolve_data_path(args.data), splits=("train",))["train"]
    tokenizer = Tokenizer.load(args.run / "tokenizer.json")
    arrays = prepare_training_data(train_set, tokenizer, recipe)  # the run's own seeded split and crops
    counts = id_counts(arrays["x_train"], tokenizer.vocab_size)
    model = keras.saving.load_model(args.run / "model.keras")

    def score(m: object) -> dict[str, float]:
        loss, accuracy = m.evaluate(arrays["x_val"], arrays["y_val"], batch_size=256, verbose=0)  # type: ignore[attr-defined]
        return {"val_loss": round(loss, 4), "val_accuracy": round(accuracy, 4)}

    print(json.dumps({"run": str(args.run), "width": recipe.embedding_dim, **score(model)}), flush=True)
    for rank in ranks:
        folded, error = fold_embedding(model, recipe.with_overrides(embedding_rank=rank), counts, steps_per_epoch=1)
        print(json.dumps({"run": str(args.run), "rank": rank, "relative_error": round(error, 4), **score(folded)}), flush=True)


if __name__ == "__main__":
    main()
