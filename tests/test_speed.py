"""The fixed cost per call and cold start (issue 35): the short-text graph, sessions opened when first needed,
and an `import edge_sentiment` that imports only what a prediction needs. Behaviour only: the same scores,
bit for bit, the same checks; no timings."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest

from edge_sentiment import BundleError, Predictor, TokenizerError
from edge_sentiment.runtime.bundle import FAST_FILES, default_bundle_path, load_bundle
from edge_sentiment.runtime.files import sha256_bytes
from edge_sentiment.runtime.tokenizer import Tokenizer

SHORT = FAST_FILES["short"]


def add_short_graph(bundle: Path) -> int:
    """Add the short-text graph to a bundle copy as the exporter builds it (export/fastpath.py), listed in its
    manifest; returns short_words. (tools/maintenance/add_fast_path.py also checks it at every length.)"""
    onnx = pytest.importorskip("onnx")
    from edge_sentiment.export.fastpath import fast_graphs

    graphs = fast_graphs(onnx.load_from_string((bundle / "model.onnx").read_bytes()))
    assert graphs is not None and "short" in graphs
    data = graphs["short"].SerializeToString()
    (bundle / SHORT).write_bytes(data)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"][SHORT] = {"sha256": sha256_bytes(data), "bytes": len(data)}
    manifest["fast_path"]["files"]["short"] = SHORT
    short_words = manifest["model"]["max_len"] - manifest["model"]["padding_skip"]["table_rows"] + 1
    manifest["fast_path"]["short_words"] = short_words
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return int(short_words)


@pytest.fixture(scope="module")
def short_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("speed") / "bundle"
    shutil.copytree(default_bundle_path(), target)
    add_short_graph(target)
    return target


@pytest.fixture
def bundle_copy(short_bundle: Path, tmp_path: Path) -> Path:
    target = tmp_path / "bundle"
    shutil.copytree(short_bundle, target)
    return target


def text_of(words: int, seed: int = 0) -> str:
    known = [w for w in load_bundle(None).tokenizer.known_words()[:3000] if w.isascii()]
    return " ".join(np.random.default_rng(seed + words).choice(known, size=words))


LENGTHS = [0, 1, 2, 3, 7, 10, 25, 64, 172, 401, 402, 403, 499, 500, 650]  # around short_words (402) and max_len (500)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def without_short_graph(bundle: Path, tmp_path: Path) -> Path:
    """A copy of a bundle as it was before the short-text graph."""
    target = tmp_path / "without-short"
    shutil.copytree(bundle, target)
    manifest = json.loads((target / "manifest.json").read_text())
    del manifest["files"][SHORT], manifest["fast_path"]["files"]["short"], manifest["fast_path"]["short_words"]
    (target / "manifest.json").write_text(json.dumps(manifest))
    (target / SHORT).unlink()
    return target


def test_short_texts_score_bit_for_bit_as_model_onnx_and_the_unpadded_graph(short_bundle: Path, tmp_path: Path) -> None:
    """One text at a time through the short-text graph (up to 402 words), the unpadded graph (beyond) and model.onnx
    alone (fast=False): the same float32 bits at every length around the limits, as batches too."""
    short = Predictor.load(short_bundle, threads=1)
    unpadded = Predictor.load(without_short_graph(short_bundle, tmp_path), threads=1)
    plain = Predictor.load(short_bundle, threads=1, fast=False)
    assert short.short_words == 402 and unpadded.short_words == 0 and plain.short_words == 0
    texts = [text_of(n) for n in LENGTHS]
    assert [len(short.tokenizer.encode(t)) for t in texts] == [min(n, 500) for n in LENGTHS]
    want = np.stack([plain.predict_proba(t) for t in texts])
    assert np.ptp(want) > 0.1, "the scores must vary for the comparison to mean something"
    for predictor in (short, unpadded):
        assert same_bits(np.stack([predictor.predict_proba(t) for t in texts]), want)
        assert same_bits(predictor.score_ids([predictor.tokenizer.encode(t) for t in texts[1:2]]), want[1])
    assert same_bits(short.predict_proba(texts), plain.predict_proba(texts))
    assert [p.label for p in short.predict(texts)] == [p.label for p in plain.predict(texts)]


def test_a_calibrated_bundle_calibrates_the_short_path_too(bundle_copy: Path) -> None:
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["calibration"] = {"temperature": 1.7, "bias": -0.3}
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    calibrated, raw = Predictor.load(bundle_copy, threads=1), Predictor.load(bundle_copy, threads=1, calibrated=False)
    text = text_of(10)
    p = float(raw.predict_proba(text)[0])
    assert float(calibrated.predict_proba(text)[0]) == pytest.approx(calibrated.decision.calibrate_one(p), abs=1e-6)
    assert abs(float(calibrated.predict_proba(text)[0]) - p) > 1e-3


class Opened:
    """Stands in for onnxruntime.InferenceSession and records which model each session was opened on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.models: list[bytes] = []
        real = onnxruntime.InferenceSession

        def opening(model: bytes, *args: Any, **kwargs: Any) -> Any:
            self.models.append(model)
            return real(model, *args, **kwargs)

        monkeypatch.setattr(onnxruntime, "InferenceSession", opening)

    def names(self, bundle: Path) -> list[str]:
        by_bytes = {p.read_bytes(): p.name for p in bundle.glob("*.onnx")}
        return [by_bytes.get(m, "?") for m in self.models]


