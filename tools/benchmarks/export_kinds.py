"""Export a model of each tokenizer kind users arrive with, trained here on real IMDB reviews, and tabulate
what the exporter's gates measured: the table in docs/tokenizers.md comes from this script.

Each model is a small Embedding -> LSTM -> Dense(sigmoid) trained for one epoch on a few thousand
training reviews with the kind's own tokenizer (Keras TextVectorization, tf-keras's classic Tokenizer,
keras.datasets.imdb ids rebuilt from the raw archive), saved, then exported by the real command line:
`edge-sentiment export MODEL --out BUNDLE --data DATA --json [tokenizer options]`. The bundle is then
scored from raw text with the Predictor on test reviews.

Run: python tools/benchmarks/export_kinds.py --data ../shared/data/aclImdb.tar.gz [--doc docs/tokenizers.md]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _docs import run_export, write_between, write_rows  # tools/benchmarks/_docs.py, beside this script

ROOT = Path(__file__).resolve().parents[2]  # the project's root: this file is in tools/benchmarks/


def _model(text_layer: Any, vocab: int, length: int) -> Any:
    import keras

    if text_layer is not None:
        inputs = keras.Input(shape=(1,), dtype="string")
        x = text_layer(inputs)
    else:
        inputs = x = keras.Input(shape=(length,), dtype="int32")
    x = keras.layers.Embedding(vocab, 32)(x)
    x = keras.layers.LSTM(32)(x)
    model = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid")(x))
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return model


def build_cases(data: Path, keras_imdb_dir: Path, work: Path, n_train: int, length: int, vocab: int) -> list[dict[str, Any]]:
    """Train and save one model per case; returns what to export and how it was made."""
    import keras
    import tensorflow as tf
    from tf_keras.preprocessing.sequence import pad_sequences
    from tf_keras.preprocessing.text import Tokenizer as Keras2Tokenizer

    from edge_sentiment.data import keras_imdb, load_imdb

    train = load_imdb(data, splits=("train",))["train"].subset(n_train, seed=1)
    texts, labels = train.texts, np.asarray(train.labels)
    cases = []

    for standardize, split in (
        ("lower_and_strip_punctuation", "whitespace"),
        ("lower", "whitespace"),
        (None, "whitespace"),
        ("lower_and_strip_punctuation", "character"),
    ):
        keras.utils.set_random_seed(7)
        size = vocab if split == "whitespace" else 128
        layer = keras.layers.TextVectorization(
            max_tokens=size,
            standardize=standardize,
            split=split,
            output_sequence_length=length if split == "whitespace" else 4 * length,
        )
        layer.adapt(texts)
        model = _model(layer, size, length)
        model.fit(tf.constant(texts)[:, None], labels, epochs=1, batch_size=64, verbose=0)
        path = work / f"tv-{standardize}-{split}.keras"
        model.save(path)
        cases.append(
            {
                "kind": "keras-text-vectorization",
                "model": f"TextVectorization(standardize={standardize!r}, split={split!r}) inside the model",
                "path": path,
                "options": [],
            }
        )

    for padding in ("pre", "post"):
        keras.utils.set_random_seed(7)
        classic = Keras2Tokenizer(num_words=vocab, oov_token="<OOV>")
        classic.fit_on_texts(texts)
        tok_path = work / f"classic-{padding}.json"
        tok_path.write_text(classic.to_json(), encoding="utf-8")
        model = _model(None, vocab, length)
        x = pad_sequences(classic.texts_to_sequences(texts), maxlen=length, padding=padding, truncating=padding)
        model.fit(x, labels, epochs=1, batch_size=64, verbose=0)
        path = work / f"classic-{padding}.keras"
        model.save(path)
        cases.append(
            {
                "kind": "keras-tokenizer",
                "model": f"tf-keras Tokenizer(num_words={vocab}, oov_token), "
                f"pad_sequences(padding={padding!r}, truncating={padding!r})",
                "path": path,
                "options": ["--tokenizer", str(tok_path), "--padding", padding, "--truncating", padding],
            }
        )

    keras.utils.set_random_seed(7)
    index = keras_imdb_dir / "imdb_word_index.json"
    (x_all, y_all), _ = keras_imdb(data, word_index=index, num_words=vocab)
    model = _model(None, vocab, length)
    model.fit(pad_sequences(list(x_all[:n_train]), maxlen=length), y_all[:n_train], epochs=1, batch_size=64, verbose=0)
    path = work / "keras-imdb.keras"
    model.save(path)
    cases.append(
        {
            "kind": "keras-imdb",
            "model": f"keras.datasets.imdb ids (num_words={vocab}), rebuilt from the raw archive, pad_sequences defaults",
            "path": path,
            "options": ["--word-index", str(index)],
            "keras_ids": lambda texts: pad_sequences(texts, maxlen=length),
        }
    )
    return cases


def score(bundle: Path, data: Path, n: int) -> float:
    from edge_sentiment import Predictor
    from edge_sentiment.data import load_imdb

    test = load_imdb(data, splits=("test",))["test"].subset(n, seed=2)
    p = Predictor.load(bundle).predict_proba(test.texts)
    return float(np.mean((p >= 0.5) == np.asarray(test.labels)))


def render(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"Made by `python tools/benchmarks/export_kinds.py --data $DATA --doc docs/tokenizers.md` on {meta['date']} "
        f"({meta['train_reviews']} training reviews, 1 epoch, Embedding(·, 32) → LSTM(32) → Dense; parity on "
        f"{meta['samples']} IMDB test reviews plus the rule texts; accuracy of the bundle from raw text on "
        f"{meta['test_reviews']} other test reviews; {meta['versions']}).",
        "",
        "| kind | the model | gates | parity on ids, max \\|Δp\\| | tokenizer = original "
        "| from raw strings, max \\|Δp\\| (labels) | pad skip | bundle accuracy |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        m = row["manifest"]
        if "error" in m:
            lines.append(f"| `{row['kind']}` | {row['model']} | refused: {m['error']} | | | | | |")
            continue
        parity = m["parity"]
        tok = parity.get("tokenizer")
        text = parity.get("from_text") or row.get("from_text")
        gates = sum(g.startswith("✓") for g in m["gates"])
        lines.append(
            f"| `{row['kind']}` | {row['model']} | {gates}/{len(m['gates'])} ✓ | {parity['runtime']['max_abs_diff']:.1e} | "
            + (f"{tok['identical']}/{tok['texts']}" if tok else "no original at hand")
            + " | "
            + (f"{text['max_abs_diff']:.1e} ({text['labels_agreeing']}/{text['samples']})" if text else "")
            + " | "
            + ("on" if m["model"]["padding_skip"] else f"off ({m['model']['padding']}-padded)")
            + f" | {row['accuracy']:.3f} |"
        )
    lines += ["", "The commands, as run (`$WORK` the script's temporary folder):", ""]
    lines += [f"- `{row['command']}`" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--keras-imdb", type=Path, default=None, help="Folder with imdb_word_index.json. Default: beside --data.")
    parser.add_argument("--train-reviews", type=int, default=4000)
    parser.add_argument("--test-reviews", type=int, default=2000)
    parser.add_argument("--parity-samples", type=int, default=1000)
    parser.add_argument("--max-len", type=int, default=200)
    parser.add_argument("--vocab", type=int, default=5000)
    parser.add_argument("--json-file", type=Path, default=None, help="Also write every figure as JSON here.")
    parser.add_argument("--doc", type=Path, default=None, help="Rewrite the table between the markers of this file.")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from edge_sentiment._meta import tool_versions
    from edge_sentiment.data import keras_imdb_texts

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        cases = build_cases(
            args.data, args.keras_imdb or args.data.parent / "keras-imdb", work, args.train_reviews, args.max_len, args.vocab
        )
        for i, case in enumerate(cases):
            out = work / f"bundle-{i}"
            manifest, command, seconds = run_export(case["path"], out, args.data, args.parity_samples, case["options"])
            row = {
                "kind": case["kind"],
                "model": case["model"],
                "command": command,
                "manifest": manifest,
                "export_seconds": round(seconds, 1),
            }
            if "error" not in manifest:
                row["accuracy"] = score(out, args.data, args.test_reviews)
                if "keras_ids" in case:  # no original tokenizer at export: Keras on load_data's ids here
                    import keras

                    from edge_sentiment import Predictor
                    from edge_sentiment.data import keras_imdb
                    from edge_sentiment.export.gates import parity_figures

                    texts = keras_imdb_texts(args.data)["test"][0][: args.parity_samples]
                    _, (x_test, _) = keras_imdb(args.data, word_index=case["options"][1], num_words=args.vocab)
                    keras_p = keras.models.load_model(case["path"]).predict(
                        case["keras_ids"](list(x_test[: len(texts)])), verbose=0
                    )
                    row["from_text"] = parity_figures(keras_p, Predictor.load(out).predict_proba(texts))
            print(
                f"{case['kind']}: {case['model']}: {'refused' if 'error' in manifest else 'exported'} in {seconds:.0f} s",
                file=sys.stderr,
            )
            rows.append(row)
    versions = tool_versions()
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "train_reviews": args.train_reviews,
        "test_reviews": args.test_reviews,
        "samples": args.parity_samples,
        "versions": ", ".join(f"{k} {versions[k]}" for k in ("tensorflow", "keras", "tf2onnx", "onnxruntime") if k in versions),
    }
    table = render(rows, meta)
    print(table)
    if args.json_file:
        write_rows(args.json_file, meta, rows, drop=("manifest",))
    if args.doc:
        write_between(args.doc, "export_kinds", table)


if __name__ == "__main__":
    main()
