"""edge-sentiment bench."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import click

from ..bench.config import DEFAULT
from .base import BUNDLE_HELP, PRECISIONS, command_line, echo_json, int_list, require_extra, main
from .command_options import refuse_unused

F = TypeVar("F", bound=Callable[..., object])


def _csv(values: Sequence[object]) -> str:
    """A default as the comma-separated list the option reads."""
    return ",".join(str(v) for v in values)


def _numbers(flag: str, default: Sequence[int], help: str) -> Callable[[F], F]:
    """A comma-separated list of whole numbers of 1 or more, its default shown."""
    return click.option(flag, default=_csv(default), show_default=True, callback=int_list, help=help)


def _count(flag: str, minimum: int, default: int, help: str) -> Callable[[F], F]:
    """A whole-number option of at least `minimum`, its default shown."""
    return click.option(flag, type=click.IntRange(minimum), default=default, show_default=True, help=help)


@main.command()
@click.option("--bundle", type=click.Path(), default=None, help=BUNDLE_HELP)
@click.option(
    "--data",
    type=click.Path(),
    default=None,
    help="IMDB data for real test reviews. Default: $EDGE_SENTIMENT_DATA; without either, texts generated from the "
    "bundle's vocabulary.",
)
@click.option(
    "--texts",
    "text_file",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Benchmark on your own texts instead (a file, one text per line).",
)
@_numbers("--batch-sizes", DEFAULT.batch_sizes, "Batch sizes for the throughput runs.")
@_numbers("--threads", DEFAULT.threads, "Predictor thread counts to measure, e.g. 1,2 (batch 1 always runs on one thread).")
@click.option(
    "--precision",
    "precisions",
    default=_csv(DEFAULT.precisions),
    show_default=True,
    help="Precisions to measure, comma-separated: fp32, int8 (where the bundle has one).",
)
@click.option(
    "--compare",
    type=click.Choice(["none", "keras"]),
    default="none",
    show_default=True,
    help="Also run the same weights in Keras in this run and report ratios (needs the [train] extra).",
)
@click.option(
    "--keras-model",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="The .keras file for --compare keras. Default: the model the bundle was exported from.",
)
@_count("--repeats", 10, DEFAULT.repeats, "Timed calls per batch-1 figure, after warm-up.")
@_count("--throughput-texts", 1, DEFAULT.throughput_texts, "Texts per throughput run.")
@_count("--cold-repeats", 0, DEFAULT.cold_repeats, "Fresh processes for the cold-start figure (0 skips it).")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON.")
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write a PNG: latency against review length, and the batch-1 distribution.",
)
def bench(
    bundle: str | None,
    data: str | None,
    text_file: str | None,
    batch_sizes: list[int],
    threads: list[int],
    precisions: str,
    compare: str,
    keras_model: str | None,
    repeats: int,
    throughput_texts: int,
    cold_repeats: int,
    as_json: bool,
    plot_path: str | None,
) -> None:
    """Measure CPU latency, throughput and cold start; with --compare keras, ratios against Keras.

    Figures are medians over repeated runs after warm-up, with percentiles and spread; on a shared,
    noisy machine trust the ratios between engines of the same run more than absolute times.
    """
    from ..bench.report import plot, render_text
    from ..bench.config import BenchConfig
    from ..bench.runner import run_bench

    refuse_unused(click.get_current_context())
    chosen = [p.strip() for p in precisions.split(",") if p.strip()]
    for p in chosen:
        if p not in PRECISIONS:
            raise click.BadParameter(f"unknown precision {p!r}; use {' and/or '.join(PRECISIONS)}", param_hint="--precision")
    if compare == "keras":
        require_extra("tensorflow", "train", "--compare keras")
    config = BenchConfig(
        bundle=bundle,
        data=data,
        text_file=text_file,
        threads=threads,
        batch_sizes=batch_sizes,
        precisions=chosen,
        compare_keras=compare == "keras",
        keras_model=keras_model,
        repeats=repeats,
        throughput_texts=throughput_texts,
        cold_repeats=cold_repeats,
    )
    report = run_bench(config, progress=lambda msg: click.echo(f"  measuring {msg} ...", err=True))
    report["command"] = command_line()
    if plot_path:
        plot(report, plot_path)
    if as_json:
        echo_json(report)
    else:
        click.echo(render_text(report))
        if plot_path:
            click.echo(f"\nplot: {plot_path}")
