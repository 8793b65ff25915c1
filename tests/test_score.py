"""edge-sentiment score and score_file with the local engine: formats, rejects, --strict, atomic output,
--resume after SIGKILL, and the run's own checks (the Ray engine is in test_score_ray.py)."""

from __future__ import annotations

import csv
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from conftest import ASSETS, NEGATIVE, POSITIVE, ROOT

import edge_sentiment
from edge_sentiment import Predictor, ScoreError, score_file
from edge_sentiment.cli import main

TINY = ASSETS / "tiny_bundle"
HAS_PYARROW = importlib.util.find_spec("pyarrow") is not None
needs_pyarrow = pytest.mark.skipif(not HAS_PYARROW, reason="needs pyarrow: pip install 'edge-sentiment[parquet]'")
TEXTS = [POSITIVE[0], NEGATIVE[1], "", "wonderful", "Café ＭＯＶＩＥ 10/10 <br /> it’s bad!", 'a "quoted", text\nover two lines']


def invoke(*args: Any) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def fails(result: Result, *pieces: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), f"{result.exception!r} escaped:\n{result.output}"
    assert "Traceback" not in result.output
    for piece in pieces:
        assert piece in result.output, result.output


def expected(texts: list[str], bundle: Path = TINY) -> list[tuple[str, float]]:
    return [(p.label, round(p.score, 6)) for p in Predictor.load(bundle).predict(texts)]


# -- inputs: each format holds TEXTS with one bad row in the middle, and an id ------------------------


def write_input(tmp_path: Path, fmt: str) -> tuple[Path, int]:
    """TEXTS in the format, with one bad row at index 2 (shifting the rest); returns (path, bad row)."""
    if fmt == "text":  # one text a line: the two-line text becomes two rows, the bad row is invalid UTF-8
        path = tmp_path / "in.txt"
        lines = [t.encode() for t in TEXTS[:-1]]
        path.write_bytes(b"\n".join([*lines[:2], b"caf\xe9 latin-1", *lines[2:]]) + b"\n")
        return path, 2
    if fmt == "jsonl":
        path = tmp_path / "in.jsonl"
        rows = [json.dumps({"id": f"r{i}", "text": t}) for i, t in enumerate(TEXTS)]
        path.write_text("\n".join([*rows[:2], json.dumps({"id": "bad", "text": 42}), *rows[2:]]) + "\n", encoding="utf-8")
        return path, 2
    if fmt == "csv":
        path = tmp_path / "in.csv"
        with open(path, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["id", "text"])
            records = [[f"r{i}", t] for i, t in enumerate(TEXTS)]
            writer.writerows([*records[:2], ["bad"], *records[2:]])
        return path, 2
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    ids = [f"r{i}" for i in range(len(TEXTS))]
    texts: list[str | None] = list(TEXTS)
    pq.write_table(pa.table({"id": [*ids[:2], "bad", *ids[2:]], "text": [*texts[:2], None, *texts[2:]]}), path, row_group_size=3)
    return path, 2


def read_output(path: Path, fmt: str) -> list[dict[str, Any]]:
    if fmt == "jsonl":
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    if fmt == "csv":
        with open(path, newline="", encoding="utf-8") as stream:
            return [{**row, "row": int(row["row"]), "score": float(row["score"])} for row in csv.DictReader(stream)]
    import pyarrow.parquet as pq

    return list(pq.read_table(path).to_pylist())


FORMATS = ["text", "jsonl", "csv", pytest.param("parquet", marks=needs_pyarrow)]
OUT_FORMATS = ["jsonl", "csv", pytest.param("parquet", marks=needs_pyarrow)]


@pytest.mark.parametrize("out_fmt", OUT_FORMATS)
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_scores_like_predict_and_rejects_the_bad_row(tmp_path: Path, fmt: str, out_fmt: str) -> None:
    source, bad = write_input(tmp_path, fmt)
    out = tmp_path / f"scores.{out_fmt}"
    result = invoke("score", source, "--out", out, "--bundle", TINY, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    texts = TEXTS[:-1] if fmt == "text" else TEXTS
    assert (summary["rows"], summary["scored"], summary["rejected"]) == (len(texts) + 1, len(texts), 1)
    rows = read_output(out, out_fmt)
    assert [r["row"] for r in rows] == [i for i in range(len(texts) + 1) if i != bad]
    assert [(r["label"], r["score"]) for r in rows] == expected(texts)
    if fmt != "text":  # the id is carried through
        assert [r["id"] for r in rows] == [f"r{i}" for i in range(len(texts))]
    rejects = [json.loads(line) for line in Path(f"{out}.rejects.jsonl").read_text().splitlines()]
    assert [r["row"] for r in rejects] == [bad]
    reason = {
        "text": "invalid UTF-8 (byte 0xe9",
        "jsonl": "field 'text' is a number, not a string",
        "csv": "1 fields where the header has 2",
        "parquet": "null",
    }
    assert reason[fmt] in rejects[0]["reason"]
    assert sorted(os.listdir(tmp_path)) == sorted([source.name, out.name, f"{out.name}.rejects.jsonl"])  # no temp files left


def test_jsonl_carries_every_other_field_and_keep_text(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"text": "wonderful", "meta": {"stars": 5}, "tags": ["a"]}) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    assert invoke("score", source, "--out", out, "--bundle", TINY, "--keep-text").exit_code == 0
    (row,) = read_output(out, "jsonl")
    assert row == {"row": 0, "meta": {"stars": 5}, "tags": ["a"], "text": "wonderful", "label": expected(["wonderful"])[0][0],
                   "score": expected(["wonderful"])[0][1]}  # fmt: skip


