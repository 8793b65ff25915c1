"""The command line through click's CliRunner: inputs, outputs, exit codes and the messages of mistakes."""

from __future__ import annotations

import ast
import hashlib
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from conftest import ASSETS, NEGATIVE, POSITIVE, ROOT, make_archive, needs_tf

import edge_sentiment
from edge_sentiment import Predictor
from edge_sentiment.cli import main
from edge_sentiment.data import load_imdb

TINY = ASSETS / "tiny_bundle"
TEXTS = [POSITIVE[0], NEGATIVE[0], "wonderful", "boring", "", "Café ＭＯＶＩＥ 10/10 <br /> it’s   bad!"]
HUMAN_LINE = re.compile(r"(positive|negative)  (\d\.\d{4})  (.*)")
COMMANDS = ["train", "export", "verify", "predict", "score", "evaluate"]  # bench is tested with its own module


def invoke(*args: Any, input: str | bytes | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def assert_fails(result: Result, exit_code: int, *pieces: str) -> None:
    """A clean failure: the exit code, each piece in the message, no traceback, no exception escaping."""
    assert result.exit_code == exit_code, result.output
    assert isinstance(result.exception, SystemExit), f"{result.exception!r} escaped:\n{result.output}"
    for piece in pieces:
        assert piece in result.output
    assert "Traceback" not in result.output


def assert_ok(result: Result) -> None:
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"


@pytest.fixture(scope="module")
def expected() -> list[Any]:
    return Predictor.load(TINY).predict(TEXTS)


# -- predict -------------------------------------------------------------------------------------


def _predict(texts: list[str], source: str, tmp_path: Path, *options: str) -> Result:
    if source == "args":
        return invoke("predict", "--bundle", TINY, *options, *texts)
    data = "".join(t + "\n" for t in texts).encode()
    if source == "stdin":
        return invoke("predict", "--bundle", TINY, *options, input=data)
    path = tmp_path / "texts.txt"
    path.write_bytes(data)
    if source == "stdin-dash":
        return invoke("predict", "--bundle", TINY, "--file", "-", *options, input=data)
    return invoke("predict", "--bundle", TINY, "--file", path, *options)


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
@pytest.mark.parametrize("source", ["args", "file", "stdin", "stdin-dash"])
def test_predict_sources_agree(tmp_path: Path, expected: list[Any], source: str, as_json: bool) -> None:
    result = _predict(TEXTS, source, tmp_path, *(["--json"] if as_json else []))
    assert_ok(result)
    lines = result.output.splitlines()
    assert len(lines) == len(TEXTS)
    if as_json:
        rows = [json.loads(line) for line in lines]
        assert all(set(row) == {"index", "label", "score"} for row in rows)
        assert [row["index"] for row in rows] == list(range(len(TEXTS)))
        assert [row["label"] for row in rows] == [e.label for e in expected]
        assert [row["score"] for row in rows] == pytest.approx([e.score for e in expected], abs=1e-6)
    else:
        matches = [HUMAN_LINE.fullmatch(line) for line in lines]
        assert all(matches), lines
        assert [m.group(1) for m in matches] == [e.label for e in expected]  # type: ignore[union-attr]
        assert [float(m.group(2)) for m in matches] == pytest.approx(  # type: ignore[union-attr]
            [e.score for e in expected], abs=1e-4
        )
        shown = [m.group(3) for m in matches]  # type: ignore[union-attr]
        assert shown[2:] == ["wonderful", "boring", "", " ".join(TEXTS[5].split())]
        assert shown[0] == POSITIVE[0][:67] + "..."  # longer than 70 characters
    assert [e.label for e in expected[:4]] == ["positive", "negative", "positive", "negative"]


def test_predict_human_output_shortens_long_texts() -> None:
    text = "wonderful   film\n" * 20
    result = invoke("predict", "--bundle", TINY, text)
    assert_ok(result)
    shown = HUMAN_LINE.fullmatch(result.output.rstrip("\n"))
    assert shown and shown.group(3).endswith("...") and len(shown.group(3)) == 70
    assert shown.group(3).startswith("wonderful film wonderful film")


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_predict_empty_input_gives_no_output(tmp_path: Path, source: str) -> None:
    path = tmp_path / "empty.txt"
    path.write_bytes(b"")
    result = (
        invoke("predict", "--bundle", TINY, "--file", path)
        if source == "file"
        else invoke("predict", "--bundle", TINY, input=b"")
    )
    assert_ok(result)
    assert result.output == ""


@pytest.mark.parametrize(
    "data",
    [
        b"wonderful\nboring\nloved it",
        b"wonderful\nboring\nloved it\n",
        b"wonderful\r\nboring\r\nloved it\r\n",
        b"wonderful\r\nboring\r\nloved it",
    ],
    ids=["no-final-newline", "lf", "crlf", "crlf-no-final-newline"],
)
@pytest.mark.parametrize("source", ["file", "stdin"])
def test_predict_counts_every_line(tmp_path: Path, source: str, data: bytes) -> None:
    path = tmp_path / "texts.txt"
    path.write_bytes(data)
    args = ["predict", "--bundle", TINY, "--json"]
    result = invoke(*args, "--file", path) if source == "file" else invoke(*args, input=data)
    assert_ok(result)
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert len(rows) == 3
    direct = Predictor.load(TINY).predict(["wonderful", "boring", "loved it"])
    assert [r["score"] for r in rows] == pytest.approx([d.score for d in direct], abs=1e-6)


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_predict_invalid_utf8_names_the_line(tmp_path: Path, source: str) -> None:
    data = b"ok\n\xff bad\n"
    path = tmp_path / "bad.txt"
    path.write_bytes(data)
    args = ["predict", "--bundle", TINY]
    result = invoke(*args, "--file", path) if source == "file" else invoke(*args, input=data)
    assert_fails(result, 1, "line 2", "--errors replace", "0xff")
    assert (str(path) if source == "file" else "standard input") in result.output
    assert "positive" not in result.output and "negative" not in result.output  # nothing half-printed

    replaced = (
        invoke(*args, "--errors", "replace", "--json", "--file", path)
        if source == "file"
        else invoke(*args, "--errors", "replace", "--json", input=data)
    )
    assert_ok(replaced)
    rows = [json.loads(line) for line in replaced.output.splitlines()]
    assert [r["index"] for r in rows] == [0, 1]
    direct = Predictor.load(TINY).predict(["ok", "\ufffd bad"])
    assert [r["score"] for r in rows] == pytest.approx([d.score for d in direct], abs=1e-6)


def test_predict_streams_more_than_one_chunk(tmp_path: Path) -> None:
    from edge_sentiment.runtime.predictor import CHUNK

    texts = [("wonderful film", "boring film", "")[i % 3] for i in range(CHUNK + 5)]
    path = tmp_path / "many.txt"
    path.write_text("".join(t + "\n" for t in texts), encoding="utf-8")
    result = invoke("predict", "--bundle", TINY, "--json", "--file", path)
    assert_ok(result)
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["index"] for r in rows] == list(range(len(texts)))
    assert [r["label"] for r in rows[:2]] == ["positive", "negative"]
    assert rows[-1]["score"] == pytest.approx(Predictor.load(TINY).predict(texts[-1])[0].score, abs=1e-6)


