"""One input row of `score` and the rules every input format shares: size and nesting limits, valid
Unicode, and the names carried fields are written under."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .options import OUTPUT_COLUMNS

__all__ = [
    "Item",
    "MAX_FIELD",
    "MAX_DEPTH",
    "too_long",
    "utf8_problem",
    "lone_surrogate",
    "value_problem",
    "output_names",
    "rename_fields",
]

MAX_FIELD = 16 * 1024 * 1024  # a line (a CSV record, a Parquet text) longer than this is rejected, read in bounded memory
MAX_DEPTH = 64  # a JSON field nested deeper than this is rejected (it could not be written back or parsed safely)


@dataclass(frozen=True)
class Item:
    """One input row: text to score, or the reason it is rejected; fields are the other columns kept."""

    row: int
    text: str | None
    fields: dict[str, Any] | None
    reason: str | None
    end: int  # byte offset after this row (row index + 1 for Parquet): where a resumed run starts


def utf8_problem(raw: bytes) -> str:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})"
    return ""


def lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def too_long(what: str) -> str:
    """The reason a row over MAX_FIELD is rejected."""
    limit = f"{MAX_FIELD >> 20} MiB" if MAX_FIELD >= 1 << 20 else f"{MAX_FIELD} bytes"
    return f"{what} longer than {limit}"


def value_problem(name: str, value: Any) -> str | None:
    """Why a carried field cannot be written to every output format (too deep, a lone surrogate), else None."""
    if lone_surrogate(name):
        return "a field's name holds a lone surrogate escape (not valid Unicode)"
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if lone_surrogate(item):
                return f"field {name!r} holds a lone surrogate escape (not valid Unicode)"
        elif isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                return f"field {name!r} is nested deeper than {MAX_DEPTH} levels"
            if isinstance(item, dict):
                for key, inner in item.items():
                    if lone_surrogate(key):
                        return f"field {name!r} has a key with a lone surrogate escape (not valid Unicode)"
                    stack.append((inner, depth + 1))
            else:
                stack.extend((inner, depth + 1) for inner in item)
    return None


def output_names(names: list[str], text_field: str) -> list[str]:
    """The names input fields are carried under: one named like an output column (row, label, score) gets
    an input_ prefix (again while that name is taken), so it never overwrites score's own column."""
    taken, out = {*names, text_field}, []
    for name in names:
        if name in OUTPUT_COLUMNS:
            while name in OUTPUT_COLUMNS or name in taken:
                name = f"input_{name}"
            taken.add(name)
        out.append(name)
    return out


def rename_fields(fields: dict[str, Any], text_field: str) -> dict[str, Any]:
    """fields with the names of output_names (the same dict when nothing is renamed)."""
    if not any(name in OUTPUT_COLUMNS for name in fields):
        return fields
    return dict(zip(output_names(list(fields), text_field), fields.values()))
