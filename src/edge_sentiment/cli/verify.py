"""verify: re-check a bundle on disk with the runtime's verify_bundle, as a host would before serving it."""

from __future__ import annotations

import click

from .base import echo_json, main


@main.command()
@click.argument("bundle", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def verify(bundle: str, as_json: bool) -> None:
    """Re-check a bundle: every listed file present with its size and sha256 and nothing unlisted beside
    them, format version, names, vocab size, each model file's metadata (labels, threshold, calibration,
    tokenizer sha256) equal to the manifest's, one prediction per model, and its conformance vectors (ids
    identical, fp32 scores within 1e-5)."""
    from ..runtime.verify import verify_bundle

    report = verify_bundle(bundle)
    if as_json:
        echo_json(report.to_dict(bundle))
        return
    for line in report.lines(bundle):
        click.echo(line)
