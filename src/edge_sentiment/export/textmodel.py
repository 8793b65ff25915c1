"""The text-in model (model.text.onnx): raw strings in, probability out, the tokenizer inside the graph.

Built only from ops stock onnxruntime runs (CPU and WASM): StringNormalizer (lower-case, explicit
locale), com.microsoft.Tokenizer (RE2 regular expressions: the HTML tags as separators, then the
words as a token expression), ai.onnx.ml LabelEncoder (word -> id) and plain tensor ops to compact
the ids (newest first), keep the last max_len and cut the batch to its longest text's words (one text has
no pads), then the model: for a pad-skipped WordPooling LSTM its own head (export/texthead.py: each text's
words alone through model.onnx's weights, no mask ops), for any other model model.onnx's own graph, fed
the ids pre-padded. No onnxruntime-extensions.

It implements the `edge-sentiment` tokenizer (standardisation v1) for a pre-padded model with the pad
skip, and for a model fed its pads (CNNs, pooling without recurrence, GRUs, post-padded models): the last
max_len ids padded in the graph to exactly max_len, before or after the words as the tokenizer pads.
NFKC is the one step no stock op does: the host normalises the text first (the graph's input
is NFKC text; runtime/textmodel.py and the JavaScript package do it). After NFKC only A-Z and U+0130
lower-case into ASCII, and only U+0130 (to "i" + U+0307) changes what is a letter, so the graph finds
tags (A-Z allowed) and words (U+0130 ends a word) on the text as it is, and lower-cases the words
(StringNormalizer, towlower per code point, locale C.UTF-8). Python's final sigma and case pairs of
newer Unicode versions are what remain different; the export measures them (export/textgate.py).
"""

from __future__ import annotations

import itertools
import sys
from typing import Any

from ..errors import ExportError
from ..runtime.bundle import INPUT_NAME, OUTPUT_NAME
from ..runtime.textmodel import LOCALE, TEXT_INPUT, TEXT_TOKENS
from ..runtime.tokenizer import KIND, OOV_ID, PAD_ID, STANDARDIZATION, TokenizerBase

__all__ = ["build_text_model", "text_model_refusal", "APOSTROPHES", "word_regex", "tag_regex"]

# The characters v1 turns into "'" before it finds words (U+00B4 never reaches that step: NFKC first).
APOSTROPHES = ("'", "\u2019", "\u2018", "\u02bc", "`")
PAD_TOKEN = "#"  # what com.microsoft.Tokenizer pads rows with: never a word, never a tag
IR_VERSION = 8  # model.onnx's (tf2onnx, opset 17); onnxruntime-web 1.30 reads IR <= 13


def _ranges(pred: Any) -> list[tuple[int, int]]:
    """Code point ranges where pred(chr(c)) holds, from this Python's Unicode database."""
    out: list[tuple[int, int]] = []
    start = None
    for c in range(sys.maxunicode + 2):
        inside = c <= sys.maxunicode and not 0xD800 <= c <= 0xDFFF and pred(chr(c))
        if inside and start is None:
            start = c
        elif not inside and start is not None:
            out.append((start, c - 1))
            start = None
    return out


def _re2_class(ranges: list[tuple[int, int]], extra: str = "") -> str:
    def one(c: int) -> str:
        return chr(c) if chr(c).isalnum() and c < 128 else f"\\x{{{c:x}}}"

    parts = [one(a) if a == b else f"{one(a)}-{one(b)}" for a, b in ranges]
    return "[" + "".join(parts) + extra + "]"


def word_regex() -> str:
    """v1's word, `[^\\W_]+(?:'[^\\W_]+)*` on the lower-cased text, as RE2 on the text before lower-casing:
    Python's own letters and digits spelled out (the graph's Unicode tables are this Python's, not
    RE2's), every apostrophe v1 maps to "'", and U+0130 ending a word (it lower-cases to "i" + U+0307)."""
    # U+02BC is a letter (Lm), but v1 has made it "'" before it looks for words
    alnum = _re2_class(_ranges(lambda c: c.isalnum() and c not in APOSTROPHES and c != "\u0130"))
    apostrophe = "[" + "".join(f"\\x{{{ord(a):x}}}" for a in APOSTROPHES) + "]"
    return f"(?:{alnum}+{apostrophe})*(?:{alnum}*\\x{{130}}|{alnum}+)"


def tag_regex() -> str:
    """v1's HTML tag, `</?[a-z][a-z0-9]{0,9}\\s*/?>` on the lower-cased text, as RE2 on the NFKC text before
    lower-casing (A-Z allowed), with Python's whitespace (str.isspace) spelled out."""
    space = _re2_class(_ranges(str.isspace))
    return f"</?[a-zA-Z][a-zA-Z0-9]{{0,9}}{space}*/?>"


