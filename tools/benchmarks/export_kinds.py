"""Export a model of each tokenizer kind and each file users arrive with, trained here on real IMDB reviews,
and tabulate what the exporter's gates measured: the table in docs/tokenizers.md comes from this script.

Each model is small (most an Embedding -> LSTM -> Dense(sigmoid); the two tutorials' models as the tutorials
write them, made small) and trained for one epoch on a few thousand training reviews with the kind's own
tokenizer (Keras TextVectorization, tf-keras's classic Tokenizer, keras.datasets.imdb ids rebuilt from the raw
archive), saved the way users save it (.keras, .h5, a pickled tokenizer or layer, a SavedModel folder,
model.to_json() with its weights), then exported by the real command line:
`edge-sentiment export MODEL --out BUNDLE --data DATA --json [tokenizer options]`, with --padding and
--truncating as trained where no file records them. The model whose TextVectorization has a custom standardize
is exported in this process, which has registered the function (Keras saves it by name only), as a user runs
`python -c "import my_code; from edge_sentiment.cli import main; main([...])"`. Each bundle is then scored from
raw text with the Predictor on other test reviews.

Run: python tools/benchmarks/export_kinds.py --data ../shared/data/aclImdb.tar.gz [--doc docs/tokenizers.md]
"""

from __future__ import annotations

import argparse
import os
import pickle
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _docs import run_export, write_between, write_rows  # tools/benchmarks/_docs.py, beside this script

ROOT = Path(__file__).resolve().parents[2]  # the project's root: this file is in tools/benchmarks/
PRE = ["--padding", "pre", "--truncating", "pre"]  # pad_sequences' defaults, said outright as trained
# The bundle's tokenizer gate's reference (the manifest's parity.tokenizer.reference), in short.
AGAINST = {"the TextVectorization layer": "the layer", "tf-keras's Tokenizer and pad_sequences": "tf-keras"}


def _model(text_layer: Any, vocab: int, length: int) -> Any:
    """Keras 3: [TextVectorization ->] Embedding(32) -> LSTM(32) -> Dense(1, sigmoid)."""
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


