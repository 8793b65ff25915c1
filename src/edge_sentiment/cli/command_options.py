"""Where each option of predict, evaluate, bench and verify takes effect, and the rule that refuses it
where it would do nothing (issue 38: an option is applied or refused naming itself, never dropped).

COMMAND_OPTIONS is plain data: command -> click parameter name -> where it takes effect. RULES holds the
options that apply only sometimes: given (on the command line) where they do not apply, the command stops
with a usage error naming the option. tests/test_command_options.py fails when a command gains an option
that has no entry here; docs/cli.md can be generated from options_table().
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
from click.core import ParameterSource

__all__ = ["COMMAND_OPTIONS", "RULES", "Rule", "refuse_unused", "options_table", "flag"]

ALWAYS = "always"


@dataclass(frozen=True)
class Rule:
    """An option that applies only when `applies(params)` holds; refused otherwise, saying `why`."""

    applies: Callable[[dict[str, Any]], bool]
    why: str


def _given(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda params: params.get(name) not in (None, (), [])


def _not_given(name: str) -> Callable[[dict[str, Any]], bool]:
    return lambda params: params.get(name) in (None, (), [])


RULES: dict[str, dict[str, Rule]] = {
    "predict": {
        "file_": Rule(lambda p: not p.get("texts"), "give texts as arguments or with --file, not both"),
        "errors": Rule(
            lambda p: not p.get("texts"),
            "it handles bytes that are not UTF-8 in --file or standard input; texts given as arguments are already text",
        ),
        "top": Rule(lambda p: bool(p.get("explain")), "it sets how many words --explain shows; add --explain"),
    },
    "evaluate": {
        "data": Rule(_not_given("labelled_path"), "the texts come from the --labelled file, not the IMDB data"),
        "rating_classes": Rule(_not_given("labelled_path"), "it labels IMDB's reviews; a --labelled file carries its own labels"),
        "text_field": Rule(_given("labelled_path"), "it names a field of the --labelled file; give --labelled FILE"),
        "label_field": Rule(_given("labelled_path"), "it names a field of the --labelled file; give --labelled FILE"),
    },
    "bench": {
        "data": Rule(_not_given("text_file"), "the texts come from the --texts file, not the IMDB data"),
        "keras_model": Rule(lambda p: p.get("compare") == "keras", "only --compare keras runs a Keras model"),
    },
    "verify": {},
}

COMMAND_OPTIONS: dict[str, dict[str, str]] = {
    "predict": {
        "texts": "the texts to score (or --file, or standard input)",
        "file_": "texts one per line; not with texts as arguments",
        "bundle": ALWAYS,
        "precision": "always: fp32, int8 (refused where the bundle has none), or auto (measured, cached)",
        "threads": "always (the Predictor's threads)",
        "errors": "only with --file or standard input",
        "explain": "always: each text explained in turn (runtime/explain.py), whichever way the texts come",
        "top": "only with --explain",
        "as_json": ALWAYS,
    },
    "evaluate": {
        "bundle": ALWAYS,
        "data": "IMDB's test reviews; not with --labelled",
        "precision": "always: fp32, or int8 (refused where the bundle has none)",
        "threads": "always (the Predictor's threads)",
        "limit": "always: a class-balanced IMDB sample, or the first rows of --labelled",
        "rating_classes": "IMDB's star ratings as classes; not with --labelled",
        "labelled_path": ALWAYS,
        "text_field": "only with --labelled",
        "label_field": "only with --labelled",
        "cuts": ALWAYS,
        "as_json": ALWAYS,
    },
    "bench": {
        "bundle": ALWAYS,
        "data": "IMDB's test reviews; not with --texts",
        "text_file": ALWAYS,
        "batch_sizes": "always (the throughput runs)",
        "threads": "always (the onnxruntime engines; Keras uses TensorFlow's own threads)",
        "precisions": "always: fp32, int8 (refused where the bundle has none)",
        "compare": ALWAYS,
        "keras_model": "only with --compare keras",
        "repeats": "always (the batch-1 figures)",
        "throughput_texts": "always (the throughput runs)",
        "cold_repeats": "always (0 skips the cold start)",
        "as_json": ALWAYS,
        "plot_path": ALWAYS,
    },
    "verify": {
        "bundle": ALWAYS,
        "as_json": ALWAYS,
    },
}

_FLAGS = {"texts": "TEXTS", "file_": "--file", "as_json": "--json", "labelled_path": "--labelled", "text_file": "--texts"}
_FLAGS |= {"precisions": "--precision", "plot_path": "--plot", "cuts": "--cuts/--no-cuts", "bundle": "--bundle"}


def flag(command: str, name: str) -> str:
    """How a user writes the option (verify's bundle is an argument)."""
    if command == "verify" and name == "bundle":
        return "BUNDLE"
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


def refuse_unused(ctx: click.Context) -> None:
    """A usage error naming every option given on the command line where it does not apply."""
    command = ctx.command.name or ""
    problems = []
    for name, rule in RULES.get(command, {}).items():
        source = ctx.get_parameter_source(name)
        if source not in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP) and not rule.applies(ctx.params):
            problems.append(f"{flag(command, name)} does not apply here: {rule.why}")
    if problems:
        raise click.UsageError("\n".join(problems), ctx)


def options_table() -> str:
    """Markdown: each command's options and where each takes effect (for docs/cli.md)."""
    lines = []
    for command, options in COMMAND_OPTIONS.items():
        lines += [f"`{command}`", "", "| option | takes effect |", "|---|---|"]
        lines += [f"| `{flag(command, name)}` | {rule} |" for name, rule in options.items()]
        lines.append("")
    return "\n".join(lines)
