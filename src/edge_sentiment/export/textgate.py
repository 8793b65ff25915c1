"""The text model's gate: its ids and scores against the Python runtime's on the IMDB test reviews, on
fuzzed texts and on the conformance texts; the export refuses it when any IMDB test review differs."""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, ExportError
from ..runtime.bundle import load_bundle
from ..runtime.conformance import CONFORMANCE_FILE
from ..runtime.predictor import Predictor
from ..runtime.textmodel import LOCALE, TEXT_MODEL_FILE, TextModel
from ..runtime.tokenizer import TokenizerBase
from .gates import PARITY_ATOL
from .options import TEXT_FUZZ
from .textmodel import IR_VERSION, build_text_model, text_model_refusal
from .vectors import conformance_texts

__all__ = ["fuzz_texts", "measure", "text_model_files", "add_text_model"]

_PIECES = [
    "<br />", "<br/>", "<BR>", "<i>", "</i>", "<p>", "< b>", "<a href=x>", "<abcdefghijk>", "<1>", "<", ">", "/>",
    "'", "''", "’", "‘", "ʼ", "´", "`", "-", "_", ".", ",", "!", "?", "...", "…", "(", ")", '"', "&amp;", "#",
    "0", "7", "10", "1950's", "2nd", "½", "¾", "²", "①", "Ⅻ", "٣", "١٠",
    " ", "  ", "\t", "\n", "\r\n", "\u00a0", "\u2009", "\u3000", "\u0085", "\u2028", "\x0b", "\x0c", "\x1f", "\u200b",
    "É", "é", "e\u0301", "Ç", "ß", "ẞ", "İ", "ı", "Σ", "ς", "ΟΔΟΣ", "Ǆ", "ǅ", "ﬁ", "ＡＢ", "ｆｉｌｍ", "™", "ª", "µ", "Å", "K",
    "ПРИВЕТ", "мир", "映画", "فيلم", "סרט", "हिन्दी", "ภาพยนตร์", "한국", "😀", "👍🏽", "👨‍👩‍👧", "❤️", "𝐁𝐨𝐥𝐝", "\U0001f600",
]  # fmt: skip


def fuzz_texts(tokenizer: TokenizerBase, n: int, seed: int = 0) -> list[str]:
    """n short texts (up to 40 pieces) mixing the tokenizer's words in every case with the characters
    every rule is about, and random code points of every plane; deterministic."""
    rng = random.Random(seed)
    words = tokenizer.known_words()[:2000] or ["film"]
    cases = [str.lower, str.lower, str.upper, str.capitalize, str.title, str.swapcase]
    texts = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(0, 40)):
            r = rng.random()
            if r < 0.45:
                parts.append(rng.choice(cases)(rng.choice(words)))
            elif r < 0.85:
                parts.append(rng.choice(_PIECES))
            elif r < 0.95:
                parts.append(chr(rng.choice([rng.randint(0x20, 0x7E), rng.randint(0xA0, 0x2FFF), rng.randint(0x3000, 0xD7FF)])))
            else:
                c = rng.randint(0xE000, 0x10FFFF)
                parts.append(chr(c))
        texts.append("".join(p + rng.choice(["", " ", " ", " ", "\n"]) for p in parts))
    return texts


def measure(text_model: TextModel, predictor: Predictor, texts: Sequence[str], batch_size: int = 64) -> dict[str, Any]:
    """How the text model's ids and scores compare with the Python runtime's on texts."""
    ours = [predictor.tokenizer.encode(t) for t in texts]
    p_ref = predictor.predict_proba(texts)
    same, worst, first = 0, 0.0, None
    worst_any = 0.0
    for start in range(0, len(texts), batch_size):
        scores, ids = text_model.run(texts[start : start + batch_size])
        for k, (got, p) in enumerate(zip(ids, scores)):
            i = start + k
            diff = float(np.max(np.abs(np.asarray(p, np.float64) - np.asarray(p_ref[i], np.float64))))
            worst_any = max(worst_any, diff)
            if got == ours[i]:
                same += 1
                worst = max(worst, diff)
            elif first is None:
                first = {"index": i, "text": texts[i][:120], "python_ids": ours[i][:20], "graph_ids": got[:20]}
    return {
        "texts": len(texts),
        "ids_identical": same,
        "max_abs_diff_where_ids_identical": worst,
        "max_abs_diff": worst_any,
        "first_difference": first,
    }


