"""The bundle and the Predictor, without TensorFlow: load, exact pad skipping, tampering, inputs, threads, atomic writes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime
import pytest
from conftest import ASSETS
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_sentiment.errors import BundleError, EdgeSentimentError, InputError
from edge_sentiment.runtime import files as files_module
from edge_sentiment.runtime.bundle import FORMAT_VERSION, Bundle, load_bundle
from edge_sentiment.runtime.files import atomic_folder
from edge_sentiment.runtime.onnxinfo import read_onnx_info
from edge_sentiment.runtime.predictor import Prediction, Predictor
from edge_sentiment.runtime.tokenizer import Tokenizer

TINY_BUNDLE = ASSETS / "tiny_bundle"
MODEL_BYTES = (TINY_BUNDLE / "model.onnx").read_bytes()
MAX_LEN = 40  # what tests/assets/tiny_bundle was exported with
VOCAB_SIZE = 32

LONG_TEXT = " ".join(["the film was wonderful and the plot was boring"] * 9)  # 81 words > MAX_LEN
TEXTS = [
    "",
    "a wonderful brilliant film",
    "boring awful stupid",
    "!!! ... ???",  # no words at all: the same as the empty text
    "zzz qqq xxx",  # only out-of-vocabulary words
    "The movie was great, the acting superb and the ending moving.",
    "The plot was dull, the cast was poor and the music a waste of time.",
    LONG_TEXT,
    " ".join(["great"] * MAX_LEN),  # exactly max_len words
    " ".join(["bad"] * (MAX_LEN - 1)),
    "loved it",
    "worst",
]


@pytest.fixture
def bundle_copy(tmp_path: Path) -> Path:
    """A private copy of the committed tiny bundle, free to tamper with."""
    return Path(shutil.copytree(TINY_BUNDLE, tmp_path / "bundle"))


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor.load(TINY_BUNDLE)


def raw_session() -> onnxruntime.InferenceSession:
    """A plain onnxruntime session on the bundle's model bytes, without the runtime's code."""
    return onnxruntime.InferenceSession(MODEL_BYTES, providers=["CPUExecutionProvider"])


# -- a good bundle ----------------------------------------------------------------------------


def test_tiny_bundle_verifies() -> None:
    bundle = load_bundle(TINY_BUNDLE)
    assert isinstance(bundle, Bundle)
    assert bundle.manifest["format_version"] == FORMAT_VERSION
    assert bundle.max_len == MAX_LEN
    assert bundle.tokenizer.vocab_size == VOCAB_SIZE
    assert bundle.model_bytes == MODEL_BYTES
    assert bundle.model_info.op_census["LSTM"] == 1
    assert bundle.precision == "fp32"


def test_read_onnx_info_of_the_bundle_model() -> None:
    info = read_onnx_info(MODEL_BYTES)
    assert [(i.name, i.dtype, i.shape) for i in info.inputs] == [("tokens", "int32", ["batch", "length"])]
    assert [(o.name, o.dtype, o.shape) for o in info.outputs] == [("probability", "float32", ["batch", 1])]
    assert info.initializers["embedding"] == [VOCAB_SIZE, 8]
    assert info.opsets["ai.onnx"] == 17
    assert info.external_data == []
    assert "Loop" not in info.op_census and "Scan" not in info.op_census


def test_predictor_probabilities(predictor: Predictor) -> None:
    p = predictor.predict_proba(TEXTS)
    assert p.shape == (len(TEXTS),)
    assert p.dtype == np.float32
    assert np.all((p >= 0) & (p <= 1))
    assert predictor.predict_proba("a wonderful brilliant film")[0] > 0.5
    assert predictor.predict_proba("boring awful stupid")[0] < 0.5


def test_predict_gives_label_and_score(predictor: Predictor) -> None:
    good, bad = predictor.predict(["a wonderful brilliant film", "boring awful stupid"])
    assert isinstance(good, Prediction) and isinstance(bad, Prediction)
    assert good.label == "positive" and bad.label == "negative"
    p = predictor.predict_proba(["a wonderful brilliant film", "boring awful stupid"])
    assert (good.score, bad.score) == (float(p[0]), float(p[1]))
    assert predictor.predict("a wonderful brilliant film") == [good]


# -- the runtime's pad skipping and length batching are exact ----------------------------------


@pytest.mark.parametrize("batch_size", [1, 3, 32])
def test_predictor_equals_a_raw_session_on_padded_ids(batch_size: int) -> None:
    predictor = Predictor.load(TINY_BUNDLE, batch_size=batch_size)
    tokenizer = Tokenizer.load(TINY_BUNDLE / "tokenizer.json")
    padded = tokenizer.encode_batch(TEXTS)
    assert padded.shape == (len(TEXTS), MAX_LEN)
    expected = raw_session().run(["probability"], {"tokens": padded})[0][:, 0]
    got = predictor.predict_proba(TEXTS)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    one_by_one = np.array([predictor.predict_proba(t)[0] for t in TEXTS])  # the single-text path
    np.testing.assert_allclose(one_by_one, expected, rtol=0, atol=1e-6)


def test_the_comparison_can_fail(predictor: Predictor) -> None:
    """Texts that differ only in their padding-free ids do score differently: the check above has teeth."""
    p = predictor.predict_proba(["a wonderful brilliant film", "film brilliant wonderful a", "boring awful stupid"])
    assert len({round(float(x), 6) for x in p}) == 3


# -- tampering: each refused with BundleError before any onnxruntime session --------------------


class SessionCreated(BaseException):
    """Raised by the stand-in InferenceSession; a BaseException so no `except Exception` can hide it."""


@pytest.fixture
def no_session(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    calls: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> None:
        calls.append(args)
        raise SessionCreated("an onnxruntime session was created: the bundle passed verification")

    monkeypatch.setattr(onnxruntime, "InferenceSession", refuse)
    return calls


def read_manifest(folder: Path) -> dict[str, Any]:
    return json.loads((folder / "manifest.json").read_text(encoding="utf-8"))


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def rewrite(folder: Path, name: str, data: bytes) -> None:
    """Replace a bundle file and make the manifest's sha256 and size agree, as a careful attacker would."""
    (folder / name).write_bytes(data)
    manifest = read_manifest(folder)
    manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    write_manifest(folder, manifest)


