"""The exporter on the tiny committed run: manifest, parity the tf2onnx way, exact pad skipping, gates, atomic writes."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import ASSETS, make_archive, needs_tf

from edge_sentiment.data import DATA_ENV
from edge_sentiment.export.options import TokenizerOptions
from edge_sentiment.errors import EdgeSentimentError, ExportError
from edge_sentiment.runtime.bundle import FORMAT_VERSION, load_bundle
from edge_sentiment.runtime.onnxinfo import read_onnx_info
from edge_sentiment.runtime.tokenizer import Tokenizer

pytestmark = needs_tf

TINY_RUN = ASSETS / "tiny_run"
MAX_LEN = 40  # the tiny run's tokenizer and model input
VOCAB_SIZE = 32
SAMPLES = 64  # parity samples: enough to mean something, few enough to stay quick
GATE_NAMES = [
    "op census",
    "onnx checker",
    "self-contained",
    "runtime contract",
    "parity, padded",
    "parity, runtime",
    "tokenizer",  # the bundle's tokenizer.json against the run's, from raw strings
    "parity from raw strings",
    "keras model unchanged",
]


class NotExpected(BaseException):
    """Raised by stand-ins for work that must not happen; a BaseException so no handler can hide it."""


@pytest.fixture(autouse=True)
def _no_imdb_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read the real IMDB data here, even where the environment points at it."""
    monkeypatch.delenv(DATA_ENV, raising=False)


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Any]]:
    """The tiny run exported once for the module (no data: parity on generated sequences)."""
    from edge_sentiment.export.exporter import export_bundle

    out = tmp_path_factory.mktemp("export") / "bundle"
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(DATA_ENV, raising=False)
        result = export_bundle(TINY_RUN, out, parity_samples=SAMPLES)
    yield out, result


@pytest.fixture(scope="module")
def keras_model() -> Any:
    from edge_sentiment.export.convert import load_keras_model

    return load_keras_model(TINY_RUN / "model.keras")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def padded(id_lists: list[list[int]], length: int = MAX_LEN) -> np.ndarray:
    """Pre-pad with 0 and keep the last `length` ids, like Keras pad_sequences (written here, not imported)."""
    out = np.zeros((len(id_lists), length), dtype=np.int32)
    for row, ids in enumerate(id_lists):
        ids = ids[-length:]
        out[row, length - len(ids) :] = ids
    return out


def sample_ids(seed: int = 1) -> list[list[int]]:
    """Real texts through the tokenizer, plus random ids: every length from 1 to max_len and one beyond."""
    tok = Tokenizer.load(TINY_RUN / "tokenizer.json")
    texts = [
        "a wonderful brilliant film",
        "boring awful stupid",
        "the movie was great and the acting superb",
        " ".join(["the plot was dull and the ending a waste"] * 6),
    ]
    ids = [tok.encode(t) for t in texts]
    rng = np.random.default_rng(seed)
    ids += [rng.integers(1, VOCAB_SIZE, size=n).tolist() for n in range(1, MAX_LEN + 1)]
    return ids


def session(model_bytes: bytes) -> Any:
    import onnxruntime as ort

    return ort.InferenceSession(model_bytes, providers=["CPUExecutionProvider"])


def run(sess: Any, batch: np.ndarray) -> np.ndarray:
    return sess.run(["probability"], {"tokens": np.asarray(batch, dtype=np.int32)})[0][:, 0]


def assert_nothing_written(out: Path) -> None:
    assert not out.exists()
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.tmp-")]
    assert leftovers == []


# -- a passing export ---------------------------------------------------------------------------


def test_export_passes_every_gate(exported: tuple[Path, Any]) -> None:
    out, result = exported
    assert result.bundle == out
    assert result.report.passed
    names = [g.name for g in result.report.gates]
    assert len(names) == len(GATE_NAMES)
    assert all(name.startswith(expected) for name, expected in zip(names, GATE_NAMES)), names
    assert all(line.startswith("✓ ") for line in result.manifest["gates"])
    load_bundle(out)


