"""edge-sentiment predict and evaluate: the commands a small host runs (no TensorFlow)."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator
from typing import Any

import click

from .base import (
    AUTO_HELP,
    BUNDLE_HELP,
    DATA_HELP,
    PRECISION_HELP,
    THREADS_HELP,
    PRECISIONS,
    echo_json,
    labelled_source,
    labelled_options,
    main,
)
from .command_options import refuse_unused


_SHOWN = 400  # characters of a text read for its one-line echo


def _read_lines(source: str, errors: str) -> Iterator[str]:
    """Texts from a file or '-' (stdin), one per line; invalid UTF-8 names the line unless errors='replace'."""
    try:
        stream = click.open_file(source, "rb")
    except OSError as exc:
        raise click.ClickException(f"cannot read {source}: {exc.strerror or exc}") from None
    with stream:
        for number, raw in enumerate(stream, start=1):
            line = raw.rstrip(b"\r\n")
            try:
                yield line.decode("utf-8", errors)
            except UnicodeDecodeError as exc:
                where = "standard input" if source == "-" else source
                raise click.ClickException(
                    f"line {number} of {where} is not valid UTF-8 (byte 0x{line[exc.start]:02x} at column "
                    f"{exc.start + 1}); fix the text or pass --errors replace"
                ) from None


@main.command()
@click.argument("texts", nargs=-1)
@click.option(
    "--file",
    "file_",
    type=click.Path(exists=True, dir_okay=False, allow_dash=True),
    default=None,
    help="Read texts from this file, one per line ('-' for standard input).",
)
@click.option("--bundle", type=click.Path(), default=None, help=BUNDLE_HELP)
@click.option("--precision", type=click.Choice([*PRECISIONS, "auto"]), default="fp32", show_default=True, help=AUTO_HELP)
@click.option("--threads", type=click.IntRange(1), default=None, help=THREADS_HELP)
@click.option(
    "--errors",
    type=click.Choice(["strict", "replace"]),
    default="strict",
    show_default=True,
    help="Invalid UTF-8 in --file or stdin: stop with an error naming the line, or replace the bad bytes.",
)
@click.option(
    "--explain",
    is_flag=True,
    help="Also show each text's words that moved its score most (by leaving each out): marked [+word] / [-word], "
    "in colour on a terminal (NO_COLOR turns colour off); with --json, every word's effect.",
)
@click.option(
    "--top",
    type=click.IntRange(1),
    default=5,
    show_default=True,
    help="With --explain: how many of the most positive and of the most negative words to show.",
)
@click.option("--json", "as_json", is_flag=True, help="JSON Lines output: index, label, score (and with --explain, the words).")
def predict(
    texts: tuple[str, ...],
    file_: str | None,
    bundle: str | None,
    precision: str,
    threads: int | None,
    errors: str,
    explain: bool,
    top: int,
    as_json: bool,
) -> None:
    """Score texts: given as arguments, with --file, or on standard input (one per line).

    \b
    Examples:
      edge-sentiment predict "A wonderful, moving film."
      edge-sentiment predict --file reviews.txt --json
      cat reviews.txt | edge-sentiment predict
      edge-sentiment predict --explain "A wonderful film, but far too long."
    """
    from itertools import islice

    from ..runtime.predictor import CHUNK, Predictor

    refuse_unused(click.get_current_context())
    if texts and file_:
        raise click.UsageError("give texts as arguments or with --file, not both")
    if not texts and file_ is None:
        if sys.stdin is None or sys.stdin.isatty():
            raise click.UsageError("no texts: pass them as arguments, with --file PATH, or on standard input")
        file_ = "-"
    predictor = Predictor.load(bundle, threads=threads, precision=precision)
    source = iter(texts) if texts else _read_lines(file_, errors)  # type: ignore[arg-type]
    index = 0
    if explain:
        from ..errors import InputError

        for text in source:
            try:
                result = predictor.explain(text, top=top)
            except InputError as exc:
                raise click.ClickException(f"text {index + 1} (--explain): {exc}") from None
            _show_explanation(result, index, as_json, predictor.labels)
            index += 1
        return
    while chunk := list(islice(source, CHUNK)):
        for text, result in zip(chunk, predictor.predict(chunk)):
            if as_json:
                row: dict[str, Any] = {"index": index, "label": result.label, "score": round(result.score, 6)}
                if result.probabilities is not None:
                    row["probabilities"] = dict(zip(predictor.labels, (round(p, 6) for p in result.probabilities)))
                if result.labels is not None:  # multi-label: every label at or over the threshold
                    row["labels"] = list(result.labels)
                echo_json(row)
            else:
                # only the start is shown: splitting all of a 10 MB text would cost ~200 MB
                shown = " ".join(text[:_SHOWN].split()).encode("utf-8", "backslashreplace").decode("utf-8")
                shown = shown if len(shown) <= 70 and len(text) <= _SHOWN else shown[:67] + "..."
                if result.labels is not None:  # multi-label: the labels over the threshold, each with its probability
                    pairs = zip(predictor.labels, result.probabilities or ())
                    held = ", ".join(f"{label} {p:.4f}" for label, p in pairs if label in result.labels)
                    click.echo(f"{held or '(no label)'}  {shown}")
                else:
                    click.echo(f"{result.label:<8}  {result.score:.4f}  {shown}")
            index += 1


def _colour() -> bool:
    """Colour for --explain: on a terminal, unless NO_COLOR is set (https://no-color.org)."""
    return sys.stdout is not None and sys.stdout.isatty() and not os.environ.get("NO_COLOR")


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def _visible(text: str) -> str:
    """A text safe to print on a terminal: control characters (escape sequences) and lone surrogates as \\xNN / \\uNNNN."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape", "backslashreplace").decode("ascii"), text)


def _show_explanation(result: Any, index: int, as_json: bool, labels: list[str]) -> None:
    """One text's explanation (runtime/explain.py): a JSON line, or the label, the marked text and its top words."""
    if as_json:
        row = {"index": index, **result.to_dict()}
        if result.probabilities is not None:  # as predict --json shows them
            row["probabilities"] = dict(zip(labels, (round(p, 6) for p in result.probabilities)))
        if result.labels is not None:
            row["labels"] = list(result.labels)
        echo_json(row)
        return
    if _colour():
        marked = result.marked(lambda word, effect: click.style(word, fg="green" if effect > 0 else "red", bold=True), _visible)
    else:
        marked = result.marked(escape=_visible)
    click.echo(f"{result.label:<8}  {result.score:.4f}  {marked}")
    for name, words in (("+", result.top_positive), ("-", result.top_negative)):
        shown = " | ".join(f"{_visible(w.word)} {w.effect:+.4f}" for w in words)
        away = "towards" if name == "+" else "away from"
        click.echo(f"  {name} ({away} {result.towards}): {shown or '(none)'}")
    if result.note:
        click.echo(f"  note: {result.note}")


@main.command()
@click.option("--bundle", type=click.Path(), default=None, help=BUNDLE_HELP)
@click.option("--data", type=click.Path(), default=None, help=DATA_HELP)
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True, help=PRECISION_HELP)
@click.option("--threads", type=click.IntRange(1), default=None, help=THREADS_HELP)
@click.option(
    "--limit",
    type=click.IntRange(2),
    default=None,
    help="Evaluate a class-balanced sample of this many test reviews (with --labelled: its first rows).",
)
@labelled_options("the figures")
@click.option(
    "--cuts/--no-cuts",
    default=True,
    show_default=True,
    help="Also score texts cut to their first and last 10, 20 and 50 words (short-text accuracy).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def evaluate(
    bundle: str | None,
    data: str | None,
    precision: str,
    threads: int | None,
    limit: int | None,
    cuts: bool,
    as_json: bool,
    **labelled: Any,
) -> None:
    """Accuracy and log loss of a bundle on labelled texts (and on the texts cut short).

    By default the IMDB test split, by its negative/positive labels; a bundle of several classes is
    measured on IMDB's star ratings (--rating-classes) or on your own labelled texts (--labelled).
    """
    from ..evaluate import evaluate_bundle, text_variants
    from ..runtime.predictor import Predictor

    refuse_unused(click.get_current_context())
    predictor = Predictor.load(bundle, threads=threads, precision=precision)
    texts = labelled_source(**labelled).load(predictor.classes, predictor.labels, data, limit)
    length = len(texts) * len(text_variants(cuts))
    with click.progressbar(length=length, label="scoring", file=sys.stderr, show_pos=True) as bar:
        report = evaluate_bundle(texts, predictor=predictor, cuts=cuts, progress=bar.update)
    if as_json:
        echo_json(report)
        return
    click.echo(f"{report['bundle']} ({precision}) on {report['reviews']} {report['texts']}:")
    click.echo(f"  {'text':<16} {'accuracy':>9} {'log loss':>9}")
    for name, row in report["results"].items():
        click.echo(f"  {name:<16} {row['accuracy']:>9.4f} {row['log_loss']:>9.4f}")
