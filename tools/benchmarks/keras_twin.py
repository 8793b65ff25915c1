"""The shipped bundle's Keras model, rebuilt from the bundle's own weights, for `bench --compare keras`.

    python tools/benchmarks/keras_twin.py --data ../shared/data/aclImdb.tar.gz --out runs/keras-twin/model.keras

The run folder that trained the shipped bundle is not in the repository, so this rebuilds its model:
Embedding(10000, 16) -> Bidirectional(LSTM(64, return_sequences=True)) -> WordPooling("mean-max") ->
Dense(1, sigmoid), with every weight read from model.onnx (ONNX gates i, o, f, c become Keras's i, f, c,
o; ONNX's two bias halves are summed). It is saved only when it agrees with the bundle on the first
--check IMDB test reviews (max |dp| at most 1e-5, every label the same), the export's parity limit.
Needs the [train] extra.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np


def onnx_weights(bundle_path: str | None) -> dict[str, np.ndarray]:
    import onnx
    from onnx import numpy_helper

    from edge_sentiment.runtime.bundle import load_bundle

    model = onnx.load_from_string(load_bundle(bundle_path).model_bytes)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    lstm = next(n for n in model.graph.node if n.op_type == "LSTM")
    matmul = next(n for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in inits)
    add = next(n for n in model.graph.node if n.op_type == "Add" and n.input[0] == matmul.output[0])
    return {
        "embedding": inits["embedding"],
        "W": inits[lstm.input[1]],
        "R": inits[lstm.input[2]],
        "B": inits[lstm.input[3]],
        "dense_w": inits[matmul.input[1]],
        "dense_b": inits[add.input[1]],
    }


def keras_gates(onnx_rows: np.ndarray, units: int) -> np.ndarray:
    """ONNX's gate blocks (i, o, f, c) along axis 0, reordered to Keras's (i, f, c, o)."""
    i, o, f, c = (onnx_rows[k * units : (k + 1) * units] for k in range(4))
    return np.concatenate([i, f, c, o], axis=0)


def build(weights: dict[str, np.ndarray]) -> object:
    import keras

    from edge_sentiment.train.pooling import WordPooling

    rows, width = weights["embedding"].shape
    units = weights["R"].shape[2]
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = keras.layers.Embedding(rows, width, name="embedding")(tokens)
    bi = keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=True), name="bidirectional_lstm")
    x = bi(x)
    x = WordPooling("mean-max", name="pooling")([x, tokens])
    out = keras.layers.Dense(weights["dense_w"].shape[1], activation="sigmoid", name="probability")(x)
    model = keras.Model(tokens, out, name="sentiment_lstm")
    model.get_layer("embedding").set_weights([weights["embedding"]])
    per_direction = []
    for d in range(2):
        kernel = keras_gates(weights["W"][d], units).T
        recurrent = keras_gates(weights["R"][d], units).T
        bias = keras_gates(weights["B"][d][: 4 * units] + weights["B"][d][4 * units :], units)
        per_direction += [kernel, recurrent, bias]
    bi.set_weights(per_direction)  # forward layer's three, then the backward layer's
    model.get_layer("probability").set_weights([weights["dense_w"], weights["dense_b"]])
    return model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", default=None, help="default: the shipped bundle")
    parser.add_argument("--data", required=True, help="the aclImdb .tar.gz (the parity check's reviews)")
    parser.add_argument("--out", default="runs/keras-twin/model.keras")
    parser.add_argument("--check", type=int, default=1000, help="test reviews to compare on (default 1000)")
    args = parser.parse_args()

    from edge_sentiment import Predictor
    from edge_sentiment.data import load_imdb, resolve_data_path

    model = build(onnx_weights(args.bundle))
    predictor = Predictor.load(args.bundle, threads=2, fast=False)
    texts = load_imdb(resolve_data_path(args.data), splits=("test",))["test"].texts[: args.check]
    keras_p = model.predict(predictor.tokenizer.encode_batch(texts), batch_size=256, verbose=0)[:, 0]
    onnx_p = predictor.predict_proba(texts)
    worst = float(np.max(np.abs(keras_p - onnx_p)))
    agree = int(np.sum((keras_p >= 0.5) == (onnx_p >= 0.5)))
    print(f"Keras twin against the bundle on {len(texts)} test reviews: max |dp| {worst:.2e}, labels agree {agree}/{len(texts)}")
    if worst > 1e-5 or agree != len(texts):
        print("not the bundle's model: nothing saved", file=sys.stderr)
        return 1
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