def edit_manifest(**changes: Any) -> Callable[[Path], None]:
    def tamper(folder: Path) -> None:
        manifest = read_manifest(folder)
        for key, value in changes.items():
            section = manifest
            *parents, leaf = key.split("__")
            for parent in parents:
                section = section[parent]
            section[leaf] = value
        write_manifest(folder, manifest)

    return tamper


def flip_byte(name: str) -> Callable[[Path], None]:
    def tamper(folder: Path) -> None:
        data = bytearray((folder / name).read_bytes())
        data[len(data) // 2] ^= 0x01
        (folder / name).write_bytes(bytes(data))

    return tamper


def truncate_model(folder: Path) -> None:
    (folder / "model.onnx").write_bytes(MODEL_BYTES[: len(MODEL_BYTES) // 2])


def empty_model(folder: Path) -> None:
    (folder / "model.onnx").write_bytes(b"")


def truncate_model_rehashed(folder: Path) -> None:
    rewrite(folder, "model.onnx", MODEL_BYTES[: len(MODEL_BYTES) // 2])


def empty_model_rehashed(folder: Path) -> None:
    rewrite(folder, "model.onnx", b"")


def lie_about_model_sha(folder: Path) -> None:
    manifest = read_manifest(folder)
    assert manifest["files"]["model.onnx"]["sha256"] != "0" * 64
    manifest["files"]["model.onnx"]["sha256"] = "0" * 64
    write_manifest(folder, manifest)


def remove_manifest(folder: Path) -> None:
    (folder / "manifest.json").unlink()


def manifest_not_json(folder: Path) -> None:
    (folder / "manifest.json").write_text('{"format": "edge-sentiment/bundle", ', encoding="utf-8")


def manifest_a_list(folder: Path) -> None:
    (folder / "manifest.json").write_text("[1, 2, 3]", encoding="utf-8")


def remove_model(folder: Path) -> None:
    (folder / "model.onnx").unlink()


def model_a_folder(folder: Path) -> None:
    (folder / "model.onnx").unlink()
    (folder / "model.onnx").mkdir()


def model_symlink(folder: Path) -> None:
    real = folder.parent / "real-model.onnx"
    real.write_bytes(MODEL_BYTES)
    (folder / "model.onnx").unlink()
    (folder / "model.onnx").symlink_to(real)


def extra_symlink(folder: Path) -> None:
    (folder / "notes.txt").symlink_to(folder / "manifest.json")


def fewer_words_tokenizer(folder: Path) -> None:
    tok = Tokenizer.load(folder / "tokenizer.json")
    smaller = Tokenizer(tok.words[:-2], max_len=tok.max_len)
    assert smaller.vocab_size == VOCAB_SIZE - 2
    rewrite(folder, "tokenizer.json", smaller.to_json().encode("utf-8"))


def tokenizer_edit(**changes: Any) -> Callable[[Path], None]:
    def tamper(folder: Path) -> None:
        data = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        data.update(changes)
        rewrite(folder, "tokenizer.json", json.dumps(data).encode("utf-8"))

    return tamper


def tokenizer_max_len(folder: Path) -> None:
    tok = Tokenizer.load(folder / "tokenizer.json")
    rewrite(folder, "tokenizer.json", Tokenizer(tok.words, max_len=tok.max_len + 1).to_json().encode("utf-8"))


def rename_in_model(old: bytes, new: bytes) -> Callable[[Path], None]:
    """Rename a tensor everywhere by editing bytes (same length, so the protobuf stays well-formed)."""
    assert len(old) == len(new)

    def tamper(folder: Path) -> None:
        assert MODEL_BYTES.count(old) > 0
        rewrite(folder, "model.onnx", MODEL_BYTES.replace(old, new))

    return tamper


def with_onnx(edit: Callable[[Any, Any], None]) -> Callable[[Path], None]:
    """Edit the model with the onnx package (the case is skipped without it), then fix the manifest."""

    def tamper(folder: Path) -> None:
        pytest.importorskip("onnx")
        import onnx.helper
        import onnx.numpy_helper

        model = onnx.load_model_from_string(MODEL_BYTES)
        edit(onnx, model)
        rewrite(folder, "model.onnx", model.SerializeToString())

    return tamper


def _add_celu(onnx: Any, model: Any) -> None:
    sigmoid = next(n for n in model.graph.node if n.op_type == "Sigmoid")
    celu = onnx.helper.make_node("Celu", [sigmoid.input[0]], ["tamper/celu"])
    sigmoid.input[0] = "tamper/celu"
    model.graph.node.insert(list(model.graph.node).index(sigmoid), celu)


def _external_initializer(onnx: Any, model: Any) -> None:
    tensor = next(t for t in model.graph.initializer if t.name == "padskip/h_table")
    tensor.ClearField("raw_data")
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", "h_table.bin"


def _external_constant(onnx: Any, model: Any) -> None:
    """A Constant node whose value tensor lives outside the file: onnxruntime reads it from disk."""
    value = onnx.numpy_helper.from_array(np.zeros(4, dtype=np.float32), "tamper/value")
    value.ClearField("raw_data")
    value.data_location = onnx.TensorProto.EXTERNAL
    entry = value.external_data.add()
    entry.key, entry.value = "location", "../../secret.bin"
    model.graph.node.insert(0, onnx.helper.make_node("Constant", [], ["tamper/constant"], value=value))


def manifest_text(text: str) -> Callable[[Path], None]:
    """Replace manifest.json with text (JSON the loader does not expect)."""

    def tamper(folder: Path) -> None:
        (folder / "manifest.json").write_text(text, encoding="utf-8")

    return tamper


def manifest_with_raw(key: str, raw: str) -> Callable[[Path], None]:
    """The real manifest with one top-level field's value replaced by raw JSON text (numbers json.dumps cannot write)."""

    def tamper(folder: Path) -> None:
        manifest = read_manifest(folder)
        manifest[key] = "__RAW__"
        (folder / "manifest.json").write_text(json.dumps(manifest).replace('"__RAW__"', raw), encoding="utf-8")

    return tamper


def tokenizer_text(text: str) -> Callable[[Path], None]:
    def tamper(folder: Path) -> None:
        rewrite(folder, "tokenizer.json", text.encode("utf-8"))

    return tamper


def tokenizer_with_raw(key: str, raw: str) -> Callable[[Path], None]:
    def tamper(folder: Path) -> None:
        data = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        data[key] = "__RAW__"
        rewrite(folder, "tokenizer.json", json.dumps(data).replace('"__RAW__"', raw).encode("utf-8"))

    return tamper


def list_file(name: str, entry: dict[str, Any] | None = None) -> Callable[[Path], None]:
    """One more entry in the manifest's files."""

    def tamper(folder: Path) -> None:
        manifest = read_manifest(folder)
        manifest["files"][name] = entry or {"sha256": "0" * 64, "bytes": 0}
        write_manifest(folder, manifest)

    return tamper


def tokenizer_word(index: int, word: Any) -> Callable[[Path], None]:
    def tamper(folder: Path) -> None:
        data = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
        data["words"][index] = word
        rewrite(folder, "tokenizer.json", json.dumps(data).encode("utf-8"))

    return tamper


def model_a_fifo(folder: Path) -> None:
    (folder / "model.onnx").unlink()
    os.mkfifo(folder / "model.onnx")


def _rank_one_output(onnx: Any, model: Any) -> None:
    shape = model.graph.output[0].type.tensor_type.shape
    del shape.dim[1]


DEEP = "[" * 100_000 + "]" * 100_000

TAMPERS = [
    pytest.param(flip_byte("model.onnx"), "model.onnx does not match its sha256", id="model-byte-flipped"),
    pytest.param(flip_byte("tokenizer.json"), "tokenizer.json does not match its sha256", id="tokenizer-byte-flipped"),
    pytest.param(truncate_model, r"model.onnx is \d+ bytes but the manifest says \d+", id="model-truncated"),
    pytest.param(empty_model, r"model.onnx is 0 bytes", id="model-zero-bytes"),
    pytest.param(truncate_model_rehashed, "not a valid ONNX file", id="model-truncated-manifest-fixed"),
    pytest.param(empty_model_rehashed, "not a valid ONNX file", id="model-zero-bytes-manifest-fixed"),
    pytest.param(lie_about_model_sha, "model.onnx does not match its sha256", id="manifest-sha256-lies"),
    pytest.param(remove_manifest, "no manifest.json", id="manifest-missing"),
    pytest.param(manifest_not_json, "manifest.json is not valid UTF-8 JSON", id="manifest-not-json"),
    pytest.param(manifest_a_list, "not an edge-sentiment bundle manifest", id="manifest-not-an-object"),
    pytest.param(
        edit_manifest(format_version=FORMAT_VERSION + 1),
        "newer than this edge-sentiment reads.*upgrade",
        id="manifest-newer-format",
    ),
    pytest.param(edit_manifest(format_version="1"), "no valid format_version", id="manifest-format-version-string"),
    pytest.param(edit_manifest(files="model.onnx"), "no 'files' section", id="manifest-files-not-a-table"),
    pytest.param(edit_manifest(model__vocab_size=VOCAB_SIZE - 1), "embedding rows", id="manifest-vocab-size-lies"),
    pytest.param(edit_manifest(threshold="high"), "threshold", id="manifest-threshold-not-a-number"),
    pytest.param(remove_model, "bundle file missing", id="model-missing"),
    pytest.param(model_a_folder, "not a regular file", id="model-is-a-folder"),
    pytest.param(model_symlink, "symbolic link", id="model-is-a-symlink"),
    pytest.param(extra_symlink, "symbolic link", id="extra-symlink"),
    pytest.param(
        fewer_words_tokenizer,
        f"has {VOCAB_SIZE} embedding rows but the tokenizer has {VOCAB_SIZE - 2} ids",
        id="tokenizer-vocab-differs-from-embedding",
    ),
    pytest.param(tokenizer_max_len, "max_len", id="tokenizer-max-len-differs"),
    pytest.param(tokenizer_edit(format_version=99), "bundle tokenizer: .*upgrade", id="tokenizer-newer-format"),
    pytest.param(rename_in_model(b"tokens", b"tokenz"), "must take one int32 input 'tokens'", id="wrong-input-name"),
    pytest.param(
        rename_in_model(b"probability", b"probabilitz"), "must give one float32 output 'probability'", id="wrong-output-name"
    ),
    pytest.param(with_onnx(_add_celu), "ops a sentiment LSTM bundle never has: Celu", id="unknown-op"),
    pytest.param(with_onnx(_external_initializer), "outside the file.*padskip/h_table", id="external-initializer"),
    pytest.param(with_onnx(_external_constant), "outside the file", id="external-constant-attribute"),
    # JSON the loader does not expect (issue 30, class 4): an error of ours, never RecursionError or ValueError
    pytest.param(manifest_text(DEEP), "manifest.json nests deeper than 32 levels", id="manifest-nested-100000-deep"),
    pytest.param(manifest_with_raw("threshold", "[" * 50 + "]" * 50), "nests deeper than 32", id="manifest-field-nested-50-deep"),
    pytest.param(manifest_with_raw("format_version", "9" * 5000), "integer of 5000 digits", id="manifest-5000-digit-int"),
    pytest.param(manifest_with_raw("threshold", "1e400"), "1e400 is out of range", id="manifest-number-1e400"),
    pytest.param(manifest_with_raw("threshold", "NaN"), "NaN is not a JSON number", id="manifest-nan"),
    pytest.param(manifest_with_raw("labels", '["\\udc80", "positive"]'), "labels .* UTF-8", id="label-a-lone-surrogate"),
    pytest.param(tokenizer_text(DEEP), "tokenizer.json nests deeper than 32 levels", id="tokenizer-nested-100000-deep"),
    pytest.param(tokenizer_with_raw("max_len", "9" * 5000), "integer of 5000 digits", id="tokenizer-5000-digit-int"),
    pytest.param(tokenizer_with_raw("max_len", "-Infinity"), "Infinity is not a JSON number", id="tokenizer-infinity"),
    pytest.param(tokenizer_edit(max_len=40.0), "max_len must be an integer", id="tokenizer-max-len-float"),
    pytest.param(tokenizer_word(1, 7), r"vocabulary entry 1 \(7\)", id="tokenizer-word-not-a-string"),
    pytest.param(tokenizer_word(2, "Great Film"), "vocabulary entry 2", id="tokenizer-word-not-standardised"),
    pytest.param(tokenizer_edit(oov_id=5), "'oov_id' is 5", id="tokenizer-oov-id-moved"),
    # wrong field types and ranges: refused at load, so a bundle that loads always predicts
    pytest.param(edit_manifest(model__empty_text="0.5"), "empty_text '0.5' is not 1 probability", id="empty-text-a-string"),
    pytest.param(edit_manifest(model__empty_text=[0.5, 0.5]), "empty_text .* is not 1 probability", id="empty-text-two-for-one"),
    pytest.param(edit_manifest(model__empty_text=[7.0]), "empty_text .* is not 1 probability", id="empty-text-not-a-probability"),
    pytest.param(
        edit_manifest(model__classes=3, labels=["a", "b", "c"]),
        r"of shape \['batch', 1\], not \[batch, 3\]",
        id="classes-3-but-one-output",
    ),
    pytest.param(edit_manifest(model__classes="2"), "classes '2'", id="classes-a-string"),
    pytest.param(with_onnx(_rank_one_output), r"of shape \['batch'\], not \[batch, 1\]", id="output-of-rank-1"),
    pytest.param(edit_manifest(model__max_len="40"), "max_len '40' is not a whole number", id="max-len-a-string"),
    pytest.param(edit_manifest(model__vocab_size=True), "vocab_size True is not a whole number", id="vocab-size-a-bool"),
    pytest.param(edit_manifest(model__padding="middle"), "padding 'middle'", id="padding-unknown"),
    pytest.param(edit_manifest(model__padding_skip=[1]), "padding_skip", id="padding-skip-a-list"),
    pytest.param(edit_manifest(precisions=["fp32"]), "precisions .* is not an object", id="precisions-a-list"),
    pytest.param(
        edit_manifest(precisions={"fp32": "model.onnx", "int8": "../model.int8.onnx"}),
        "precisions lists 'int8'",
        id="precisions-a-file-it-lacks",
    ),
    pytest.param(edit_manifest(source="x.keras"), "source 'x.keras' is not an object", id="source-a-string"),
    pytest.param(edit_manifest(labels=["negative", 1]), "labels", id="labels-not-strings"),
    pytest.param(edit_manifest(threshold=1.5), "threshold 1.5", id="threshold-out-of-range"),
    pytest.param(list_file("../secret.txt"), "files lists '../secret.txt', not a plain file name", id="files-dot-dot-name"),
    pytest.param(list_file("/etc/passwd"), "files lists '/etc/passwd'", id="files-absolute-name"),
    pytest.param(list_file("sub/model.onnx"), "files lists 'sub/model.onnx'", id="files-name-in-a-folder"),
    pytest.param(list_file("notes.txt", {"sha256": "xyz", "bytes": 3}), "files entry 'notes.txt'", id="files-sha256-not-hex"),
    pytest.param(list_file("notes.txt", {"sha256": "0" * 64, "bytes": -1}), "files entry 'notes.txt'", id="files-bytes-negative"),
    # non-regular files (issue 30, class 2): refused at once, never waited on
    pytest.param(model_a_fifo, "not a regular file", id="model-is-a-fifo"),
]


@pytest.mark.parametrize("load", [load_bundle, Predictor.load], ids=["load_bundle", "Predictor.load"])
@pytest.mark.parametrize(("tamper", "message"), TAMPERS)
def test_tampered_bundle_is_refused_before_a_session(
    bundle_copy: Path, no_session: list[Any], load: Callable[[Path], Any], tamper: Callable[[Path], None], message: str
) -> None:
    tamper(bundle_copy)
    with pytest.raises(BundleError, match=message):
        load(bundle_copy)
    assert no_session == []


def test_the_session_guard_fires_on_a_good_bundle(bundle_copy: Path, no_session: list[Any]) -> None:
    """Without tampering the bundle verifies and a session is asked for: the guard above is live."""
    load_bundle(bundle_copy)
    with pytest.raises(SessionCreated):
        Predictor.load(bundle_copy)
    assert len(no_session) == 1


def test_a_careful_rewrite_alone_still_verifies(bundle_copy: Path) -> None:
    """rewrite() fixes the manifest correctly: the tamper cases fail for their own reason, not a bad hash."""
    tok = Tokenizer.load(bundle_copy / "tokenizer.json")
    rewrite(bundle_copy, "tokenizer.json", json.dumps(tok.to_dict(), indent=4).encode("utf-8"))
    rewrite(bundle_copy, "model.onnx", MODEL_BYTES)
    assert load_bundle(bundle_copy).tokenizer == tok


def test_a_symlinked_bundle_folder_is_refused(tmp_path: Path, bundle_copy: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(bundle_copy, target_is_directory=True)
    with pytest.raises(BundleError, match="symbolic link"):
        load_bundle(link)


def test_a_missing_bundle_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BundleError, match="no bundle folder"):
        load_bundle(tmp_path / "nowhere")


def test_a_missing_precision_names_its_fix(bundle_copy: Path) -> None:
    with pytest.raises(BundleError, match="--quantize int8"):
        load_bundle(bundle_copy, precision="int8")


# -- the ONNX reader never fails with anything but BundleError ----------------------------------


def _returns_or_bundle_error(data: bytes) -> None:
    try:
        read_onnx_info(data)
    except BundleError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_read_onnx_info_on_random_bytes(data: bytes) -> None:
    _returns_or_bundle_error(data)


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=len(MODEL_BYTES)))
def test_read_onnx_info_on_truncated_model(cut: int) -> None:
    _returns_or_bundle_error(MODEL_BYTES[:cut])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, len(MODEL_BYTES) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_read_onnx_info_on_damaged_model(edits: list[tuple[int, int]]) -> None:
    data = bytearray(MODEL_BYTES)
    for pos, value in edits:
        data[pos] = value
    _returns_or_bundle_error(bytes(data))


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff" * 12, MODEL_BYTES[: len(MODEL_BYTES) // 2], b"\x08\x07"])
def test_read_onnx_info_refuses_what_is_not_a_model(data: bytes) -> None:
    with pytest.raises(BundleError, match="not a valid ONNX file"):
        read_onnx_info(data)


# -- Predictor inputs ---------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [None, 5, b"bytes", bytearray(b"x"), [1, 2], ["ok", None], ("ok", b"no")])
@pytest.mark.parametrize("method", ["predict_proba", "predict"])
def test_predictor_refuses_what_is_not_text(predictor: Predictor, method: str, bad: Any) -> None:
    with pytest.raises(InputError) as exc:
        getattr(predictor, method)(bad)
    assert isinstance(exc.value, TypeError)
    assert str(exc.value)


def test_predictor_bytes_error_says_decode(predictor: Predictor) -> None:
    with pytest.raises(InputError, match="decode"):
        predictor.predict_proba(b"bytes")


def test_predictor_empty_input(predictor: Predictor) -> None:
    out = predictor.predict_proba([])
    assert isinstance(out, np.ndarray) and out.shape == (0,)
    assert predictor.predict([]) == []
    assert predictor.predict_proba(iter([])).shape == (0,)


def test_predictor_takes_any_iterable_of_texts(predictor: Predictor) -> None:
    expected = predictor.predict_proba(TEXTS)
    np.testing.assert_array_equal(predictor.predict_proba(t for t in TEXTS), expected)
    np.testing.assert_array_equal(predictor.predict_proba(tuple(TEXTS)), expected)


@pytest.mark.parametrize("kwargs", [{"threads": 0}, {"batch_size": 0}])
def test_predictor_refuses_bad_settings(kwargs: dict[str, int]) -> None:
    with pytest.raises(InputError):
        Predictor.load(TINY_BUNDLE, **kwargs)


# -- threads ------------------------------------------------------------------------------------


def test_predictor_is_thread_safe(predictor: Predictor) -> None:
    calls = [TEXTS, TEXTS[::-1], [LONG_TEXT], TEXTS[3:9]]
    sequential = [predictor.predict_proba(texts) for texts in calls]
    start = threading.Barrier(16)
    results: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            start.wait()
            results[worker] = [predictor.predict_proba(texts) for texts in calls for _ in range(2)]
        except BaseException as exc:  # reported below, in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sorted(results) == list(range(16))
    for outputs in results.values():
        for i, out in enumerate(outputs):
            np.testing.assert_array_equal(out, sequential[i // 2])


# -- atomic_folder ------------------------------------------------------------------------------


@pytest.fixture(params=["renameat2", "two-renames"])
def swap_mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run each atomic_folder test with Linux's atomic exchange and with the portable fallback."""
    if request.param == "two-renames":
        monkeypatch.setattr(files_module, "_renameat2", None)
    elif files_module._renameat2 is None:
        pytest.skip("renameat2 is not available here")
    return request.param


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture
def previous(tmp_path: Path) -> Path:
    target = tmp_path / "out" / "target"
    target.mkdir(parents=True)
    (target / "old.txt").write_bytes(b"previous content")
    (target / "keep.bin").write_bytes(bytes(range(256)))
    return target


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()], ids=["RuntimeError", "KeyboardInterrupt"])
def test_atomic_folder_failure_keeps_the_previous_folder(swap_mode: str, previous: Path, error: BaseException) -> None:
    before = _tree(previous)
    with pytest.raises(type(error)):
        with atomic_folder(previous, force=True) as tmp:
            (tmp / "new.txt").write_bytes(b"half written")
            assert tmp.parent == previous.parent and tmp != previous
            raise error
    assert _tree(previous) == before
    assert sorted(p.name for p in previous.parent.iterdir()) == ["target"]


def test_atomic_folder_os_error_inside_is_reported_and_cleaned(swap_mode: str, previous: Path) -> None:
    before = _tree(previous)
    with pytest.raises(EdgeSentimentError, match="could not write"):
        with atomic_folder(previous, force=True) as tmp:
            (tmp / "missing-dir" / "file").write_bytes(b"x")
    assert _tree(previous) == before
    assert sorted(p.name for p in previous.parent.iterdir()) == ["target"]


def test_atomic_folder_failure_with_no_previous_folder_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "out" / "target"
    with pytest.raises(RuntimeError):
        with atomic_folder(target, force=False) as tmp:
            (tmp / "a").write_bytes(b"a")
            raise RuntimeError("boom")
    assert not target.exists()
    assert list(target.parent.iterdir()) == []


def test_atomic_folder_success_replaces_the_content(swap_mode: str, previous: Path) -> None:
    with atomic_folder(previous, force=True) as tmp:
        (tmp / "new.txt").write_bytes(b"new content")
        assert _tree(previous)["old.txt"] == b"previous content"  # readers see the old folder until the end
    assert _tree(previous) == {"new.txt": b"new content"}
    assert sorted(p.name for p in previous.parent.iterdir()) == ["target"]


def test_atomic_folder_creates_a_new_folder_like_mkdir(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "target"
    with atomic_folder(target, force=False) as tmp:
        (tmp / "a.txt").write_text("a")
    assert _tree(target) == {"a.txt": b"a"}
    reference = tmp_path / "reference"
    reference.mkdir()
    assert target.stat().st_mode & 0o777 == reference.stat().st_mode & 0o777
    assert list(target.parent.iterdir()) == [target]


def test_atomic_folder_refuses_a_non_empty_target_without_force(previous: Path) -> None:
    before = _tree(previous)
    ran = False
    with pytest.raises(EdgeSentimentError, match="--force"):
        with atomic_folder(previous, force=False):
            ran = True
    assert not ran
    assert _tree(previous) == before
    assert sorted(p.name for p in previous.parent.iterdir()) == ["target"]


def test_atomic_folder_fills_an_empty_target_without_force(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    with atomic_folder(target, force=False) as tmp:
        (tmp / "a.txt").write_text("a")
    assert _tree(target) == {"a.txt": b"a"}


def test_atomic_folder_refuses_a_file_target(tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.write_text("a file")
    with pytest.raises(EdgeSentimentError, match="not a folder"):
        with atomic_folder(target, force=True):
            pass
    assert target.read_text() == "a file"
    assert sorted(os.listdir(tmp_path)) == ["target"]