def _describe(name: str, m: dict[str, Any]) -> str:
    return (
        f"{name}: ids identical for {m['ids_identical']}/{m['texts']}, max |dp| {m['max_abs_diff_where_ids_identical']:.1e} "
        f"where they are ({m['max_abs_diff']:.1e} over all)"
    )


def text_model_files(
    model_bytes: bytes,
    predictor: Predictor,
    pads: str,
    data: str | os.PathLike[str] | None,
    fuzz: int = TEXT_FUZZ,
    log: Any = None,
) -> tuple[bytes, dict[str, Any], list[str]]:
    """Build model.text.onnx and measure it; (its bytes, the manifest's text_model section, report lines).

    ExportError when it cannot be built, when the IMDB test set is not at hand, or when any IMDB test
    review gets other ids (or a score more than 1e-5 away) than the Python runtime gives it."""
    from ..data import load_imdb

    say = log or (lambda _msg: None)
    tokenizer = predictor.tokenizer
    refusal = text_model_refusal(tokenizer, pads)
    if refusal:
        raise ExportError(f"--text-model: {refusal}")
    try:
        reviews = load_imdb(data, splits=("test",))["test"].texts
    except DataError as exc:
        raise ExportError(f"--text-model measures the text model on the IMDB test set and needs the data: {exc}") from None
    say("building the text model")
    text_bytes = build_text_model(model_bytes, tokenizer, pads)
    text_model = TextModel(predictor.bundle, text_bytes)
    say(f"comparing the text model with the Python runtime on {len(reviews)} IMDB test reviews")
    imdb = measure(text_model, predictor, reviews)
    say(f"... on {fuzz} fuzzed texts")
    fuzzed = measure(text_model, predictor, fuzz_texts(tokenizer, fuzz)) if fuzz else None
    rules = measure(text_model, predictor, conformance_texts(tokenizer))
    lines = [_describe(f"text model on the {len(reviews)} IMDB test reviews", imdb)]
    if fuzzed:
        lines.append(_describe(f"text model on {fuzz} fuzzed texts", fuzzed))
    lines.append(_describe(f"text model on the {rules['texts']} conformance texts", rules))
    passed = imdb["ids_identical"] == imdb["texts"] and imdb["max_abs_diff"] <= PARITY_ATOL
    if not passed:
        raise ExportError(
            "the text model differs from the Python runtime on IMDB test reviews, so it was not written:\n"
            + "\n".join(lines)
            + f"\nfirst difference: {imdb['first_difference']}"
        )
    section = {
        "file": TEXT_MODEL_FILE,
        "input": "text: string [batch], UTF-8, Unicode NFKC-normalised by the host (String.prototype.normalize('NFKC'))",
        "outputs": "probability: float32 [batch, classes]; tokens: int32 [batch, length], the ids fed, "
        + ("pre-padded with 0" if pads == "skipped" else f"{tokenizer.padding}-padded with 0 to {tokenizer.max_len}"),
        "locale": LOCALE,
        "ir_version": IR_VERSION,
        "imdb_test": imdb,
        "fuzz": fuzzed,
        "conformance": {**rules, "file": CONFORMANCE_FILE},
        "not_in_the_graph": "NFKC (the host's step); Python's full case mapping (the graph lower-cases each code point "
        "with towlower: U+0130 and a final capital sigma differ)",
    }
    return text_bytes, section, lines


def add_text_model(
    bundle: str | os.PathLike[str], data: str | os.PathLike[str] | None, fuzz: int = TEXT_FUZZ, log: Any = None
) -> tuple[dict[str, Any], list[str]]:
    """Rewrite a bundle (atomically) with model.text.onnx built from its own model.onnx and tokenizer."""
    from .writer import kept_files, rewrite_bundle

    path = Path(bundle)
    loaded = load_bundle(path)
    manifest = dict(loaded.manifest)
    files = kept_files(path, manifest, {TEXT_MODEL_FILE})
    pads = manifest["model"].get("pads", "skipped")
    text_bytes, section, lines = text_model_files(loaded.model_bytes, Predictor(loaded, threads=1), pads, data, fuzz, log)
    files[TEXT_MODEL_FILE] = text_bytes
    manifest["text_model"] = section
    return rewrite_bundle(path, files, manifest), lines