def _tf_keras_model(text_layer: Any, vocab: int, length: int) -> Any:
    """The same model in tf-keras (Keras 2), as TF 2.x projects wrote it."""
    import tf_keras

    first = [tf_keras.Input(shape=(1,), dtype="string"), text_layer] if text_layer is not None else []
    model = tf_keras.Sequential(
        [
            *(first or [tf_keras.Input(shape=(length,), dtype="int32")]),
            tf_keras.layers.Embedding(vocab, 32),
            tf_keras.layers.LSTM(32),
            tf_keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile("adam", "binary_crossentropy", metrics=["accuracy"])
    return model


def _case(kind: str, model: str, saved: str, path: Path, options: list[str], **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "model": model, "saved": saved, "path": path, "options": options, **extra}


def text_vectorization_cases(texts: list[str], labels: np.ndarray, work: Path, length: int, vocab: int) -> list[dict[str, Any]]:
    """Keras 3 models with their TextVectorization layer first, saved as .keras."""
    import keras
    import tensorflow as tf

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
        model_text = f"TextVectorization(standardize={standardize!r}, split={split!r}) inside the model"
        cases.append(_case("keras-text-vectorization", model_text, "model.keras", path, []))
    return cases


def classic_cases(texts: list[str], labels: np.ndarray, work: Path, length: int, vocab: int) -> list[dict[str, Any]]:
    """tf-keras's Tokenizer and pad_sequences: its to_json() with a Keras 3 model pre- or post-padded; pickled
    beside a tf-keras .h5; and model.to_json() with save_weights()."""
    import keras
    import tf_keras
    from tf_keras.preprocessing.sequence import pad_sequences
    from tf_keras.preprocessing.text import Tokenizer as Keras2Tokenizer

    cases = []
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
        model_text = (
            f"tf-keras Tokenizer(num_words={vocab}, oov_token), pad_sequences(padding={padding!r}, truncating={padding!r})"
        )
        options = ["--tokenizer", str(tok_path), "--padding", padding, "--truncating", padding]
        cases.append(_case("keras-tokenizer", model_text, "model.keras + tokenizer.to_json()", path, options))

    tf_keras.utils.set_random_seed(7)  # a TF 2.x project: pickle.dump(tokenizer), model.save('model.h5')
    pickled_dir = work / "pickled"
    pickled_dir.mkdir()
    classic = Keras2Tokenizer(num_words=vocab, oov_token="<OOV>")
    classic.fit_on_texts(texts)
    with open(pickled_dir / "tokenizer.pickle", "wb") as handle:
        pickle.dump(classic, handle, protocol=pickle.HIGHEST_PROTOCOL)
    model = _tf_keras_model(None, vocab, length)
    model.fit(pad_sequences(classic.texts_to_sequences(texts), maxlen=length), labels, epochs=1, batch_size=64, verbose=0)
    model.save(pickled_dir / "model.h5")
    model_text = f"tf-keras Tokenizer(num_words={vocab}, oov_token) pickled, pad_sequences defaults; tf-keras model"
    options = ["--tokenizer", str(pickled_dir / "tokenizer.pickle"), *PRE]
    cases.append(_case("keras-tokenizer", model_text, "model.h5 + tokenizer.pickle", pickled_dir / "model.h5", options))

    split_dir = work / "architecture"  # the same model as model.to_json() and save_weights('weights.h5')
    split_dir.mkdir()
    (split_dir / "model.json").write_text(model.to_json(), encoding="utf-8")
    model.save_weights(split_dir / "weights.h5")
    (split_dir / "tokenizer.json").write_text(classic.to_json(), encoding="utf-8")
    options = ["--weights", str(split_dir / "weights.h5"), "--tokenizer", str(split_dir / "tokenizer.json"), *PRE]
    model_text = "the model above, saved as model.to_json() and save_weights()"
    cases.append(
        _case("keras-tokenizer", model_text, "model.json + weights.h5 + tokenizer.to_json()", split_dir / "model.json", options)
    )
    return cases


def tf_keras_layer_cases(texts: list[str], labels: np.ndarray, work: Path, length: int, vocab: int) -> list[dict[str, Any]]:
    """tf-keras TextVectorization: pickled as {'config', 'weights'} beside the .h5 model after it; and inside
    an end-to-end model saved as a TF 2.x SavedModel folder."""
    import tensorflow as tf
    import tf_keras

    cases = []
    tf_keras.utils.set_random_seed(7)
    layer = tf_keras.layers.TextVectorization(max_tokens=vocab, output_sequence_length=length)
    layer.adapt(texts)
    pickled_dir = work / "tv-pickle"
    pickled_dir.mkdir()
    with open(pickled_dir / "tv_layer.pkl", "wb") as handle:
        pickle.dump({"config": layer.get_config(), "weights": layer.get_weights()}, handle)
    model = _tf_keras_model(None, vocab, length)
    model.fit(np.asarray(layer(tf.constant(texts))), labels, epochs=1, batch_size=64, verbose=0)
    model.save(pickled_dir / "model.h5")
    model_text = "tf-keras TextVectorization(defaults) saved on its own, the ids model after it"
    options = ["--text-vectorization", str(pickled_dir / "tv_layer.pkl")]
    cases.append(_case("keras-text-vectorization", model_text, "model.h5 + tv_layer.pkl", pickled_dir / "model.h5", options))

    tf_keras.utils.set_random_seed(7)
    layer = tf_keras.layers.TextVectorization(max_tokens=vocab, output_sequence_length=length)
    layer.adapt(texts)
    model = _tf_keras_model(layer, vocab, length)
    model.fit(tf.constant(texts)[:, None], labels, epochs=1, batch_size=64, verbose=0)
    model.save(work / "saved_model")  # no extension: tf-keras writes a SavedModel folder
    model_text = "tf-keras TextVectorization(defaults) inside the model, model.save(folder)"
    cases.append(_case("keras-text-vectorization", model_text, "SavedModel folder (tf-keras)", work / "saved_model", []))
    return cases


def register_custom_standardization() -> Any:
    """keras.io's "Text classification from scratch" standardize, registered as Keras needs to load it."""
    import re
    import string

    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable()
    def custom_standardization(input_data: Any) -> Any:
        lowercase = tf.strings.lower(input_data)
        stripped_html = tf.strings.regex_replace(lowercase, "<br />", " ")
        return tf.strings.regex_replace(stripped_html, f"[{re.escape(string.punctuation)}]", "")

    return custom_standardization


def tutorial_cases(texts: list[str], labels: np.ndarray, work: Path, length: int, vocab: int) -> list[dict[str, Any]]:
    """TensorFlow's "Text classification with an RNN" and keras.io's "Text classification from scratch", as
    written (small sizes, one epoch, Adam's default rate), saved as .keras."""
    import keras
    import tensorflow as tf
    from keras import layers

    keras.utils.set_random_seed(7)
    encoder = layers.TextVectorization(max_tokens=vocab)
    encoder.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(64))
    model = keras.Sequential(
        [
            encoder,
            layers.Embedding(input_dim=len(encoder.get_vocabulary()), output_dim=32, mask_zero=True),
            layers.Bidirectional(layers.LSTM(32)),
            layers.Dense(32, activation="relu"),
            layers.Dense(1),
        ]
    )
    model.compile(loss=keras.losses.BinaryCrossentropy(from_logits=True), optimizer="adam", metrics=["accuracy"])
    model.fit(tf.data.Dataset.from_tensor_slices((texts, labels)).batch(64), epochs=1, verbose=0)
    model.save(work / "rnn-tutorial.keras")
    model_text = (
        "TensorFlow's RNN tutorial: TextVectorization (no output_sequence_length) → Embedding(mask_zero=True) "
        "→ Bidirectional(LSTM(32)) → Dense(32, relu) → Dense(1) logits"
    )
    cases = [_case("keras-text-vectorization", model_text, "model.keras", work / "rnn-tutorial.keras", [])]

    keras.utils.set_random_seed(7)
    vectorize_layer = layers.TextVectorization(
        standardize=register_custom_standardization(), max_tokens=vocab, output_mode="int", output_sequence_length=length
    )
    vectorize_layer.adapt(tf.data.Dataset.from_tensor_slices(texts).batch(64))
    inputs = keras.Input(shape=(None,), dtype="int64")
    x = layers.Embedding(vocab, 32)(inputs)
    x = layers.Dropout(0.5)(x)
    x = layers.Conv1D(32, 7, padding="valid", activation="relu", strides=3)(x)
    x = layers.Conv1D(32, 7, padding="valid", activation="relu", strides=3)(x)
    x = layers.GlobalMaxPooling1D()(x)
    x = layers.Dense(32, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    predictions = layers.Dense(1, activation="sigmoid", name="predictions")(x)
    model = keras.Model(inputs, predictions)
    model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    model.fit(np.asarray(vectorize_layer(tf.constant(texts)[:, None])), labels, epochs=1, batch_size=64, verbose=0)
    string_input = keras.Input(shape=(1,), dtype="string")
    end_to_end_model = keras.Model(string_input, model(vectorize_layer(string_input)))
    end_to_end_model.compile(loss="binary_crossentropy", optimizer="adam", metrics=["accuracy"])
    end_to_end_model.save(work / "from-scratch.keras")
    model_text = (
        "keras.io's text classification from scratch: TextVectorization(custom_standardization) → Embedding(32) → "
        "Dropout → Conv1D(32, 7, strides 3) ×2 → GlobalMaxPooling1D → Dense(32, relu) → Dense(1, sigmoid)"
    )
    path = work / "from-scratch.keras"
    cases.append(
        _case("keras-text-vectorization", model_text, "model.keras (+ the code of its standardize)", path, [], imports="my_code")
    )
    return cases


def keras_imdb_case(data: Path, keras_imdb_dir: Path, work: Path, n_train: int, length: int, vocab: int) -> dict[str, Any]:
    """A model on keras.datasets.imdb.load_data(num_words)'s ids, rebuilt from the raw archive."""
    import keras
    from tf_keras.preprocessing.sequence import pad_sequences

    from edge_sentiment.data import keras_imdb

    keras.utils.set_random_seed(7)
    index = keras_imdb_dir / "imdb_word_index.json"
    (x_all, y_all), _ = keras_imdb(data, word_index=index, num_words=vocab)
    model = _model(None, vocab, length)
    model.fit(pad_sequences(list(x_all[:n_train]), maxlen=length), y_all[:n_train], epochs=1, batch_size=64, verbose=0)
    path = work / "keras-imdb.keras"
    model.save(path)
    model_text = f"keras.datasets.imdb ids (num_words={vocab}), rebuilt from the raw archive, pad_sequences defaults"
    return _case("keras-imdb", model_text, "model.keras + imdb_word_index.json", path, ["--word-index", str(index), *PRE])


def keras_imdb_check(case: dict[str, Any], bundle: Path, data: Path, vocab: int, length: int, n: int) -> dict[str, Any]:
    """Keras on load_data's test ids (rebuilt) against the bundle from the same reviews' raw text: the check the
    export cannot make itself (it has no original tokenizer for these ids)."""
    import keras
    from tf_keras.preprocessing.sequence import pad_sequences

    from edge_sentiment import Predictor
    from edge_sentiment.data import keras_imdb, keras_imdb_texts
    from edge_sentiment.export.gates import parity_figures

    texts = keras_imdb_texts(data)["test"][0][:n]
    _, (x_test, _) = keras_imdb(data, word_index=case["options"][1], num_words=vocab)
    keras_p = keras.models.load_model(case["path"]).predict(pad_sequences(list(x_test[: len(texts)]), maxlen=length), verbose=0)
    return parity_figures(keras_p[:, 0], Predictor.load(bundle).predict_proba(texts))


def score(bundle: Path, data: Path, n: int) -> float:
    from edge_sentiment import Predictor
    from edge_sentiment.data import load_imdb

    test = load_imdb(data, splits=("test",))["test"].subset(n, seed=2)
    p = Predictor.load(bundle).predict_proba(test.texts)
    return float(np.mean((p >= 0.5) == np.asarray(test.labels)))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        f"Made by `python tools/benchmarks/export_kinds.py --data $DATA --doc docs/tokenizers.md` on {meta['date']} "
        f"({meta['train_reviews']} training reviews, 1 epoch; most models Embedding(·, 32) → LSTM(32) → Dense, the "
        f"tutorials' as written at small sizes; parity on {meta['samples']} IMDB test reviews plus the rule texts; "
        f"accuracy of the bundle from raw text on {meta['test_reviews']} other test reviews; {meta['versions']}; "
        f"{meta['minutes']:.0f} minutes in all).",
        "",
        "| kind | route | what was saved | the model | gates | parity on ids, max \\|Δp\\| | tokenizer = original "
        "| from raw strings, max \\|Δp\\| (labels) | pads | bundle accuracy |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        m = row["manifest"]
        found = m.get("tokenizer", {})  # the manifest's word once exported
        head = f"| `{found.get('kind', row['kind'])}` | {found.get('route', '')} | {row['saved']} | {row['model']} "
        if "error" in m:
            lines.append(head + f"| refused: {_cell(m['error'])} | | | | | |")
            continue
        parity = m["parity"]
        tok, text = parity.get("tokenizer"), parity.get("from_text")
        gates = sum(g.startswith("✓") for g in m["gates"])
        against = AGAINST.get(tok["reference"], "its own file, reloaded") if tok else ""
        lines.append(
            head
            + f"| {gates}/{len(m['gates'])} ✓ | {parity['runtime']['max_abs_diff']:.1e} | "
            + (f"{tok['identical']}/{tok['texts']} ({against})" if tok else "no original at hand")
            + " | "
            + (f"{text['max_abs_diff']:.1e} ({text['labels_agreeing']}/{text['samples']})" if text else "")
            + f" | {m['model']['pads']}"
            + (f" ({m['model']['padding']}-padded)" if m["model"]["pads"] == "fed" else "")
            + f" | {row['accuracy']:.3f} |"
        )
    checked = next((r["keras_ids"] for r in rows if "keras_ids" in r), None)
    if checked:
        lines += [
            "",
            f"`keras-imdb`, checked outside the export: Keras on `load_data`'s test ids (rebuilt from the archive) against "
            f"the bundle from the same {checked['samples']} reviews' raw text: max |Δp| {checked['max_abs_diff']:.1e}, "
            f"labels agree {checked['labels_agreeing']}/{checked['samples']}.",
        ]
    lines += [
        "",
        "pads: `skipped` the exact pad skip, `fed` padded to max_len as trained, `none` no pads (the model masks them).",
        "",
        "The commands, as run (`$WORK` the script's temporary folder; `my_code` the module that defines and registers "
        "`custom_standardization`):",
        "",
    ]
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
    from edge_sentiment.data import load_imdb

    started = time.perf_counter()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        train = load_imdb(args.data, splits=("train",))["train"].subset(args.train_reviews, seed=1)
        texts, labels = train.texts, np.asarray(train.labels)
        sizes = (texts, labels, work, args.max_len, args.vocab)
        cases = [
            *text_vectorization_cases(*sizes),
            *classic_cases(*sizes),
            *tf_keras_layer_cases(*sizes),
            *tutorial_cases(*sizes),
            keras_imdb_case(
                args.data, args.keras_imdb or args.data.parent / "keras-imdb", work, args.train_reviews, args.max_len, args.vocab
            ),
        ]
        print(f"{len(cases)} models trained and saved in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        for i, case in enumerate(cases):
            out = work / f"bundle-{i}"
            manifest, command, seconds = run_export(
                case["path"], out, args.data, args.parity_samples, case["options"], imports=case.get("imports")
            )
            row = {k: case[k] for k in ("kind", "model", "saved")}
            row |= {"command": command, "manifest": manifest, "export_seconds": round(seconds, 1)}
            if "error" not in manifest:
                row["accuracy"] = score(out, args.data, args.test_reviews)
                if case["kind"] == "keras-imdb":
                    row["keras_ids"] = keras_imdb_check(case, out, args.data, args.vocab, args.max_len, args.parity_samples)
            done = f"refused: {manifest['error']}" if "error" in manifest else "exported"
            print(f"{case['kind']}: {case['saved']}: {done} in {seconds:.0f} s", file=sys.stderr)
            rows.append(row)
    versions = tool_versions()
    meta = {
        "date": time.strftime("%Y-%m-%d"),
        "train_reviews": args.train_reviews,
        "test_reviews": args.test_reviews,
        "samples": args.parity_samples,
        "minutes": (time.perf_counter() - started) / 60,
        "versions": ", ".join(
            f"{k} {versions[k]}" for k in ("tensorflow", "keras", "tf-keras", "tf2onnx", "onnxruntime") if versions.get(k)
        ),
    }
    table = render(rows, meta)
    print(table)
    if args.json_file:
        write_rows(args.json_file, meta, rows, drop=("manifest",))
    if args.doc:
        write_between(args.doc, "export_kinds", table)


if __name__ == "__main__":
    main()
