"""The model files say what they are (issue 33 item 4): every bundle write stamps the manifest's labels,
threshold, calibration, tokenizer hash and a short model card into each .onnx file's metadata_props,
read back as a host would (the onnx package, onnxruntime's custom_metadata_map), and verify holds them
to the manifest. The bundles are written from tests/assets/tiny_bundle's files (no TensorFlow).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from click.testing import CliRunner
from conftest import ASSETS

from edge_sentiment import BundleError, Predictor, load_bundle
from edge_sentiment.cli import main
from edge_sentiment.export.writer import restamp_bundle, rewrite_bundle, stamp_metadata, write_bundle
from edge_sentiment.runtime.metadata import MODEL_CARD_FILE, PREFIX, model_metadata
from edge_sentiment.runtime.onnxinfo import MAX_METADATA_BYTES, read_metadata, read_onnx_info, strip_metadata
from edge_sentiment.runtime.verify import verify_bundle

TINY = ASSETS / "tiny_bundle"
DECISION = {"threshold": 0.6, "calibration": {"temperature": 1.5, "bias": 0.2}, "uncertain": {"low": 0.4, "high": 0.7}}


def tiny_inputs(text_model: bool = True, **changes: Any) -> tuple[dict[str, bytes], dict[str, Any]]:
    """tiny_bundle's files and manifest as an exporter hands them to write_bundle, with changes to the manifest
    (text_model=False: without model.text.onnx, whose run on the conformance texts makes verify slow)."""
    manifest = json.loads((TINY / "manifest.json").read_text(encoding="utf-8"))
    names = [n for n in manifest["files"] if n != MODEL_CARD_FILE and (text_model or n != "model.text.onnx")]
    files = {name: unstamped(TINY / name) for name in names}
    for key in ("format", "format_version", "files", *(() if text_model else ("text_model",))):
        manifest.pop(key)
    manifest.update(changes)
    return files, manifest


def unstamped(path: Path) -> bytes:
    """A test asset's bytes as a bundle made before metadata holds them (the .onnx files without the stamped keys)."""
    data = path.read_bytes()
    return strip_metadata(data, PREFIX) if path.suffix == ".onnx" else data


@pytest.fixture(scope="module")
def stamped(tmp_path_factory: pytest.TempPathFactory) -> Path:
    files, manifest = tiny_inputs(**DECISION)
    out = tmp_path_factory.mktemp("stamped") / "bundle"
    write_bundle(out, files, manifest)
    return out


