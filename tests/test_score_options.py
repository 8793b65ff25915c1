"""Every `score` option takes effect on an engine or is refused there naming itself (issues 38 and 32).

The table is OPTION_ENGINES in scoring/options.py; these tests fail when an option is added to
ScoreOptions or to the CLI without a row in it (and a sample value here).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from test_score import TINY, invoke

from edge_sentiment import ScoreError, score_file
from edge_sentiment.cli import main
from edge_sentiment.scoring import ScoreOptions
from edge_sentiment.scoring import options as options_module
from edge_sentiment.scoring.options import ENGINES, OPTION_ENGINES, engine_table

# A value other than the default for each option (the engine's own row is the engine itself)
SAMPLES: dict[str, Any] = {
    "bundle": str(TINY),
    "precision": "int8",
    "input_format": "jsonl",
    "output_format": "csv",
    "text_field": "body",
    "keep_text": True,
    "rejects": "bad.jsonl",
    "strict": True,
    "resume": True,
    "force": True,
    "threads": 2,
    "workers": 2,
    "address": "auto",
    "checkpoint_rows": 2048,
    "split_bytes": 1 << 20,
}
# CLI flags that are not options of the run: where it reads and writes, and how the summary is printed
CLI_ONLY = {"input", "output", "as_json"}
CLI_TO_FIELD = {"text_column": "text_field", "split_mb": "split_bytes"}  # two flags for one field; MB for bytes
CLI_VALUES = {"split_bytes": ("--split-mb", "1")}


def test_every_option_has_a_decision_and_a_sample() -> None:
    names = [field.name for field in dataclasses.fields(ScoreOptions)]
    assert set(OPTION_ENGINES) == set(names), "a ScoreOptions field without an OPTION_ENGINES row (or a stale row)"
    assert set(SAMPLES) | {"engine"} == set(names), "a new option needs a sample value in this test"
    assert all(set(engines) <= set(ENGINES) and engines for engines, _ in OPTION_ENGINES.values())
    limited = {name for name, (engines, _) in OPTION_ENGINES.items() if set(engines) != set(ENGINES)}
    assert set(options_module._WHY) == limited, "an option an engine refuses needs its reason"


def test_every_cli_flag_of_score_is_an_option_or_named_here() -> None:
    command = main.get_command(click.Context(main), "score")
    assert command is not None
    fields = {field.name for field in dataclasses.fields(ScoreOptions)}
    for param in command.params:
        name = param.name or ""
        assert name in CLI_ONLY or CLI_TO_FIELD.get(name, name) in fields, f"--{name} is neither an option nor CLI-only"
    flags = {CLI_TO_FIELD.get(p.name or "", p.name) for p in command.params}
    assert fields <= flags, f"options the CLI cannot set: {fields - flags}"


CASES = [(engine, name) for engine in ENGINES for name in SAMPLES]


@pytest.mark.parametrize("engine, name", CASES, ids=[f"{e}-{n}" for e, n in CASES])
def test_each_option_is_taken_or_refused_by_name_per_engine(engine: str, name: str) -> None:
    engines, flag = OPTION_ENGINES[name]
    if engine in engines:
        options = ScoreOptions(engine=engine, **{name: SAMPLES[name]})
        assert getattr(options, name) == SAMPLES[name]
    else:
        with pytest.raises(ScoreError, match=f"{flag} \\({name}\\) does not apply to --engine {engine}"):
            ScoreOptions(engine=engine, **{name: SAMPLES[name]})


@pytest.mark.parametrize("engine, name", [c for c in CASES if c[0] not in OPTION_ENGINES[c[1]][0]])
def test_the_cli_refuses_an_option_the_engine_does_not_take(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, engine: str, name: str
) -> None:
    """Refused before anything runs: Ray is not even imported (it is hidden here)."""
    monkeypatch.setitem(sys.modules, "ray", None)
    source = tmp_path / "in.txt"
    source.write_text("wonderful\n", encoding="utf-8")
    flag, value = CLI_VALUES.get(name, (OPTION_ENGINES[name][1], str(SAMPLES[name])))
    out = tmp_path / "out"
    result = invoke("score", source, "--out", out, "--bundle", TINY, "--engine", engine, flag, value)
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit), result.output  # a usage error
    assert f"{flag} ({name}) does not apply to --engine {engine}" in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.txt"]


def test_the_library_refuses_too(tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("wonderful\n", encoding="utf-8")
    with pytest.raises(ScoreError, match=r"--workers \(workers\) does not apply to --engine local"):
        score_file(source, tmp_path / "o.jsonl", bundle=TINY, workers=4)
    with pytest.raises(ScoreError, match=r"--rejects \(rejects\) does not apply to --engine ray"):
        score_file(source, tmp_path / "o", bundle=TINY, engine="ray", rejects=tmp_path / "r.jsonl")
    with pytest.raises(ScoreError, match=r"--checkpoint-rows \(checkpoint_rows\) does not apply to --engine ray"):
        score_file(source, tmp_path / "o", bundle=TINY, engine="ray", checkpoint_rows=1024)
    with pytest.raises(ScoreError, match="unknown score option.*threadz"):
        score_file(source, tmp_path / "o.jsonl", bundle=TINY, threadz=2)
    with pytest.raises(ScoreError, match="not both"):
        score_file(source, tmp_path / "o.jsonl", ScoreOptions(bundle=TINY), threads=2)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"engine": "spark"}, "unknown engine 'spark'"),
        ({"threads": 0}, "threads must be a whole number of at least 1"),
        ({"checkpoint_rows": -5}, "checkpoint_rows must be"),
        ({"input_format": "xml"}, "unknown input format 'xml'"),
        ({"output_format": "text"}, "unknown output format 'text'"),
        ({"text_field": ""}, "text_field must be a non-empty name"),
        ({"keep_text": True, "text_field": "score"}, "--keep-text would write the text under 'score'"),
    ],
)
def test_invalid_options_are_refused_with_what_to_do(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ScoreError, match=message):
        ScoreOptions(**options)


def test_options_given_take_effect_locally(tmp_path: Path) -> None:
    """checkpoint_rows and rejects change what a local run does (the Ray ones: test_score_ray.py)."""
    source = tmp_path / "in.txt"
    source.write_bytes(b"".join(b"good film %d\n" % i for i in range(2100)) + b"\xff\n")
    seen: list[int] = []
    summary = score_file(
        source, tmp_path / "o.jsonl", ScoreOptions(bundle=TINY, checkpoint_rows=1, rejects=tmp_path / "r.jsonl"),
        progress=lambda done, *_: seen.append(done),
    )  # fmt: skip
    assert summary.rejects == str(tmp_path / "r.jsonl") and (tmp_path / "r.jsonl").exists()
    assert seen == [1024, 1024, 2048, 2048, 2100, 2101]  # per window, and per checkpoint of 1 row rounded up to 1,024
    seen.clear()
    score_file(source, tmp_path / "p.jsonl", bundle=TINY, progress=lambda done, *_: seen.append(done))
    assert seen == [1024, 2048, 2100, 2101]  # one checkpoint of the default 10,000 rows


def test_the_engine_table_for_the_docs_has_a_row_per_option() -> None:
    table = engine_table().splitlines()
    assert len(table) == 2 + len(OPTION_ENGINES)
    assert "| `--checkpoint-rows` | ✓ | refused: --engine ray checkpoints each split; use --split-mb |" in table
