"""Build a tiny multi-label bundle (Dense(3, sigmoid) heads) with its text model, for the JS tests.

Run by js/test/heads.test.js with the project's Python: a Keras model trained here on an edge-sentiment
tokenizer's ids, exported by the real CLI with --text-model (gated on a small synthetic archive), and the
Python runtime's predictions of the probe texts written beside it for JS to match.
Usage: python multilabel_bundle.py OUT_DIR
"""

from __future__ import annotations

import io
import json
import sys
import tarfile
from pathlib import Path

import numpy as np

TEXTS = [
    "great acting and a wonderful plot",
    "the music was awful and boring",
    "brilliant music, great acting, a stupid plot",
    "a film",
    "",
    "wonderful wonderful music " * 40,
]
LABELS = ["acting", "plot", "music"]


def archive(path: Path) -> Path:
    """A few reviews in the aclImdb layout: the text model's gate reads every test review."""
    words = "great acting wonderful plot music awful boring brilliant stupid film the a".split()
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            for polarity in ("pos", "neg"):
                for i in range(20):
                    data = " ".join(rng.choice(words, size=int(rng.integers(3, 30)))).encode()
                    info = tarfile.TarInfo(f"aclImdb/{split}/{polarity}/{i}_{8 if polarity == 'pos' else 2}.txt")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return path


def main(out: Path) -> None:
    import keras

    from edge_sentiment import Predictor
    from edge_sentiment.cli import main as cli
    from edge_sentiment.runtime.tokenizer import Tokenizer

    out.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer.fit(TEXTS[:3] + ["great music plot acting film"], vocab_size=20, max_len=24)
    tok.save(out / "tokenizer.json")
    x = tok.encode_batch(TEXTS[:4] * 8)
    y = np.array([[1, 1, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0]] * 8, dtype=np.float32)
    keras.utils.set_random_seed(7)
    model = keras.Sequential(
        [
            keras.Input(shape=(24,), dtype="int32"),
            keras.layers.Embedding(tok.vocab_size, 8),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(3, activation="sigmoid"),
        ]
    )
    model.compile(keras.optimizers.Adam(0.1), "binary_crossentropy")
    model.fit(x, y, epochs=30, verbose=0)
    model.save(out / "model.keras")
    args = [str(out / "model.keras"), "--tokenizer", str(out / "tokenizer.json"), "--padding", "pre", "--truncating", "pre"]
    args += ["--labels", ",".join(LABELS), "--text-model", "--text-fuzz", "200", "--data", str(archive(out / "data.tar.gz"))]
    cli(["export", *args, "--parity-samples", "16", "--out", str(out / "bundle")], standalone_mode=False)
    predictor = Predictor.load(out / "bundle")
    rows = [
        {"probabilities": list(map(float, p.probabilities)), "labels": list(p.labels or ())} for p in predictor.predict(TEXTS)
    ]
    (out / "expected.json").write_text(json.dumps({"texts": TEXTS, "predictions": rows}), encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
