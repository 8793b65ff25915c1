"""Export the model shapes and files users have, each trained here on real IMDB reviews, and tabulate what
the exporter measured, with batch-1 latency in one run: the table in docs/model-shapes.md comes from here.

Every model reads our own tokenizer's ids (fit on the training reviews; the post-padded one reads the same
vocabulary through a Keras `Tokenizer`-kind file that pads after the words), is trained for one epoch,
saved (the lab's shape by tf-keras as a Keras 2 .h5), and exported by the real command line:
`edge-sentiment export MODEL --tokenizer TOK --out BUNDLE --data DATA --parity-samples N --json`.
Batch-1 latency is session.run and tokenizing of one median-length test review, Predictor(threads=1),
in alternating rounds over all bundles of the run; the ratio is to the lab's .h5 bundle.

Run: python tools/benchmarks/export_shapes.py --data ../shared/data/aclImdb.tar.gz [--doc docs/model-shapes.md]
(--doc rewrites the whole table, so it takes every shape in one run; --only NAME,... tries some without it).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from _docs import run_export, write_between, write_rows  # tools/benchmarks/_docs.py, beside this script


# The int8 gate's limit here (points of accuracy): wide, so that the table shows each shape's loss.
INT8_MAX_LOSS = "5"
# The three-class model's classes by IMDB star rating, as export's int8 gate and evaluate are told.
THREE = ["--rating-classes", "1-4,7-8,9-10"]


def stars(rating: int) -> int:
    """IMDB ratings 1-4 / 7-8 / 9-10 as three classes."""
    return 0 if rating <= 4 else 1 if rating <= 8 else 2


def shapes(keras: Any, vocab: int) -> dict[str, tuple[str, Callable[[], list[Any]]]]:
    L = keras.layers
    return {
        "gru": (
            "Embedding(32) → GRU(64) → Dense(1, sigmoid)",
            lambda: [L.Embedding(vocab, 32), L.GRU(64), L.Dense(1, activation="sigmoid")],
        ),
        "stacked-bilstm-maxpool": (
            "Embedding(32) → BiLSTM(32, seq) → BiLSTM(32, seq) → GlobalMaxPooling1D → Dense(1)",
            lambda: [
                L.Embedding(vocab, 32),
                L.Bidirectional(L.LSTM(32, return_sequences=True)),
                L.Bidirectional(L.LSTM(32, return_sequences=True)),
                L.GlobalMaxPooling1D(),
                L.Dense(1, activation="sigmoid"),
            ],
        ),
        "masked-lstm": (
            "Embedding(32, mask_zero=True) → LSTM(64) → Dense(1)",
            lambda: [L.Embedding(vocab, 32, mask_zero=True), L.LSTM(64), L.Dense(1, activation="sigmoid")],
        ),
        "post-padded-bigru-maxpool": (
            "post-padded: Embedding(32) → BiGRU(32, seq) → GlobalMaxPooling1D → Dense(1)",
            lambda: [
                L.Embedding(vocab, 32),
                L.Bidirectional(L.GRU(32, return_sequences=True)),
                L.GlobalMaxPooling1D(),
                L.Dense(1, activation="sigmoid"),
            ],
        ),
        "three-class": (
            "Embedding(32) → LSTM(64) → Dense(32, relu) → Dense(3, softmax); stars 1-4 / 7-8 / 9-10",
            lambda: [L.Embedding(vocab, 32), L.LSTM(64), L.Dense(32, activation="relu"), L.Dense(3, activation="softmax")],
        ),
        "pooled-logits": (
            "TF's basic text classification: Embedding(32) → Dropout → GlobalAveragePooling1D → Dense(1) logits",
            lambda: [L.Embedding(vocab, 32), L.Dropout(0.2), L.GlobalAveragePooling1D(), L.Dense(1)],
        ),
        "cnn": (
            "Embedding(32) → Conv1D(64, 5, relu) → MaxPooling1D(2) → Conv1D(64, 5, relu) → GlobalMaxPooling1D → Dense(1)",
            lambda: [
                L.Embedding(vocab, 32),
                L.Conv1D(64, 5, activation="relu"),
                L.MaxPooling1D(2),
                L.Conv1D(64, 5, activation="relu"),
                L.GlobalMaxPooling1D(),
                L.Dense(1, activation="sigmoid"),
            ],
        ),
        "multi-label": (
            "multi-label: Embedding(32) → GlobalMaxPooling1D → Dense(2, sigmoid); positive / 9-10 stars",
            lambda: [L.Embedding(vocab, 32), L.GlobalMaxPooling1D(), L.Dense(2, activation="sigmoid")],
        ),
        "flatten": (
            "Embedding(16) → Flatten → Dense(1, sigmoid)",
            lambda: [L.Embedding(vocab, 16), L.Flatten(), L.Dense(1, activation="sigmoid")],
        ),
        "keras3-hard-sigmoid": (
            "Keras 3: Embedding(32) → LSTM(64, recurrent_activation='hard_sigmoid') → Dense(1)",
            lambda: [L.Embedding(vocab, 32), L.LSTM(64, recurrent_activation="hard_sigmoid"), L.Dense(1, activation="sigmoid")],
        ),
    }


def build(data: Path, work: Path, n_train: int, length: int, vocab: int, only: set[str] | None = None) -> list[dict[str, Any]]:
    import keras
    import tf_keras

    from edge_sentiment.data import load_imdb
    from edge_sentiment.runtime.keras_tokenizers import KerasTokenizer
    from edge_sentiment.runtime.tokenizer import Tokenizer

    train = load_imdb(data, splits=("train",))["train"].subset(n_train, seed=1)
    tok = Tokenizer.fit(train.texts, vocab_size=vocab, max_len=length)
    tok.save(work / "tokenizer.json")
    post = KerasTokenizer({w: i + 2 for i, w in enumerate(tok.words)}, max_len=length, padding="post", truncation="pre")
    post.save(work / "tokenizer-post.json")
    x_pre, x_post = tok.encode_batch(train.texts), post.encode_batch(train.texts)
    y, y3 = np.asarray(train.labels), np.asarray([stars(r) for r in train.ratings])
    cases = []

    tf_keras.utils.set_random_seed(7)  # the lab's model, as Keras 2 wrote it
    lab = tf_keras.Sequential(
        [
            tf_keras.layers.Embedding(vocab, 32, input_length=length),
            tf_keras.layers.LSTM(100, dropout=0.2, recurrent_dropout=0.2),
            tf_keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    lab.compile("adam", "binary_crossentropy")
    lab.fit(x_pre, y, epochs=1, batch_size=64, verbose=0)
    lab.save(work / "lab.h5")
    cases.append(
        {
            "name": "lab",
            "shape": "the lab's Embedding(32) → LSTM(100, dropout 0.2, recurrent_dropout 0.2) → Dense(1)",
            "file": "Keras 2 .h5 (tf-keras)",
            "path": work / "lab.h5",
            "tokenizer": work / "tokenizer.json",
            "options": [],
        }
    )
    if only is None or "lab-hard-sigmoid" in only:  # Keras 2.0-2.2's default gates: hard_sigmoid, 0.2x + 0.5
        tf_keras.utils.set_random_seed(7)
        hard = tf_keras.Sequential(
            [
                tf_keras.layers.Embedding(vocab, 32, input_length=length),
                tf_keras.layers.LSTM(100, recurrent_activation="hard_sigmoid", dropout=0.2, recurrent_dropout=0.2),
                tf_keras.layers.Dense(1, activation="sigmoid"),
            ]
        )
        hard.compile("adam", "binary_crossentropy")
        hard.fit(x_pre, y, epochs=1, batch_size=64, verbose=0)
        hard.save(work / "lab-hard-sigmoid.h5")
        cases.append(
            {
                "name": "lab-hard-sigmoid",
                "shape": "the lab's shape as Keras 2.0-2.2 made it: LSTM(100, recurrent_activation='hard_sigmoid')",
                "file": "Keras 2 .h5 (tf-keras)",
                "path": work / "lab-hard-sigmoid.h5",
                "tokenizer": work / "tokenizer.json",
                "options": [],
            }
        )
    for name, (shape, layers) in shapes(keras, vocab).items():
        if only is not None and name not in only:
            continue
        keras.utils.set_random_seed(7)
        classes = 3 if name == "three-class" else 2 if name == "multi-label" else 1
        model = keras.Sequential([keras.Input(shape=(length,), dtype="int32"), *layers()])
        loss: Any = {1: "binary_crossentropy", 2: "binary_crossentropy", 3: "sparse_categorical_crossentropy"}[classes]
        if name == "pooled-logits":
            loss = keras.losses.BinaryCrossentropy(from_logits=True)
        model.compile("adam", loss)
        target = {1: y, 2: np.stack([y, (y3 == 2).astype(int)], axis=1), 3: y3}[classes]
        model.fit(x_post if name.startswith("post") else x_pre, target, epochs=1, batch_size=64, verbose=0)
        model.save(work / f"{name}.keras")
        cases.append(
            {
                "name": name,
                "shape": shape,
                "file": "Keras 3 .keras",
                "path": work / f"{name}.keras",
                "tokenizer": work / ("tokenizer-post.json" if name.startswith("post") else "tokenizer.json"),
                "options": ["--labels", "negative,positive,strongly positive", *THREE]
                if classes == 3
                else ["--labels", "positive,9-10 stars"]
                if classes == 2
                else [],
            }
        )
    return cases


def latency(bundles: dict[str, Path], text: str, rounds: int, calls: int) -> dict[str, float]:
    """Median ms of one predict_proba(text) per bundle, the bundles alternating round by round."""
    from edge_sentiment import Predictor

    predictors = {name: Predictor.load(path, threads=1) for name, path in bundles.items()}
    times: dict[str, list[float]] = {name: [] for name in bundles}
    for p in predictors.values():
        for _ in range(20):
            p.predict_proba(text)
    for r in range(rounds):
        order = list(predictors.items())
        for name, p in order if r % 2 == 0 else order[::-1]:
            for _ in range(calls):
                started = time.perf_counter()
                p.predict_proba(text)
                times[name].append(time.perf_counter() - started)
    return {name: float(np.median(t) * 1000) for name, t in times.items()}


def evaluate(bundle: Path, data: Path, n: int, options: list[str]) -> tuple[dict[str, float], str]:
    """`edge-sentiment evaluate --bundle B --limit n --no-cuts --json` in a fresh process, fp32 and int8:
    the accuracy of each on the same n test reviews (the three-class model's by their star ratings)."""
    figures, shown = {}, ""
    for precision in ("fp32", "int8"):
        command = ["evaluate", "--bundle", str(bundle), "--data", str(data), "--limit", str(n), "--no-cuts", "--json"]
        command += ["--precision", precision, *(THREE if THREE[0] in options else [])]
        done = subprocess.run([sys.executable, "-m", "edge_sentiment", *command], capture_output=True, text=True, check=True)
        figures[precision] = json.loads(done.stdout)["results"]["full review"]["accuracy"]
        shown = shlex.join(["edge-sentiment", *command]).replace(str(bundle.parent), "$WORK").replace(str(data), "$DATA")
    return figures, shown


def render(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"Made by `python tools/benchmarks/export_shapes.py --data $DATA --doc docs/model-shapes.md` on {meta['date']}: "
        f"{meta['train_reviews']} training reviews, 1 epoch, {meta['max_len']} ids per review, our tokenizer's "
        f"{meta['vocab']} ids; parity on {meta['samples']} IMDB test reviews; every model exported with `--padding` "
        f"and `--truncating` as trained and `--quantize int8 --accuracy-samples {meta['test_reviews']} --int8-max-loss "
        f"{INT8_MAX_LOSS}` (the three-class one with `--rating-classes 1-4,7-8,9-10`; the multi-label one without: its "
        "head has no single-label accuracy); accuracy "
        f"of fp32 and int8 from raw text on those {meta['test_reviews']} test reviews by `edge-sentiment evaluate` "
        "(three classes: by star rating); batch-1 latency (fp32) of a "
        f"{meta['words']}-word review, median of {meta['rounds']} alternating rounds × {meta['calls']} calls, one thread; "
        f"{meta['versions']}.",
        "",
        "| shape | file | exported | op census (recurrent) | pads | parity max \\|Δp\\| | labels agree "
        "| accuracy fp32 / int8 | int8 gate | batch-1 ms | × lab |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lab = next((r["ms"] for r in rows if r["name"] == "lab" and "ms" in r), None)
    for r in rows:
        m = r["manifest"]
        if "error" in m:
            lines.append(f"| {r['shape']} | {r['file']} | refused: {m['error']} | | | | | | | | |")
            continue
        census = (
            ", ".join(
                f"{op} {n}" for op, n in sorted(m["model"]["op_census"].items()) if op in ("LSTM", "GRU", "Loop", "Scan", "If")
            )
            or "none"
        )
        parity = m["parity"]["runtime"]
        ratio = f"{r['ms'] / lab:.2f}" if lab else ""
        accuracy = f"{r['accuracy']['fp32']:.3f} / {r['accuracy']['int8']:.3f}" if "accuracy" in r else "—"
        lines.append(
            f"| {r['shape']} | {r['file']} | ✓ {sum(g.startswith('✓') for g in m['gates'])}/{len(m['gates'])} gates | "
            f"{census} | {m['model']['pads']} | {parity['max_abs_diff']:.1e} | {parity['labels_agreeing']}/{parity['samples']} | "
            f"{accuracy} | {int8_gate(m)} | {r['ms']:.3f} | {ratio} |"
        )
    lines += [
        "",
        "pads: `skipped` the exact pad skip, `fed` padded to max_len as trained, `none` no pads (masked in Keras).",
        "",
        "The commands, as run (`$WORK` the script's temporary folder):",
        "",
    ]
    lines += [f"- `{r['command']}`" for r in rows]
    shown = next((r for r in reversed(rows) if r.get("evaluate")), None)
    if shown is not None:
        lines += ["", f"and for each bundle, e.g. the {shown['name']} one:", "", f"- `{shown['evaluate']}` (and fp32)"]
    return "\n".join(lines)


def int8_gate(manifest: dict[str, Any]) -> str:
    """The int8 gate's line in short: ✓ and the points of accuracy int8 lost against fp32 on the same texts."""
    int8 = manifest.get("int8")
    return f"✓ {int8['accuracy_loss_pp']:+.2f} pp" if int8 else "—"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--train-reviews", type=int, default=5000)
    parser.add_argument("--test-reviews", type=int, default=2000)
    parser.add_argument("--parity-samples", type=int, default=1000)
    parser.add_argument("--max-len", type=int, default=200)
    parser.add_argument("--vocab", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--json-file", type=Path, default=None)
    parser.add_argument("--only", default=None, help="Comma-separated shape names (the lab's is always made: the ratio's base).")
    parser.add_argument("--doc", type=Path, default=None, help="Rewrite the table between the markers of this file.")
    args = parser.parse_args()
    if args.doc and args.only:
        parser.error("--doc writes the whole table, every shape from one run: leave out --only")
    known = {"lab", "lab-hard-sigmoid", *shapes(types.SimpleNamespace(layers=None), 0)}  # the names alone: no Keras
    unknown = set(args.only.split(",")) - known if args.only else set()
    if unknown:
        parser.error(f"--only names no shape {', '.join(sorted(unknown))}; the shapes: {', '.join(sorted(known))}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from edge_sentiment._meta import tool_versions
    from edge_sentiment.data import load_imdb
    from edge_sentiment.runtime.tokenizer import words

    test = load_imdb(args.data, splits=("test",))["test"]
    counts = np.asarray([len(words(t)) for t in test.texts])
    text = test.texts[int(np.argmin(np.abs(counts - np.median(counts))))]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        only = set(args.only.split(",")) | {"lab"} if args.only else None
        for case in build(args.data, work, args.train_reviews, args.max_len, args.vocab, only):
            out = work / f"bundle-{case['name']}"
            side = "post" if case["name"].startswith("post") else "pre"  # as trained: said outright (export/sides.py)
            options = ["--tokenizer", str(case["tokenizer"]), "--padding", side, "--truncating", "pre", *case["options"]]
            multi = case["name"] == "multi-label"  # no int8 gate nor evaluate: both measure single-label accuracy
            if not multi:
                options += ["--quantize", "int8", "--accuracy-samples", str(args.test_reviews), "--int8-max-loss", INT8_MAX_LOSS]
            manifest, command, _ = run_export(case["path"], out, args.data, args.parity_samples, options)
            row = {k: case[k] for k in ("name", "shape", "file")} | {"command": command, "manifest": manifest, "bundle": out}
            if "error" not in manifest and not multi:
                row["accuracy"], row["evaluate"] = evaluate(out, args.data, args.test_reviews, case["options"])
            print(f"{case['name']}: {'refused' if 'error' in manifest else 'exported'}", file=sys.stderr)
            rows.append(row)
        ms = latency({r["name"]: r["bundle"] for r in rows if "error" not in r["manifest"]}, text, args.rounds, args.calls)
    for r in rows:
        if r["name"] in ms:
            r["ms"] = ms[r["name"]]
    versions = tool_versions()
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "train_reviews": args.train_reviews,
        "test_reviews": args.test_reviews,
        "samples": args.parity_samples,
        "max_len": args.max_len,
        "vocab": args.vocab,
        "rounds": args.rounds,
        "calls": args.calls,
        "words": int(len(words(text))),
        "versions": ", ".join(
            f"{k} {versions[k]}" for k in ("tensorflow", "keras", "tf-keras", "tf2onnx", "onnxruntime") if versions.get(k)
        ),
    }
    table = render(rows, meta)
    print(table)
    if args.json_file:
        write_rows(args.json_file, meta, rows, drop=("manifest", "bundle"))
    if args.doc:
        write_between(args.doc, "export_shapes", table)


if __name__ == "__main__":
    main()