def text_model_refusal(tokenizer: TokenizerBase, pads: str) -> str | None:
    """Why a bundle cannot have a text model, or None when it can."""
    if tokenizer.kind != KIND or tokenizer.to_dict().get("standardization") != STANDARDIZATION:
        return (
            f"the text model implements the edge-sentiment tokenizer (standardisation {STANDARDIZATION}); "
            f"this bundle's is {tokenizer.kind!r}"
        )
    if pads == "skipped" and tokenizer.padding == "pre" and tokenizer.truncation == "pre":
        return None
    if pads == "fed" and tokenizer.truncation == "pre":  # padded to max_len in the graph, before or after the words
        return None
    if pads == "fed":
        return "the text model keeps a long text's last words (truncation 'pre'); this tokenizer keeps the first"
    return f"the text model feeds a model with the pad skip or padded to max_len; this one's pads are {pads!r}"


def _keys(words: list[str]) -> tuple[list[str], list[int]]:
    """LabelEncoder keys: every word, with each of its apostrophes spelled every way v1 accepts."""
    keys, values = [PAD_TOKEN], [PAD_ID]
    for index, word in enumerate(words):
        parts = word.split("'")
        for marks in itertools.product(APOSTROPHES, repeat=len(parts) - 1):
            keys.append("".join(p + m for p, m in zip(parts, (*marks, ""))))
            values.append(index + 2)
    return keys, values


def _fixed_inits(max_len: int, c: Any, p: str) -> list[Any]:
    import numpy as np

    return [c(p + "max_len", np.asarray([[max_len]], np.int64)), c(p + "columns", np.arange(max_len, dtype=np.int64))]


def _fixed_nodes(n: Any, p: str, padding: str, int32: int) -> list[Any]:
    """ids_last (the last max_len ids, pads first) padded to exactly max_len, before or after the words:
    column j takes word j - (max_len - k) (pre) or word j (post) of the k words kept."""
    nodes = [
        n("Greater", [p + "ids_last", p + "zero"], [p + "kept_is_word"]),
        n("Cast", [p + "kept_is_word"], [p + "kept_flags"], to=7),  # int64
        n("ReduceSum", [p + "kept_flags", p + "one_1d"], [p + "k"], keepdims=1),  # [batch, 1]
        n("Shape", [p + "ids_last"], [p + "shape_last"]),
        n("Slice", [p + "shape_last", p + "dim1", p + "dim2"], [p + "width_last"]),
        n("Sub", [p + "width_last", p + "k"], [p + "first_word"]),  # ids_last holds its pads first
        n("Sub", [p + "width_last", p + "one_1d"], [p + "last_column"]),
    ]
    if padding == "pre":
        nodes += [
            n("Sub", [p + "max_len", p + "k"], [p + "pads_before"]),
            n("Less", [p + "columns", p + "pads_before"], [p + "is_pad"]),
            n("Not", [p + "is_pad"], [p + "valid"]),
            n("Sub", [p + "columns", p + "pads_before"], [p + "word_at"]),
        ]
    else:
        nodes += [n("Less", [p + "columns", p + "k"], [p + "valid"]), n("Add", [p + "columns", p + "zero"], [p + "word_at"])]
    return nodes + [
        n("Add", [p + "word_at", p + "first_word"], [p + "source"]),
        n("Max", [p + "source", p + "zero"], [p + "source_low"]),
        n("Min", [p + "source_low", p + "last_column"], [p + "source_in"]),
        n("GatherElements", [p + "ids_last", p + "source_in"], [p + "gathered"], axis=1),
        n("Where", [p + "valid", p + "gathered", p + "zero"], [p + "ids_fixed"]),
        n("Cast", [p + "ids_fixed"], [TEXT_TOKENS], to=int32),
    ]


def build_text_model(model_bytes: bytes, tokenizer: TokenizerBase, pads: str) -> bytes:
    """model.text.onnx: the text graph, then model.onnx's weights (fp32), its IR version pinned. A pad-skipped
    WordPooling LSTM gets its own head (export/texthead.py: each text's words alone, no mask ops); any
    other model gets the text graph in front of model.onnx's graph."""
    import onnx
    from onnx import TensorProto, helper

    from .texthead import lean_head

    refusal = text_model_refusal(tokenizer, pads)
    if refusal:
        raise ExportError(refusal)
    model = onnx.load_from_string(model_bytes)
    words: list[str] = tokenizer.known_words()
    keys, values = _keys(words)
    if len(set(keys)) != len(keys):
        raise ExportError(
            "two vocabulary words are spelled alike once apostrophes are unified; the text model cannot tell them apart"
        )
    p, n = _PREFIX, helper.make_node
    inits = _text_inits(tokenizer.max_len)
    nodes = _word_nodes() + _id_nodes(keys, values)
    head = lean_head(model, p, p + "ids_rev", p + "word_counts") if pads == "skipped" else None
    if head is not None:
        nodes.append(n("Cast", [p + "ids_last"], [TEXT_TOKENS], to=TensorProto.INT32))
        return _text_with_head(model, nodes + head[0], inits + head[1])
    if pads == "skipped":
        nodes.append(n("Cast", [p + "ids_last"], [TEXT_TOKENS], to=TensorProto.INT32))
    else:
        inits += _fixed_inits(tokenizer.max_len, _const, p)
        nodes += _fixed_nodes(n, p, tokenizer.padding, TensorProto.INT32)
    return _text_in_front(model, nodes, inits)


