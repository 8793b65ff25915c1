"""Every option of predict, evaluate, bench and verify takes effect or is refused naming itself (issue 38).

The table (cli/command_options.py) must hold a decision for every option each command has: a new option
without one fails test_every_option_has_a_decision. Every rule has a case here that gives the option where
it does not apply (exit 2, the flag named, nothing run) and one where it does (it runs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from conftest import ASSETS

from edge_sentiment.cli import main
from edge_sentiment.cli.command_options import COMMAND_OPTIONS, RULES, flag, options_table

TINY = ASSETS / "tiny_bundle"
COMMANDS = ["predict", "evaluate", "bench", "verify"]


def invoke(*args: Any, input: str | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], input=input)


def _command(name: str) -> click.Command:
    command = main.get_command(click.Context(main), name)
    assert command is not None
    return command


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_has_a_decision(name: str) -> None:
    """Adding an option to one of these commands without deciding where it applies fails here."""
    params = {p.name for p in _command(name).params if p.name != "help"}
    assert params == set(COMMAND_OPTIONS[name]), (
        f"{name}: options without a decision in cli/command_options.py: {sorted(params - set(COMMAND_OPTIONS[name]))}; "
        f"decisions for options it no longer has: {sorted(set(COMMAND_OPTIONS[name]) - params)}"
    )
    assert set(RULES[name]) <= params
    for option, where in COMMAND_OPTIONS[name].items():
        sometimes = where.startswith("only") or "; not with" in where
        assert sometimes == (option in RULES[name]), f"{name} {option}: '{where}' needs a rule, or a rule needs this text"


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    texts = tmp_path / "texts.txt"
    texts.write_text("a wonderful brilliant film\nboring awful stupid\n" * 5, encoding="utf-8")
    labelled = tmp_path / "labelled.jsonl"
    rows = [
        {"review": "a wonderful brilliant film", "sentiment": "positive"},
        {"review": "boring awful", "sentiment": "negative"},
    ]
    labelled.write_text("".join(json.dumps(r) + "\n" for r in rows * 3), encoding="utf-8")
    return {"texts": texts, "labelled": labelled, "nowhere": tmp_path / "nowhere"}


BENCH = ["bench", "--bundle", TINY, "--repeats", "10", "--throughput-texts", "4", "--cold-repeats", "0", "--batch-sizes", "1"]
LABELLED = ["evaluate", "--bundle", TINY, "--labelled", "{labelled}", "--no-cuts"]

# (command, option) -> arguments where the option does not apply (refused), and where it does (it runs)
CASES: dict[tuple[str, str], tuple[list[str], list[str] | None]] = {
    ("predict", "file_"): (
        ["predict", "--bundle", TINY, "--file", "{texts}", "great film"],
        ["predict", "--bundle", TINY, "--file", "{texts}"],
    ),
    ("predict", "errors"): (
        ["predict", "--bundle", TINY, "--errors", "replace", "great film"],
        ["predict", "--bundle", TINY, "--errors", "replace", "--file", "{texts}"],
    ),
    ("predict", "top"): (
        ["predict", "--bundle", TINY, "--top", "2", "great film"],
        ["predict", "--bundle", TINY, "--explain", "--top", "2", "great film"],
    ),
    ("evaluate", "data"): ([*LABELLED, "--data", "{nowhere}"], None),  # applying it needs the IMDB data
    ("evaluate", "rating_classes"): ([*LABELLED, "--rating-classes", "1-4,7-10"], None),
    ("evaluate", "text_field"): (
        ["evaluate", "--bundle", TINY, "--data", "{nowhere}", "--text-field", "review"],
        [*LABELLED, "--text-field", "review", "--label-field", "sentiment"],
    ),
    ("evaluate", "label_field"): (
        ["evaluate", "--bundle", TINY, "--data", "{nowhere}", "--label-field", "sentiment"],
        [*LABELLED, "--text-field", "review", "--label-field", "sentiment"],
    ),
    ("bench", "data"): ([*BENCH, "--texts", "{texts}", "--data", "{nowhere}"], None),
    ("bench", "keras_model"): ([*BENCH, "--texts", "{texts}", "--keras-model", "{texts}"], None),  # applying it needs TF
}


def test_every_rule_has_a_case() -> None:
    assert set(CASES) == {(command, option) for command, rules in RULES.items() for option in rules}


def _fill(args: list[Any], files: dict[str, Path]) -> list[str]:
    return [str(a).format(**{k: str(v) for k, v in files.items()}) for a in args]


@pytest.mark.parametrize("case", list(CASES), ids=[f"{c}-{o}" for c, o in CASES])
def test_an_option_where_it_does_not_apply_is_refused_naming_itself(files: dict[str, Path], case: tuple[str, str]) -> None:
    command, option = case
    result = invoke(*_fill(CASES[case][0], files))
    assert result.exit_code == 2, result.output
    assert f"{flag(command, option)} does not apply here" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case", [c for c in CASES if CASES[c][1] is not None], ids=lambda c: f"{c[0]}-{c[1]}")
def test_the_same_option_where_it_applies_takes_effect(files: dict[str, Path], case: tuple[str, str]) -> None:
    applied = CASES[case][1]
    assert applied is not None
    result = invoke(*_fill(applied, files))
    assert result.exit_code == 0, result.output
    assert "does not apply" not in result.output


def test_evaluate_reads_the_fields_it_was_told(files: dict[str, Path]) -> None:
    """--text-field/--label-field take effect: without them the file's fields are not found."""
    without = invoke(*_fill(LABELLED, files))
    assert without.exit_code == 1 and "text" in without.output
    given = invoke(*_fill([*LABELLED, "--text-field", "review", "--label-field", "sentiment", "--json"], files))
    assert given.exit_code == 0, given.output
    assert json.loads(given.output.splitlines()[-1])["reviews"] == 6


def test_the_table_renders_every_command() -> None:
    table = options_table()
    for command, options in COMMAND_OPTIONS.items():
        assert f"`{command}`" in table
        assert all(f"`{flag(command, name)}`" in table for name in options)


def test_predictor_load_passes_fast_false_through_precision_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    """Predictor.load's options reach the predictor precision="auto" makes (fast=False used to be dropped)."""
    from edge_sentiment import Predictor
    from edge_sentiment.runtime import precision

    # fp32 measured faster, whatever this machine's load: only fp32 has the fast path this test looks for
    monkeypatch.setattr(precision, "_measure", lambda predictors, ids: {name: float(name != "fp32") for name in predictors})
    default = Predictor.load(None, threads=1, precision="auto")
    assert default._unpadded is not None  # the shipped bundle has a fast path: the check below can fail
    plain = Predictor.load(None, threads=1, precision="auto", fast=False)
    assert plain._unpadded is None and plain.precision_choice is not None