def test_export_manifest(exported: tuple[Path, Any]) -> None:
    out, result = exported
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest == result.manifest
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["labels"] == ["negative", "positive"]

    assert sorted(p.name for p in out.iterdir()) == [
        "MODEL_CARD.md",
        "conformance.jsonl",
        "manifest.json",
        "model.onnx",
        "tokenizer.json",
    ]
    assert sorted(manifest["files"]) == ["MODEL_CARD.md", "conformance.jsonl", "model.onnx", "tokenizer.json"]
    assert manifest["conformance"]["texts"] == 200
    for name, entry in manifest["files"].items():
        assert entry == {"sha256": sha256(out / name), "bytes": (out / name).stat().st_size}
    assert Tokenizer.load(out / "tokenizer.json") == Tokenizer.load(TINY_RUN / "tokenizer.json")

    model = manifest["model"]
    info = read_onnx_info((out / "model.onnx").read_bytes())
    assert model["opset"] == info.opsets["ai.onnx"] == 17
    # the model file says what it is (tests/test_metadata.py checks every key)
    assert json.loads(info.metadata["edge_sentiment.labels"]) == manifest["labels"]
    assert info.metadata["edge_sentiment.tokenizer_sha256"] == manifest["files"]["tokenizer.json"]["sha256"]
    assert [{k: i[k] for k in ("name", "dtype", "shape")} for i in model["inputs"]] == [
        {"name": "tokens", "dtype": "int32", "shape": ["batch", "length"]}
    ]
    assert [{k: o[k] for k in ("name", "dtype", "shape")} for o in model["outputs"]] == [
        {"name": "probability", "dtype": "float32", "shape": ["batch", 1]}
    ]
    # ...and the model itself says the same
    assert [(i.name, i.dtype, i.shape) for i in info.inputs] == [("tokens", "int32", ["batch", "length"])]
    assert [(o.name, o.dtype, o.shape) for o in info.outputs] == [("probability", "float32", ["batch", 1])]
    assert model["max_len"] == MAX_LEN
    assert model["vocab_size"] == VOCAB_SIZE == info.initializers["embedding"][0]

    census = model["op_census"]
    assert census == dict(info.op_census)
    assert census["LSTM"] == 1
    assert not {"Loop", "Scan", "If"} & set(census)

    rows = model["padding_skip"]["table_rows"]
    assert isinstance(rows, int) and 1 <= rows <= MAX_LEN + 1
    assert info.initializers["padskip/h_table"] == [rows, 8]

    parity = manifest["parity"]
    assert "generated" in parity["source"]
    for kind in ("padded", "runtime"):
        assert parity[kind]["samples"] == SAMPLES
        assert parity[kind]["max_abs_diff"] <= 1e-5
        assert parity[kind]["label_agreement"] == 1.0
        assert parity[kind]["finite"] is True

    versions = manifest["versions"]
    for tool in ("tensorflow", "tf2onnx", "onnx", "onnxruntime"):
        assert versions[tool] == metadata.version(tool)


# -- parity the tf2onnx way ---------------------------------------------------------------------


def test_keras_and_onnx_agree_padded_and_unpadded(exported: tuple[Path, Any], keras_model: Any) -> None:
    from edge_sentiment.export.convert import to_onnx
    from edge_sentiment.export.padskip import add_padding_skip

    ids = sample_ids()
    x = padded(ids)
    weights_before = [w.copy() for w in keras_model.get_weights()]
    keras_before = keras_model.predict(x, batch_size=256, verbose=0)[:, 0]

    # convert this very model object in memory, as the exporter does
    converted, _ = add_padding_skip(to_onnx(keras_model), MAX_LEN)
    bundle_bytes = (exported[0] / "model.onnx").read_bytes()
    for model_bytes in (converted.SerializeToString(), bundle_bytes):
        sess = session(model_bytes)
        np.testing.assert_allclose(run(sess, x), keras_before, rtol=0, atol=1e-5)
        stripped = np.array([run(sess, np.array([row]))[0] for row in ids])
        np.testing.assert_allclose(stripped, keras_before, rtol=0, atol=1e-5)

    keras_after = keras_model.predict(x, batch_size=256, verbose=0)[:, 0]
    np.testing.assert_array_equal(keras_after, keras_before)
    for before, after in zip(weights_before, keras_model.get_weights()):
        np.testing.assert_array_equal(before, after)
    # the inputs are varied enough for the comparison to mean something
    assert keras_before.min() < 0.5 < keras_before.max()


def test_padding_skip_is_exact_for_every_length(exported: tuple[Path, Any]) -> None:
    sess = session((exported[0] / "model.onnx").read_bytes())
    rng = np.random.default_rng(2)
    for length in range(0, MAX_LEN + 6):
        ids = rng.integers(1, VOCAB_SIZE, size=(3, length)).astype(np.int32)
        unpadded = ids if length else np.zeros((3, 1), dtype=np.int32)  # an empty text is one pad
        reference = run(sess, padded([row.tolist() for row in ids]))
        np.testing.assert_allclose(run(sess, unpadded), reference, rtol=0, atol=1e-6, err_msg=f"length {length}")