@pytest.fixture(scope="module")
def stamped_small(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stamped bundle without model.text.onnx, for the tests that verify a good bundle (seconds, not tens)."""
    files, manifest = tiny_inputs(text_model=False, **DECISION)
    out = tmp_path_factory.mktemp("stamped_small") / "bundle"
    write_bundle(out, files, manifest)
    return out


def props(path: Path) -> dict[str, str]:
    """metadata_props as the onnx package reads them."""
    return {p.key: p.value for p in onnx.load(str(path)).metadata_props}


def rehash(folder: Path, name: str) -> None:
    """Put a changed file's size and sha256 in the manifest (what someone editing a bundle by hand does)."""
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    data = (folder / name).read_bytes()
    manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def set_prop(path: Path, key: str, value: str | None) -> None:
    model = onnx.load(str(path))
    entries = [(p.key, p.value) for p in model.metadata_props if p.key != key]
    del model.metadata_props[:]
    for k, v in entries + ([(key, value)] if value is not None else []):
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    path.write_bytes(model.SerializeToString())


@pytest.mark.parametrize("name", ["model.onnx", "model.text.onnx"])
def test_metadata_is_the_manifests_read_with_onnx(stamped: Path, name: str) -> None:
    manifest = json.loads((stamped / "manifest.json").read_text(encoding="utf-8"))
    meta = props(stamped / name)
    assert json.loads(meta[PREFIX + "labels"]) == manifest["labels"] == ["negative", "positive"]
    assert meta[PREFIX + "output"] == "probability" and meta[PREFIX + "head"] == "sigmoid"
    assert float(meta[PREFIX + "threshold"]) == manifest["threshold"] == 0.6
    assert float(meta[PREFIX + "temperature"]) == 1.5 and float(meta[PREFIX + "bias"]) == 0.2
    assert "sigmoid(logit(p) / temperature + bias)" in meta[PREFIX + "calibration"]
    assert json.loads(meta[PREFIX + "uncertain"]) == {"low": 0.4, "high": 0.7, "label": "uncertain"}
    assert meta[PREFIX + "tokenizer_sha256"] == manifest["files"]["tokenizer.json"]["sha256"]
    assert meta[PREFIX + "tokenizer_sha256"] == hashlib.sha256((stamped / "tokenizer.json").read_bytes()).hexdigest()
    assert int(meta[PREFIX + "max_len"]) == manifest["model"]["max_len"] == 40
    assert meta[PREFIX + "padding"] == "pre" and meta[PREFIX + "pads"] == manifest["model"].get("pads", "skipped")
    assert meta[PREFIX + "version"] == manifest["versions"]["edge-sentiment"]
    assert meta[PREFIX + "file"] == name
    card = meta[PREFIX + "model_card"]
    for part in ("Data: 400 labelled texts of synthetic.tar.gz", "Accuracy: 0.9075", "Intended use:", "Limits:", "MODEL_CARD.md"):
        assert part in card
    assert meta == model_metadata(manifest, name, manifest["files"]["tokenizer.json"]["sha256"])


def test_onnxruntime_hosts_see_the_same_metadata(stamped: Path) -> None:
    """What a Java or C# host gets: InferenceSession(...).get_modelmeta().custom_metadata_map."""
    manifest = json.loads((stamped / "manifest.json").read_text(encoding="utf-8"))
    onnx_files = [name for name in manifest["files"] if name.endswith(".onnx")]
    assert onnx_files == ["model.onnx", "model.text.onnx"]
    for name in onnx_files:
        session = ort.InferenceSession(str(stamped / name), providers=["CPUExecutionProvider"])
        shown = session.get_modelmeta().custom_metadata_map
        assert shown == props(stamped / name) == read_metadata((stamped / name).read_bytes())
        assert len([k for k in shown if k.startswith(PREFIX)]) == 16


@pytest.mark.parametrize("name", ["model.onnx", "model.text.onnx"])
def test_stamping_changes_nothing_but_metadata_props(stamped: Path, name: str) -> None:
    original = unstamped(TINY / name)
    model = onnx.load_from_string((stamped / name).read_bytes())
    del model.metadata_props[:]
    assert model.SerializeToString() == original  # every other byte, by the onnx package's own serialiser
    tokens = np.array([[0, 0, 5, 7, 9]], dtype=np.int32)
    if name == "model.onnx":
        before = ort.InferenceSession(original, providers=["CPUExecutionProvider"]).run(None, {"tokens": tokens})
        after = ort.InferenceSession(str(stamped / name), providers=["CPUExecutionProvider"]).run(None, {"tokens": tokens})
        assert np.array_equal(before[0], after[0])


def test_same_manifest_same_bytes_and_restamping_replaces_the_keys(tmp_path: Path) -> None:
    files, manifest = tiny_inputs(text_model=False, created="2026-01-01T00:00:00+00:00", **DECISION)
    first = write_bundle(tmp_path / "a", files, manifest)
    second = write_bundle(tmp_path / "b", files, manifest)
    assert first["files"] == second["files"]  # every sha256, MODEL_CARD.md's too
    restamped = restamp_bundle(tmp_path / "a")  # an already stamped bundle: the same bytes again
    assert restamped["files"] == first["files"]
    # a rewrite with another threshold (as calibrate does): the keys are replaced, never doubled
    loaded = load_bundle(tmp_path / "a").manifest
    rewritten = rewrite_bundle(
        tmp_path / "a", {n: (tmp_path / "a" / n).read_bytes() for n in loaded["files"]}, {**loaded, "threshold": 0.65}
    )
    meta = onnx.load(str(tmp_path / "a" / "model.onnx")).metadata_props
    assert [p.value for p in meta if p.key == PREFIX + "threshold"] == ["0.65"]
    assert len(meta) == 16
    assert rewritten["files"]["model.onnx"] != first["files"]["model.onnx"]
    assert verify_bundle(tmp_path / "a").metadata == {"model.onnx": 16}


def test_other_tools_keys_are_kept(tmp_path: Path) -> None:
    """A quantizer's own key (onnxruntime writes onnx.infer) stays, before the stamped ones."""
    model = onnx.load_from_string(unstamped(TINY / "model.onnx"))
    entry = model.metadata_props.add()
    entry.key, entry.value = "onnx.infer", "onnxruntime.quant"
    once = stamp_metadata(model.SerializeToString(), {PREFIX + "threshold": "0.5"})
    twice = stamp_metadata(once, {PREFIX + "threshold": "0.7"})
    assert [(p.key, p.value) for p in onnx.load_from_string(twice).metadata_props] == [
        ("onnx.infer", "onnxruntime.quant"),
        (PREFIX + "threshold", "0.7"),
    ]


def test_a_model_the_onnx_package_would_rewrite_is_refused() -> None:
    """The byte-for-byte check can fail: a file whose fields are out of protobuf's order (ir_version last)."""
    data = unstamped(TINY / "model.onnx")
    assert data[0] == 0x08  # field 1 (ir_version), a varint, first
    reordered = data[2:] + data[:2]  # the same model, the ir_version field moved to the end
    assert read_onnx_info(reordered).ir_version == read_onnx_info(data).ir_version
    with pytest.raises(BundleError, match="byte for byte"):
        stamp_metadata(reordered, {PREFIX + "threshold": "0.5"})


def test_tampered_metadata_fails_verify_named(stamped: Path, tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(stamped, tmp_path / "bundle"))
    set_prop(bundle / "model.onnx", PREFIX + "threshold", "0.9")
    set_prop(bundle / "model.text.onnx", PREFIX + "labels", '["bad", "good"]')
    rehash(bundle, "model.onnx")
    rehash(bundle, "model.text.onnx")
    load_bundle(bundle)  # the runtime does not act on metadata: load stays lenient (docs/bundle-format.md)
    with pytest.raises(BundleError) as caught:
        verify_bundle(bundle)
    message = str(caught.value)
    assert "model.onnx: metadata edge_sentiment.threshold is '0.9' but the manifest says '0.6'" in message
    assert 'model.text.onnx: metadata edge_sentiment.labels is \'["bad", "good"]\'' in message
    result = CliRunner().invoke(main, ["verify", str(bundle)])
    assert result.exit_code == 1 and "edge_sentiment.threshold is '0.9'" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ("manifest", "model.onnx: metadata edge_sentiment.threshold is '0.6' but the manifest says '0.55'"),
        ("removed", "model.text.onnx: metadata edge_sentiment.tokenizer_sha256 is missing"),
        ("unknown", "model.onnx: metadata edge_sentiment.owner is not one edge-sentiment writes"),
    ],
)
def test_metadata_and_manifest_disagreeing_fails_verify(stamped: Path, tmp_path: Path, change: str, said: str) -> None:
    bundle = Path(shutil.copytree(stamped, tmp_path / "bundle"))
    if change == "manifest":  # the manifest edited (and re-hashed nowhere else): the model files now disagree
        manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
        manifest["threshold"] = 0.55
        (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    else:
        name = "model.text.onnx" if change == "removed" else "model.onnx"
        key, value = (PREFIX + "tokenizer_sha256", None) if change == "removed" else (PREFIX + "owner", "someone")
        set_prop(bundle / name, key, value)
        rehash(bundle, name)
    with pytest.raises(BundleError, match="does not match its manifest") as caught:
        verify_bundle(bundle)
    assert said in str(caught.value)


def test_older_bundle_without_metadata_loads_and_verifies(tmp_path: Path) -> None:
    bundle = Path(shutil.copytree(TINY, tmp_path / "older"))  # as written before metadata, without its text model
    manifest = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))
    for name in ("model.text.onnx", MODEL_CARD_FILE):
        manifest["files"].pop(name, None)
        (bundle / name).unlink(missing_ok=True)
    del manifest["text_model"]
    (bundle / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    (bundle / "model.onnx").write_bytes(unstamped(TINY / "model.onnx"))
    rehash(bundle, "model.onnx")
    assert not any(k.startswith(PREFIX) for k in props(bundle / "model.onnx"))
    assert Predictor.load(bundle).predict("a fine film")[0].label in ("negative", "positive")
    result = CliRunner().invoke(main, ["verify", str(bundle)])
    assert result.exit_code == 0, result.output
    assert "- no edge_sentiment.* metadata in the model files and no MODEL_CARD.md (a bundle made before" in result.output


def test_verify_reports_the_metadata(stamped_small: Path) -> None:
    report = verify_bundle(stamped_small)
    assert report.to_dict()["metadata"] == {"model.onnx": 16}
    assert "✓ metadata in model.onnx: the manifest's 16 edge_sentiment.* keys; MODEL_CARD.md" in report.lines()


def _entry(key: bytes, value: bytes) -> bytes:
    """A metadata_props entry on the wire (field 14), built by hand so it can be what onnx would never write."""
    body = b"\x0a" + bytes([len(key)]) + key + b"\x12" + _varint(len(value)) + value
    return b"\x72" + _varint(len(body)) + body


def _varint(n: int) -> bytes:
    out = b""
    while True:
        out += bytes([(n & 0x7F) | (0x80 if n > 0x7F else 0)])
        n >>= 7
        if not n:
            return out


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (_entry(b"k", b"1") + _entry(b"k", b"2"), "the key 'k' twice"),
        (_entry(b"k", b"\xff\xfe"), "not UTF-8"),
        (_entry(b"k", b"x" * (MAX_METADATA_BYTES + 1)), "more than 256 entries or 1048576 bytes"),
        (b"".join(_entry(f"k{i}".encode(), b"") for i in range(257)), "more than 256 entries"),
    ],
    ids=["duplicate", "not-utf8", "oversized", "too-many"],
)
def test_hostile_metadata_is_refused_on_load(tmp_path: Path, extra: bytes, said: str) -> None:
    bundle = Path(shutil.copytree(TINY, tmp_path / "bundle"))
    (bundle / "model.onnx").write_bytes((TINY / "model.onnx").read_bytes() + extra)
    rehash(bundle, "model.onnx")
    with pytest.raises(BundleError, match=said):
        load_bundle(bundle)
    result = CliRunner().invoke(main, ["verify", str(bundle)])
    assert result.exit_code == 1 and said in result.output and "Traceback" not in result.output


