"""Conformance vectors: every committed bundle carries them and passes them, verify re-checks them and
fails when they disagree, and bundles made before them load and can have them added."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ASSETS

from edge_sentiment import Predictor, load_bundle
from edge_sentiment.cli import main
from edge_sentiment.errors import BundleError
from edge_sentiment.export.conformance import add_conformance
from edge_sentiment.runtime.bundle import default_bundle_path
from edge_sentiment.runtime.conformance import (
    ATOL,
    CONFORMANCE_FILE,
    check_vectors,
    load_vectors,
    parse_vectors,
)
from edge_sentiment.export.vectors import CONFORMANCE_RULE_TEXTS, conformance_texts
from edge_sentiment.runtime.onnxinfo import strip_metadata

TINY = ASSETS / "tiny_bundle"
BUNDLES = [default_bundle_path(), TINY, *sorted((ASSETS / "kinds").iterdir()), *sorted((ASSETS / "shapes").iterdir())]


@pytest.mark.parametrize("bundle", BUNDLES, ids=lambda p: p.name)
def test_every_committed_bundle_passes_its_vectors(bundle: Path) -> None:
    loaded = load_bundle(bundle)
    vectors = load_vectors(loaded)
    assert vectors is not None and len(vectors) == 200
    assert loaded.manifest["conformance"]["texts"] == 200
    result = check_vectors(Predictor(loaded, threads=1), vectors)
    assert result.passed, result.describe()


def test_the_vectors_hit_every_rule() -> None:
    tokenizer = load_bundle().tokenizer
    texts = conformance_texts(tokenizer)
    assert len(texts) == 200 and texts[: len(CONFORMANCE_RULE_TEXTS)] == CONFORMANCE_RULE_TEXTS
    assert texts == conformance_texts(tokenizer)  # deterministic
    assert "" in texts and any("<br />" in t for t in texts) and any("’" in t for t in texts)
    assert any(len(tokenizer.all_ids(t)) > tokenizer.max_len for t in texts)  # truncation
    assert any(len(t) > 16_384 for t in texts)  # the long-text path
    assert any(not t.isascii() for t in texts) and any(c.isdigit() for t in texts for c in t)
    ids = [i for t in texts for i in tokenizer.encode(t)]
    assert 1 in ids and len(set(ids)) > 500  # unknown words and many of the vocabulary's words


def _rewrite(bundle: Path, vectors: list[dict]) -> None:
    """Replace the vectors and their checksum (a consistent but wrong bundle)."""
    data = "".join(json.dumps(v) + "\n" for v in vectors).encode()
    (bundle / CONFORMANCE_FILE).write_bytes(data)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"][CONFORMANCE_FILE] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (bundle / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    "change, piece",
    [
        (lambda v: v.update(score=v["score"] + 2 * ATOL), "max |dp| 2.0e-05"),
        (lambda v: v.update(ids=v["ids"] + [2]), "ids differ"),
    ],
    ids=["score", "ids"],
)
def test_verify_fails_on_a_vector_the_runtime_disagrees_with(tmp_path: Path, change, piece: str) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(TINY, bundle)
    vectors = [json.loads(line) for line in (bundle / CONFORMANCE_FILE).read_text().splitlines()]
    change(vectors[7])
    _rewrite(bundle, vectors)
    result = CliRunner().invoke(main, ["verify", str(bundle)])
    assert result.exit_code == 1, result.output
    assert "fails its own conformance.jsonl" in result.output and piece in result.output
    assert "Traceback" not in result.output


def test_a_changed_vector_file_fails_its_checksum(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(TINY, bundle)
    path = bundle / CONFORMANCE_FILE
    path.write_bytes(path.read_bytes().replace(b'"score": 0.', b'"score": 1.', 1))
    result = CliRunner().invoke(main, ["verify", str(bundle)])
    assert result.exit_code == 1 and "does not match its sha256" in result.output


@pytest.mark.parametrize(
    "data, piece",
    [
        (b"", "no vectors"),
        (b"{not json}\n", "line 1 is not JSON"),
        (b'{"text": "a", "ids": [1]}\n', "line 1 is not"),
        (b'{"text": "a", "ids": [-1], "score": 0.5}\n', "line 1 is not"),
        (b'{"text": 3, "ids": [], "score": 0.5}\n', "line 1 is not"),
        (b"\xff\n", "not UTF-8"),
    ],
)
def test_malformed_vectors_are_refused(data: bytes, piece: str) -> None:
    with pytest.raises(BundleError, match=piece):
        parse_vectors(data)


def test_a_bundle_made_before_vectors_loads_and_gets_them(tmp_path: Path) -> None:
    bundle = tmp_path / "old"
    shutil.copytree(TINY, bundle)
    (bundle / CONFORMANCE_FILE).unlink()
    manifest = json.loads((bundle / "manifest.json").read_text())
    del manifest["files"][CONFORMANCE_FILE], manifest["conformance"]
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    old = load_bundle(bundle)
    assert load_vectors(old) is None
    result = CliRunner().invoke(main, ["verify", str(bundle)])
    assert result.exit_code == 0 and "no conformance.jsonl" in result.output

    before = {p.name: p.read_bytes() for p in bundle.iterdir()}
    written = add_conformance(bundle)
    assert written["conformance"]["texts"] == 200
    assert (bundle / "tokenizer.json").read_bytes() == before["tokenizer.json"]  # kept byte for byte
    # model.onnx too, but for the metadata every bundle write stamps (export/writer.py)
    assert strip_metadata((bundle / "model.onnx").read_bytes(), "edge_sentiment.") == strip_metadata(
        before["model.onnx"], "edge_sentiment."
    )
    assert (bundle / CONFORMANCE_FILE).read_bytes() == (TINY / CONFORMANCE_FILE).read_bytes()
    result = CliRunner().invoke(main, ["verify", str(bundle)])
    assert result.exit_code == 0 and "200/200 texts with identical ids" in result.output