# -- each gate made to fail: nothing written ----------------------------------------------------


def perturbed_to_onnx(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    """Make exporter.to_onnx return a model with one weight changed, as a faulty converter would."""
    from onnx import numpy_helper

    import edge_sentiment.export.exporter as exporter

    real = exporter.to_onnx

    def to_onnx(model: Any, **kwargs: Any) -> Any:
        proto = real(model, **kwargs)
        nodes = list(proto.graph.node)
        if where == "dense bias":
            sigmoid = next(n for n in nodes if n.op_type == "Sigmoid")
            add = next(n for n in nodes if sigmoid.input[0] in n.output)
            inits = {t.name for t in proto.graph.initializer}
            name = next(i for i in add.input if i in inits)
            change = lambda a: a + 0.05  # noqa: E731
        else:  # an LSTM input weight
            name = next(n for n in nodes if n.op_type == "LSTM").input[1]
            change = lambda a: a * 1.25  # noqa: E731
        tensor = next(t for t in proto.graph.initializer if t.name == name)
        tensor.CopyFrom(numpy_helper.from_array(change(numpy_helper.to_array(tensor)).astype(np.float32), name))
        return proto

    monkeypatch.setattr(exporter, "to_onnx", to_onnx)


@pytest.mark.parametrize(
    ("case", "expected", "failing"),
    [
        ("recurrent dropout kept", ["✗ op census: LSTM=0", "Loop=1", "recurrent dropout"], ["op census", "runtime contract"]),
        ("dense bias", ["parity", "max |Δp|"], ["parity, padded", "parity, runtime", "parity from raw strings"]),
    ],
)
def test_a_failing_gate_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, expected: list[str], failing: list[str]
) -> None:
    from edge_sentiment.export.exporter import export_bundle

    parent = tmp_path / "exports"
    parent.mkdir()
    out = parent / "bundle"
    kwargs: dict[str, Any] = {"parity_samples": SAMPLES}
    if case == "recurrent dropout kept":
        kwargs["strip_dropout"] = False
    else:
        perturbed_to_onnx(monkeypatch, case)
    with pytest.raises(ExportError) as exc:
        export_bundle(TINY_RUN, out, **kwargs)
    message = str(exc.value)
    assert "nothing was written" in message
    for piece in expected:
        assert piece in message
    lines = [line for line in message.splitlines() if line[:2] in ("✓ ", "✗ ")]
    assert len(lines) >= 2
    failed = [line[2:] for line in lines if line.startswith("✗ ")]
    assert [f for f in failing if any(line.startswith(f) for line in failed)] == failing
    assert len(failed) == len(failing)
    assert any(line.startswith("✓ ") for line in lines)
    # every gate ran and is listed, passed or not
    assert [n for n in GATE_NAMES if any(line[2:].startswith(n) for line in lines)] == GATE_NAMES
    assert_nothing_written(out)
    assert list(parent.iterdir()) == []


# -- atomic writes ------------------------------------------------------------------------------


def test_a_failed_export_leaves_the_previous_bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edge_sentiment.export.exporter import export_bundle

    archive = make_archive(tmp_path / "aclImdb.tar.gz")
    parent = tmp_path / "exports"
    out = parent / "bundle"
    first = export_bundle(TINY_RUN, out, parity_samples=SAMPLES, data=archive)
    assert first.manifest["parity"]["source"] == "16 IMDB test reviews"  # the tiny archive's whole test split
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    perturbed_to_onnx(monkeypatch, "LSTM weight")
    with pytest.raises(ExportError, match="parity"):
        export_bundle(TINY_RUN, out, parity_samples=SAMPLES, force=True)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    load_bundle(out)
    assert [p.name for p in parent.iterdir()] == ["bundle"]

    import edge_sentiment.export.exporter as exporter

    def must_not_run(*args: Any, **kwargs: Any) -> None:
        raise NotExpected("the target should have been refused before any work")

    monkeypatch.setattr(exporter, "load_source", must_not_run)
    with pytest.raises(EdgeSentimentError, match="--force"):
        export_bundle(TINY_RUN, out, parity_samples=SAMPLES)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert [p.name for p in parent.iterdir()] == ["bundle"]