@pytest.mark.parametrize(
    "line, reason",
    [
        (b"not json", "not valid JSON"),
        (b"[1, 2]", "a JSON list, not an object"),
        (b"", "empty line"),
        (b'{"body": "x"}', "no field 'text' (pass --text-field)"),
        (b'{"text": null}', "is null, not a string"),
        (b'{"text": "\\ud800"}', "lone surrogate"),
        (b'{"text": "caf\xe9"}', "invalid UTF-8 (byte 0xe9 at column 14)"),
        (b'{"text": "x", "n": NaN}', "not valid JSON (NaN is not JSON)"),
        (b'{"text": "x", "n": -Infinity}', "not valid JSON (-Infinity is not JSON)"),
        (b'{"text": "x", "n": ' + b"9" * 5000 + b"}", "not valid JSON (Exceeds the limit"),
    ],
)
def test_jsonl_bad_rows_name_their_reason(tmp_path: Path, line: bytes, reason: str) -> None:
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{"text": "good"}\n' + line + b'\n{"text": "fine"}\n')
    summary = score_file(source, tmp_path / "out.jsonl", bundle=TINY)
    assert (summary.rows, summary.scored, summary.rejected) == (3, 2, 1)
    (reject,) = read_output(tmp_path / "out.jsonl.rejects.jsonl", "jsonl")
    assert reject["row"] == 1 and reason in reject["reason"], reject


@pytest.mark.parametrize("fmt", ["text", "jsonl"])
def test_an_overlong_line_is_rejected_without_being_held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str) -> None:
    import edge_sentiment.scoring.rules as rules

    monkeypatch.setattr(rules, "MAX_FIELD", 64)
    source = tmp_path / f"in.{'txt' if fmt == 'text' else 'jsonl'}"
    good = ["wonderful", "boring"] if fmt == "text" else [json.dumps({"text": t}) for t in ("wonderful", "boring")]
    long = "x" * 200 if fmt == "text" else json.dumps({"text": "y" * 200})
    source.write_text(f"{good[0]}\n{long}\n{good[1]}\n", encoding="utf-8")
    summary = score_file(source, tmp_path / "o.jsonl", bundle=TINY)
    assert (summary.rows, summary.scored, summary.rejected) == (3, 2, 1)
    assert [r["row"] for r in read_output(tmp_path / "o.jsonl", "jsonl")] == [0, 2]
    (reject,) = read_output(tmp_path / "o.jsonl.rejects.jsonl", "jsonl")
    assert reject["row"] == 1 and "a line longer than" in reject["reason"]


