"""score against hostile rows: each is rejected with its reason and the run goes on (issue 30, class 5).

The hostile rows are built here the way a crawl would hold them: a JSON row nested 100,000 deep, lone
surrogate escapes in carried fields, a field that changes type, input fields named row/label/score, a
200 MB CSV line, a bare carriage return. File-system faults are in test_score_faults.py.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from test_score import TINY, expected, fails, invoke, needs_pyarrow, read_output

from edge_sentiment import ScoreError, score_file

OUT_FORMATS = ["jsonl", "csv", pytest.param("parquet", marks=needs_pyarrow)]


def rejects_of(out: Path) -> list[dict[str, Any]]:
    path = Path(f"{out}.rejects.jsonl")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()] if path.exists() else []


def jsonl(path: Path, lines: list[str | bytes]) -> Path:
    path.write_bytes(b"".join((line.encode() if isinstance(line, str) else line) + b"\n" for line in lines))
    return path


# -- nesting ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("out_fmt", OUT_FORMATS)
@pytest.mark.parametrize("depth", [65, 2_000, 100_000])
def test_a_row_nested_deep_is_rejected_and_the_run_goes_on(tmp_path: Path, depth: int, out_fmt: str) -> None:
    deep = "[" * depth + "]" * depth
    source = jsonl(
        tmp_path / "in.jsonl",
        [json.dumps({"id": 0, "text": "wonderful"}), '{"id": 1, "text": "fine", "meta": ' + deep + "}",
         json.dumps({"id": 2, "text": "boring", "meta": [[["shallow"]]]})],
    )  # fmt: skip
    out = tmp_path / f"o.{out_fmt}"
    result = invoke("score", source, "--out", out, "--bundle", TINY, "--json")
    assert result.exit_code == 0, result.output
    assert (json.loads(result.output)["scored"], json.loads(result.output)["rejected"]) == (2, 1)
    assert [r["row"] for r in read_output(out, out_fmt)] == [0, 2]
    (reject,) = rejects_of(out)
    assert reject["row"] == 1 and "nested deeper than 64 levels" in reject["reason"]


def test_a_nested_row_does_not_stop_a_resumed_run(tmp_path: Path) -> None:
    """Before, the crash came back on every --resume; now the row is a reject like any other."""
    deep = '{"x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    rows = [json.dumps({"text": f"good film {i}"}) for i in range(2100)]
    rows[1500] = '{"text": "x", "m": ' + deep + "}"
    source = jsonl(tmp_path / "in.jsonl", list(rows))
    summary = score_file(source, tmp_path / "o.jsonl", bundle=TINY, checkpoint_rows=1024)
    assert (summary.rows, summary.rejected) == (2100, 1)
    assert rejects_of(tmp_path / "o.jsonl") == [{"row": 1500, "reason": "nested deeper than 64 levels"}]


# -- lone surrogates in carried fields ------------------------------------------------------------


@pytest.mark.parametrize("out_fmt", OUT_FORMATS)
@pytest.mark.parametrize(
    "line, reason",
    [
        ('{"text": "fine", "note": "\\ud800"}', "field 'note' holds a lone surrogate"),
        ('{"text": "fine", "tags": ["ok", {"k": "\\udc00x"}]}', "field 'tags' holds a lone surrogate"),
        ('{"text": "fine", "meta": {"\\ud83d": 1}}', "field 'meta' has a key with a lone surrogate"),
        ('{"text": "fine", "\\udfff": 1}', "a field's name holds a lone surrogate"),
    ],
)
def test_a_lone_surrogate_in_a_carried_field_is_rejected(tmp_path: Path, line: str, reason: str, out_fmt: str) -> None:
    source = jsonl(
        tmp_path / "in.jsonl",
        [json.dumps({"text": "wonderful", "note": "é ✓"}), line, json.dumps({"text": "boring", "note": "\U0001f600"})],
    )
    out = tmp_path / f"o.{out_fmt}"
    result = invoke("score", source, "--out", out, "--bundle", TINY)
    assert result.exit_code == 0, result.output
    rows = read_output(out, out_fmt)
    assert [(r["row"], r["label"], r["score"]) for r in rows] == [
        (0, *expected(["wonderful"])[0]),
        (2, *expected(["boring"])[0]),
    ]
    assert [r["note"] for r in rows] == ["é ✓", "\U0001f600"]  # valid non-ASCII is carried as it is
    (reject,) = rejects_of(out)
    assert reject["row"] == 1 and reason in reject["reason"], reject
    if out_fmt != "parquet":
        out.read_bytes().decode("utf-8")  # the output is valid UTF-8 (this raises if not)


# -- a field that changes type (Parquet keeps one type per column) ------------------------------


@needs_pyarrow
@pytest.mark.parametrize("at", [1, 1500])  # in the first checkpoint (the schema is being made), and after it
def test_a_field_that_changes_type_rejects_that_row_for_parquet(tmp_path: Path, at: int) -> None:
    rows = [{"text": f"a good film {i}", "n": i, "tags": ["a"]} for i in range(2100)]
    rows[at] = {"text": "a bad film", "n": "not a number", "tags": ["a"]}
    rows[at + 3] = {"text": "a bad film", "n": 7, "tags": {"not": "a list"}}
    source = jsonl(tmp_path / "in.jsonl", [json.dumps(r) for r in rows])
    out = tmp_path / "o.parquet"
    result = invoke("score", source, "--out", out, "--bundle", TINY, "--checkpoint-rows", 1024, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["rejected"] == 2
    got = read_output(out, "parquet")
    assert [r["row"] for r in got] == [i for i in range(2100) if i not in (at, at + 3)]
    assert all(isinstance(r["n"], int) for r in got)
    reasons = rejects_of(out)
    assert [r["row"] for r in reasons] == [at, at + 3]
    assert "field 'n' holds \"not a number\", which does not fit the column's Parquet type int64" in reasons[0]["reason"]
    assert "field 'tags'" in reasons[1]["reason"] and "write CSV or JSON Lines" in reasons[1]["reason"]
    # JSON Lines keeps every row, each field as it came
    summary = score_file(source, tmp_path / "o.jsonl", bundle=TINY, checkpoint_rows=1024)
    assert (summary.scored, summary.rejected) == (2100, 0)


@needs_pyarrow
def test_a_type_change_under_strict_stops(tmp_path: Path) -> None:
    source = jsonl(tmp_path / "in.jsonl", [json.dumps({"text": "good", "n": 1}), json.dumps({"text": "bad", "n": "x"})])
    with pytest.raises(ScoreError, match=r"row 1 of .*field 'n'.*--strict"):
        score_file(source, tmp_path / "o.parquet", bundle=TINY, strict=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


# -- input fields named like score's own columns --------------------------------------------------


def _named_like_outputs(tmp_path: Path, fmt: str) -> Path:
    rows = [
        {"row": 99 - i, "text": t, "label": "pos", "score": 5, "input_label": "x"} for i, t in enumerate(["wonderful", "boring"])
    ]
    if fmt == "jsonl":
        return jsonl(tmp_path / "in.jsonl", [json.dumps(r) for r in rows])
    if fmt == "csv":
        path = tmp_path / "in.csv"
        with open(path, "w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        return path
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "in.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.mark.parametrize("out_fmt", OUT_FORMATS)
@pytest.mark.parametrize("fmt", ["jsonl", "csv", pytest.param("parquet", marks=needs_pyarrow)])
def test_input_fields_named_row_label_score_are_kept_under_input_names(tmp_path: Path, fmt: str, out_fmt: str) -> None:
    source = _named_like_outputs(tmp_path, fmt)
    out = tmp_path / f"o.{out_fmt}"
    result = invoke("score", source, "--out", out, "--bundle", TINY)
    assert result.exit_code == 0, result.output
    rows = read_output(out, out_fmt)
    assert [r["row"] for r in rows] == [0, 1]  # score's row numbers, not the input's
    assert [(r["label"], r["score"]) for r in rows] == expected(["wonderful", "boring"])
    as_text = str if fmt == "csv" or out_fmt == "csv" else (lambda v: v)
    assert [r["input_row"] for r in rows] == [as_text(99), as_text(98)]
    assert [r["input_input_label"] for r in rows] == ["pos", "pos"]  # input_label was taken by the input itself
    assert [r["input_label"] for r in rows] == ["x", "x"]
    assert [r["input_score"] for r in rows] == [as_text(5)] * 2
    assert list(rows[0]) == ["row", "input_row", "input_input_label", "input_score", "input_label", "label", "score"]


def test_keep_text_under_an_output_column_name_is_refused(tmp_path: Path) -> None:
    source = jsonl(tmp_path / "in.jsonl", [json.dumps({"label": "wonderful"})])
    result = invoke("score", source, "--out", tmp_path / "o.jsonl", "--text-field", "label", "--keep-text")
    assert result.exit_code == 2 and "--keep-text would write the text under 'label'" in result.output, result.output
    result = invoke("score", source, "--out", tmp_path / "o.jsonl", "--bundle", TINY, "--text-field", "label")
    assert result.exit_code == 0, result.output  # the text read from a field named label is fine


def test_a_csv_header_naming_a_column_twice_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,text,id\n1,wonderful,2\n", encoding="utf-8")
    fails(invoke("score", source, "--out", tmp_path / "o.jsonl", "--bundle", TINY), "names 'id' more than once")


# -- CSV records that are too long or malformed ----------------------------------------------------


def test_a_200_mb_csv_line_is_rejected_in_bounded_memory_and_the_file_goes_on(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    with open(source, "wb") as out:
        out.write(b"id,text\n0,a wonderful film\n1,")
        block = b"spam " * 200_000  # 1 MB
        for _ in range(200):
            out.write(block)
        out.write(b'\n2,"boring, dull"\n3,a 5" screen\n')
    small = tmp_path / "small.csv"
    small.write_bytes(b"id,text\n0,a wonderful film\n")

    def run(path: Path, out: Path) -> tuple[subprocess.CompletedProcess[str], int]:
        command = [sys.executable, "-m", "edge_sentiment", "score", str(path), "--out", str(out), "--bundle", str(TINY)]
        script = (
            "import resource, runpy, sys\n"
            f"sys.argv = {command[2:]!r}\n"
            "try:\n    runpy.run_module('edge_sentiment', run_name='__main__')\n"
            "finally:\n    print('MAXRSS', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
        )
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
        return done, int(done.stderr.split("MAXRSS")[-1])  # KiB

    base, base_kib = run(small, tmp_path / "small.jsonl")
    done, kib = run(source, tmp_path / "o.jsonl")
    assert done.returncode == 0 and base.returncode == 0, done.stderr
    assert "4 rows: 3 scored, 1 rejected" in done.stdout
    assert [r["row"] for r in read_output(tmp_path / "o.jsonl", "jsonl")] == [0, 2, 3]
    assert rejects_of(tmp_path / "o.jsonl") == [{"row": 1, "reason": "a CSV record longer than 16 MiB"}]
    assert (kib - base_kib) / 1024 < 120, f"{(kib - base_kib) / 1024:.0f} MB more than a one-row run for a 200 MB line"


def test_a_long_quoted_record_over_many_lines_is_one_reject_and_the_rows_after_keep_their_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import edge_sentiment.scoring.rules as rules

    monkeypatch.setattr(rules, "MAX_FIELD", 200)
    body = "\n".join(f'line {i}, with a comma and a quote "" inside' for i in range(30))  # ~1.3 kB over 30 lines
    records = [["0", "wonderful"], ["1", body], ["2", 'a 5" screen'], ["3", "multi\nline, quoted"], ["4", "boring"]]
    source = tmp_path / "in.csv"
    with open(source, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["id", "text"])
        writer.writerows(records)
    raw = source.read_text(encoding="utf-8").replace('"a 5"" screen"', 'a 5" screen')  # a literal inch mark, unquoted
    source.write_text(raw, encoding="utf-8")
    with open(source, newline="", encoding="utf-8") as stream:
        want = list(csv.reader(stream))[1:]  # what the csv module reads without a cap
    assert [r[0] for r in want] == ["0", "1", "2", "3", "4"]
    summary = score_file(source, tmp_path / "o.jsonl", bundle=TINY)
    assert (summary.rows, summary.rejected) == (5, 1)
    rows = read_output(tmp_path / "o.jsonl", "jsonl")
    assert [(r["row"], r["id"]) for r in rows] == [(0, "0"), (2, "2"), (3, "3"), (4, "4")]
    assert [(r["label"], r["score"]) for r in rows] == expected([want[i][1] for i in (0, 2, 3, 4)])
    assert rejects_of(tmp_path / "o.jsonl") == [{"row": 1, "reason": "a CSV record longer than 200 bytes"}]


def test_a_malformed_csv_record_is_rejected_and_the_run_goes_on(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes(b"id,text\n0,wonderful\n1,bare\rreturn here\n2,boring\n")
    summary = score_file(source, tmp_path / "o.jsonl", bundle=TINY)
    assert (summary.rows, summary.scored, summary.rejected) == (3, 2, 1)
    (reject,) = rejects_of(tmp_path / "o.jsonl")
    assert reject["row"] == 1 and "a malformed CSV record (new-line character seen in unquoted field" in reject["reason"]


@pytest.mark.parametrize("size, stop", [(1, 12), (1, 13), (7, 3)])  # resumed at the long record (row 11), at 12, at 14
def test_csv_resume_across_a_long_record_equals_an_uninterrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int, stop: int
) -> None:
    import edge_sentiment.scoring.rules as rules
    import edge_sentiment.scoring.local as local

    monkeypatch.setattr(rules, "MAX_FIELD", 300)
    monkeypatch.setattr(local, "WINDOW", size)
    lines = ["id,text", *[f'{i},"good\nfilm {i}"' for i in range(30)]]
    lines[12] = '11,"' + "x\n" * 400 + '"'
    source = tmp_path / "in.csv"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    reference = tmp_path / "ref.jsonl"
    score_file(source, reference, bundle=TINY, checkpoint_rows=size)
    real, calls = local.write_json_atomic, []

    def crash(path: Path, obj: Any) -> None:
        calls.append(path)
        real(path, obj)
        if len(calls) == stop:  # the journal's first write, then one a part: stop after part stop - 2
            raise KeyboardInterrupt

    monkeypatch.setattr(local, "write_json_atomic", crash)
    with pytest.raises(KeyboardInterrupt):
        score_file(source, tmp_path / "o.jsonl", bundle=TINY, checkpoint_rows=size)
    monkeypatch.setattr(local, "write_json_atomic", real)
    summary = score_file(source, tmp_path / "o.jsonl", bundle=TINY, checkpoint_rows=size, resume=True)
    assert summary.resumed_rows == {12: 11, 13: 12, 3: 14}[stop]
    assert (tmp_path / "o.jsonl").read_bytes() == reference.read_bytes()
    assert Path(f"{tmp_path / 'o.jsonl'}.rejects.jsonl").read_bytes() == Path(f"{reference}.rejects.jsonl").read_bytes()
    assert rejects_of(reference) == [{"row": 11, "reason": "a CSV record longer than 300 bytes"}]
