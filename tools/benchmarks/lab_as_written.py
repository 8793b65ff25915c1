"""The lab's own script, line for line, on keras.datasets.imdb's ids rebuilt from the raw archive, on
Keras 3 and on Keras 2 (tf-keras), over several seeds; each model is exported by `edge-sentiment export`.

The script below is the lab's, with two changes only: `keras.layers.embeddings.Embedding` is
`keras.layers.Embedding` (the module is gone), and `imdb.load_data` is served from
`edge_sentiment.data.keras_imdb` (the same arrays, rebuilt from aclImdb and the Keras word index; no
download). For Keras 2 the `keras` package is tf-keras (`import tf_keras as keras`). The lab seeds
only numpy (`numpy.random.seed(7)`), which neither Keras seeds its weights or dropout from, so runs
of one seed differ: the seeds here are the value on that line, as in the lab.

Each run is a fresh process; results go to --out (one JSON a run; runs already there are kept, so an
interrupted sweep resumes). Run:
  python tools/benchmarks/lab_as_written.py --data ../shared/data/aclImdb.tar.gz --out runs/lab-as-written
  python tools/benchmarks/lab_as_written.py --data ... --out runs/lab-as-written --report docs/lab.md
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _docs import write_between  # tools/benchmarks/_docs.py, beside this script

# The lab's script, as written (the two changes marked). {keras} is "keras" or "tf_keras".
LAB = """
import numpy
from {keras}.datasets import imdb
from {keras}.models import Sequential
from {keras}.layers import Dense
from {keras}.layers import LSTM
from {keras}.layers import Embedding  # was: from keras.layers.embeddings import Embedding
from {keras}.preprocessing import sequence
# fix random seed for reproducibility
numpy.random.seed({seed})
# load the dataset but only keep the top n words, zero the rest
top_words = 5000
(X_train, y_train), (X_test, y_test) = imdb.load_data(num_words=top_words)
# truncate and pad input sequences
max_review_length = 500
X_train = sequence.pad_sequences(X_train, maxlen=max_review_length)
X_test = sequence.pad_sequences(X_test, maxlen=max_review_length)
# create the model
embedding_vecor_length = 32
model = Sequential()
model.add(Embedding(top_words, embedding_vecor_length, input_length=max_review_length))
model.add(LSTM(100, dropout=0.2, recurrent_dropout=0.2))
model.add(Dense(1, activation='sigmoid'))
model.compile(loss='binary_crossentropy', optimizer='adam', metrics=['accuracy'])
print(model.summary())
model.fit(X_train, y_train, epochs=3, batch_size=64)
# Final evaluation of the model
scores = model.evaluate(X_test, y_test, verbose=0)
print("Accuracy: %.2f%%" % (scores[1]*100))
"""

# Run first in the child: load_data from the raw archive (the change), and a record of what fit() saw.
PRELUDE = """
import json, os, sys, time
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import {keras}
from {keras}.datasets import imdb
from edge_sentiment.data import keras_imdb

def load_data(num_words=None, **kwargs):
    assert not kwargs, kwargs
    return keras_imdb(os.environ["LAB_DATA"], word_index=os.environ["LAB_WORD_INDEX"], num_words=num_words)

imdb.load_data = load_data
from {keras}.models import Sequential
_fit, _history = Sequential.fit, {{}}

def _recording_fit(self, *args, **kwargs):  # the lab drops fit's History, and Keras 2's evaluate() clears model.history
    history = _fit(self, *args, **kwargs)
    _history.update(history.history)
    return history

Sequential.fit = _recording_fit
_started = time.perf_counter()
"""
EPILOGUE = """
model.save(os.environ["LAB_MODEL"])
history = _history
json.dump({{"test_accuracy": float(scores[1]), "test_loss": float(scores[0]),
           "train_accuracy_by_epoch": [float(a) for a in history[next(k for k in history if "acc" in k)]],
           "train_loss_by_epoch": [float(a) for a in history["loss"]],
           "seconds": time.perf_counter() - _started, "keras": {keras}.__version__}},
          open(os.environ["LAB_RESULT"], "w"))