def test_text_field_and_column_options(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("body,n\nwonderful,1\nboring,2\n", encoding="utf-8")
    fails(
        invoke("score", source, "--out", tmp_path / "a.jsonl", "--bundle", TINY), "no column 'text'", "body, n", "--text-column"
    )
    result = invoke("score", source, "--out", tmp_path / "b.jsonl", "--bundle", TINY, "--text-column", "body")
    assert result.exit_code == 0, result.output
    assert [(r["n"], r["label"]) for r in read_output(tmp_path / "b.jsonl", "jsonl")] == [
        ("1", expected(["wonderful"])[0][0]),
        ("2", expected(["boring"])[0][0]),
    ]
    result = invoke("score", source, "--out", tmp_path / "c.jsonl", "--text-field", "a", "--text-column", "b")
    assert result.exit_code == 2 and "give the text's name once" in result.output


def test_strict_stops_at_the_first_bad_row_and_writes_nothing(tmp_path: Path) -> None:
    source, _ = write_input(tmp_path, "jsonl")
    out = tmp_path / "scores.jsonl"
    fails(invoke("score", source, "--out", out, "--bundle", TINY, "--strict"), "row 2 of", "not a string", "--strict")
    assert sorted(os.listdir(tmp_path)) == [source.name]


def test_an_existing_output_needs_force(tmp_path: Path) -> None:
    source, _ = write_input(tmp_path, "jsonl")
    out = tmp_path / "scores.jsonl"
    out.write_text("precious\n")
    fails(invoke("score", source, "--out", out, "--bundle", TINY), "already exists", "--force")
    assert out.read_text() == "precious\n"
    assert invoke("score", source, "--out", out, "--bundle", TINY, "--force").exit_code == 0
    assert len(read_output(out, "jsonl")) == len(TEXTS)


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.txt"], "no such file"),
        ([".", "--input-format", "text"], "is a directory"),
    ],
)
def test_bad_inputs(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["score", *args, "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code != 0 and message in result.output, result.output
    assert "Traceback" not in result.output


def test_the_output_may_not_overwrite_the_input(tmp_path: Path) -> None:
    source, _ = write_input(tmp_path, "jsonl")
    fails(invoke("score", source, "--out", source, "--bundle", TINY, "--force"), "would overwrite the input")


def test_an_empty_input_gives_an_empty_output(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_bytes(b"")
    summary = score_file(tmp_path / "empty.txt", tmp_path / "out.csv", bundle=TINY)
    assert (summary.rows, summary.scored, summary.rejected) == (0, 0, 0)
    assert (tmp_path / "out.csv").read_text() == "row,label,score\n"


def test_missing_pyarrow_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, _ = write_input(tmp_path, "jsonl")
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    fails(invoke("score", source, "--out", tmp_path / "o.parquet", "--bundle", TINY), "pip install 'edge-sentiment[parquet]'")


def test_missing_ray_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, _ = write_input(tmp_path, "jsonl")
    monkeypatch.setitem(sys.modules, "ray", None)
    fails(
        invoke("score", source, "--out", tmp_path / "o", "--bundle", TINY, "--engine", "ray"), "pip install 'edge-sentiment[ray]'"
    )


def test_score_local_imports_neither_ray_nor_pyarrow_nor_tensorflow(tmp_path: Path) -> None:
    source, _ = write_input(tmp_path, "csv")
    script = (
        "import sys\nfrom edge_sentiment.cli import main\n"
        f"sys.argv = ['edge-sentiment', 'score', {str(source)!r}, '--out', {str(tmp_path / 'o.csv')!r}]\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert not exit.code, exit.code\n"
        "heavy = ('ray', 'pyarrow', 'pandas', 'tensorflow', 'keras', 'tf2onnx', 'onnx')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert len(read_output(tmp_path / "o.csv", "csv")) == len(TEXTS)


def test_summary_and_python_api(tmp_path: Path) -> None:
    source, _ = write_input(tmp_path, "jsonl")
    summary = edge_sentiment.score_file(source, tmp_path / "o.jsonl", bundle=TINY, threads=1)
    assert isinstance(summary, edge_sentiment.ScoreSummary)
    record = summary.as_dict()
    assert {"rows", "scored", "rejected", "seconds", "rows_per_second", "output", "rejects"} <= set(record)
    assert record["rows"] == len(TEXTS) + 1 and record["rows_per_second"] > 0
    result = invoke("score", source, "--out", tmp_path / "h.jsonl", "--bundle", TINY)
    assert result.exit_code == 0
    assert result.output.startswith(f"{len(TEXTS) + 1} rows: {len(TEXTS)} scored, 1 rejected (see ")


# -- crashes and --resume ------------------------------------------------------------------------


def long_texts(n: int) -> list[str]:
    """n different reviews of 40-120 words, so the default bundle takes a few seconds over them."""
    words = " ".join(POSITIVE + NEGATIVE).split()
    return [" ".join(words[(i * 7 + k) % len(words)] for k in range(40 + i % 80)) + f" review {i}" for i in range(n)]


def write_jsonl(path: Path, texts: list[str]) -> Path:
    with open(path, "w", encoding="utf-8") as out:
        for i, text in enumerate(texts):
            out.write(json.dumps({"id": i, "text": text} if i % 997 != 5 else {"id": i, "text": None}) + "\n")
    return path


def test_resume_after_sigkill_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", long_texts(9000))
    reference = tmp_path / "reference.jsonl"
    assert score_file(source, reference, threads=1, checkpoint_rows=1024).rows == 9000

    out = tmp_path / "scores.jsonl"
    partial = tmp_path / ".scores.jsonl.partial"
    command = [sys.executable, "-m", "edge_sentiment", "score", str(source), "--out", str(out), "--threads", "1"]
    child = subprocess.Popen([*command, "--checkpoint-rows", "1024"], cwd=ROOT, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300  # a safety valve only: two checkpoints take about a second on an idle core
    done = 0
    while time.monotonic() < deadline and child.poll() is None:  # wait for at least two recorded parts
        try:
            done = len(json.loads((partial / "run.json").read_text())["parts"])
        except (OSError, ValueError):
            pass
        if done >= 2:
            break
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    assert done >= 2 and not out.exists(), "the kill must land mid-run"
    assert child.returncode == -signal.SIGKILL

    result = invoke("score", source, "--out", out, "--threads", 1, "--checkpoint-rows", 1024, "--json")
    fails(result, "holds an unfinished run", "--resume")
    result = invoke("score", source, "--out", out, "--threads", 1, "--checkpoint-rows", 1024, "--json", "--resume")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["resumed_rows"] >= 2048 and summary["rows"] == 9000
    assert out.read_bytes() == reference.read_bytes()
    assert Path(f"{out}.rejects.jsonl").read_bytes() == Path(f"{reference}.rejects.jsonl").read_bytes()
    assert not partial.exists()


def test_a_crash_between_a_part_and_its_record_is_redone_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import edge_sentiment.scoring.local as local

    source = write_jsonl(tmp_path / "in.jsonl", long_texts(3000))
    reference = tmp_path / "reference.jsonl"
    score_file(source, reference, bundle=TINY, checkpoint_rows=1024)
    real = local.write_json_atomic
    calls = []

    def crash_on_the_third_record(path: Path, obj: Any) -> None:
        calls.append(path)
        if len(calls) == 3:  # part 1 is on disk, its journal entry never is
            raise KeyboardInterrupt
        real(path, obj)

    monkeypatch.setattr(local, "write_json_atomic", crash_on_the_third_record)
    out = tmp_path / "scores.jsonl"
    result = invoke("score", source, "--out", out, "--bundle", TINY, "--checkpoint-rows", 1024)
    assert result.exit_code == 130 and "--resume" in result.output
    assert (tmp_path / ".scores.jsonl.partial" / "part-000001.jsonl").exists()
    monkeypatch.setattr(local, "write_json_atomic", real)
    summary = score_file(source, out, bundle=TINY, checkpoint_rows=1024, resume=True)
    assert summary.resumed_rows == 1024
    assert out.read_bytes() == reference.read_bytes()


def _interrupted_after_two_records(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A run of 2,100 texts (checkpoints of 1,024) stopped by Ctrl-C right after its second journal record."""
    import edge_sentiment.scoring.local as local

    source = write_jsonl(tmp_path / "in.jsonl", long_texts(2100))
    real = local.write_json_atomic
    calls = []

    def crash(path: Path, obj: Any) -> None:
        calls.append(path)
        real(path, obj)
        if len(calls) == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(local, "write_json_atomic", crash)
    out = tmp_path / "scores.jsonl"
    with pytest.raises(KeyboardInterrupt):
        score_file(source, out, bundle=TINY, checkpoint_rows=1024)
    monkeypatch.setattr(local, "write_json_atomic", real)
    return source, out


def test_resume_refuses_other_options_and_force_starts_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, out = _interrupted_after_two_records(tmp_path, monkeypatch)
    with pytest.raises(ScoreError, match="differs in: keep_text"):
        score_file(source, out, bundle=TINY, checkpoint_rows=1024, resume=True, keep_text=True)
    with pytest.raises(ScoreError, match="differs in: bundle_manifest_sha256"):
        score_file(source, out, checkpoint_rows=1024, resume=True)
    summary = score_file(source, out, bundle=TINY, checkpoint_rows=1024, force=True)
    assert summary.resumed_rows == 0 and summary.rows == 2100


def test_the_row_count_is_checked_before_the_rename(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source, out = _interrupted_after_two_records(tmp_path, monkeypatch)
    part = tmp_path / ".scores.jsonl.partial" / "part-000000.jsonl"
    part.write_text("".join(part.read_text().splitlines(keepends=True)[1:]))  # a row lost on disk
    with pytest.raises(ScoreError, match="holds 2096 rows where the run scored 2097"):
        score_file(source, out, bundle=TINY, checkpoint_rows=1024, resume=True)
    assert not out.exists()


def test_progress_is_reported_per_window(tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", long_texts(2500))
    seen: list[tuple[int, int, int]] = []
    score_file(source, tmp_path / "o.jsonl", bundle=TINY, checkpoint_rows=1000, progress=lambda *a: seen.append(a))
    size = source.stat().st_size
    assert [s[0] for s in seen] == [1024, 1024, 2048, 2048, 2500, 2500]  # after each window of 1,024 rows and each checkpoint
    assert all(0 < s[1] <= size and s[2] == size for s in seen) and seen[-1][1] == size