def test_predict_invalid_utf8_after_the_first_chunk_names_its_line(tmp_path: Path) -> None:
    from edge_sentiment.runtime.predictor import CHUNK

    path = tmp_path / "late.txt"
    path.write_bytes(b"ok\n" * (CHUNK + 10) + b"caf\xe9\n")
    result = invoke("predict", "--bundle", TINY, "--json", "--file", path)
    assert_fails(result, 1, f"line {CHUNK + 11} ", "--errors replace", "0xe9")
    assert len([line for line in result.output.splitlines() if line.startswith("{")]) == CHUNK  # the first chunk


def test_predict_texts_and_file_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "texts.txt"
    path.write_text("wonderful\n")
    assert_fails(invoke("predict", "--bundle", TINY, "--file", path, "wonderful"), 2, "not both")


@pytest.mark.parametrize("option, value", [("--precision", "fp16"), ("--threads", "0"), ("--errors", "ignore")])
def test_predict_bad_option_values(option: str, value: str) -> None:
    assert_fails(invoke("predict", "--bundle", TINY, option, value, "wonderful"), 2, f"Invalid value for '{option}'")


def test_predict_file_is_a_folder(tmp_path: Path) -> None:
    assert_fails(invoke("predict", "--bundle", TINY, "--file", tmp_path), 2, "Invalid value for '--file'", "is a directory")


