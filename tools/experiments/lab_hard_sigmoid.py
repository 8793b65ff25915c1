"""Experiment: the lab recipe with the LSTM gate activation of the lab's Keras (2.0-2.2): hard sigmoid.

Keras 2 before 2.3 defaulted to recurrent_activation="hard_sigmoid", clip(0.2 x + 0.5, 0, 1); Keras 3
defaults to the sigmoid (and its own hard_sigmoid has slope 1/6). This trains `lab` with Keras 2's
gate, to see whether that explains the lab's 0.8663 (it did not: seed 7 gave 0.8328, against 0.8360).
It writes a run folder like `edge-sentiment train` but is not a recipe: the model needs this script's
activation to load, so it is not exported.

    python tools/experiments/lab_hard_sigmoid.py --data ../shared/data/aclImdb.tar.gz --out runs/lab-hard-sigmoid [--seed 7]
"""

from __future__ import annotations

import argparse
import json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="the aclImdb .tar.gz (default: $EDGE_SENTIMENT_DATA)")
    parser.add_argument("--out", required=True, help="run folder to write")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    import keras
    from keras import ops

    from edge_sentiment.train.recipes import get_recipe
    from edge_sentiment.train.trainer import train

    @keras.saving.register_keras_serializable(package="experiment")
    def hard_sigmoid_keras2(x):  # type: ignore[no-untyped-def]
        return ops.clip(0.2 * x + 0.5, 0.0, 1.0)

    keras_lstm = keras.layers.LSTM

    def lstm(*a, **k):  # type: ignore[no-untyped-def]
        return keras_lstm(*a, recurrent_activation=hard_sigmoid_keras2, **k)

    keras.layers.LSTM = lstm  # build_model looks it up at call time
    metrics = train(
        args.data,
        args.out,
        get_recipe("lab").with_overrides(seed=args.seed),
        verbose=2,
        command="python tools/experiments/lab_hard_sigmoid.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items() if v),
    )
    print(json.dumps({k: metrics[k] for k in ("seed", "train_accuracy", "test_accuracy", "wall_seconds")}))


if __name__ == "__main__":
    main()
