"""The text-in model (model.text.onnx): the committed bundles' text models pass their conformance vectors
through onnxruntime, hold only stock ops, are verified before a session, and the export gate refuses a
text model whose ids differ from the Python runtime's on a test review."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import ASSETS, make_archive, needs_tf

from edge_sentiment import Predictor
from edge_sentiment.errors import BundleError, ExportError
from edge_sentiment.export.textmodel import build_text_model
from edge_sentiment.runtime.bundle import default_bundle_path, load_bundle
from edge_sentiment.runtime.conformance import ATOL, compare, load_vectors
from edge_sentiment.runtime.onnxinfo import read_onnx_info, strip_metadata
from edge_sentiment.runtime.textmodel import TEXT_MODEL_FILE, TextModel, prepare

TINY = ASSETS / "tiny_bundle"
WITH_TEXT_MODEL = [default_bundle_path(), TINY]


@pytest.mark.parametrize("bundle", WITH_TEXT_MODEL, ids=lambda p: p.name)
@pytest.mark.parametrize("batch_size", [1, 200])
def test_the_text_model_passes_the_conformance_vectors(bundle: Path, batch_size: int) -> None:
    model = TextModel.load(bundle, calibrated=False)  # the vectors hold the model's own scores
    vectors = load_vectors(model.bundle) or []
    ids: list[list[int]] = []
    scores = []
    for start in range(0, len(vectors), batch_size):
        s, i = model.run([v.text for v in vectors[start : start + batch_size]])
        ids += i
        scores += list(s)
    result = compare(vectors, ids, scores)
    assert result.passed and result.ids_identical == 200, result.describe()


@pytest.mark.parametrize("bundle", WITH_TEXT_MODEL, ids=lambda p: p.name)
def test_the_text_model_holds_stock_ops_and_a_pinned_ir_version(bundle: Path) -> None:
    data = (bundle / TEXT_MODEL_FILE).read_bytes()
    info = read_onnx_info(data)
    assert info.op_census["StringNormalizer"] == 1 and info.op_census["com.microsoft.Tokenizer"] == 2
    assert info.op_census["ai.onnx.ml.LabelEncoder"] == 1
    assert set(info.opsets) <= {"ai.onnx", "ai.onnx.ml", "com.microsoft"}
    import onnx

    model = onnx.load_from_string(data)
    assert model.ir_version == 8  # onnxruntime-web 1.30 reads IR <= 13
    manifest = load_bundle(bundle).manifest["text_model"]
    assert manifest["imdb_test"]["ids_identical"] == manifest["imdb_test"]["texts"] >= 400
    assert manifest["imdb_test"]["max_abs_diff"] <= ATOL


def test_the_text_model_agrees_with_the_runtime_on_rule_texts_in_batches() -> None:
    model = TextModel.load()
    predictor = Predictor.load(threads=1)
    texts = ["", "Don’t <BR>miss it!", "İstanbul, ΟΔΟΣ, ＧＲＥＡＴ ﬁlm ½", "a'’b", "x" * 5000, "good " * 600]
    scores, ids = model.run(texts)
    assert ids == [predictor.tokenizer.encode(t) for t in texts]
    assert np.max(np.abs(scores - predictor.predict_proba(texts))) <= ATOL
    assert prepare("ﬁlm") == "film" and prepare("plain") == "plain"


def test_a_changed_text_model_is_refused(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(TINY, bundle)
    data = bytearray((bundle / TEXT_MODEL_FILE).read_bytes())
    data[-1] ^= 1
    (bundle / TEXT_MODEL_FILE).write_bytes(bytes(data))
    with pytest.raises(BundleError, match="sha256"):
        TextModel.load(bundle)


def test_a_bundle_without_a_text_model_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="--text-model"):
        TextModel.load(ASSETS / "shapes" / "gru")


@pytest.mark.parametrize(
    "bundle, piece", [("kinds/keras-tokenizer", "edge-sentiment tokenizer"), ("shapes/masked-lstm", "pads are 'none'")]
)
def test_the_text_model_is_refused_where_it_cannot_be_exact(tmp_path: Path, bundle: str, piece: str) -> None:
    from edge_sentiment.export.textgate import add_text_model

    copy = Path(shutil.copytree(ASSETS / bundle, tmp_path / "bundle"))  # a refusal must not touch the asset either way
    with pytest.raises(ExportError, match=piece):
        add_text_model(copy, make_archive(tmp_path / "a.tar.gz"), fuzz=0)


def test_a_model_fed_its_pads_gets_a_text_model_that_pads_in_the_graph(tmp_path: Path) -> None:
    """A GRU bundle (pads 'fed': every text padded to max_len): the graph pads the ids as the runtime does."""
    from edge_sentiment.export.textgate import add_text_model

    bundle = Path(shutil.copytree(ASSETS / "shapes" / "gru", tmp_path / "bundle"))
    manifest, _ = add_text_model(bundle, make_archive(tmp_path / "a.tar.gz"), fuzz=300)
    assert manifest["text_model"]["fuzz"]["ids_identical"] == 300
    texts = ["", "a wonderful brilliant film", " ".join(["great"] * 60), "boring awful stupid"]
    scores, ids = TextModel.load(bundle).run(texts)
    predictor = Predictor.load(bundle)
    assert ids == [predictor.tokenizer.encode(t) for t in texts]
    np.testing.assert_allclose(scores, predictor.predict_proba(texts), rtol=0, atol=1e-6)


def test_the_gate_refuses_a_text_model_that_differs_on_a_test_review(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A graph whose words are ASCII only splits 'naïve' in two: the export must not write it."""
    from edge_sentiment.export import textmodel
    from edge_sentiment.export.textgate import add_text_model

    archive = make_archive(tmp_path / "a.tar.gz", extra={"aclImdb/test/pos/99_9.txt": "A naïve, moving film.".encode()})
    bundle = tmp_path / "bundle"
    shutil.copytree(TINY, bundle)
    before = (bundle / "manifest.json").read_text()
    monkeypatch.setattr(textmodel, "word_regex", lambda: "[a-zA-Z0-9]+")
    with pytest.raises(ExportError, match=r"differs from the Python runtime on IMDB test reviews, so it was not written"):
        add_text_model(bundle, archive, fuzz=10)
    assert (bundle / "manifest.json").read_text() == before