def test_a_first_short_text_opens_only_the_short_graph(bundle_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    opened = Opened(monkeypatch)
    predictor = Predictor.load(bundle_copy, threads=1)
    assert opened.names(bundle_copy) == [SHORT]  # opened at load: a bad graph fails there, not at the first text
    predictor.predict_proba("A wonderful, moving film.")
    predictor.predict("Dull.")
    assert opened.names(bundle_copy) == [SHORT]
    predictor.predict_proba("")  # an empty text is one pad token through model.onnx
    predictor.predict_proba(text_of(450))  # beyond short_words: the unpadded graph
    predictor.predict_proba([text_of(3), text_of(4), text_of(450)])  # batches
    assert opened.names(bundle_copy) == [SHORT, "model.onnx", FAST_FILES["unpadded"]]  # each once


def test_without_the_short_graph_a_load_opens_the_unpadded_one(
    short_bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = without_short_graph(short_bundle, tmp_path)
    opened = Opened(monkeypatch)
    Predictor.load(before, threads=1).predict_proba("Great.")
    assert opened.names(before) == [FAST_FILES["unpadded"]]
    Predictor.load(before, threads=1, fast=False)
    assert opened.names(before)[-1] == "model.onnx"


def test_sessions_opened_after_load_use_the_bytes_verified_at_load(bundle_copy: Path) -> None:
    """The bundle is changed on disk after the load: a session opened later is made from the bytes that were
    checked (never re-read), and a new load of the changed bundle is refused."""
    texts = ["", text_of(450)]
    want = Predictor.load(bundle_copy, threads=1).predict_proba(texts)
    predictor = Predictor.load(bundle_copy, threads=1)
    for name in ("model.onnx", FAST_FILES["unpadded"]):
        data = bytearray((bundle_copy / name).read_bytes())
        data[len(data) // 2] ^= 0x40
        (bundle_copy / name).write_bytes(bytes(data))
    assert same_bits(predictor.predict_proba(texts), want)
    with pytest.raises(BundleError, match="model.onnx does not match its sha256"):
        Predictor.load(bundle_copy)


def test_a_session_that_fails_to_open_later_raises_a_bundle_error(bundle_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    predictor = Predictor.load(bundle_copy, threads=1)
    real = onnxruntime.InferenceSession

    def failing(model: bytes, *args: Any, **kwargs: Any) -> Any:
        if model == predictor.bundle.model_bytes:
            raise RuntimeError("out of memory")
        return real(model, *args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", failing)
    with pytest.raises(BundleError, match=r"onnxruntime could not load .*/model\.onnx: out of memory"):
        predictor.predict_proba("")
    assert predictor.predict_proba("fine").shape == (1,)  # the short graph still works


def test_threads_opening_the_same_session_at_once_open_it_once(bundle_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    predictor = Predictor.load(bundle_copy, threads=1)
    opened = Opened(monkeypatch)
    start = threading.Barrier(6)
    results: list[np.ndarray] = []

    def score() -> None:
        start.wait()
        results.append(predictor.predict_proba(""))

    workers = [threading.Thread(target=score) for _ in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert opened.names(bundle_copy) == ["model.onnx"] and len(results) == 6
    assert all(same_bits(r, results[0]) for r in results)


@pytest.mark.parametrize(
    ("short_words", "files_short"),
    [(0, True), (501, True), ("402", True), (None, True), (402, False)],
    ids=["zero", "over-max-len", "a-string", "missing", "no-file-listed"],
)
def test_a_short_graph_section_that_does_not_fit_is_refused(bundle_copy: Path, short_words: Any, files_short: bool) -> None:
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    section = manifest["fast_path"]
    if short_words is None:
        del section["short_words"]
    else:
        section["short_words"] = short_words
    if not files_short:
        del manifest["files"][SHORT]
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    message = "without short_words from 1 to max_len" if files_short else "lists fast-path part 'short' as 'model.short.onnx'"
    with pytest.raises(BundleError, match=message):
        load_bundle(bundle_copy)


def test_a_changed_short_graph_is_refused(bundle_copy: Path) -> None:
    data = bytearray((bundle_copy / SHORT).read_bytes())
    data[len(data) // 2] ^= 1
    (bundle_copy / SHORT).write_bytes(bytes(data))
    with pytest.raises(BundleError, match="model.short.onnx does not match its sha256"):
        Predictor.load(bundle_copy)


def test_a_short_graph_with_other_inputs_is_refused(bundle_copy: Path) -> None:
    other = (bundle_copy / "model.onnx").read_bytes()
    (bundle_copy / SHORT).write_bytes(other)
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["files"][SHORT] = {"sha256": sha256_bytes(other), "bytes": len(other)}
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError, match=r"model.short.onnx is not a model this runtime will run: must take \['words'\]"):
        Predictor.load(bundle_copy)


def test_import_edge_sentiment_imports_only_what_a_prediction_needs() -> None:
    """A fresh process: `import edge_sentiment` and one prediction load no scoring, verify, text-model, thread-pool
    or TensorFlow code; the lazily imported names still work."""
    code = (
        "import sys, json, edge_sentiment\n"
        "after_import = sorted(sys.modules)\n"
        "edge_sentiment.Predictor.load(threads=1).predict('A wonderful, moving film.')\n"
        "after_predict = sorted(sys.modules)\n"
        "names = [edge_sentiment.verify_bundle.__name__, edge_sentiment.TextModel.__name__, edge_sentiment.score_file.__name__]\n"
        "print(json.dumps([after_import, after_predict, names]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    after_import, after_predict, names = json.loads(done.stdout)
    never = {"edge_sentiment.scoring", "edge_sentiment.runtime.verify", "edge_sentiment.runtime.textmodel",
             "edge_sentiment.runtime.keras_tokenizers", "concurrent", "logging", "tensorflow", "keras", "onnx"}  # fmt: skip
    for modules in (after_import, after_predict):
        assert not [m for m in modules if m in never or m.rsplit(".", 1)[0] in never or m.split(".")[0] in never]
    assert "onnxruntime" not in after_import
    assert "onnxruntime" in after_predict
    assert names == ["verify_bundle", "TextModel", "score_file"]


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("Great", "entry 3 ('Great') is not a standardised word"),
        ("two words", "entry 3 ('two words') is not a standardised word"),
        ("", "entry 3 ('') is not a standardised word"),
        ("a\nb", "entry 3 ('a\\nb') is not a standardised word"),
        ("don\u2019t", "entry 3 ('don\u2019t') is not a standardised word"),
        ("\ufb01ne", "entry 3 ('\ufb01ne') is not a standardised word"),  # NFKC makes the ligature "fi"
        ("_x", "entry 3 ('_x') is not a standardised word"),
        (7, "entry 3 (7) is not a standardised word"),
        ("the", "entry 3 ('the') is a duplicate"),
    ],
)
def test_a_vocabulary_checked_at_once_names_its_first_bad_entry(bad: Any, message: str) -> None:
    with pytest.raises(TokenizerError, match=re.escape(message)):
        Tokenizer(["the", "a", "film", bad, "good"])


def test_a_vocabulary_of_standard_words_loads_as_before() -> None:
    words = ["the", "don't", "naïve", "σας", "x2", "über"]
    assert Tokenizer(words).encode("The naïve film; über x2 don't") == [2, 4, 1, 7, 6, 3]


@pytest.mark.slow  # two checks at every length 1..500: about 30 s here
def test_the_exporters_check_covers_the_short_graph_and_fails_on_a_wrong_one() -> None:
    """check_fast_path (what export and add_fast_path gate on) runs the short-text graph at every length; a short
    graph built on the wrong pad state (no pads' instead of 98's) differs and is reported, never shipped."""
    onnx = pytest.importorskip("onnx")
    from edge_sentiment.export import fastpath

    bundle = load_bundle(None)
    s = fastpath.structure(onnx.load_from_string(bundle.model_bytes))
    assert s is not None
    parts = {part: g.SerializeToString() for part, g in fastpath._graphs(s, fastpath.SPLIT_MIN_HIDDEN).items()}
    good = fastpath.check_fast_path(bundle, parts, [], short_words=402)
    assert good["identical"] and good["paths"] == ["one graph", "short texts"]
    wrong = fastpath._short_graph({**s, "last_row": 0}, int(s["embedding"].dims[1]), 1)
    bad = fastpath.check_fast_path(bundle, {**parts, "short": wrong.SerializeToString()}, [], short_words=402)
    assert not bad["identical"] and bad["differing"]["short texts"] > 0 and bad["differing"]["one graph"] == 0
