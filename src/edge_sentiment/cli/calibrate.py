"""edge-sentiment calibrate: fit a bundle's calibration, threshold and uncertain band on held-out texts, in place."""

from __future__ import annotations

from typing import Any

import click

from .base import DATA_HELP, echo_json, main

THRESHOLD_HELP = (
    "Choose the decision threshold on the held-out texts' calibrated scores: precision=P (the smallest threshold "
    "whose positives are right at least P of the time), recall=R (the largest that finds at least R of the "
    "positives) or f1 (the highest F1). Sigmoid and multi-label bundles. Default: 0.5."
)
UNCERTAIN_HELP = (
    "A third label, 'uncertain', for scores in [LOW, HIGH) (two-label bundles): LOW,HIGH, or precision=P (each "
    "side's label right at least P of the time on the held-out texts). The band must hold the threshold."
)


@main.command()
@click.argument("bundle", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--labelled",
    "labelled_path",
    type=click.Path(exists=True, dir_okay=False),
    default=None,
    help="Held-out labelled texts the model never trained on: JSON Lines or CSV (.csv), each row a text and a "
    "label (one of the bundle's labels or its index).",
)
@click.option("--text-field", default=None, help="The text's field (column) in --labelled. [text]")
@click.option("--label-field", default=None, help="The label's field (column) in --labelled. [label]")
@click.option(
    "--data",
    type=click.Path(),
    default=None,
    help="Calibrate on the IMDB training reviews the bundle's training held out for validation (its manifest's "
    "seed and validation_split; never the test reviews). " + DATA_HELP,
)
@click.option(
    "--method",
    type=click.Choice(["temperature", "temperature+bias"]),
    default="temperature",
    show_default=True,
    help="temperature: one T, labels at 0.5 unchanged; temperature+bias: also a bias b (sigmoid and multi-label heads).",
)
@click.option("--threshold-for", "threshold_for", metavar="RULE", default=None, help=THRESHOLD_HELP)
@click.option("--uncertain", metavar="LOW,HIGH|precision=P", default=None, help=UNCERTAIN_HELP)
@click.option(
    "--evaluate-on",
    "evaluate_on",
    metavar="test|FILE",
    default=None,
    help="Also measure before and after on texts never fitted on, recorded in the manifest: test (IMDB's test "
    "reviews, from --data or $EDGE_SENTIMENT_DATA) or a labelled file (fields text and label).",
)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write a reliability plot (PNG), before and after: of the --evaluate-on texts where given, else of the "
    "held-out texts (needs edge-sentiment[bench]).",
)
@click.option("--dry-run", is_flag=True, help="Fit and report, but leave the bundle as it is.")
@click.option("--json", "as_json", is_flag=True, help="Print the decision's manifest sections as JSON.")
def calibrate(
    bundle: str,
    labelled_path: str | None,
    text_field: str | None,
    label_field: str | None,
    data: str | None,
    method: str,
    threshold_for: str | None,
    uncertain: str | None,
    evaluate_on: str | None,
    plot: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Calibrate BUNDLE's scores on held-out labelled texts and rewrite its manifest (atomically).

    Fits a temperature T (and with temperature+bias a bias b) minimising the log loss: the bundle then reports
    sigmoid(logit(p) / T + b), or softmax(log(p) / T), exactly, with no new model file. Reports expected
    calibration error (15 equal-width bins), log loss, Brier score and accuracy before and after. The threshold
    and band are replaced by what --threshold-for and --uncertain give (0.5 and none when left out).

    \b
      edge-sentiment calibrate my-bundle --data aclImdb.tar.gz --threshold-for precision=0.95
      edge-sentiment calibrate my-bundle --labelled held-out.jsonl --uncertain 0.3,0.7 --plot reliability.png
    """
    from ..decision_fit import fit_decision, labelled_file, training_holdout, write_decision
    from ..errors import InputError
    from ..labelled import read_labelled
    from ..runtime.bundle import load_bundle

    if labelled_path is None and data is None:
        raise InputError(
            "calibrate needs held-out labelled texts: --labelled FILE, or --data ARCHIVE (the bundle's training hold-out)"
        )
    if labelled_path is not None and data is not None and evaluate_on != "test":
        raise InputError("--data does nothing with --labelled (the texts are the file's), unless --evaluate-on test reads it")
    for name, value in (("--text-field", text_field), ("--label-field", label_field)):
        if value is not None and labelled_path is None:
            raise InputError(f"{name} does nothing without --labelled: add --labelled FILE, or leave it out")
    loaded = load_bundle(bundle)
    if labelled_path is not None:
        texts = labelled_file(labelled_path, loaded, text_field or "text", label_field or "label")
    else:
        texts = training_holdout(loaded.manifest, data, f"{bundle}/manifest.json")
    check = None
    if evaluate_on == "test":
        from ..labelled import from_imdb
        from ..data import load_imdb

        check = from_imdb(load_imdb(data, splits=("test",))["test"], int(loaded.manifest["model"].get("classes", 1)))
    elif evaluate_on is not None:
        check = read_labelled(evaluate_on, loaded.manifest.get("labels", ["negative", "positive"]))
    found = fit_decision(loaded, texts, method=method, threshold_for=threshold_for, uncertain=uncertain, evaluate_on=check)
    if dry_run:
        if plot is not None:
            from ..decision_fit import draw

            draw(found, plot)
    else:
        write_decision(bundle, found, plot)
    if as_json:
        echo_json(found.sections)
        return
    for line in _lines(found.sections):
        click.echo(line)
    click.echo(
        f"{'left ' + bundle + ' as it was (--dry-run)' if dry_run else 'wrote ' + bundle}" + (f"; plot {plot}" if plot else "")
    )


def _row(name: str, figures: dict[str, Any], threshold: str = "") -> str:
    cells = [f"{figures.get(key, float('nan')):>9.4f}" for key in ("ece", "log_loss", "brier", "accuracy")]
    return f"  {name:<22} " + " ".join(cells) + threshold


def _lines(sections: dict[str, Any]) -> list[str]:
    calibration = sections["calibration"]
    texts = calibration["texts"]
    bias = f", bias {calibration['bias']:.4f}" if calibration["method"] != "temperature" else ""
    out = [
        f"calibrated on {texts['count']} texts: {texts['source']}",
        f"temperature {calibration['temperature']:.4f}{bias} ({calibration['method']}; "
        f"{calibration['labels_changed']} labels at 0.5 changed)",
        f"  {'':<22} {'ECE':>9} {'log loss':>9} {'Brier':>9} {'accuracy':>9}",
        _row("held-out, before", calibration["before"]),
        _row("held-out, after", calibration["after"]),
    ]
    evaluated = calibration.get("evaluated_on")
    if evaluated:
        out.append(f"  and on {evaluated['texts']['count']} texts never fitted on: {evaluated['texts']['source']}")
        out.append(_row("evaluated, before", evaluated["before"]))
        out.append(_row("evaluated, after", evaluated["after"]))
    choice = sections.get("threshold_choice")
    line = f"threshold {sections['threshold']:.6g}"
    if choice:
        v = choice["validation"]
        line += f" ({choice['rule']}): precision {v['precision']:.4f}, recall {v['recall']:.4f} on the held-out texts"
    if evaluated and "precision_at_threshold" in evaluated["after"]:
        a = evaluated["after"]
        line += f"; precision {a['precision_at_threshold']:.4f}, recall {a['recall_at_threshold']:.4f} on the others"
    out.append(line)
    band = sections.get("uncertain")
    if band:
        text = f"uncertain for scores in [{band['low']:.6g}, {band['high']:.6g})"
        if "validation" in band:
            text += f": {band['validation']['uncertain_rate']:.1%} of the held-out texts"
        out.append(text)
    return out