_PREFIX = "text/"  # the text graph's names


def _const(name: str, array: Any) -> Any:
    import numpy as np
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(array), name)


def _text_inits(max_len: int) -> list[Any]:
    """The text graph's constants."""
    import numpy as np

    c, p = _const, _PREFIX
    return [
        c(p + "pad_token", np.asarray([PAD_TOKEN], dtype=object)),
        c(p + "minus_one", np.asarray([-1], np.int64)),
        c(p + "zero", np.zeros((), np.int64)),
        c(p + "one", np.ones((), np.int64)),
        c(p + "one_1d", np.ones(1, np.int64)),
        c(p + "dim0", np.asarray([0], np.int64)),
        c(p + "dim1", np.asarray([1], np.int64)),
        c(p + "dim2", np.asarray([2], np.int64)),
        c(p + "max_len_1d", np.asarray([max_len], np.int64)),
        c(p + "first_index", np.asarray([np.iinfo(np.int64).min], np.int64)),
    ]


def _word_nodes() -> list[Any]:
    """Raw strings -> the lower-cased words of each text, [batch, cells] (tags dropped, pads of PAD_TOKEN)."""
    from onnx import helper

    n, p = helper.make_node, _PREFIX

    def tokenizer(source: str, output: str, name: str, pad: str, **rule: Any) -> Any:
        return n("Tokenizer", [source], [output], domain="com.microsoft", mark=0, mincharnum=1, pad_value=pad, name=name, **rule)

    return [
        # v1 step 4: every HTML tag becomes a separator (dropped), leaving the text between tags, [batch, pieces]
        tokenizer(TEXT_INPUT, p + "pieces", p + "tags", "", separators=[tag_regex()]),
        # v1 step 5: the words of each piece, [batch, pieces, words] ([batch, 0] when no text has a piece: a
        # Tokenizer keeps an empty input's rank; every shape below holds either way)
        tokenizer(p + "pieces", p + "words3", p + "words", PAD_TOKEN, tokenexp=word_regex()),
        # v1 step 3, on the words: lower-case them (StringNormalizer takes one non-empty row: flatten, add a pad)
        n("Reshape", [p + "words3", p + "minus_one"], [p + "words_flat"]),
        n("Concat", [p + "words_flat", p + "pad_token"], [p + "words_flat_1"], axis=0),
        n(
            "StringNormalizer",
            [p + "words_flat_1"],
            [p + "lower_flat_1"],
            case_change_action="LOWER",
            is_case_sensitive=1,
            locale=LOCALE,
            name=p + "lower",
        ),
        n("Slice", [p + "lower_flat_1", p + "dim0", p + "minus_one"], [p + "lower_flat"]),
        n("Shape", [TEXT_INPUT], [p + "batch"]),
        n("Concat", [p + "batch", p + "minus_one"], [p + "shape2"], axis=0),
        n("Reshape", [p + "lower_flat", p + "shape2"], [p + "words"]),  # [batch, cells]
    ]


