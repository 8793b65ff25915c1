"""The fast path: texts without pads skip the pooling mask, and a bidirectional LSTM's two directions
run on two threads; the scores must be model.onnx's, bit for bit, and Keras's from raw strings."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ASSETS, needs_tf

from edge_sentiment import Predictor
from edge_sentiment.errors import BundleError
from edge_sentiment.runtime.bundle import FAST_FILES, default_bundle_path, load_bundle
from edge_sentiment.runtime.conformance import load_vectors
from edge_sentiment.export.fastpath import SPLIT_MIN_HIDDEN
from edge_sentiment.runtime.tokenizer import Tokenizer

TOKENIZER = ASSETS / "tiny_run" / "tokenizer.json"  # 32 ids, max_len 40
VOCAB, MAX_LEN = 32, 40


def texts_of_every_length(seed: int = 5) -> list[str]:
    """Raw texts of 0 to max_len + 5 known words (the last max_len are read), and some unknown words."""
    words = Tokenizer.load(TOKENIZER).words[1:]
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(words, size=n)) for n in range(0, MAX_LEN + 6)]
    return texts + ["zzyzx " + t + " qqq." for t in texts[1::7]]


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def assert_fast_equals_plain(bundle: Path, texts: list[str], split: bool) -> np.ndarray:
    plain = Predictor.load(bundle, threads=1, fast=False)
    one = Predictor.load(bundle, threads=1)
    two = Predictor(load_bundle(bundle), threads=2, split_min_words=1)
    assert plain._unpadded is None and one._unpadded is not None
    assert (two._split is not None) is split
    want = np.stack([plain.predict_proba(t)[0] for t in texts])
    for predictor in (one, two):
        got = np.stack([predictor.predict_proba(t)[0] for t in texts])
        assert same_bits(got, want)
    if split:  # four caller threads sharing the split predictor: each text gets its own scores
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(4) as pool:
            assert same_bits(np.stack(list(pool.map(lambda t: two.predict_proba(t)[0], texts * 2))), np.concatenate([want, want]))
    # Batches (sorted by length; those without pads go to the fast path): the same batches, the same bits.
    by_batch = {size: Predictor.load(bundle, threads=2, batch_size=size, fast=False).predict_proba(texts) for size in (1, 4)}
    for size, expected in by_batch.items():
        assert same_bits(Predictor.load(bundle, threads=2, batch_size=size).predict_proba(texts), expected)
    two.close()
    return want


def wordpooling_model(keras: Any, bidirectional: bool, mode: str, classes: int, units: int = 6) -> Any:
    """Embedding -> (Bi)LSTM over the words -> WordPooling -> Dense, trained a few epochs on random labels."""
    from edge_sentiment.train.pooling import WordPooling

    keras.utils.set_random_seed(3)
    tokens = keras.Input(shape=(MAX_LEN,), dtype="int32")
    lstm = keras.layers.LSTM(units, return_sequences=True)
    x = keras.layers.Embedding(VOCAB, 8)(tokens)
    x = (keras.layers.Bidirectional(lstm) if bidirectional else lstm)(x)
    x = WordPooling(mode)([x, tokens])
    out = keras.layers.Dense(classes, activation="sigmoid" if classes == 1 else "softmax")(x)
    model = keras.Model(tokens, out)
    rng = np.random.default_rng(3)
    rows = np.zeros((96, MAX_LEN), dtype=np.int32)
    for row, n in zip(rows, rng.integers(1, MAX_LEN + 1, size=96)):
        row[MAX_LEN - n :] = rng.integers(1, VOCAB, size=n)
    y = rows.sum(axis=1) % max(classes, 2)
    model.compile(keras.optimizers.Adam(0.02), "binary_crossentropy" if classes == 1 else "sparse_categorical_crossentropy")
    model.fit(rows, y, epochs=6, batch_size=32, verbose=0)
    return model


def export_cli(tmp_path: Path, model: Any, *more: str) -> dict[str, Any]:
    from edge_sentiment.cli import main

    model.save(tmp_path / "model.keras")
    shutil.copy(TOKENIZER, tmp_path / "tokenizer.json")
    args = ["export", str(tmp_path / "model.keras"), "--tokenizer", str(tmp_path / "tokenizer.json"), "--padding", "pre"]
    args += ["--truncating", "pre"]
    result = CliRunner().invoke(main, [*args, "--out", str(tmp_path / "bundle"), "--parity-samples", "48", *more])
    assert result.exit_code == 0, result.output
    return json.loads((tmp_path / "bundle" / "manifest.json").read_text())


@needs_tf
@pytest.mark.parametrize(
    ("bidirectional", "mode", "classes", "units"),
    [(True, "mean-max", 1, SPLIT_MIN_HIDDEN), (False, "max", 1, 6), (True, "max", 3, SPLIT_MIN_HIDDEN), (True, "mean-max", 1, 6)],
)
def test_a_wordpooling_model_exports_a_fast_path_with_model_onnx_scores(
    tmp_path: Path, bidirectional: bool, mode: str, classes: int, units: int
) -> None:
    import keras

    model = wordpooling_model(keras, bidirectional, mode, classes, units)
    labels = ["--labels", "a,b,c"] if classes == 3 else []
    manifest = export_cli(tmp_path, model, *labels)
    section = manifest["fast_path"]
    split = bidirectional and units >= SPLIT_MIN_HIDDEN  # fewer units: the unpadded graph alone
    parts = ["unpadded", "forward", "backward", "head"] if split else ["unpadded"]
    # the short-text graph: only where the pad-skip table ends before max_len (here every length has its own state)
    assert "short" not in section["files"] and "short_words" not in section
    assert sorted(section["files"]) == sorted(parts)
    assert section["pooling"] == mode and section["check"]["identical"] is True
    assert section["check"]["lengths"] == f"1..{MAX_LEN}" and section["check"]["texts"] == 48
    assert any(g.startswith("✓ fast path: bit-exact") for g in manifest["gates"])
    for part in parts:
        assert (tmp_path / "bundle" / FAST_FILES[part]).is_file()
    texts = texts_of_every_length()
    scores = assert_fast_equals_plain(tmp_path / "bundle", texts, split=split)
    tok = load_bundle(tmp_path / "bundle").tokenizer
    keras_p = model.predict(tok.encode_batch(texts), verbose=0)
    keras_p = keras_p[:, 0] if classes == 1 else keras_p
    assert np.ptp(keras_p) > 0.05, "the outputs must vary for the comparison to mean something"
    np.testing.assert_allclose(scores, keras_p, rtol=0, atol=1e-5)


@needs_tf
def test_no_fast_path_is_built_for_a_last_state_model_or_on_request(tmp_path: Path) -> None:
    import keras

    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input(shape=(MAX_LEN,), dtype="int32"),
            keras.layers.Embedding(VOCAB, 8),
            keras.layers.LSTM(6),
            keras.layers.Dense(1, activation="sigmoid"),
        ]
    )
    manifest = export_cli(tmp_path, model)
    assert "fast_path" not in manifest and not any("fast path" in g for g in manifest["gates"])
    assert not {p.name for p in (tmp_path / "bundle").iterdir()} & set(FAST_FILES.values())
    assert Predictor.load(tmp_path / "bundle")._unpadded is None

    off = wordpooling_model(keras, True, "mean-max", 1)
    (tmp_path / "off").mkdir()
    manifest = export_cli(tmp_path / "off", off, "--no-fast-path")
    assert "fast_path" not in manifest and not any("fast path" in g for g in manifest["gates"])


def test_the_default_bundle_fast_path_gives_model_onnx_scores_bit_for_bit() -> None:
    texts = [v.text for v in load_vectors(load_bundle(None)) or []]
    assert len(texts) >= 100
    manifest = load_bundle(None).manifest
    check = manifest["fast_path"]["check"]
    assert check["identical"] and check["texts"] == 25000 and check["lengths"] == "1..500"
    assert check["batch_sizes"] == [1, 3, 32]
    split = "forward" in manifest["fast_path"]["files"]  # the shipped LSTM(32): too few units to pay for a split
    assert split is (manifest["fast_path"]["hidden"] >= SPLIT_MIN_HIDDEN)
    assert_fast_equals_plain(default_bundle_path(), texts + ["", "great", "bad " * 600], split=split)


def test_int8_and_fast_false_run_model_onnx_alone() -> None:
    assert load_bundle(None, precision="int8").fast == {}
    assert Predictor.load(precision="int8")._unpadded is None
    assert Predictor.load(fast=False)._split is None


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(default_bundle_path(), target)
    return target


def test_a_changed_fast_path_file_is_refused(bundle_copy: Path) -> None:
    path = bundle_copy / FAST_FILES["unpadded"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="model.unpadded.onnx does not match its sha256"):
        load_bundle(bundle_copy)
    load_bundle(bundle_copy, precision="int8")  # the int8 model reads no fast-path file


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s["files"].update(forward="model.forward.onnx"), "part of a split fast path"),
        (lambda s: s["files"].pop("unpadded"), "fast_path section this runtime cannot read"),
        (lambda s: s["files"].update(unpadded="model.onnx"), "lists fast-path part 'unpadded' as 'model.onnx'"),
        (lambda s: s["files"].update(extra="x.onnx"), "fast_path section this runtime cannot read"),
    ],
)
def test_a_fast_path_section_that_does_not_fit_is_refused(bundle_copy: Path, edit: Any, message: str) -> None:
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    edit(manifest["fast_path"])
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=message):
        load_bundle(bundle_copy)


def test_a_fast_path_part_with_other_inputs_is_refused(bundle_copy: Path) -> None:
    """model.onnx where model.unpadded.onnx should be: right checksum, wrong contract (tokens, not words)."""
    from edge_sentiment.runtime.files import sha256_bytes

    other = (bundle_copy / "model.onnx").read_bytes()
    (bundle_copy / FAST_FILES["unpadded"]).write_bytes(other)
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["files"][FAST_FILES["unpadded"]] = {"sha256": sha256_bytes(other), "bytes": len(other)}
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"model.unpadded.onnx is not a model this runtime will run: must take \['words'\]"):
        load_bundle(bundle_copy)


def test_one_predictor_from_several_threads_at_once() -> None:
    """The fast path from 4 caller threads sharing one predictor: every text gets its own scores."""
    from concurrent.futures import ThreadPoolExecutor

    texts = [v.text for v in load_vectors(load_bundle(None)) or []] * 2
    shared = Predictor(load_bundle(None), threads=2, split_min_words=1)
    plain = Predictor.load(threads=1, fast=False)
    with ThreadPoolExecutor(4) as pool:
        got = np.stack(list(pool.map(lambda t: shared.predict_proba(t)[0], texts)))
    assert same_bits(got, np.stack([plain.predict_proba(t)[0] for t in texts]))


@needs_tf
def test_add_fast_path_rebuilds_it_and_keeps_every_other_file(bundle_copy: Path) -> None:
    """tools/maintenance/add_fast_path.py's function on a copy of the shipped bundle, without the IMDB data."""
    from edge_sentiment.export.fastpath import add_fast_path

    before = {p.name: p.read_bytes() for p in bundle_copy.iterdir() if p.name not in ("manifest.json", FAST_FILES["short"])}
    (bundle_copy / FAST_FILES["unpadded"]).unlink()
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    del manifest["fast_path"], manifest["files"][FAST_FILES["unpadded"]]
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    written, line = add_fast_path(bundle_copy)
    assert line.startswith("bit-exact with model.onnx at every length 1..500") and "on no texts" in line
    assert written["fast_path"]["check"]["texts"] == 0 and written["fast_path"]["check"]["identical"]
    after = {p.name: p.read_bytes() for p in bundle_copy.iterdir() if p.name not in ("manifest.json", FAST_FILES["short"])}
    assert after == before  # the other files byte for byte, and the same fast path rebuilt
    assert load_bundle(bundle_copy).fast.keys() == {"unpadded", "short"}  # and the short-text graph added
    assert written["fast_path"]["short_words"] == 500 - 98  # the pad-skip table's last row: 98 pads or more
