"""edge-sentiment bench."""

from __future__ import annotations

import click

from .base import _BUNDLE_HELP, PRECISIONS, _command_line, _echo_json, _int_list, _require, main
from .command_options import refuse_unused


@main.command()
@click.option("--bundle", type=click.Path(), default=None, help=_BUNDLE_HELP)
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
@click.option("--batch-sizes", default="1,64", show_default=True, callback=_int_list, help="Batch sizes for the throughput runs.")
@click.option(
    "--threads",
    default="1",
    show_default=True,
    callback=_int_list,
    help="Predictor thread counts to measure, e.g. 1,2 (batch 1 always runs on one thread).",
)
@click.option(
    "--precision",
    "precisions",
    default="fp32",
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
@click.option(
    "--repeats", type=click.IntRange(10), default=200, show_default=True, help="Timed calls per batch-1 figure, after warm-up."
)
@click.option("--throughput-texts", type=click.IntRange(1), default=5000, show_default=True, help="Texts per throughput run.")
@click.option(
    "--cold-repeats",
    type=click.IntRange(0),
    default=5,
    show_default=True,
    help="Fresh processes for the cold-start figure (0 skips it).",
)
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
    from ..bench.runner import BenchConfig, run_bench

    refuse_unused(click.get_current_context())
    chosen = [p.strip() for p in precisions.split(",") if p.strip()]
    for p in chosen:
        if p not in PRECISIONS:
            raise click.BadParameter(f"unknown precision {p!r}; use {' and/or '.join(PRECISIONS)}", param_hint="--precision")
    if compare == "keras":
        _require("tensorflow", "train", "--compare keras")
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
    report["command"] = _command_line()
    if plot_path:
        plot(report, plot_path)
    if as_json:
        _echo_json(report)
    else:
        click.echo(render_text(report))
        if plot_path:
            click.echo(f"\nplot: {plot_path}")
