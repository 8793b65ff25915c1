"""The Python runtime's answers, for the JS tests to match: one JSON job on stdin, one JSON answer on stdout.

Jobs ({"job": name, ...}):
- predict {bundle, texts, calibrated}: Predictor's and TextModel's probabilities, Predictor's labels, TextModel's ids
- calibrate {manifest, scores}: Decision.from_manifest(manifest).calibrate(float32 scores)
- problems {manifests}: runtime/bundle.py's decision_problems for each manifest (head from its model section)
- window {texts, n}: runtime/tokenizer.py's text_window(text, n, "pre") for each text
- refuse {bundle, texts}: what TextModel.run says of each text alone ("ok" or the InputError's message)
- explain {bundle, text, options}: Predictor.explain's answer as JSON, or null where explain is not built yet
- variants {bundle, texts}: Predictor.predict_proba of the texts (the leave-one-word-out check's reference)
Usage: python python_runtime.py < job.json
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

import numpy as np


def plain(value: Any) -> Any:
    """A JSON-able copy of an answer (dataclasses, numpy values, tuples)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple) and hasattr(value, "_asdict"):  # a NamedTuple (explain's Word)
        return plain(value._asdict())
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    return value


def main(job: dict[str, Any]) -> Any:
    from edge_sentiment import Predictor
    from edge_sentiment.errors import EdgeSentimentError, InputError
    from edge_sentiment.runtime.bundle import decision_problems
    from edge_sentiment.runtime.decision import Decision
    from edge_sentiment.runtime.textmodel import TextModel
    from edge_sentiment.runtime.tokenizer import text_window

    kind = job["job"]
    if kind == "predict":
        predictor = Predictor.load(job["bundle"], calibrated=job.get("calibrated", True))
        text_model = TextModel.load(job["bundle"], calibrated=job.get("calibrated", True))
        scores, ids = text_model.run(job["texts"])
        return {
            "predictor": plain(predictor.predict_proba(job["texts"])),
            "labels": [p.label for p in predictor.predict(job["texts"])],
            "text_model": plain(scores),
            "ids": ids,
        }
    if kind == "calibrate":
        decision = Decision.from_manifest(job["manifest"])
        return plain(decision.calibrate(np.asarray(job["scores"], dtype=np.float32)))
    if kind == "problems":
        answers = []
        for manifest in job["manifests"]:
            classes = manifest["model"].get("classes", 1)
            answers.append(decision_problems(manifest, manifest["model"].get("head", "sigmoid" if classes == 1 else "softmax")))
        return answers
    if kind == "window":
        return [text_window(text, job["n"], "pre") for text in job["texts"]]
    if kind == "refuse":
        text_model = TextModel.load(job["bundle"])
        answers = []
        for text in job["texts"]:
            try:
                scores, ids = text_model.run([text])
                answers.append({"ids": ids[0], "score": plain(scores[0])})
            except InputError as exc:
                answers.append({"error": str(exc)})
        return answers
    if kind == "explain":
        predictor = Predictor.load(job["bundle"])
        try:
            return plain(predictor.explain(job["text"], **job.get("options", {})))
        except EdgeSentimentError as exc:
            if "not built yet" in str(exc):
                return None
            raise
    if kind == "variants":
        return plain(Predictor.load(job["bundle"]).predict_proba(job["texts"]))
    raise SystemExit(f"unknown job {kind!r}")


if __name__ == "__main__":
    json.dump(main(json.load(sys.stdin)), sys.stdout)
