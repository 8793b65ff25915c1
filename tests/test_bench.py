"""edge-sentiment bench: the report's structure and internal consistency (never absolute times)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ASSETS, make_archive
from edge_sentiment.bench.runner import BenchConfig, run_bench
from edge_sentiment.bench.stats import summarize
from edge_sentiment.cli import main

TINY = str(ASSETS / "tiny_bundle")


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict:
    archive = make_archive(tmp_path_factory.mktemp("data") / "aclImdb.tar.gz", per_class=30)
    config = BenchConfig(
        bundle=TINY,
        data=str(archive),
        threads=[1, 2],
        batch_sizes=[1, 8],
        repeats=20,
        per_bucket=3,
        throughput_texts=40,
        cold_repeats=1,
    )
    return run_bench(config)


def test_summary_is_ordered() -> None:
    s = summarize([0.003, 0.001, 0.002, 0.010, 0.004])
    assert s["n"] == 5
    assert s["min_ms"] == pytest.approx(1.0) and s["max_ms"] == pytest.approx(10.0)
    assert s["min_ms"] <= s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"] <= s["max_ms"]
    assert s["p50_ms"] == pytest.approx(3.0)


def test_report_header_names_the_machine(report: dict) -> None:
    m = report["machine"]
    assert m["cores"] >= 1 and m["usable_cores"] >= 1
    assert m["versions"]["onnxruntime"]
    assert report["bundle"] == TINY
    assert "IMDB test reviews" in report["texts"]
    assert set(report["engines"]) == {"onnx-fp32-t1", "onnx-fp32-t2"}


def test_latency_figures_are_positive_and_consistent(report: dict) -> None:
    for parts in report["latency_batch1"].values():
        assert set(parts) == {"end_to_end", "tokenizer", "model"}
        for s in parts.values():
            assert s["n"] == 20
            assert 0 < s["min_ms"] <= s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"] <= s["max_ms"]
    for engine, buckets in report["latency_by_length"].items():
        assert buckets, engine
        for s in buckets.values():
            assert 0 < s["p50_ms"] <= s["p95_ms"] <= s["p99_ms"]
        assert all(words > 0 and ms > 0 for words, ms in report["latency_points"][engine])


def test_throughput_and_cold_start(report: dict) -> None:
    for sizes in report["throughput"].values():
        assert set(sizes) == {"1", "8"}
        for fig in sizes.values():
            assert fig["texts"] == 40 and fig["texts_per_s"] > 0 and len(fig["seconds"]) == 3
    for engine, sizes in report["throughput_model_only"].items():  # the model alone: batch sizes above 1
        assert set(sizes) == {"8"}
        assert sizes["8"]["texts"] == 40 and sizes["8"]["texts_per_s"] > 0
        # text in's ceiling: the model's time and the tokenizer's spread over the threads, never above either
        ceiling = report["throughput_text_in_ceiling"][engine]["8"]
        assert 0 < ceiling < sizes["8"]["texts_per_s"]
    assert report["tokenizer_throughput"]["texts"] == 40 and report["tokenizer_throughput"]["texts_per_s"] > 0
    assert report["ratios"]["onnx-fp32-t2"]["model_only_b8"] > 0
    cold = report["cold_start"]
    assert set(cold) == {"onnx-fp32", "cli-predict"}
    for c in cold.values():
        assert c["wall_s"] > 0 and c["peak_rss_mib"] > 10
    assert set(cold["onnx-fp32"]["phases_s"]) == {"import", "load", "first_prediction"}
    ratios = report["ratios"]
    assert ratios["baseline"] == "onnx-fp32-t1"
    assert ratios["onnx-fp32-t2"]["end_to_end_p50"] > 0


def test_cli_bench_json_text_and_plot(tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("a wonderful brilliant film\nboring awful stupid\n" * 20, encoding="utf-8")
    plot = tmp_path / "latency.png"
    args = [
        "bench",
        "--bundle",
        TINY,
        "--texts",
        str(texts),
        "--repeats",
        "10",
        "--throughput-texts",
        "10",
        "--cold-repeats",
        "0",
        "--batch-sizes",
        "1,4",
    ]
    result = CliRunner().invoke(main, args + ["--json", "--plot", str(plot)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["texts"].startswith("40 texts from") and "cold_start" not in data
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = CliRunner().invoke(main, args)
    assert text.exit_code == 0, text.output
    for piece in ("machine:", "onnxruntime", "Batch-1 latency", "Throughput", "batch 4", "model alone", "ceiling b4"):
        assert piece in text.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--threads", "0"], "1 or more"),
        (["--batch-sizes", "a,b"], "comma-separated"),
        (["--precision", "fp16"], "unknown precision"),
        (["--precision", "int8"], "no int8 model"),
    ],
)
def test_cli_bench_errors(args: list[str], message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGE_SENTIMENT_DATA", raising=False)  # bench reads the archive before it refuses int8 (8 s)
    result = CliRunner().invoke(main, ["bench", "--bundle", TINY, "--cold-repeats", "0", *args])
    assert result.exit_code != 0
    assert message in result.output


def test_benchmarks_pairs_alternates_and_takes_the_median_ratio(tmp_path: Path) -> None:
    """tools/benchmarks/pairs.py run as a user runs it: a script, its figures in --json-file."""
    import subprocess
    import sys

    out = tmp_path / "pairs.json"
    script = Path(__file__).parents[1] / "tools" / "benchmarks" / "pairs.py"
    command = [sys.executable, str(script), str(TINY), str(TINY), "--pairs", "3", "--repeats", "10", "--json-file", str(out)]
    # Without $EDGE_SENTIMENT_DATA each bench times generated texts: with it (as .ci/run sets it), each of the six
    # reads the IMDB archive for its review, 10 s apiece on 2 cores, for figures this test does not look at.
    env = {k: v for k, v in os.environ.items() if k != "EDGE_SENTIMENT_DATA"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    result = json.loads(out.read_text())
    assert [p["first"] for p in result["pairs"]] == ["a", "b", "a"]
    for p in result["pairs"]:
        assert p["a_ms"] > 0 and p["b_ms"] > 0 and p["ratio"] == pytest.approx(p["a_ms"] / p["b_ms"])
    assert result["median_ratio"] == sorted(p["ratio"] for p in result["pairs"])[1]
    assert "--batch-sizes 1" in result["measure"] and "--threads 1" in result["measure"]