def _tiny_model_file(tmp_path: Path, dense_activation: str) -> Path:
    """A run folder holding an untrained Embedding -> LSTM -> Dense -> Dense(sigmoid) model and the tiny tokenizer."""
    import keras

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(MAX_LEN,), dtype="int32"),
            keras.layers.Embedding(VOCAB_SIZE, 8, name="embedding"),
            keras.layers.LSTM(8, name="lstm"),
            keras.layers.Dense(4, activation=dense_activation),
            keras.layers.Dense(1, activation="sigmoid", name="probability"),
        ]
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    model.save(run_dir / "model.keras")
    shutil.copy(TINY_RUN / "tokenizer.json", run_dir / "tokenizer.json")
    return run_dir


def test_a_model_the_runtime_refuses_is_not_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model whose bundle load_bundle would refuse (a Relu op, here taken off the runtime's list) fails
    the export and keeps the old bundle."""
    import edge_sentiment.runtime.bundle as bundle_module
    from edge_sentiment.export.exporter import export_bundle

    monkeypatch.setattr(bundle_module, "ALLOWED_OPS", bundle_module.ALLOWED_OPS - {"Relu"})
    run_dir = _tiny_model_file(tmp_path, "relu")
    out = tmp_path / "exports" / "bundle"
    shutil.copytree(ASSETS / "tiny_bundle", out)
    before = {p.name: sha256(p) for p in out.iterdir()}
    with pytest.raises(EdgeSentimentError) as exc:
        export_bundle(run_dir, out, parity_samples=16, force=True)
    error = f"{type(exc.value).__name__}: {exc.value}"
    assert {p.name: sha256(p) for p in out.iterdir()} == before, f"the previous bundle was replaced ({error})"
    assert isinstance(exc.value, ExportError), error
    load_bundle(out)
    assert [p.name for p in out.parent.iterdir()] == ["bundle"]


# -- refused inputs -----------------------------------------------------------------------------


def test_a_lambda_layer_is_refused(tmp_path: Path) -> None:
    import keras

    from edge_sentiment.export.convert import load_keras_model

    model = keras.Sequential([keras.Input(shape=(3,)), keras.layers.Lambda(lambda x: x * 2)])
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(ExportError, match="Lambda|safe_mode"):
        load_keras_model(path)


def test_a_missing_keras_file_is_an_export_error(tmp_path: Path) -> None:
    from edge_sentiment.export.convert import load_keras_model

    (tmp_path / "not-a-model.keras").write_bytes(b"not a zip file")
    with pytest.raises(ExportError):
        load_keras_model(tmp_path / "not-a-model.keras")


def test_a_keras_file_needs_its_tokenizer(tmp_path: Path) -> None:
    from edge_sentiment.export.exporter import export_bundle

    out = tmp_path / "bundle"
    with pytest.raises(ExportError, match="--tokenizer"):
        export_bundle(TINY_RUN / "model.keras", out, parity_samples=SAMPLES)
    assert_nothing_written(out)


def test_a_tokenizer_of_another_vocabulary_is_refused(tmp_path: Path) -> None:
    from edge_sentiment.export.exporter import export_bundle

    tok = Tokenizer.load(TINY_RUN / "tokenizer.json")
    other = tmp_path / "tokenizer.json"
    Tokenizer(tok.words[:-3], max_len=tok.max_len).save(other)
    out = tmp_path / "bundle"
    with pytest.raises(ExportError, match=f"embedding has {VOCAB_SIZE} rows but .* has {VOCAB_SIZE - 3} ids"):
        export_bundle(TINY_RUN / "model.keras", out, tokenizer=other, parity_samples=SAMPLES)
    assert_nothing_written(out)


def test_a_keras_file_with_its_tokenizer_exports(tmp_path: Path) -> None:
    """The .keras + --tokenizer form works too, so the two refusals above are about what they say."""
    from edge_sentiment.export.exporter import export_bundle

    out = tmp_path / "bundle"
    options = TokenizerOptions(padding="pre", truncating="pre")  # a model file with a tokenizer: its sides are said
    result = export_bundle(
        TINY_RUN / "model.keras", out, tokenizer=TINY_RUN / "tokenizer.json", tokenizer_options=options, parity_samples=16
    )
    assert result.report.passed
    assert load_bundle(out).tokenizer == Tokenizer.load(TINY_RUN / "tokenizer.json")


def test_predictor_on_text_equals_keras_on_the_same_text() -> None:
    """The committed tiny bundle (exported from tiny_run) scores texts as Keras does, within 1e-5."""
    from edge_sentiment import Predictor
    from edge_sentiment.export.convert import load_keras_model

    texts = [
        "a wonderful brilliant film",
        "boring awful stupid",
        "",
        "the the the",
        "plot " * 90,
        "Great cast, bad ending.<br />Loved the music!",
        "ＧＲＥＡＴ ﬁlm, don't miss it",
    ]
    predictor = Predictor.load(ASSETS / "tiny_bundle", threads=2, batch_size=3)
    keras_p = load_keras_model(TINY_RUN / "model.keras").predict(predictor.tokenizer.encode_batch(texts), verbose=0).ravel()
    np.testing.assert_allclose(predictor.predict_proba(texts), keras_p, atol=1e-5, rtol=0)


@pytest.mark.parametrize("pooling, bidirectional", [("max", False), ("mean-max", False), ("max", True)])
def test_a_pooled_model_exports_exactly(tmp_path: Path, pooling: str, bidirectional: bool) -> None:
    """Pooling over the words (pads left out) keeps one fused LSTM and exact parity, forward or
    bidirectional: every length, an empty text, texts longer than max_len, and batches that mix
    lengths (pre-padded within the batch)."""
    import keras

    from edge_sentiment import Predictor
    from edge_sentiment.export.exporter import export_bundle
    from edge_sentiment.train.model import build_model
    from edge_sentiment.train.recipes import Recipe

    keras.utils.set_random_seed(3)
    recipe = Recipe(
        vocab_size=VOCAB_SIZE, max_len=MAX_LEN, embedding_dim=8, lstm_units=8, pooling=pooling, bidirectional=bidirectional
    )
    model = build_model(recipe)
    kernel, bias = model.get_layer("probability").get_weights()
    model.get_layer("probability").set_weights([kernel * 50, bias])  # spread the outputs around 0.5
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    model.save(run_dir / "model.keras")
    shutil.copy(TINY_RUN / "tokenizer.json", run_dir / "tokenizer.json")

    result = export_bundle(run_dir, tmp_path / "bundle", parity_samples=SAMPLES)
    assert result.report.passed
    assert result.manifest["model"]["op_census"]["LSTM"] == 1
    assert result.manifest["model"]["padding_skip"]["direction"] == ("bidirectional" if bidirectional else "forward")

    rng = np.random.default_rng(4)
    ids = [rng.integers(1, VOCAB_SIZE, size=n).tolist() for n in range(0, MAX_LEN + 6)]
    keras_p = model.predict(padded(ids), verbose=0)[:, 0]
    assert keras_p.max() - keras_p.min() > 0.3, "the outputs must vary for the comparison to mean something"
    predictor = Predictor.load(tmp_path / "bundle", threads=2, batch_size=5)
    np.testing.assert_allclose(predictor.score_ids([row[-MAX_LEN:] for row in ids]), keras_p, rtol=0, atol=1e-5)
    np.testing.assert_allclose([predictor.score_ids([row[-MAX_LEN:]])[0] for row in ids], keras_p, rtol=0, atol=1e-5)


def test_a_bidirectional_last_state_runs_at_full_length(tmp_path: Path) -> None:
    """Its backward direction ends on the pads, so pads cannot be skipped: the bundle pads every text to
    max_len (the manifest says why) and equals Keras exactly."""
    import keras

    from edge_sentiment import Predictor
    from edge_sentiment.export.exporter import export_bundle

    keras.utils.set_random_seed(2)
    model = keras.Sequential(
        [
            keras.Input(shape=(MAX_LEN,), dtype="int32"),
            keras.layers.Embedding(VOCAB_SIZE, 8, name="embedding"),
            keras.layers.Bidirectional(keras.layers.LSTM(8), name="lstm"),
            keras.layers.Dense(1, activation="sigmoid", name="probability"),
        ]
    )
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    model.save(run_dir / "model.keras")
    shutil.copy(TINY_RUN / "tokenizer.json", run_dir / "tokenizer.json")
    out = tmp_path / "bundle"
    result = export_bundle(run_dir, out, parity_samples=16)
    model_info = result.manifest["model"]
    assert model_info["pads"] == "fed" and model_info["padding_skip"] == {}
    assert "bidirectional last state" in model_info["pads_note"]
    rng = np.random.default_rng(4)
    ids = [rng.integers(1, VOCAB_SIZE, size=n).tolist() for n in range(0, MAX_LEN + 1)]
    np.testing.assert_allclose(
        Predictor.load(out, batch_size=4).score_ids(ids), model.predict(padded(ids), verbose=0)[:, 0], rtol=0, atol=1e-5
    )
