"""The Predictor's onnxruntime sessions: opened when first needed, and called without the Python wrapper's
per-call checks (runtime/predictor.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Unopened", "direct_run"]


def direct_run(session: Any) -> Callable[..., Any]:
    """session.run without its Python wrapper's per-call checks (the input names, graph capture, an execution
    provider to fall back to), which every call here passes by construction: CPU only, our own input names.
    onnxruntime.InferenceSession.run where the wrapper has no _sess (it has had one from 1.0 to 1.32)."""
    inner = getattr(getattr(session, "_sess", None), "run", None)
    if inner is None:
        return session.run  # type: ignore[no-any-return]
    import onnxruntime as ort  # type: ignore[import-untyped]

    options = ort.RunOptions()

    def run(output_names: list[str], feed: dict[str, np.ndarray]) -> list[np.ndarray]:
        return inner(output_names, feed, options)  # type: ignore[no-any-return]

    return run


class Unopened:
    """A session's run before the session is open: the first call opens it (once, under the predictor's
    lock), puts the session's run in the predictor's attribute and runs it. The model's bytes were
    verified with the bundle (sha256, ops, contract) before this."""

    def __init__(self, predictor: Any, attribute: str, model: bytes, what: str) -> None:
        self.predictor, self.attribute, self.model, self.what = predictor, attribute, model, what

    def __call__(self, *args: Any) -> Any:
        return self.predictor._opened(self.attribute)(*args)
