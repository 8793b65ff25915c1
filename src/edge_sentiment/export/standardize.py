"""A TextVectorization layer's custom `standardize`, traced to its TensorFlow graph and recorded as steps.

keras.io's "Text classification from scratch" writes one (tf.strings.lower, then tf.strings.regex_replace of
"<br />" and of the punctuation). The function is traced on a batch of strings; when its graph is a chain of
ops that runtime/standardize_steps.py reproduces exactly, the chain becomes the tokenizer's steps, and the steps are
then checked against the function itself on fuzzed strings. Anything else is refused, naming the op.
"""

from __future__ import annotations

import random
import string
from collections.abc import Sequence
from typing import Any

from ..errors import TokenizerError
from ..runtime.standardize_steps import Steps

__all__ = ["trace_standardize", "fuzz_texts", "check_steps"]

_PASS_THROUGH = ("Identity", "IdentityN", "StopGradient", "Snapshot")
_HELP = (
    "edge-sentiment reproduces standardize = 'lower_and_strip_punctuation', 'lower', 'strip_punctuation', None, "
    "and custom functions built from tf.strings.lower (no encoding), tf.strings.regex_replace with constant "
    "patterns (RE2 that Python's re reads alike) and tf.strings.strip"
)
_OP_HINTS = {
    "StringUpper": "tf.strings.upper",
    "UnicodeTranscode": "tf.strings.unicode_transcode",
    "Substr": "tf.strings.substr (it fails on texts shorter than its position)",
    "StringJoin": "tf.strings.join",
    "StringSplitV2": "tf.strings.split",
    "PyFunc": "tf.py_function",
    "EagerPyFunc": "tf.py_function",
}


def _refuse(fn: Any, why: str) -> TokenizerError:
    name = getattr(fn, "__name__", type(fn).__name__)
    return TokenizerError(
        f"TextVectorization standardize='a custom callable' cannot be exported: {name} {why}. {_HELP}. "
        "Retrain with one of those, or standardise the texts before scoring"
    )


def _const_string(op: Any) -> str | None:
    """The value of a scalar string Const op, or None when the tensor is not a constant."""
    if op.type != "Const":
        return None
    from tensorflow.python.framework import tensor_util

    value = tensor_util.MakeNdarray(op.get_attr("value"))
    if value.shape != () or not isinstance(value.item(), bytes):
        return None
    return str(value.item().decode("utf-8"))


def trace_standardize(fn: Any) -> Steps:
    """The steps of a standardize callable; TokenizerError naming the op or construct that has no exact equal."""
    import tensorflow as tf

    try:
        concrete = tf.function(fn).get_concrete_function(tf.TensorSpec([None], tf.string))
    except Exception as exc:  # TensorFlow raises many types while tracing user code
        first = (str(exc).splitlines() or [""])[0]
        raise _refuse(fn, f"could not be traced on a batch of strings ({type(exc).__name__}: {first})") from None
    outputs = tf.nest.flatten(concrete.structured_outputs)
    if len(outputs) != 1 or outputs[0].dtype != tf.string:
        raise _refuse(fn, "does not return one tensor of strings")
    source = concrete.inputs[0].op
    steps: list[dict[str, Any]] = []
    problems: list[str] = []  # every op and pattern that cannot be reproduced, reported together
    tensor = outputs[0]
    while tensor.op is not source:
        op = tensor.op
        if op.type in _PASS_THROUGH:
            tensor = op.inputs[0]
            continue
        if op.type == "StringLower":
            if op.get_attr("encoding"):
                problems.append(
                    f"tf.strings.lower(encoding={op.get_attr('encoding').decode()!r}) lower-cases with ICU's Unicode "
                    "tables, and Python's str.lower follows its own Unicode version (edge-sentiment reproduces "
                    "tf.strings.lower without an encoding: ASCII letters)"
                )
            steps.append({"op": "lower"})
        elif op.type == "StringStrip":
            steps.append({"op": "strip"})
        elif op.type in ("StaticRegexReplace", "RegexReplace"):
            if op.type == "StaticRegexReplace":
                pattern, rewrite = op.get_attr("pattern").decode("utf-8"), op.get_attr("rewrite").decode("utf-8")
            else:
                pattern, rewrite = _const_string(op.inputs[1].op), _const_string(op.inputs[2].op)
            if pattern is None or rewrite is None:
                problems.append("tf.strings.regex_replace with a pattern or rewrite that is not a constant")
            else:
                step = {"op": "regex_replace", "pattern": pattern, "rewrite": rewrite}
                step["replace_global"] = bool(op.get_attr("replace_global"))
                try:
                    Steps([step])
                except TokenizerError as exc:
                    problems.append(str(exc))
                steps.append(step)
        else:
            hint = f" ({_OP_HINTS[op.type]})" if op.type in _OP_HINTS else ""
            problems.append(f"the TensorFlow op {op.type}{hint} has no exact Python equivalent here")
        strings = [i for i in op.inputs if i.dtype == tf.string]
        if not strings:
            break
        tensor = strings[0]
    if problems:
        raise _refuse(fn, "cannot be reproduced exactly: " + "; ".join(reversed(problems)))
    steps.reverse()
    return Steps(steps, source=str(getattr(fn, "__name__", "")))


_PIECES = [
    *string.punctuation,
    *" \t\n\r\v\f",
    "\u00a0",
    "\u2009",
    "\u3000",
    "\x85",
    "<br />",
    "<br/>",
    "<BR />",
    "<br  />",
    "<i>",
    "</b>",
    "É",
    "é",
    "ß",
    "İ",
    "ǅ",
    "Σ",
    "ς",
    "😀",
    "映画",
    "\u0301",
    "ﬁ",
    "Ｇ",
    "don't",
    "it's",
    "10/10",
    "...",
    "--",
    "  ",
]


def fuzz_texts(words: Sequence[str], n: int, steps: Steps | None = None, seed: int = 0) -> list[str]:
    """n deterministic texts of vocabulary words in random case mixed with punctuation, HTML line breaks,
    Unicode letters and marks, whitespace of every kind, and every character the steps' patterns name."""
    rng = random.Random(seed)
    pieces = list(_PIECES)
    for step in steps.steps if steps is not None else []:
        pieces += [c for c in step.get("pattern", "") + step.get("rewrite", "") if c.isprintable()]
        if step.get("pattern"):
            pieces.append(step["pattern"])
    words = list(words)[:500] or ["film"]
    texts = []
    for _ in range(n):
        out = []
        for _ in range(rng.randint(0, 24)):
            if rng.random() < 0.5:
                word = rng.choice(words)
                out.append(word.upper() if rng.random() < 0.2 else word.title() if rng.random() < 0.2 else word)
            else:
                out.append(rng.choice(pieces))
            if rng.random() < 0.5:
                out.append(" ")
        texts.append("".join(out))
    return texts


def check_steps(fn: Any, steps: Steps, texts: Sequence[str]) -> None:
    """TokenizerError unless the steps give exactly what the function gives on every text."""
    import numpy as np
    import tensorflow as tf

    theirs = np.asarray(fn(tf.constant(list(texts), dtype=tf.string))).reshape(-1)
    for text, expected in zip(texts, theirs):
        ours = steps.apply(text)
        if ours.encode("utf-8") != expected:
            raise _refuse(
                fn,
                f"was recorded as {steps.describe()}, but on the text {text[:80]!r} it gives "
                f"{expected[:80]!r} and the steps give {ours[:80]!r}",
            )
