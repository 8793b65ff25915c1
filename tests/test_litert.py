"""tools/benchmarks/litert.py: a bundle's model.onnx converted to LiteRT scores raw strings as the bundle does.

The conversion is the benchmark's own (tf-keras twin -> TFLiteConverter, fused UNIDIRECTIONAL_SEQUENCE_LSTM ops),
applied to a tiny model of the shipped architecture exported the way a user exports one."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ASSETS, ROOT, needs_tf

from edge_sentiment import Predictor
from edge_sentiment.errors import BundleError
from edge_sentiment.runtime.tokenizer import Tokenizer

pytestmark = [
    needs_tf,
    pytest.mark.skipif(
        importlib.util.find_spec("ai_edge_litert") is None, reason="needs ai-edge-litert: pip install -e '.[litert]'"
    ),
]

TOKENIZER = ASSETS / "tiny_run" / "tokenizer.json"  # 32 ids, max_len 40
VOCAB, MAX_LEN = 32, 40
SCRIPT = ROOT / "tools" / "benchmarks" / "litert.py"


def litert_module() -> Any:
    from tools.benchmarks import litert  # pytest's pythonpath (pyproject.toml) holds the root

    return litert


def tiny_bilstm(keras: Any) -> Any:
    """Embedding -> BiLSTM over the words -> mean-max WordPooling -> sigmoid, as `train` builds the shipped
    model, fitted a few epochs on random ids so its scores spread."""
    from edge_sentiment.train.pooling import WordPooling

    keras.utils.set_random_seed(4)
    tokens = keras.Input(shape=(MAX_LEN,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, 8)(tokens)
    x = keras.layers.Bidirectional(keras.layers.LSTM(6, return_sequences=True))(x)
    out = keras.layers.Dense(1, activation="sigmoid")(WordPooling("mean-max")([x, tokens]))
    model = keras.Model(tokens, out)
    rng = np.random.default_rng(4)
    rows = np.zeros((96, MAX_LEN), dtype=np.int32)
    for row, n in zip(rows, rng.integers(1, MAX_LEN + 1, size=96)):
        row[MAX_LEN - n :] = rng.integers(1, VOCAB, size=n)
    model.compile(keras.optimizers.Adam(0.02), "binary_crossentropy")
    model.fit(rows, (rows % 3 == 1).sum(axis=1) > 4, epochs=6, batch_size=32, verbose=0)
    return model


def export(tmp_path: Path, model: Any) -> Path:
    """`edge-sentiment export` of the saved model, as a user runs it."""
    from edge_sentiment.cli import main

    model.save(tmp_path / "model.keras")
    shutil.copy(TOKENIZER, tmp_path / "tokenizer.json")
    args = ["export", str(tmp_path / "model.keras"), "--tokenizer", str(tmp_path / "tokenizer.json")]
    args += ["--padding", "pre", "--truncating", "pre", "--out", str(tmp_path / "bundle"), "--parity-samples", "48"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return tmp_path / "bundle"


def raw_texts() -> list[str]:
    """0 to max_len + 5 known words (the last max_len are read), unknown words and punctuation among them."""
    words = Tokenizer.load(TOKENIZER).words[1:]
    rng = np.random.default_rng(6)
    texts = [" ".join(rng.choice(words, size=n)) for n in range(0, MAX_LEN + 6)]
    return texts + ["Zzyzx, " + t.upper() + " qqq!" for t in texts[1::5]]


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import keras

    return export(tmp_path_factory.mktemp("litert"), tiny_bilstm(keras))


def test_a_tiny_bilstm_converted_to_litert_scores_raw_strings_as_its_bundle(tiny_bundle: Path, tmp_path: Path) -> None:
    litert = litert_module()
    blob, census = litert.convert(tiny_bundle)
    assert census["UNIDIRECTIONAL_SEQUENCE_LSTM"] == 2, census  # fused, one op per direction
    assert not {"WHILE", "TENSOR_LIST_RESERVE"} & set(census), census
    (tmp_path / "model.tflite").write_bytes(blob)
    empty = litert.empty_text_score(litert.bundle_weights(tiny_bundle))
    lite = litert.LiteRTPredictor(tmp_path / "model.tflite", tiny_bundle, empty, threads=1)
    ours = Predictor.load(tiny_bundle, threads=1, calibrated=False)
    texts = raw_texts()
    want = ours.predict_proba(texts)
    got = np.asarray([lite.predict_proba(t) for t in texts], dtype=np.float32)
    assert np.ptp(want) > 0.05, "the scores must vary for the comparison to mean something"
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
    check = litert.parity(ours, lite, texts)
    assert check["max_abs_diff"] <= litert.ATOL and check["labels_agreeing"] == len(texts)
    assert litert.parity(ours, lite, [t + " " + t for t in texts[1:20]])["max_abs_diff"] <= litert.ATOL
    # texts of one length in a row share the interpreter's allocation: no call may start from the last one's state
    same_length = [texts[12], " ".join(reversed(texts[12].split()))]
    assert len({len(ours.tokenizer.encode(t)) for t in same_length}) == 1 and litert.stateless(lite, same_length)


def test_a_bundle_it_cannot_convert_is_refused_naming_why() -> None:
    """The committed tiny bundle reads the LSTM's last state (no pooling over the words): not the shipped shape."""
    with pytest.raises(BundleError, match="pooled over the words.*pooling None"):
        litert_module().bundle_weights(ASSETS / "tiny_bundle")