def test_the_card_file_is_listed_and_checksummed(stamped: Path) -> None:
    manifest = json.loads((stamped / "manifest.json").read_text(encoding="utf-8"))
    entry = manifest["files"][MODEL_CARD_FILE]
    data = (stamped / MODEL_CARD_FILE).read_bytes()
    assert entry == {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}


@pytest.mark.parametrize("source", ["shapes/three-class", "kinds/keras-text-vectorization"])
def test_other_bundles_are_stamped_and_verify(tmp_path: Path, source: str) -> None:
    """A softmax bundle and one with a Keras tokenizer: their own labels, head and tokenizer in the metadata."""
    folder = ASSETS / source
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    files = {n: unstamped(folder / n) for n in manifest["files"] if n not in (MODEL_CARD_FILE, "model.text.onnx")}
    for key in ("format", "format_version", "files", "text_model"):
        manifest.pop(key, None)
    written = write_bundle(tmp_path / "b", files, manifest)
    meta = ort.InferenceSession(str(tmp_path / "b" / "model.onnx"), providers=["CPUExecutionProvider"]).get_modelmeta()
    shown = meta.custom_metadata_map
    assert json.loads(shown[PREFIX + "labels"]) == written["labels"]
    assert shown[PREFIX + "head"] == written["model"].get("head", "sigmoid" if written["model"]["classes"] == 1 else "softmax")
    assert shown[PREFIX + "tokenizer_sha256"] == written["files"]["tokenizer.json"]["sha256"]
    assert verify_bundle(tmp_path / "b").metadata == {"model.onnx": 16}
