"""MODEL_CARD.md: a bundle's model card, generated from its manifest alone (write_bundle writes it into every bundle).

The same manifest gives the same bytes. The sentences on data, accuracy, intended use and limits are
runtime/metadata.py's card_facts, which the short card stamped into the ONNX files shares.
"""

from __future__ import annotations

import json
from typing import Any

from ..runtime.decision import Decision
from ..runtime.metadata import MODEL_CARD_FILE, PREFIX, card_facts

__all__ = ["model_card", "MODEL_CARD_FILE"]

_MAX_ITEMS = 40  # figures listed per section; a manifest section longer than this is cut with a note


def _value(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (int, str)):
        return str(value).replace("|", "\\|").replace("\n", " ")
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return (text if len(text) <= 120 else text[:117] + "...").replace("|", "\\|")


def _flat(section: dict[str, Any], prefix: str = "", depth: int = 0) -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, value in section.items():
        if isinstance(value, dict) and value and depth < 3:
            rows += _flat(value, f"{prefix}{key}.", depth + 1)
        else:
            rows.append((f"{prefix}{key}", value))
    return rows


def _figures(section: Any, skip: tuple[str, ...] = ()) -> list[str]:
    """A manifest section as a two-column table (nested objects flattened as a.b.c)."""
    if not isinstance(section, dict):
        return []
    rows = _flat({k: v for k, v in section.items() if k not in skip})
    if not rows:
        return []
    out = ["| figure | value |", "|---|---|"]
    out += [f"| {_value(k)} | {_value(v)} |" for k, v in rows[:_MAX_ITEMS]]
    if len(rows) > _MAX_ITEMS:
        out.append(f"| … | {len(rows) - _MAX_ITEMS} more in manifest.json |")
    return out


def _section(owner: dict[str, Any], key: str) -> dict[str, Any]:
    value = owner.get(key)
    return value if isinstance(value, dict) else {}


def _before_after(measured: Any, title: str) -> list[str]:
    """A calibration's figures before and after, side by side."""
    if not isinstance(measured, dict):
        return []
    before, after = _section(measured, "before"), _section(measured, "after")
    keys = [k for k in before if k in after and not isinstance(before[k], (dict, list))]
    if not keys:
        return []
    count = _section(measured, "texts").get("count", before.get("texts", "?"))
    rows = [f"| {_value(k)} | {_value(before[k])} | {_value(after[k])} |" for k in keys]
    return ["", f"On {_value(count)} {title}:", "", "| figure | before | after |", "|---|---|---|", *rows]


def _decision_lines(manifest: dict[str, Any], decision: Decision, labels: list[str]) -> list[str]:
    lines = ["## Decision", ""]
    chosen = {k: v for k, v in manifest.items() if k != "threshold" and k.startswith("threshold")}
    rule = _section(manifest, "threshold_choice").get("rule")
    how = (
        f"chosen for `{_value(rule)}` on held-out labelled texts (figures below)"
        if rule
        else "chosen on labelled data (below)"
        if chosen
        else "the default: not chosen on data (`edge-sentiment calibrate` can choose one, e.g. `--threshold-for precision=0.95`)"
    )
    if decision.head == "softmax":
        lines.append(
            f"The label is the most probable of {', '.join(labels)}; the threshold ({decision.threshold:g}) is not used."
        )
    else:
        scale = "probability" if decision.identity else "calibrated probability"
        lines.append(f"Threshold: **{decision.threshold:g}** on the {scale}, {how}.")
    for key, section in chosen.items():
        lines += ["", f"`{key}`:", "", *(_figures(section) or [f"{_value(section)}"])]
    if decision.uncertain is not None:
        low, high, middle = decision.uncertain
        lines += [
            "",
            f"Uncertain band: a score in [{low:g}, {high:g}) is labelled '{middle}'; under {low:g} '{labels[0]}', "
            f"at or over {high:g} '{labels[1]}'.",
        ]
        band = _figures(manifest.get("uncertain"), skip=("low", "high", "label"))
        lines += ["", *band] if band else []
    lines += ["", "## Calibration", ""]
    calibration = manifest.get("calibration")
    if not isinstance(calibration, dict):
        lines.append(
            "None: the scores are the model's own (`edge-sentiment calibrate BUNDLE` fits one on held-out labelled texts)."
        )
    else:
        formula = (
            "softmax(log(p) / T)" if decision.head == "softmax" else "sigmoid(logit(p) / T + b)"
        ) + ", p the model's output clipped to [1e-7, 1 - 1e-7], in float64"
        lines.append(
            f"Temperature T = {decision.temperature:.6g}, bias b = {decision.bias:.6g}: the probability reported is {formula}."
        )
        for title, measured in (
            ("held-out texts it was fitted on", calibration),
            ("texts never fitted on", calibration.get("evaluated_on")),
        ):
            lines += _before_after(measured, title)
        table = _figures(calibration, skip=("temperature", "bias", "before", "after", "evaluated_on"))
        lines += ["", *table] if table else []
        evaluated = _section(calibration, "evaluated_on")
        table = _figures(evaluated, skip=("before", "after"))
        lines += ["", "`evaluated_on`:", "", *table] if table else []
    return lines