"""
STACKS = {"keras3": ("keras", ".keras"), "keras2": ("tf_keras", ".h5")}
# Beside the lab's script: `edge-sentiment train --recipe R` (Keras 3, our tokenizer's ids) for these recipes.
RECIPE_STACKS = ("recipe-lab", "recipe-lab-keras2")


def run_one(stack: str, seed: int, args: argparse.Namespace) -> dict[str, Any]:
    name = f"{stack}-seed{seed}"
    result_path = args.out / f"{name}.json"
    if result_path.exists():
        return json.loads(result_path.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "LAB_DATA": str(args.data),
        "LAB_WORD_INDEX": str(args.word_index),
        "LAB_MODEL": str(args.out / f"{name}{STACKS.get(stack, ('', ''))[1]}"),
        "LAB_RESULT": str(args.out / f"{name}.fit.json"),
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    started = time.perf_counter()
    if stack in RECIPE_STACKS:  # the run's tokenizer.json is beside its model
        model_path = args.out / f"{name}-run"
        fit, tokenizer_options = _train_recipe(stack.removeprefix("recipe-"), seed, model_path, env), []
    else:
        model_path = Path(env["LAB_MODEL"])
        fit, tokenizer_options = _lab_script(stack, seed, env), ["--word-index", str(args.word_index)]
    bundle = args.out / f"{name}-bundle"
    command = [
        "edge-sentiment",
        "export",
        str(model_path),
        *tokenizer_options,
        "--out",
        str(bundle),
        "--data",
        str(args.data),
        "--parity-samples",
        str(args.parity_samples),
        "--force",
        "--json",
    ]
    exported = subprocess.run([sys.executable, "-m", "edge_sentiment", *command[1:]], env=env, capture_output=True, text=True)
    manifest = json.loads(exported.stdout) if exported.returncode == 0 else {"error": exported.stderr.strip().splitlines()[-1]}
    result = {
        "stack": stack,
        "seed": seed,
        **fit,
        "wall_seconds": time.perf_counter() - started,
        "export": {
            "command": shlex.join(command),
            "gates": manifest.get("gates"),
            "error": manifest.get("error"),
            "parity": (manifest.get("parity") or {}).get("runtime"),
        },
    }
    result_path.write_text(json.dumps(result, indent=1))
    return result


def _train_recipe(recipe: str, seed: int, run: Path, env: dict[str, str]) -> dict[str, Any]:
    """`edge-sentiment train --recipe R --seed N` into run; its figures as the lab script's record has them."""
    command = ["train", "--recipe", recipe, "--seed", str(seed), "--data", env["LAB_DATA"], "--out", str(run)]
    command += ["--force", "--json"]
    done = subprocess.run([sys.executable, "-m", "edge_sentiment", *command], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"edge-sentiment {shlex.join(command)} failed:\n{done.stderr[-3000:]}")
    metrics = json.loads((run / "metrics.json").read_text())
    fit = {
        "test_accuracy": metrics["test_accuracy"],
        "test_loss": metrics["test_loss"],
        "train_accuracy_by_epoch": [e["accuracy"] for e in metrics["epochs"]],
        "train_loss_by_epoch": [e["loss"] for e in metrics["epochs"]],
        "seconds": metrics["wall_seconds"],  # tokenizing, fit and evaluation, as the lab script's figure
        "keras": metrics["versions"]["keras"],
        "command": "edge-sentiment " + shlex.join(command),
    }
    return fit


def _lab_script(stack: str, seed: int, env: dict[str, str]) -> dict[str, Any]:
    """The lab's script for one seed in a fresh process; the record its epilogue writes."""
    module, _ = STACKS[stack]
    script = PRELUDE.format(keras=module) + LAB.format(keras=module, seed=seed) + EPILOGUE.format(keras=module)
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{stack} seed {seed} failed:\n{done.stderr[-3000:]}")
    return json.loads(Path(env["LAB_RESULT"]).read_text())


LABELS = {
    "recipe-lab": "`train --recipe lab`, our ids, Keras",
    "recipe-lab-keras2": "`train --recipe lab-keras2`, our ids, Keras",
    "keras3": "the lab's script, Keras",
    "keras2": "the lab's script, tf-keras",
}


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| stack | runs | test accuracy: median (min–max) | epoch-3 train accuracy: median (min–max) | "
        "minutes a run | export gates | parity max \\|Δp\\| |",
        "|---|---|---|---|---|---|---|",
    ]
    for stack in [*RECIPE_STACKS, *STACKS]:
        rows = sorted((r for r in results if r["stack"] == stack), key=lambda r: r["seed"])
        if not rows:
            continue
        test = [r["test_accuracy"] for r in rows]
        train = [r["train_accuracy_by_epoch"][-1] for r in rows]
        gates = sum(bool(r["export"]["gates"]) and all(g.startswith("✓") for g in r["export"]["gates"]) for r in rows)
        parity = max((r["export"]["parity"] or {}).get("max_abs_diff", float("nan")) for r in rows)
        lines.append(
            f"| {LABELS.get(stack, stack)} ({rows[0]['keras']}) | "
            f"{len(rows)} (seeds {', '.join(str(r['seed']) for r in rows)}) | "
            f"{statistics.median(test):.4f} ({min(test):.4f}–{max(test):.4f}) | "
            f"{statistics.median(train):.4f} ({min(train):.4f}–{max(train):.4f}) | "
            f"{statistics.median(r['seconds'] for r in rows) / 60:.1f} | {gates}/{len(rows)} pass | {parity:.1e} |"
        )
    lines += [
        "",
        "Each run: "
        + "; ".join(
            f"{r['stack']} seed {r['seed']}: test {r['test_accuracy']:.4f}, train by epoch "
            + "/".join(f"{a:.3f}" for a in r["train_accuracy_by_epoch"])
            for r in sorted(results, key=lambda r: (r["stack"], r["seed"]))
        )
        + ".",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument(
        "--word-index", type=Path, default=None, help="imdb_word_index.json. Default: beside --data in keras-imdb/."
    )
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seeds", default="7,8,9,10,11")
    parser.add_argument(
        "--stacks",
        default="keras3,keras2,recipe-lab,recipe-lab-keras2",
        help="keras3 / keras2: the lab's script on Keras 3 / tf-keras; recipe-lab, recipe-lab-keras2: "
        "edge-sentiment train --recipe lab / lab-keras2 (our tokenizer's ids).",
    )
    parser.add_argument("--parity-samples", type=int, default=1000)
    parser.add_argument("--report", type=Path, default=None, help="Rewrite the table between the markers of this file.")
    args = parser.parse_args()
    args.data = args.data.resolve()
    args.word_index = (args.word_index or args.data.parent / "keras-imdb" / "imdb_word_index.json").resolve()
    results = []
    for seed in [int(s) for s in args.seeds.split(",")]:
        for stack in args.stacks.split(","):
            result = run_one(stack, seed, args)
            print(f"{stack} seed {seed}: test {result['test_accuracy']:.4f} in {result['seconds'] / 60:.1f} min", file=sys.stderr)
            results.append(result)
    text = table(results)
    print(text)
    if args.report:
        write_between(args.report, "lab_as_written", text)


if __name__ == "__main__":
    main()