def test_predict_missing_file(tmp_path: Path) -> None:
    """A --file that does not exist is a user mistake: a message naming it, not a FileNotFoundError traceback."""
    missing = tmp_path / "missing.txt"
    result = invoke("predict", "--bundle", TINY, "--file", missing)
    assert result.exit_code in (1, 2), result.output
    assert isinstance(result.exception, SystemExit), f"{result.exception!r} escaped"
    assert str(missing) in result.output
    assert "does not exist" in result.output or "No such file" in result.output


def test_predict_int8_on_a_bundle_without_one() -> None:
    assert_fails(invoke("predict", "--bundle", TINY, "--precision", "int8", "wonderful"), 1, "no int8 model")


# -- bundles: missing, not a bundle, tampered ----------------------------------------------------


@pytest.mark.parametrize("command", ["predict", "verify", "evaluate"])
def test_missing_bundle(tmp_path: Path, tiny_archive: Path, command: str) -> None:
    missing = tmp_path / "nowhere"
    args = {
        "predict": ["predict", "--bundle", missing, "wonderful"],
        "verify": ["verify", missing],
        "evaluate": ["evaluate", "--bundle", missing, "--data", tiny_archive],
    }[command]
    assert_fails(invoke(*args), 1, "no bundle folder", str(missing), "edge-sentiment export")


@pytest.mark.parametrize("command", ["predict", "verify"])
def test_not_a_bundle(tmp_path: Path, command: str) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    args = ["predict", "--bundle", tmp_path, "wonderful"] if command == "predict" else ["verify", tmp_path]
    assert_fails(invoke(*args), 1, "not a bundle", "manifest.json")


def test_bundle_behind_a_symlink_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "link"
    link.symlink_to(TINY, target_is_directory=True)
    assert_fails(invoke("predict", "--bundle", link, "wonderful"), 1, "symbolic link")