def _run_lines(manifest: dict[str, Any]) -> list[str]:
    lines = [
        "## How to run it",
        "",
        "Python (`pip install edge-sentiment`: numpy, onnxruntime, click; no TensorFlow):",
        "",
        "```python",
        "from edge_sentiment import Predictor",
        "",
        'predictor = Predictor.load("path/to/bundle")',
        'print(predictor.predict(["A wonderful, moving film."]))',
        "```",
        "",
        '`edge-sentiment predict --bundle path/to/bundle "A wonderful, moving film."` does the same from a shell, '
        "and `edge-sentiment verify path/to/bundle` re-checks the bundle first.",
    ]
    if "model.text.onnx" in (manifest.get("files") or {}) or manifest.get("text_model"):
        lines += [
            "",
            "JavaScript (`js/` in the edge-sentiment repository; onnxruntime-node or onnxruntime-web), with `model.text.onnx`:",
            "",
            "```js",
            'import * as ort from "onnxruntime-node";',
            'import { loadBundle } from "edge-sentiment";',
            "",
            'const model = await loadBundle("path/to/bundle", { ort });',
            'console.log(await model.predict(["A wonderful, moving film."]));',
            "```",
        ]
    lines += [
        "",
        "Any ONNX host: `model.onnx` carries this card's facts in its `metadata_props` "
        f"(`{PREFIX}labels`, `{PREFIX}threshold`, `{PREFIX}temperature`, …; onnxruntime's "
        "`get_modelmeta().custom_metadata_map`); docs/bundle-format.md in the repository says how to feed it.",
    ]
    return lines


def model_card(manifest: dict[str, Any]) -> bytes:
    """MODEL_CARD.md's bytes for a manifest (its "files" lists the other files; the card is not among them)."""
    facts = card_facts(manifest)
    decision = Decision.from_manifest(manifest)
    labels = list(manifest.get("labels") or ["negative", "positive"])
    model, training = _section(manifest, "model"), _section(manifest, "training")
    kind = f"{_section(manifest, 'tokenizer')['kind']} " if "kind" in _section(manifest, "tokenizer") else ""
    lines = [
        f"# Model card: {model.get('architecture') or 'an edge-sentiment bundle'}",
        "",
        f"Generated from this bundle's manifest.json (created {manifest.get('created', '?')}); "
        "`edge-sentiment verify` checks every file against it. Do not edit: a bundle rewrite regenerates it.",
        "",
        "## What it is",
        "",
        f"{facts.what[0].upper()}{facts.what[1:]}.",
        "",
        f"- Labels: {', '.join(f'`{label}`' for label in labels)}",
        f"- Output: {facts.output}",
        f"- Input: {model.get('max_len', '?')} tokens at most per text (the {kind}tokenizer in `tokenizer.json`, "
        f"{model.get('padding', 'pre')}-padded); "
        "the Python runtime and `model.text.onnx` take raw text",
        "",
        *_decision_lines(manifest, decision, labels),
        "",
        "## Data",
        "",
        f"{facts.data[0].upper()}{facts.data[1:]}."
        + (f" Trained with `{_value(training['command'])}`." if isinstance(training.get("command"), str) else ""),
        "",
        "## Accuracy",
        "",
        f"{facts.accuracy[0].upper()}{facts.accuracy[1:]}.",
    ]
    training_figures = _figures(
        {
            k: v
            for k, v in training.items()
            if k in ("train_accuracy", "test_accuracy", "test_loss", "train_reviews", "test_reviews")
        }
    )
    lines += ["", *training_figures] if training_figures else []
    if isinstance(manifest.get("int8"), dict):
        lines += ["", "int8 (`model.int8.onnx`):", "", *_figures(manifest["int8"], skip=("op_census", "texts_sha256", "file"))]
    parity = manifest.get("parity")
    if isinstance(parity, dict):
        lines += [
            "",
            f"Parity with the source model ({parity.get('source', 'parity texts')}, atol {parity.get('atol', '?')}):",
            "",
        ]
        lines += _figures({k: v for k, v in parity.items() if isinstance(v, dict)})
    lines += [
        "",
        "## Intended use",
        "",
        f"{facts.intended_use[0].upper()}{facts.intended_use[1:]}.",
        "",
        "## Limits",
        "",
        f"{facts.limits[0].upper()}{facts.limits[1:]}.",
        "",
        *_run_lines(manifest),
        "",
        "## Files",
        "",
        "| file | bytes | sha256 |",
        "|---|---|---|",
        *(
            f"| `{name}` | {entry.get('bytes', '?')} | `{entry.get('sha256', '?')}` |"
            for name, entry in sorted((manifest.get("files") or {}).items())  # by name: the same card however written
            if name != MODEL_CARD_FILE and isinstance(entry, dict)
        ),
    ]
    versions = manifest.get("versions")
    if isinstance(versions, dict) and versions:
        lines += ["", "## Tool versions", "", "| tool | version |", "|---|---|"]
        lines += [f"| {name} | {_value(version) if version else 'not installed'} |" for name, version in versions.items()]
    return ("\n".join(lines) + "\n").encode("utf-8")
