"""ScoreOptions: the options of one `score` run, validated once, with the engines each applies to.

The CLI builds one, score_file builds one from its keyword arguments, and both engines read it. An
option that does not apply to the chosen engine is refused naming itself, never dropped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields
from typing import Any

from ..errors import ScoreError

__all__ = [
    "ScoreOptions",
    "ENGINES",
    "OPTION_ENGINES",
    "CHECKPOINT_ROWS",
    "SPLIT_BYTES",
    "OUTPUT_COLUMNS",
    "INPUT_FORMATS",
    "OUTPUT_FORMATS",
    "engine_table",
]

ENGINES = ("local", "ray")
CHECKPOINT_ROWS = 10_000  # local: rows per checkpoint (rounded up to whole windows)
SPLIT_BYTES = 16 << 20  # ray: bytes of input per split
INPUT_FORMATS = ("text", "jsonl", "csv", "parquet")
OUTPUT_FORMATS = ("jsonl", "csv", "parquet")
OUTPUT_COLUMNS = ("row", "label", "score")  # the columns score itself writes; input fields so named are renamed

# Every option, the engines it takes effect on, and its CLI flag; a test checks each field of ScoreOptions
# has an entry, so a new option needs a decision. An option set away from its default on another engine
# is refused.
OPTION_ENGINES: dict[str, tuple[tuple[str, ...], str]] = {
    "bundle": (ENGINES, "--bundle"),
    "precision": (ENGINES, "--precision"),
    "input_format": (ENGINES, "--input-format"),
    "output_format": (ENGINES, "--output-format"),
    "text_field": (ENGINES, "--text-field/--text-column"),
    "keep_text": (ENGINES, "--keep-text"),
    "rejects": (("local",), "--rejects"),  # ray writes reject shards inside its output folder
    "strict": (ENGINES, "--strict"),
    "resume": (ENGINES, "--resume"),
    "force": (ENGINES, "--force"),
    "engine": (ENGINES, "--engine"),
    "threads": (ENGINES, "--threads"),
    "workers": (("ray",), "--workers"),  # local: the predictor's --threads
    "address": (("ray",), "--address"),
    "checkpoint_rows": (("local",), "--checkpoint-rows"),  # ray: each split is its own checkpoint
    "split_bytes": (("ray",), "--split-mb"),
}

_WHY = {
    "rejects": "--engine ray writes reject shards inside the output folder",
    "workers": "the local engine runs in this process; use --threads",
    "address": "the local engine runs in this process",
    "checkpoint_rows": "--engine ray checkpoints each split; use --split-mb",
    "split_bytes": "the local engine checkpoints every --checkpoint-rows rows",
}


@dataclass(frozen=True)
class ScoreOptions:
    """The options of one scoring run; None means the engine's default. Invalid or inapplicable ones raise ScoreError."""

    bundle: str | os.PathLike[str] | None = None
    precision: str = "fp32"
    input_format: str | None = None  # None or "auto": from the input's extension
    output_format: str | None = None  # None or "auto": from the output's extension
    text_field: str = "text"
    keep_text: bool = False
    rejects: str | os.PathLike[str] | None = None
    strict: bool = False
    resume: bool = False
    force: bool = False
    engine: str = "local"
    threads: int | None = None
    workers: int | None = None
    address: str | None = None
    checkpoint_rows: int | None = None
    split_bytes: int | None = None

    def __post_init__(self) -> None:
        problems = []
        if self.engine not in ENGINES:
            raise ScoreError(f"unknown engine {self.engine!r}; choose {' or '.join(ENGINES)}")
        defaults = {f.name: f.default for f in fields(self)}
        for name, (engines, flag) in OPTION_ENGINES.items():
            if self.engine not in engines and getattr(self, name) != defaults[name]:
                problems.append(f"{flag} ({name}) does not apply to --engine {self.engine}: {_WHY[name]}")
        if self.input_format not in (None, "auto", *INPUT_FORMATS):
            problems.append(f"unknown input format {self.input_format!r}; choose one of {', '.join(INPUT_FORMATS)}")
        if self.output_format not in (None, "auto", *OUTPUT_FORMATS):
            problems.append(f"unknown output format {self.output_format!r}; choose one of {', '.join(OUTPUT_FORMATS)}")
        for name in ("threads", "workers", "checkpoint_rows", "split_bytes"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
                problems.append(f"{name} must be a whole number of at least 1, got {value!r}")
        if not isinstance(self.text_field, str) or not self.text_field:
            problems.append(f"text_field must be a non-empty name, got {self.text_field!r}")
        elif self.keep_text and self.text_field in OUTPUT_COLUMNS:
            problems.append(
                f"--keep-text would write the text under {self.text_field!r}, which is one of score's own columns "
                f"({', '.join(OUTPUT_COLUMNS)}); drop --keep-text or rename the field"
            )
        if problems:
            raise ScoreError("; ".join(problems))

    @classmethod
    def of(cls, **options: Any) -> "ScoreOptions":
        """ScoreOptions from keyword arguments, refusing an unknown name with the list of known ones."""
        unknown = sorted(set(options) - {f.name for f in fields(cls)})
        if unknown:
            raise ScoreError(f"unknown score option(s) {', '.join(unknown)}; known: {', '.join(f.name for f in fields(cls))}")
        return cls(**options)

    @property
    def checkpoint(self) -> int:
        """Rows per local checkpoint (the default when not given)."""
        return self.checkpoint_rows if self.checkpoint_rows is not None else CHECKPOINT_ROWS

    @property
    def split(self) -> int:
        """Bytes per Ray split (the default when not given)."""
        return self.split_bytes if self.split_bytes is not None else SPLIT_BYTES


def engine_table() -> str:
    """Markdown: each option of `score` and whether each engine takes it (for docs/cli.md)."""
    lines = ["| option | " + " | ".join(f"--engine {engine}" for engine in ENGINES) + " |", "|---|" + "---|" * len(ENGINES)]
    for name, (engines, flag) in OPTION_ENGINES.items():
        cells = ["✓" if engine in engines else f"refused: {_WHY[name]}" for engine in ENGINES]
        lines.append(f"| `{flag}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)