def _tampered_copy(tmp_path: Path, name: str) -> Path:
    bundle = tmp_path / "bundle"
    shutil.copytree(TINY, bundle)
    data = bytearray((bundle / name).read_bytes())
    data[len(data) // 2] ^= 0x01  # same size, one bit changed
    (bundle / name).write_bytes(bytes(data))
    return bundle


@pytest.mark.parametrize("name", ["model.onnx", "tokenizer.json"])
@pytest.mark.parametrize("command", ["predict", "verify", "evaluate"])
def test_tampered_bundle(tmp_path: Path, tiny_archive: Path, command: str, name: str) -> None:
    bundle = _tampered_copy(tmp_path, name)
    args = {
        "predict": ["predict", "--bundle", bundle, "wonderful"],
        "verify": ["verify", bundle],
        "evaluate": ["evaluate", "--bundle", bundle, "--data", tiny_archive],
    }[command]
    assert_fails(invoke(*args), 1, name, "sha256", "re-export")


def test_truncated_bundle_file(tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(TINY, bundle)
    (bundle / "model.onnx").write_bytes((bundle / "model.onnx").read_bytes()[:-10])
    assert_fails(invoke("verify", bundle), 1, "model.onnx", "manifest says", "re-export")


# -- verify --------------------------------------------------------------------------------------


def test_verify_tiny_bundle() -> None:
    result = invoke("verify", TINY)
    assert_ok(result)
    lines = result.output.splitlines()
    assert lines[0].startswith(f"✓ {TINY}: format 1, 4 files match their sha256")
    assert lines[1].startswith("✓ fp32 (model.onnx): verified and ran")
    assert lines[2] == "✓ conformance.jsonl: 200/200 texts with identical ids, max |dp| 0.0e+00 (limit 1e-05)"
    assert lines[3].startswith("✓ text (model.text.onnx), batch of 200: 200/200 texts with identical ids")


def test_verify_json() -> None:
    result = invoke("verify", TINY, "--json")
    assert_ok(result)
    report = json.loads(result.output)
    assert report["ok"] is True
    assert report["bundle"] == str(TINY)
    assert report["format_version"] == 1
    assert set(report["files"]) == {"model.onnx", "tokenizer.json", "conformance.jsonl", "model.text.onnx"}
    assert report["text_model"]["ids_identical"] == 200 and report["text_model"]["max_abs_diff"] <= 1e-5
    assert report["conformance"] == {"texts": 200, "ids_identical": 200, "max_abs_diff": 0.0}
    assert list(report["models"]) == ["fp32"]
    assert 0.0 <= report["models"]["fp32"]["sample_score"] <= 1.0


# -- evaluate ------------------------------------------------------------------------------------

ALL_VARIANTS = {"full review"} | {f"{end} {k} words" for end in ("first", "last") for k in (10, 20, 50)}


@pytest.mark.parametrize("cuts, variants", [([], ALL_VARIANTS), (["--cuts"], ALL_VARIANTS), (["--no-cuts"], {"full review"})])
def test_evaluate_json(tiny_archive: Path, cuts: list[str], variants: set[str]) -> None:
    result = CliRunner().invoke(main, ["evaluate", "--data", str(tiny_archive), "--bundle", str(TINY), "--json", *cuts])
    assert_ok(result)
    report = json.loads(result.stdout)  # the progress bar goes to stderr
    assert set(report["results"]) == variants
    assert {"first 10 words", "last 50 words"} <= set(report["results"]) or cuts == ["--no-cuts"]
    for row in report["results"].values():
        assert 0.0 <= row["accuracy"] <= 1.0
        assert row["log_loss"] >= 0.0
    assert report["results"]["full review"]["accuracy"] >= 0.75  # the tiny bundle knows these words
    assert report["reviews"] == 16
    assert report["test_sha256"] == load_imdb(tiny_archive, splits=("test",))["test"].checksum()


def test_evaluate_limit(tiny_archive: Path) -> None:
    result = CliRunner().invoke(
        main, ["evaluate", "--data", str(tiny_archive), "--bundle", str(TINY), "--json", "--no-cuts", "--limit", "4"]
    )
    assert_ok(result)
    assert json.loads(result.stdout)["reviews"] == 4


def test_evaluate_human(tiny_archive: Path) -> None:
    result = CliRunner().invoke(main, ["evaluate", "--data", str(tiny_archive), "--bundle", str(TINY)])
    assert_ok(result)
    lines = result.stdout.splitlines()
    assert lines[0] == f"{TINY} (fp32) on 16 IMDB test reviews:"
    names = [line[2:18].strip() for line in lines[2:]]
    assert names == [
        "full review",
        "first 10 words",
        "last 10 words",
        "first 20 words",
        "last 20 words",
        "first 50 words",
        "last 50 words",
    ]


def test_evaluate_from_environment(tiny_archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGE_SENTIMENT_DATA", str(tiny_archive))
    result = CliRunner().invoke(main, ["evaluate", "--bundle", str(TINY), "--json", "--no-cuts"])
    assert_ok(result)
    assert json.loads(result.stdout)["reviews"] == 16


def test_evaluate_without_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EDGE_SENTIMENT_DATA", raising=False)
    assert_fails(invoke("evaluate", "--bundle", TINY), 1, "EDGE_SENTIMENT_DATA", "--data")


@pytest.mark.parametrize("kind, message", [("missing", "not found"), ("text", "not a readable")])
def test_evaluate_bad_data(tmp_path: Path, kind: str, message: str) -> None:
    data = tmp_path / "data.tar.gz"
    if kind == "text":
        data.write_text("not an archive\n" * 10)
    assert_fails(invoke("evaluate", "--bundle", TINY, "--data", data), 1, message)


# -- train and export ----------------------------------------------------------------------------


@needs_tf
@pytest.mark.parametrize(
    "kind, message", [("missing", "not found"), ("text", "not a readable"), ("empty-folder", "no train reviews")]
)
def test_train_bad_data(tmp_path: Path, kind: str, message: str) -> None:
    data = tmp_path / "data"
    if kind == "text":
        data.write_text("not an archive\n" * 10)
    elif kind == "empty-folder":
        data.mkdir()
    out = tmp_path / "run"
    assert_fails(invoke("train", "--data", data, "--out", out), 1, message)
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ([] if kind == "missing" else ["data"])


@pytest.mark.parametrize(
    "args, message",
    [
        (["--early-stopping-patience", "2"], "give a validation_split"),
        (["--recipe", "better", "--crop-min-words", "120"], "crop_min_words (120) is above crop_max_words (100)"),
        (["--pooling", "avg"], "'avg' is not one of 'last', 'max', 'mean-max'"),
        (["--learning-rate-schedule", "linear"], "'linear' is not one of 'constant', 'cosine'"),
        (["--learning-rate-schedule", "cosine", "--learning-rate-decay", "0.5"], "leave learning_rate_decay at 1"),
        (["--word-dropout", "1"], "--word-dropout"),
    ],
)
def test_train_refuses_inconsistent_options_before_any_work(tmp_path: Path, args: list[str], message: str) -> None:
    out = tmp_path / "run"
    assert_fails(invoke("train", "--data", tmp_path / "missing", "--out", out, *args), 2, message)
    assert not out.exists()


@needs_tf
@pytest.mark.parametrize("content", ["file", "folder"])
def test_train_refuses_a_non_empty_out_folder_before_any_work(
    tmp_path: Path, tiny_archive: Path, monkeypatch: pytest.MonkeyPatch, content: str
) -> None:
    import edge_sentiment.train.model as model_module
    import edge_sentiment.train.trainer as trainer_module

    def must_not_run(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("train did work before refusing --out")

    monkeypatch.setattr(trainer_module, "load_imdb", must_not_run)
    monkeypatch.setattr(model_module, "build_model", must_not_run)
    out = tmp_path / "run"
    out.mkdir()
    if content == "file":
        (out / "keep.txt").write_text("precious")
    else:
        (out / "sub").mkdir()
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert_fails(invoke("train", "--data", tiny_archive, "--out", out), 1, "not empty", "--force", str(out))
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    if content == "file":
        assert (out / "keep.txt").read_text() == "precious"


@needs_tf
def test_train_with_word2vec_says_how_to_install_gensim(
    tmp_path: Path, tiny_archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "gensim", None)  # as if it were not installed: import fails
    out = tmp_path / "run"
    assert_fails(
        invoke("train", "--data", tiny_archive, "--out", out, "--word2vec-epochs", "1"),
        1,
        "Word2vec pre-training (--word2vec-epochs) needs gensim",
        "pip install 'edge-sentiment[train]'",
    )
    assert not out.exists()
    assert_fails(invoke("train", "--data", tiny_archive, "--out", out, "--learning-rate-decay", "0"), 2, "--learning-rate-decay")


@needs_tf
def test_train_out_is_a_file(tmp_path: Path, tiny_archive: Path) -> None:
    out = tmp_path / "run"
    out.write_text("a file")
    assert_fails(invoke("train", "--data", tiny_archive, "--out", out, "--force"), 1, "not a folder")
    assert out.read_text() == "a file"


SMALL = [
    "--epochs",
    "1",
    "--max-len",
    "20",
    "--vocab-size",
    "50",
    "--lstm-units",
    "4",
    "--embedding-dim",
    "4",
    "--batch-size",
    "16",
    "--learning-rate-schedule",
    "cosine",
    "--word-dropout",
    "0.1",
]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Result, Path, Path]:
    """One small training run on a generated 40-per-class archive: (result, archive, run folder)."""
    folder = tmp_path_factory.mktemp("train")
    archive = make_archive(folder / "aclImdb.tar.gz", per_class=40)
    run = folder / "run"
    return invoke("train", "--data", archive, "--out", run, *SMALL, "--json"), archive, run


@pytest.fixture(scope="module")
def exported(trained: tuple[Result, Path, Path]) -> tuple[Result, Path]:
    result, archive, run = trained
    if result.exit_code != 0:
        pytest.fail(f"training failed, nothing to export: {result.output}")
    bundle = run.parent / "bundle"
    return invoke("export", run, "--out", bundle, "--parity-samples", "16", "--data", archive), bundle


@needs_tf
def test_train_small_run(trained: tuple[Result, Path, Path]) -> None:
    result, archive, run = trained
    assert_ok(result)
    metrics = json.loads(result.stdout)
    assert sorted(p.name for p in run.iterdir()) == ["metrics.json", "model.keras", "tokenizer.json"]
    assert json.loads((run / "metrics.json").read_text()) == metrics
    assert len(metrics["epochs"]) == 1
    assert (metrics["recipe"]["learning_rate_schedule"], metrics["recipe"]["word_dropout"]) == ("cosine", 0.1)
    assert metrics["epochs"][0]["learning_rate"] == pytest.approx(0.0, abs=1e-9)  # annealed over the one epoch
    assert {"epoch", "loss", "accuracy"} <= set(metrics["epochs"][0])
    assert metrics["epochs"][0]["loss"] > 0
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert 0.0 <= metrics["train_accuracy"] <= 1.0
    assert metrics["train_reviews"] == metrics["test_reviews"] == 80
    train_split = load_imdb(archive, splits=("train",))["train"]
    assert metrics["data"]["train_sha256"] == train_split.checksum()
    assert metrics["data"]["archive_sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert metrics["seed"] == metrics["recipe"]["seed"] == 7
    assert metrics["versions"]["tensorflow"] == importlib.metadata.version("tensorflow")
    assert metrics["wall_seconds"] > 0
    recipe = metrics["recipe"]
    assert (
        recipe["max_len"],
        recipe["vocab_size"],
        recipe["lstm_units"],
        recipe["embedding_dim"],
        recipe["batch_size"],
        recipe["epochs"],
    ) == (20, 50, 4, 4, 16, 1)
    tokenizer = json.loads((run / "tokenizer.json").read_text())
    assert tokenizer["max_len"] == 20 and tokenizer["vocab_size"] <= 50
    assert not [p for p in run.parent.iterdir() if p.name.startswith(".run.tmp")]  # no temporary folder left


@needs_tf
def test_export_small_run(exported: tuple[Result, Path], trained: tuple[Result, Path, Path]) -> None:
    result, bundle = exported
    assert_ok(result)
    checks = [line for line in result.stdout.splitlines() if line.startswith(("✓", "✗"))]
    assert len(checks) >= 5 and all(line.startswith("✓") for line in checks), result.stdout
    assert any("parity" in line and "16/16" in line for line in checks)
    assert result.stdout.splitlines()[-1].startswith(f"wrote {bundle}")
    manifest = json.loads((bundle / "manifest.json").read_text())
    assert manifest["model"]["max_len"] == 20
    assert manifest["parity"]["source"] == "16 IMDB test reviews"
    assert_ok(invoke("verify", bundle))


@needs_tf
def test_predict_with_an_exported_bundle(exported: tuple[Result, Path]) -> None:
    result, bundle = exported
    assert_ok(result)
    predicted = invoke("predict", "--bundle", bundle, "--json", *TEXTS[:2])
    assert_ok(predicted)
    rows = [json.loads(line) for line in predicted.output.splitlines()]
    assert [r["index"] for r in rows] == [0, 1]
    assert all(r["label"] in ("positive", "negative") and 0.0 <= r["score"] <= 1.0 for r in rows)
    assert [r["score"] for r in rows] == pytest.approx([p.score for p in Predictor.load(bundle).predict(TEXTS[:2])], abs=1e-6)


@needs_tf
def test_export_refuses_an_existing_bundle_without_force(
    exported: tuple[Result, Path], trained: tuple[Result, Path, Path]
) -> None:
    result, bundle = exported
    assert_ok(result)
    before = (bundle / "manifest.json").read_bytes()
    run = trained[2]
    assert_fails(invoke("export", run, "--out", bundle, "--parity-samples", "1"), 1, "--force")
    assert (bundle / "manifest.json").read_bytes() == before


@needs_tf
def test_train_on_a_real_imdb_subset(imdb_path: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = invoke(
        "train",
        "--data",
        imdb_path,
        "--out",
        run,
        "--train-limit",
        "300",
        "--test-limit",
        "200",
        "--epochs",
        "1",
        "--max-len",
        "50",
        "--vocab-size",
        "500",
        "--lstm-units",
        "8",
        "--embedding-dim",
        "8",
        "--batch-size",
        "64",
        "--json",
    )
    assert_ok(result)
    metrics = json.loads(result.stdout)
    assert metrics["train_reviews"] == 300 and metrics["test_reviews"] == 200
    assert sorted(p.name for p in run.iterdir()) == ["metrics.json", "model.keras", "tokenizer.json"]
    assert json.loads((run / "metrics.json").read_text()) == metrics
    assert metrics["recipe"]["max_len"] == 50
    assert 0.0 <= metrics["test_accuracy"] <= 1.0
    assert metrics["data"]["path"] == str(imdb_path)
    tokenizer = json.loads((run / "tokenizer.json").read_text())
    assert tokenizer["vocab_size"] == 500  # 300 real reviews hold far more than 498 distinct words


# -- help and version ----------------------------------------------------------------------------


def test_main_help_lists_the_commands() -> None:
    result = invoke("--help")
    assert_ok(result)
    for name in COMMANDS:
        assert re.search(rf"^  {name}\s+\S", result.output, re.MULTILINE), f"{name} missing from --help"


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("name", COMMANDS)
def test_command_help(name: str, flag: str) -> None:
    result = invoke(name, flag)
    assert_ok(result)
    assert result.output.startswith(f"Usage: main {name} ")
    command = main.commands[name]
    assert command.help and command.help.strip()
    for param in command.params:
        if isinstance(param, click.Option):
            assert param.help and param.help.strip(), f"{name} {param.opts} has no help text"
            for opt in param.opts:
                assert opt in result.output


def test_unknown_command() -> None:
    assert_fails(invoke("predcit", "wonderful"), 2, "No such command")


def test_version_in_a_subprocess() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edge_sentiment", "--version"], capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"edge-sentiment, version {edge_sentiment.__version__}"
    assert edge_sentiment.__version__ == importlib.metadata.version("edge-sentiment")


@pytest.mark.parametrize(
    "bundle",
    sorted((ASSETS / "shapes").iterdir()) + sorted((ASSETS / "kinds").iterdir()),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_verify_predict_and_bench_run_every_shape_and_kind(bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if bundle.name != "gru":  # one bench reads the IMDB archive where $EDGE_SENTIMENT_DATA names it (.ci/run does),
        monkeypatch.delenv("EDGE_SENTIMENT_DATA", raising=False)  # the rest generated texts: 8 s less apiece
    verified = invoke("verify", bundle, "--json")
    assert verified.exit_code == 0, verified.output
    assert json.loads(verified.output)["ok"] is True
    predicted = invoke("predict", "--bundle", bundle, "--json", "A wonderful film.", "", "Dull.")
    assert predicted.exit_code == 0, predicted.output
    rows = [json.loads(line) for line in predicted.output.splitlines()]
    labels = json.loads((bundle / "manifest.json").read_text(encoding="utf-8"))["labels"]
    assert [r["index"] for r in rows] == [0, 1, 2] and all(r["label"] in labels for r in rows)
    benched = invoke("bench", "--bundle", bundle, "--repeats", 10, "--throughput-texts", 20, "--cold-repeats", 0, "--json")
    assert benched.exit_code == 0, benched.output


def test_the_cli_precisions_are_the_runtimes() -> None:
    from edge_sentiment.cli import PRECISIONS
    from edge_sentiment.runtime.bundle import PRECISION_FILES

    assert PRECISIONS == tuple(PRECISION_FILES)


def test_bench_compare_keras_says_plainly_what_it_needs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped bundle records the model it came from, which no user has: a plain error, not a missing path."""
    monkeypatch.chdir(tmp_path)  # where a user runs it: the recorded path is relative to the project's root
    monkeypatch.delenv("EDGE_SENTIMENT_DATA", raising=False)  # bench reads the archive before it refuses (5 s)
    result = invoke("bench", "--compare", "keras", "--repeats", 10, "--cold-repeats", 0, "--throughput-texts", 10)
    assert_fails(result, 1, "--compare keras runs the Keras model the bundle was exported from", "pass --keras-model PATH")


def test_every_command_is_in_the_lazy_map() -> None:
    """main loads a command's module when asked for it (base.COMMAND_MODULES); each command must be there."""
    from edge_sentiment.cli import base, bench, calibrate, export, predict, score, train, verify  # noqa: F401  (register every command)

    assert set(main.commands) == set(base.COMMAND_MODULES)
    for name, module in base.COMMAND_MODULES.items():
        assert main.commands[name].callback.__module__ == f"edge_sentiment.cli.{module}"


def test_predict_loads_only_its_own_command() -> None:
    script = (
        "import sys\n"
        "from edge_sentiment.cli import main\n"
        "main(['predict', 'A wonderful film.'], standalone_mode=False)\n"
        "print(sorted(m for m in sys.modules if m.startswith('edge_sentiment.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    loaded = set(ast.literal_eval(result.stdout.splitlines()[-1]))
    assert "edge_sentiment.cli.predict" in loaded
    assert not loaded & {
        "edge_sentiment.cli.train",
        "edge_sentiment.cli.export",
        "edge_sentiment.cli.verify",
        "edge_sentiment.cli.bench",
        "edge_sentiment.cli.score",
        "edge_sentiment.scoring",
        "edge_sentiment.bench",
    }