def test_adding_a_text_model_keeps_every_other_file(tmp_path: Path) -> None:
    from edge_sentiment.export.textgate import add_text_model

    bundle = tmp_path / "bundle"
    shutil.copytree(TINY, bundle)
    manifest = json.loads((bundle / "manifest.json").read_text())
    del manifest["files"][TEXT_MODEL_FILE], manifest["text_model"]
    (bundle / TEXT_MODEL_FILE).unlink()
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    written, lines = add_text_model(bundle, make_archive(tmp_path / "a.tar.gz"), fuzz=300)

    def unstamped(path: Path) -> bytes:  # a file's bytes but for the metadata every bundle write stamps (export/writer.py)
        data = path.read_bytes()
        return strip_metadata(data, "edge_sentiment.") if path.suffix == ".onnx" else data

    for name in ("model.onnx", "tokenizer.json", "conformance.jsonl"):
        assert unstamped(bundle / name) == unstamped(TINY / name)
    again = build_text_model(unstamped(TINY / "model.onnx"), load_bundle(TINY).tokenizer, "skipped")
    assert unstamped(bundle / TEXT_MODEL_FILE) == again  # deterministic
    assert written["text_model"]["imdb_test"]["ids_identical"] == 16 and written["text_model"]["fuzz"]["texts"] == 300
    assert any(line.startswith("text model on 300 fuzzed texts") for line in lines)


@needs_tf
def test_export_writes_the_text_model(tmp_path: Path) -> None:
    from edge_sentiment.export.exporter import export_bundle

    out = tmp_path / "bundle"
    result = export_bundle(
        ASSETS / "tiny_run", out, parity_samples=16, data=make_archive(tmp_path / "a.tar.gz"), text_model=True, text_fuzz=200
    )
    assert (out / TEXT_MODEL_FILE).exists() and result.manifest["text_model"]["fuzz"]["texts"] == 200
    assert any(line.startswith("✓ text model on the 16 IMDB test reviews") for line in result.manifest["gates"])
    model = TextModel.load(out)
    vectors = load_vectors(model.bundle) or []
    scores, ids = model.run([v.text for v in vectors])
    assert compare(vectors, ids, scores).passed


def test_text_that_is_not_a_string_or_not_utf8_is_an_input_error() -> None:
    from edge_sentiment.errors import InputError

    model = TextModel.load(TINY)
    with pytest.raises(InputError, match="not str"):
        model.run(["fine", b"bytes"])  # type: ignore[list-item]
    with pytest.raises(InputError, match="lone surrogate"):
        model.run(["bad \ud800 text"])
    assert model.run([])[1] == []


@pytest.mark.fuzz_long
def test_the_default_text_model_on_100000_fuzzed_texts() -> None:
    from edge_sentiment.export.textgate import fuzz_texts, measure

    predictor = Predictor.load(threads=1)
    result = measure(TextModel.load(), predictor, fuzz_texts(predictor.tokenizer, 100_000, seed=1))
    assert result["ids_identical"] == 100_000, result["first_difference"]
    assert result["max_abs_diff"] <= ATOL


