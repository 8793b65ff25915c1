"""What a bundle does to a raw text before its model, and what it does not: said in export's output and
recorded in the manifest, so a user whose own code cleaned texts before tokenizing sees that it is not done."""

from __future__ import annotations

from typing import Any

from ..runtime.standardize_steps import Steps
from ..runtime.tokenizer import TokenizerBase

__all__ = ["preprocessing"]

NOT_DONE = (
    "anything your code did to the texts before the tokenizer (HTML or markup stripping, stop-word removal, "
    "spelling fixes, stemming): pass texts to the bundle as your pipeline passed them to the tokenizer, or "
    "give --check-examples to prove the two agree"
)


def _steps(data: dict[str, Any]) -> str:
    kind = data["kind"]
    if kind == "edge-sentiment":
        return "NFKC-normalises, lower-cases, turns simple HTML tags into spaces, splits into words of letters and digits"
    if kind == "keras-tokenizer":
        lower = "lower-cases, " if data.get("lower") else ""
        return f"{lower}turns the filters {data.get('filters')!r} into {data.get('split')!r}, splits on it (Keras Tokenizer)"
    if kind == "keras-imdb":
        return "lower-cases ASCII, turns Keras's default filters into spaces, splits on ' ' (keras.datasets.imdb's rule)"
    if kind == "keras-text-vectorization":
        steps = data.get("standardize") or "no standardisation"
        if isinstance(data.get("custom_standardize"), dict):  # the user's function, as the steps it was traced to
            steps = "custom: " + Steps.from_dict(data["custom_standardize"]).describe()
        return f"standardizes ({steps}), splits ({data.get('split')}) as the TextVectorization layer"
    return f"the {kind} tokenizer's rules"


def preprocessing(tok: TokenizerBase) -> dict[str, str]:
    """{"done": what the bundle does to a text, "not_done": what it leaves to the caller}."""
    data = tok.to_dict()
    sides = f"keeps the {'last' if tok.truncation == 'pre' else 'first'} {tok.max_len} ids, pads {tok.padding} with 0"
    return {"done": f"{_steps(data)}; maps words to ids ({tok.vocab_size} ids); {sides}", "not_done": NOT_DONE}