def _id_nodes(keys: list[str], values: list[int]) -> list[Any]:
    """The words -> their ids: "ids_rev", each row's last max_len ids newest first, then pads, as wide as the
    most words in a row (at least 1: an empty text is one pad, as the runtime feeds it); "ids_last", the same
    in text order, pads first; "word_counts", the words each row reads (at most max_len, [batch])."""
    from onnx import TensorProto, helper

    n, p = helper.make_node, _PREFIX
    return [
        n(
            "LabelEncoder",
            [p + "words"],
            [p + "ids_sparse"],
            domain="ai.onnx.ml",
            keys_strings=keys,
            values_int64s=values,
            default_int64=OOV_ID,
            name=p + "vocabulary",
        ),
        # one pad in front, so every row has an id
        n("Concat", [p + "batch", p + "one_1d"], [p + "pad_shape"], axis=0),
        n("ConstantOfShape", [p + "pad_shape"], [p + "pad"], value=helper.make_tensor("v", TensorProto.INT64, [1], [0])),
        n("Concat", [p + "pad", p + "ids_sparse"], [p + "ids_padded"], axis=1),
        # compact each row newest first, pads last: sort ascending on (word ? -1 - position : position)
        n("Shape", [p + "ids_padded"], [p + "shape_ids"]),
        n("Gather", [p + "shape_ids", p + "one"], [p + "width"]),
        n("Slice", [p + "shape_ids", p + "dim1", p + "dim2"], [p + "width_1d"]),
        n("Range", [p + "zero", p + "width", p + "one"], [p + "position"]),
        n("Sub", [p + "minus_one", p + "position"], [p + "position_back"]),
        n("Greater", [p + "ids_padded", p + "zero"], [p + "is_word"]),
        n("Where", [p + "is_word", p + "position_back", p + "position"], [p + "order_key"]),
        n("TopK", [p + "order_key", p + "width_1d"], [p + "sorted_keys", p + "order"], axis=1, largest=0, sorted=1),
        n("GatherElements", [p + "ids_padded", p + "order"], [p + "ids_newest"], axis=1),
        # v1 keeps the last max_len words; the rows are cut to the longest row's words (a text alone has no pads)
        n("Cast", [p + "is_word"], [p + "word_flags"], to=TensorProto.INT64),
        n("ReduceSum", [p + "word_flags", p + "one_1d"], [p + "words_found"], keepdims=0),  # [batch]
        n("Min", [p + "words_found", p + "max_len_1d"], [p + "word_counts"]),  # the words read, [batch]
        n("ReduceMax", [p + "word_counts"], [p + "most_words"], keepdims=1),  # [1]
        n("Max", [p + "most_words", p + "one_1d"], [p + "kept"]),
        n("Slice", [p + "ids_newest", p + "dim0", p + "kept", p + "dim1"], [p + "ids_rev"]),
        n("Slice", [p + "ids_rev", p + "minus_one", p + "first_index", p + "dim1", p + "minus_one"], [p + "ids_last"]),
    ]


def _text_with_head(model: Any, nodes: list[Any], inits: list[Any]) -> bytes:
    """The text graph with its own head (export/texthead.py) as one checked model."""
    from onnx import TensorProto, helper

    graph = model.graph
    new_graph = helper.make_graph(
        nodes,
        "edge-sentiment-text",
        [helper.make_tensor_value_info(TEXT_INPUT, TensorProto.STRING, ["batch"])],
        [
            next(o for o in graph.output if o.name == OUTPUT_NAME),
            helper.make_tensor_value_info(TEXT_TOKENS, TensorProto.INT32, ["batch", "length"]),
        ],
        initializer=inits,
    )
    return _finish(model, new_graph)


def _text_in_front(model: Any, nodes: list[Any], inits: list[Any]) -> bytes:
    """The text graph's nodes in front of model.onnx's graph, as one checked model."""
    from onnx import TensorProto, helper

    graph, p = model.graph, _PREFIX
    n = helper.make_node
    if [i.name for i in graph.input] != [INPUT_NAME]:
        raise ExportError(f"model.onnx must take one input {INPUT_NAME!r} to be put behind the text graph")
    inner = {INPUT_NAME: p + "model_tokens"}
    nodes.append(n("Identity", [TEXT_TOKENS], [p + "model_tokens"]))
    for node in graph.node:
        for k, name in enumerate(node.input):
            if name in inner:
                node.input[k] = inner[name]
    new_graph = helper.make_graph(
        nodes + list(graph.node),
        "edge-sentiment-text",
        [helper.make_tensor_value_info(TEXT_INPUT, TensorProto.STRING, ["batch"])],
        [
            next(o for o in graph.output if o.name == OUTPUT_NAME),
            helper.make_tensor_value_info(TEXT_TOKENS, TensorProto.INT32, ["batch", "length"]),
        ],
        initializer=inits + list(graph.initializer),
    )
    return _finish(model, new_graph)


def _finish(model: Any, new_graph: Any) -> bytes:
    """new_graph as a checked model with model.onnx's opsets, the text graph's two and the pinned IR version."""
    import onnx
    from onnx import helper

    opsets = {o.domain: o.version for o in model.opset_import}
    opsets.setdefault("ai.onnx.ml", 2)
    opsets["com.microsoft"] = 1
    text = helper.make_model(
        new_graph,
        opset_imports=[helper.make_opsetid(d, v) for d, v in sorted(opsets.items())],
        producer_name="edge-sentiment",
        doc_string="raw UTF-8 text in, probability out; the edge-sentiment v1 tokenizer in the graph",
    )
    text.ir_version = min(IR_VERSION, model.ir_version) if model.ir_version else IR_VERSION
    onnx.checker.check_model(text)
    return bytes(text.SerializeToString())
