"""Whether a model's scores depend on where its ids were padded, or on which end of a long text was cut.

A model trained on post-padded ids and exported as pre-padded passes every Keras-against-ONNX gate (both
are fed the same wrong ids) while its labels flip. So where the side matters to the model's scores and
nothing records how it was trained (a run folder's tokenizer.json and a TextVectorization layer do; a Keras
Tokenizer file and the keras.datasets.imdb word index do not), the export needs the flag said outright.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


from ..errors import ExportError
from ..runtime.tokenizer import pad_ids
from .gates import parity_figures

__all__ = ["SIDE_MATTERS", "check_sides"]

# max |Δp| between the two sides above which the side must be said (labels flipping under it are scores
# next to the threshold, as an untrained model's all are)
SIDE_MATTERS = 0.05
_ASK = {
    "padding": "say how its training ids were padded: --padding pre (pad_sequences' default) or --padding post",
    "truncating": "say which end of long texts its training cut: --truncating pre (pad_sequences' default) or --truncating post",
}


def _both_ways(src: Any, ids: list[list[int]], side: str, arch: Any) -> dict[str, Any]:
    """Keras's scores (probabilities, a logit head's included) of the same ids padded (or cut) both ways, compared."""
    length = src.tokenizer.max_len
    if side == "padding":
        first, second = pad_ids(ids, length, "pre"), pad_ids(ids, length, "post")
    else:
        padding = src.tokenizer.padding
        first, second = pad_ids([i[-length:] for i in ids], length, padding), pad_ids([i[:length] for i in ids], length, padding)
    a, b = (arch.keras_scores(src.ids_model.predict(x, batch_size=256, verbose=0)) for x in (first, second))
    return parity_figures(a, b, multi_label=arch.head == "multi-label")


def check_sides(src: Any, arch: Any, texts: Sequence[str]) -> dict[str, Any]:
    """Measure each side nothing fixed on the texts it can change; ExportError (every side in one message)
    where it matters. Returns, per side, where it came from or the figures that showed it does not matter."""
    tok = src.tokenizer
    out: dict[str, Any] = {}
    problems = []
    for side in ("padding", "truncating"):
        value = tok.padding if side == "padding" else tok.truncation
        if side in src.sides_fixed:
            out[side] = {"value": value, "from": src.sides_fixed[side]}
            continue
        if side == "padding" and arch.mask_zero:
            out[side] = {"value": value, "from": "the model masks its pads: the side changes nothing"}
            continue
        all_ids = [tok.all_ids(t) for t in texts]
        if side == "padding":
            chosen = [i for i in all_ids if 0 < len(i) < tok.max_len]
        else:
            chosen = [i for i in all_ids if len(i) > tok.max_len]
        if not chosen:
            shorter = "shorter" if side == "padding" else "longer"
            out[side] = {"value": value, "from": f"not given; not measured: no text {shorter} than {tok.max_len} ids"}
            continue
        fig = _both_ways(src, chosen, side, arch)
        figures = f"max |Δp| {fig['max_abs_diff']:.3f}, {fig['samples'] - fig['labels_agreeing']}/{fig['samples']} labels differ"
        if fig["max_abs_diff"] > SIDE_MATTERS:
            way = "pre- and post-padding" if side == "padding" else "cutting the start or the end of"
            problems.append(f"{side}: {way} the same {fig['samples']} texts changes the scores ({figures}); {_ASK[side]}")
        else:
            out[side] = {"value": value, "from": f"not given; the side changes no score ({figures}, limit {SIDE_MATTERS})"}
    if problems:
        raise ExportError(
            f"the model's scores depend on how its ids were padded or cut, which nothing given records for this model "
            f"({src.tokenizer_source} is its tokenizer, not its training pipeline), and a guess would pass every gate "
            "with the labels wrong:\n  " + "\n  ".join(problems)
        )
    return out
