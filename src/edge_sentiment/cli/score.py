"""edge-sentiment score: a large file in, scores out, streamed and resumable (local threads or Ray Data)."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any

import click

from ..scoring.options import CHECKPOINT_ROWS, SPLIT_BYTES

if TYPE_CHECKING:
    from ..scoring.options import ScoreOptions
from .base import BUNDLE_HELP, PRECISION_HELP, PRECISIONS, echo_json, main

_FORMATS = ("auto", "text", "jsonl", "csv", "parquet")


class _Bar:
    """A progress bar on standard error when it is a terminal (nothing otherwise): rows, rows/s and ETA,
    measured from the first report (a resumed run's earlier rows do not count)."""

    def __init__(self) -> None:
        self._bar: Any = None
        self._rows = self._total = 0
        self._first = (0, 0, 0.0)  # rows, position and time of the first report

    def __call__(self, rows: int, position: int, total: int) -> None:
        if not sys.stderr.isatty():
            return
        if self._bar is None:
            self._first = (rows, position, time.perf_counter())
            self._bar = click.progressbar(length=max(total, 1), label="scoring", file=sys.stderr, item_show_func=self._show)
            self._bar.__enter__()
        self._rows, self._total = rows, total
        self._bar.update(position - self._bar.pos, current_item=position)

    def _show(self, position: int | None) -> str:
        rows0, position0, time0 = self._first
        seconds = time.perf_counter() - time0
        text = f"{self._rows:,} rows"
        if position is None or seconds <= 0 or position <= position0:
            return text
        left = max(self._total - position, 0) * seconds / (position - position0)
        rate = (self._rows - rows0) / seconds
        if position >= self._total:
            return f"{text}, {rate:,.0f} rows/s"
        return f"{text}, {rate:,.0f} rows/s, ETA {int(left) // 3600}:{int(left) % 3600 // 60:02d}:{int(left) % 60:02d}"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


@main.command()
@click.argument("input", type=click.Path(dir_okay=False))
@click.option("--out", "output", type=click.Path(), required=True, help="Output file (--engine ray: a folder of shards).")
@click.option(
    "--input-format",
    type=click.Choice(_FORMATS),
    default="auto",
    show_default=True,
    help="text (one text a line), jsonl, csv or parquet; auto: from the extension (.jsonl, .ndjson, .csv, .parquet, else text).",
)
@click.option(
    "--output-format",
    type=click.Choice(("auto", "jsonl", "csv", "parquet")),
    default="auto",
    show_default=True,
    help="auto: from --out's extension (.csv, .parquet, else JSON Lines).",
)
@click.option(
    "--text-field", default=None, help="JSON Lines: the field holding the text (default text); other fields are carried through."
)
@click.option(
    "--text-column",
    default=None,
    help="CSV and Parquet: the column holding the text (default text); other columns are carried through.",
)
@click.option("--keep-text", is_flag=True, help="Copy the text itself into the output too.")
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False),
    default=None,
    help="--engine local: where bad rows go (row number and reason). Default: OUT.rejects.jsonl. "
    "--engine ray writes reject shards in its output folder.",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Stop at the first bad row (not text, invalid UTF-8) instead of rejecting it; nothing is written.",
)
@click.option(
    "--resume", is_flag=True, help="Go on with an unfinished run of the same input, output and options (after a crash or Ctrl-C)."
)
@click.option("--force", is_flag=True, help="Replace an existing output, or discard an unfinished run and start over.")
@click.option(
    "--engine",
    type=click.Choice(("local", "ray")),
    default="local",
    show_default=True,
    help="local: this process, the predictor's threads. ray: Ray Data workers (pip install 'edge-sentiment[ray]').",
)
@click.option(
    "--workers",
    type=click.IntRange(1),
    default=None,
    help="--engine ray: workers (local mode: also the CPUs Ray gets). Default: every CPU. Refused with --engine local.",
)
@click.option(
    "--address",
    default=None,
    help="--engine ray: join the Ray cluster at this address (e.g. auto, or ray://host:10001) instead of starting one.",
)
@click.option("--bundle", type=click.Path(), default=None, help=BUNDLE_HELP)
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True, help=PRECISION_HELP)
@click.option(
    "--threads",
    type=click.IntRange(1),
    default=None,
    help="local: the predictor's threads (default: the cores this process may use); ray: threads per worker (default 1).",
)
@click.option(
    "--checkpoint-rows",
    type=click.IntRange(1),
    default=None,
    help=f"--engine local: rows per checkpoint (rounded up to a multiple of 1,024); a crash loses at most this many rows "
    f"of work. Default: {CHECKPOINT_ROWS:,}.",
)
@click.option(
    "--split-mb",
    type=click.FloatRange(0.001),
    default=None,
    help=f"--engine ray: MB of input per split (one task, one shard). Default: {SPLIT_BYTES >> 20}.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary: rows, scored, rejected, seconds, rows/s.")
