"""Remake tests/assets: a tiny run and bundle made by the project's own train and export (no IMDB data),
and a tiny bundle of each Keras tokenizer kind (tests/assets/kinds/<kind>), trained here and exported.

A synthetic archive in the aclImdb layout (seeded; positive and negative word lists over filler text)
goes through the real `train` and `export`, so the committed assets are exactly what the tools write.
Run: make test-assets
"""

from __future__ import annotations

import io
import random
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the project's root: this file is in tools/maintenance/
ASSETS = ROOT / "tests" / "assets"
GOOD = "good great wonderful brilliant moving superb excellent loved beautiful best".split()
BAD = "bad awful boring terrible dull worst hated stupid poor waste".split()
FILLER = ("the a film movie story actor plot scene was is and it this of to in director cast music ending character time").split()


def synthetic_review(rng: random.Random, positive: bool) -> str:
    words = [rng.choice(FILLER) for _ in range(rng.randint(5, 60))]
    for _ in range(rng.randint(1, 4)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(GOOD if positive else BAD))
    return " ".join(words).capitalize() + ".<br /><br />"


def write_archive(path: Path, per_class: int = 200, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            for polarity in ("pos", "neg"):
                for i in range(per_class):
                    data = synthetic_review(rng, polarity == "pos").encode()
                    info = tarfile.TarInfo(f"aclImdb/{split}/{polarity}/{i}_{8 if polarity == 'pos' else 2}.txt")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return path


def main() -> None:
    from edge_sentiment.export.exporter import export_bundle
    from edge_sentiment.train.recipes import Recipe
    from edge_sentiment.train.trainer import train

    recipe = Recipe(
        name="tiny",
        vocab_size=32,
        max_len=40,
        embedding_dim=8,
        lstm_units=8,
        epochs=20,
        batch_size=16,
        learning_rate=0.01,
        dropout=0.0,
        recurrent_dropout=0.2,
        seed=7,
    )
    with tempfile.TemporaryDirectory() as tmp:
        archive = write_archive(Path(tmp) / "synthetic.tar.gz")
        run = ASSETS / "tiny_run"
        metrics = train(archive, run, recipe, force=True, verbose=0, command="tools/maintenance/make_test_assets.py")
        export_bundle(
            run,
            ASSETS / "tiny_bundle",
            parity_samples=200,
            data=archive,
            force=True,
            command="tools/maintenance/make_test_assets.py",
            text_model=True,  # measured on the synthetic archive's test split here
            text_fuzz=100_000,
        )
    # The run records where the temporary archive was; keep the assets free of machine paths.
    for folder in ("tiny_run", "tiny_bundle"):
        for name in ("metrics.json", "manifest.json"):
            path = ASSETS / folder / name
            if path.exists():
                path.write_text(path.read_text().replace(str(archive), "synthetic.tar.gz"))
        kinds = make_kind_bundles(archive)
        make_shape_bundles(archive)
    print(f"test accuracy {metrics['test_accuracy']:.3f}; wrote {ASSETS}/tiny_run and tiny_bundle")
    for kind, accuracy in kinds.items():
        print(f"{kind}: training accuracy {accuracy:.3f}; wrote {ASSETS}/kinds/{kind}")
    print(f"wrote {ASSETS}/shapes")


def make_shape_bundles(archive: Path) -> None:
    """A tiny bundle of each way the runtime feeds a model: a GRU (pads fed), a masked LSTM (no pads),
    three classes (the pad skip, a softmax), on the tiny run's tokenizer."""
    import keras
    import numpy as np

    from edge_sentiment.data import load_imdb
    from edge_sentiment.export.exporter import export_bundle
    from edge_sentiment.runtime.tokenizer import Tokenizer

    tok_path = ASSETS / "tiny_run" / "tokenizer.json"
    tok = Tokenizer.load(tok_path)
    train = load_imdb(archive)["train"]
    x, y = tok.encode_batch(train.texts), np.asarray(train.labels)
    y3 = np.asarray([i % 3 if label else 0 for i, label in enumerate(train.labels)])
    L = keras.layers
    shapes = {
        "gru": ([L.Embedding(tok.vocab_size, 8), L.GRU(8), L.Dense(1, activation="sigmoid")], y, None),
        "masked-lstm": ([L.Embedding(tok.vocab_size, 8, mask_zero=True), L.LSTM(8), L.Dense(1, activation="sigmoid")], y, None),
        "three-class": (
            [L.Embedding(tok.vocab_size, 8), L.LSTM(8), L.Dense(3, activation="softmax")],
            y3,
            ["bad", "good", "great"],
        ),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for name, (layers, labels, names) in shapes.items():
            keras.utils.set_random_seed(7)
            model = keras.Sequential([keras.Input(shape=(tok.max_len,), dtype="int32"), *layers])
            model.compile(
                keras.optimizers.Adam(0.01), "binary_crossentropy" if names is None else "sparse_categorical_crossentropy"
            )
            model.fit(x, labels, epochs=6, batch_size=16, verbose=0)
            model.save(Path(tmp) / f"{name}.keras")
            export_bundle(
                Path(tmp) / f"{name}.keras",
                ASSETS / "shapes" / name,
                tokenizer=tok_path,
                labels=names,
                parity_samples=64,
                data=archive,
                force=True,
                command="tools/maintenance/make_test_assets.py",
            )


def make_kind_bundles(archive: Path, max_len: int = 40, vocab: int = 32) -> dict[str, float]:
    """Train a tiny Embedding -> LSTM -> Dense model on each Keras tokenizer kind's ids and export it."""
    import json

    import keras
    import numpy as np
    import tensorflow as tf
    from tf_keras.preprocessing.sequence import pad_sequences
    from tf_keras.preprocessing.text import Tokenizer as Keras2Tokenizer

    from edge_sentiment.data import load_imdb
    from edge_sentiment.export.exporter import TokenizerOptions, export_bundle
    from edge_sentiment.runtime.keras_tokenizers import keras_imdb_words

    train = load_imdb(archive)["train"]
    texts, labels = train.texts, np.asarray(train.labels)

    def lstm(x: Any) -> Any:
        return keras.layers.Dense(1, activation="sigmoid")(keras.layers.LSTM(8)(keras.layers.Embedding(vocab, 8)(x)))

    def fit(model: Any, x: Any) -> float:
        model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
        return float(model.fit(x, labels, epochs=8, batch_size=16, verbose=0).history["accuracy"][-1])

    accuracy = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        keras.utils.set_random_seed(7)
        layer = keras.layers.TextVectorization(max_tokens=vocab, output_sequence_length=max_len)
        layer.adapt(texts)
        text = keras.Input(shape=(1,), dtype="string")
        model = keras.Model(text, lstm(layer(text)))
        accuracy["keras-text-vectorization"] = fit(model, tf.constant(texts)[:, None])
        model.save(work / "tv.keras")
        export_bundle(
            work / "tv.keras",
            ASSETS / "kinds" / "keras-text-vectorization",
            parity_samples=64,
            data=archive,
            force=True,
            command="tools/maintenance/make_test_assets.py",
        )

        keras.utils.set_random_seed(7)
        classic = Keras2Tokenizer(num_words=vocab, oov_token="<OOV>")
        classic.fit_on_texts(texts)
        (work / "tokenizer.json").write_text(classic.to_json(), encoding="utf-8")
        tokens = keras.Input(shape=(max_len,), dtype="int32")
        model = keras.Model(tokens, lstm(tokens))
        accuracy["keras-tokenizer"] = fit(model, pad_sequences(classic.texts_to_sequences(texts), maxlen=max_len))
        model.save(work / "classic.keras")
        export_bundle(
            work / "classic.keras",
            ASSETS / "kinds" / "keras-tokenizer",
            parity_samples=64,
            data=archive,
            force=True,
            tokenizer=work / "tokenizer.json",
            command="tools/maintenance/make_test_assets.py",
        )

        keras.utils.set_random_seed(7)
        counts: dict[str, int] = {}
        for t in texts:
            for w in keras_imdb_words(t):
                counts[w] = counts.get(w, 0) + 1
        index = {w: r for r, (w, _) in enumerate(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])), start=1)}
        (work / "word_index.json").write_text(json.dumps(index), encoding="utf-8")
        ids = [[1] + [index[w] + 3 if index[w] + 3 < vocab else 2 for w in keras_imdb_words(t)] for t in texts]
        model = keras.Model(tokens, lstm(tokens))
        accuracy["keras-imdb"] = fit(model, pad_sequences(ids, maxlen=max_len))
        model.save(work / "imdb.keras")
        export_bundle(
            work / "imdb.keras",
            ASSETS / "kinds" / "keras-imdb",
            parity_samples=64,
            data=archive,
            force=True,
            tokenizer_options=TokenizerOptions(word_index=work / "word_index.json"),
            command="tools/maintenance/make_test_assets.py",
        )
    return accuracy


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