MIXED = [
    "",
    "Great.",
    "<br /><br />",
    "Don’t <BR>miss it! A wonderful, moving film.",
    "İstanbul, ΟΔΟΣ, ＧＲＥＡＴ ﬁlm ½ — dull<i>ish</i> but fine",
    "good " * 3 + "<p>bad</p> " * 4,
    " ".join(["terrible", "plot", "wonderful", "acting", "zzyzx"] * 34),  # 170 words
    " ".join(["awful"] * 420 + ["brilliant"] * 130),  # 550 words: the last 500 are read
    "x" * 3000,
]


@pytest.fixture(scope="module")
def default_text_model() -> tuple[TextModel, Predictor, bytes]:
    """A text model built now from the shipped bundle's model.onnx (a bidirectional WordPooling LSTM: its own head)."""
    loaded = load_bundle()
    data = build_text_model(loaded.model_bytes, loaded.tokenizer, "skipped")
    return TextModel(loaded, data), Predictor(loaded, threads=1), data


def test_a_wordpooling_model_gets_a_head_without_mask_ops(default_text_model: tuple[TextModel, Predictor, bytes]) -> None:
    """The text graph feeds the LSTM each text's words alone (sequence_lens), so model.onnx's mask ops are gone."""
    import onnx

    graph = onnx.load_from_string(default_text_model[2]).graph
    ops = [node.op_type for node in graph.node]
    (lstm,) = [node for node in graph.node if node.op_type == "LSTM"]
    assert lstm.input[4] == "text/lens"  # sequence_lens: each text's word count
    assert "Equal" not in ops and "Not" not in ops and ops.count("Mul") == 0
    assert len(ops) < 60  # the text graph in front of model.onnx's had 85 nodes


@pytest.mark.parametrize("batch_size", [1, 3, len(MIXED)])
def test_the_wordpooling_head_equals_the_python_runtime_on_batches_mixing_lengths(
    default_text_model: tuple[TextModel, Predictor, bytes], batch_size: int
) -> None:
    """Texts of 0 to 550 words (tags, Unicode, one unbroken 3000-letter word) in batches that mix their lengths:
    the ids the Python tokenizer gives and the Predictor's scores, alone or together."""
    model, predictor, _ = default_text_model
    want_ids = [predictor.tokenizer.encode(t) for t in MIXED]
    want = predictor.predict_proba(MIXED)
    for start in range(0, len(MIXED), batch_size):
        scores, ids = model.run(MIXED[start : start + batch_size])
        assert ids == want_ids[start : start + batch_size]
        np.testing.assert_allclose(scores, want[start : start + batch_size], rtol=0, atol=ATOL)
    empty_alone = float(model.run([""])[0][0])  # an empty text scores one pad, alone or beside another text
    assert empty_alone == pytest.approx(float(model.run(["", "Great."])[0][0]), abs=ATOL)
    assert empty_alone == pytest.approx(float(predictor.predict_proba("")[0]), abs=ATOL)


@needs_tf
@pytest.mark.parametrize(("bidirectional", "mode", "classes"), [(False, "max", 1), (True, "max", 3)])
def test_the_wordpooling_head_of_other_shapes_equals_the_python_runtime(
    tmp_path: Path, bidirectional: bool, mode: str, classes: int
) -> None:
    """A forward LSTM (run as ONNX "reverse" over the reversed words) and a softmax head over three classes."""
    import keras
    import onnx
    from test_fastpath import export_cli, texts_of_every_length, wordpooling_model

    model = wordpooling_model(keras, bidirectional, mode, classes)
    export_cli(tmp_path, model, *(["--labels", "a,b,c"] if classes == 3 else []))
    loaded = load_bundle(tmp_path / "bundle")
    data = build_text_model(loaded.model_bytes, loaded.tokenizer, "skipped")
    assert "Equal" not in {n.op_type for n in onnx.load_from_string(data).graph.node}
    text_model, predictor = TextModel(loaded, data), Predictor(loaded, threads=1)
    texts = texts_of_every_length()  # 0 to max_len + 5 words
    want = predictor.predict_proba(texts)
    assert np.ptp(want) > 0.05, "the scores must vary for the comparison to mean something"
    for size in (1, 5, len(texts)):
        for start in range(0, len(texts), size):
            scores, ids = text_model.run(texts[start : start + size])
            assert ids == [predictor.tokenizer.encode(t) for t in texts[start : start + size]]
            np.testing.assert_allclose(scores, want[start : start + size], rtol=0, atol=ATOL)