def score(
    input: str,
    output: str,
    input_format: str,
    output_format: str,
    text_field: str | None,
    text_column: str | None,
    keep_text: bool,
    rejects: str | None,
    strict: bool,
    resume: bool,
    force: bool,
    engine: str,
    workers: int | None,
    address: str | None,
    bundle: str | None,
    precision: str,
    threads: int | None,
    checkpoint_rows: int | None,
    split_mb: float | None,
    as_json: bool,
) -> None:
    """Score every row of a large file into an output file, in bounded memory.

    Each output row has the input's row number (from 0), the carried fields, label and score. The
    output is written to a temporary file and renamed; bad rows go to the reject file. After a crash or
    Ctrl-C, rerun with --resume: no row is scored twice or lost.

    \b
    Examples:
      edge-sentiment score reviews.txt --out scores.jsonl
      edge-sentiment score tickets.csv --text-column body --out scores.csv --json
      edge-sentiment score crawl.jsonl --out scores.jsonl --resume
      edge-sentiment score crawl.parquet --out scores/ --engine ray --address auto
    """
    from ..errors import ScoreError
    from ..scoring.local import score_file

    if text_field and text_column and text_field != text_column:
        raise click.UsageError("give the text's name once: --text-field (JSON Lines) or --text-column (CSV, Parquet)")
    try:
        options = _options(click.get_current_context().params)
    except ScoreError as exc:  # options that do not go together: a usage error, as other commands give
        raise click.UsageError(str(exc)) from None
    bar = _Bar()
    try:
        summary = score_file(input, output, options, progress=bar)
    except KeyboardInterrupt:
        bar.close()
        click.echo(f"\ninterrupted: rerun the same command with --resume to go on where it stopped ({output})", err=True)
        sys.exit(130)
    finally:
        bar.close()  # also before an error's one line (a full disk), so it starts on a line of its own
    if as_json:
        echo_json(summary.as_dict())
        return
    rejected = f", {summary.rejected:,} rejected (see {summary.rejects})" if summary.rejected else ""
    resumed = f", {summary.resumed_rows:,} of them done before --resume" if summary.resumed_rows else ""
    click.echo(
        f"{summary.rows:,} rows{resumed}: {summary.scored:,} scored{rejected} -> {summary.output} "
        f"in {summary.seconds:.1f} s ({summary.rows_per_second:,.0f} rows/s, {summary.engine})"
    )


def _options(params: dict[str, Any]) -> "ScoreOptions":
    """The ScoreOptions of the command line's parameters (ScoreError where they do not go together)."""
    from ..scoring.options import ScoreOptions

    split_mb = params["split_mb"]
    return ScoreOptions(
        bundle=params["bundle"],
        precision=params["precision"],
        input_format=params["input_format"],
        output_format=params["output_format"],
        text_field=params["text_field"] or params["text_column"] or "text",
        keep_text=params["keep_text"],
        rejects=params["rejects"],
        strict=params["strict"],
        resume=params["resume"],
        force=params["force"],
        engine=params["engine"],
        threads=params["threads"],
        workers=params["workers"],
        address=params["address"],
        checkpoint_rows=params["checkpoint_rows"],
        split_bytes=max(1, int(split_mb * (1 << 20))) if split_mb is not None else None,
    )