def test_the_script_without_data_fails_before_converting(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--data", str(tmp_path / "missing.tar.gz"), "--out", str(tmp_path / "r.json")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "error:" in done.stderr and "missing.tar.gz" in done.stderr and "Traceback" not in done.stderr
    assert "converting" not in done.stderr and not (tmp_path / "r.json").exists()


def test_render_only_rewrites_the_section_from_the_json(tmp_path: Path) -> None:
    """--render-only: the Markdown from a saved result, every figure of it shown."""
    litert = litert_module()
    pair = {"ours": 0.25, "litert": 0.5, "ratio": 0.5}
    result = {
        "command": "python tools/benchmarks/litert.py",
        "date": "2026-12-06T00:00:00+00:00",
        "mode": "full",
        "machine": {"cpu": "CPU", "cores": 2},
        "versions": {"onnxruntime": "1", "ai-edge-litert": "2", "tensorflow": "3", "tf-keras": "4"},
        "litert_model": {"bytes": 2048, "ops": {"UNIDIRECTIONAL_SEQUENCE_LSTM": 2}},
        "parity": {"texts": 9, "max_abs_diff": 1e-7, "atol": 1e-5, "labels_agreeing": 9, "stateless": True},
        "latency_ms": {"rounds": 3, "calls_per_block": 5, **{f"{n}w_t{t}": pair for n in litert.LENGTHS for t in (1, 2)}},
        "throughput_texts_per_s": {"texts": 9, "rounds": 2, "t1": {"ours": 900, "litert": 450, "ratio": 2.0}, "t2": pair},
        "cold_start": {
            "pairs": 3,
            "text_words": 10,
            "wall_s": pair,
            "peak_rss_mib": {"ours": 60.0, "litert": 40.0, "ratio": 1.5},
            "phases_s": {"ours": {"import": 0.1}, "litert": {"import": 0.2}},
            "litert_imports_onnxruntime": False,
        },
    }
    (tmp_path / "r.json").write_text(json.dumps(result))
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--render-only", "--out", str(tmp_path / "r.json")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    md = (tmp_path / "r.md").read_text()
    assert done.stdout == md + "\n"
    assert "| 172 words, batch 1, 1 thread, p50 ms | 0.250 | 0.500 | 0.50 |" in md
    assert "| throughput, 9 reviews, 1 thread, texts/s (higher is faster) | 900 | 450 | 2.00 |" in md
    assert "| cold start, peak RSS MiB | 60.0 | 40.0 | 1.50 |" in md
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM 2" in md and "max |Δp| 1.0e-07" in md
