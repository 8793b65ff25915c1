"""Calibrate a bundle trained by `edge-sentiment train` on the IMDB reviews its training held out for validation
(its manifest's seed and validation_split), measure it on the 25,000 test reviews (never fitted on), and print
the figures docs/decision.md shows: ECE, log loss, Brier and accuracy before and after, and for each threshold
rule the threshold chosen on the held-out reviews with the precision and recall it gets on the test reviews.

    python tools/maintenance/add_decision.py BUNDLE --data ../shared/data/aclImdb.tar.gz \\
        [--method temperature] [--threshold-for RULE] [--uncertain LOW,HIGH|precision=P] \\
        [--plot docs/decision-reliability.png] [--dry-run]

Only manifest.json changes (the calibration, threshold and band, with their figures); --dry-run writes nothing
but the plot. The same as `edge-sentiment calibrate BUNDLE --data ARCHIVE --evaluate-on test`, plus the rules' table.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from edge_sentiment.calibration import choose_threshold, parse_rule, threshold_figures
from edge_sentiment.data import load_imdb
from edge_sentiment.decision_fit import DecisionFit, draw, fit_decision, training_holdout, write_decision
from edge_sentiment.errors import EdgeSentimentError
from edge_sentiment.labelled import from_imdb
from edge_sentiment.runtime.bundle import load_bundle
from edge_sentiment.runtime.predictor import Predictor

RULES = ("precision=0.95", "precision=0.9", "recall=0.95", "recall=0.9", "f1")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundle")
    parser.add_argument("--data", default=None, help="the aclImdb .tar.gz (default: $EDGE_SENTIMENT_DATA)")
    parser.add_argument("--method", default="temperature", choices=("temperature", "temperature+bias"))
    parser.add_argument("--threshold-for", default=None, help="precision=P, recall=R or f1 (default: keep 0.5)")
    parser.add_argument("--uncertain", default=None, help="LOW,HIGH or precision=P (default: no band)")
    parser.add_argument("--plot", default=None, help="the reliability PNG (held-out reviews, before and after)")
    parser.add_argument("--dry-run", action="store_true", help="measure and print, write nothing but the plot")
    parser.add_argument("--json", default=None, help="also write every figure to this JSON file")
    args = parser.parse_args()
    try:
        bundle = load_bundle(args.bundle)
        held = training_holdout(bundle.manifest, args.data, f"{args.bundle}/manifest.json")
        test = from_imdb(load_imdb(args.data, splits=("test",))["test"], int(bundle.manifest["model"].get("classes", 1)))
        raw = Predictor(bundle, calibrated=False)
        print(f"  scoring {len(held)} held-out and {len(test)} test reviews ...", file=sys.stderr)
        found = fit_decision(
            bundle,
            held,
            method=args.method,
            threshold_for=args.threshold_for,
            uncertain=args.uncertain,
            evaluate_on=test,
            predictor=raw,
        )
        calibrated_test = found.fit.decision(found.head).calibrate(raw.predict_proba(test.texts))
        rules = rule_table(found, calibrated_test, test.classes) if found.head == "sigmoid" else []
        band = band_on_test(found.uncertain, calibrated_test, test.classes)
        if args.dry_run:
            if args.plot:
                draw(found, args.plot)
        else:
            write_decision(args.bundle, found, args.plot)
    except EdgeSentimentError as exc:
        print(f"✗ {args.bundle}: {exc}", file=sys.stderr)
        return 1
    print(markdown(found.sections, rules, band))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"sections": found.sections, "rules": rules, "band_on_test": band}, fh, indent=2)
            fh.write("\n")
    print(f"{'measured' if args.dry_run else 'wrote'} {args.bundle}" + (f"; plot {args.plot}" if args.plot else ""))
    return 0


def band_on_test(band: tuple[float, float] | None, scores: np.ndarray, labels: np.ndarray) -> dict[str, float] | None:
    """The share of test reviews in the uncertain band, and the accuracy on the others."""
    if band is None:
        return None
    middle = (scores >= band[0]) & (scores < band[1])
    right = (scores[~middle] >= band[1]) == (labels[~middle] == 1)
    return {"uncertain_rate": float(middle.mean()), "accuracy_outside": float(right.mean())}


def rule_table(found: DecisionFit, calibrated_test: np.ndarray, labels: np.ndarray) -> list[dict[str, Any]]:
    """Each rule's threshold on the held-out reviews (calibrated) and its figures there and on the test reviews."""
    rows = []
    for spec in RULES:
        threshold, held = choose_threshold(found.calibrated, found.targets, parse_rule(spec))
        on_test = threshold_figures(calibrated_test, labels, threshold)
        rows.append(
            {"rule": spec, "threshold": threshold, "held_out": held, "test": {k: round(v, 4) for k, v in on_test.items()}}
        )
    return rows


def markdown(sections: dict[str, Any], rules: list[dict[str, Any]], band_test: dict[str, float] | None) -> str:
    c = sections["calibration"]
    lines = [
        f"Fitted on {c['texts']['count']} texts: {c['texts']['source']} (sha256 {c['texts']['sha256'][:12]}...).",
        f"Temperature {c['temperature']:.4f}, bias {c['bias']:.4f} ({c['method']}); labels at 0.5 changed on the held-out "
        f"texts: {c['labels_changed']}.",
        "",
        "| texts | scores | ECE, p(positive) | ECE, top label | log loss | Brier | accuracy at 0.5 |",
        "|---|---|---|---|---|---|---|",
    ]
    groups = [("held-out", c)]
    if "evaluated_on" in c:
        groups.append((f"test ({c['evaluated_on']['texts']['count']})", c["evaluated_on"]))
    for name, figures in groups:
        for when in ("before", "after"):
            f = figures[when]
            lines.append(
                f"| {name} | {'model' if when == 'before' else 'calibrated'} | {f['ece']:.4f} | "
                f"{f.get('ece_top_label', float('nan')):.4f} | {f['log_loss']:.4f} | "
                f"{f['brier']:.4f} | {f['accuracy']:.4f} |"
            )
    if rules:
        lines += [
            "",
            "| rule | threshold (held-out) | held-out precision / recall | test precision / recall | test accuracy |",
            "|---|---|---|---|---|",
        ]
        for r in rules:
            h, t = r["held_out"], r["test"]
            lines.append(
                f"| `{r['rule']}` | {r['threshold']:.4f} | {h['precision']:.4f} / {h['recall']:.4f} | "
                f"{t['precision']:.4f} / {t['recall']:.4f} | {t['accuracy']:.4f} |"
            )
    band = sections.get("uncertain")
    if band and "validation" in band:
        v = band["validation"]
        lines += [
            "",
            f"Uncertain band [{band['low']:.4f}, {band['high']:.4f}) ({band['rule']}): "
            f"{v['uncertain_rate']:.1%} of the held-out texts",
        ]
        if band_test:
            lines[-1] += (
                f"; on the test reviews {band_test['uncertain_rate']:.1%} uncertain, "
                f"accuracy {band_test['accuracy_outside']:.4f} on the others"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
