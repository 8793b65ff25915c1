"""What both scoring engines share: a run's settled job, its summary, the journal's format, and how
faults and progress are reported."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ScoreError
from ..runtime.files import manifest_sha256
from .formats import input_format, output_format
from .options import ScoreOptions
from .output import write_atomic

__all__ = ["ScoreJob", "ScoreSummary", "ScoreProgress", "make_job", "file_faults", "differences"]

JOURNAL_VERSION = 1
# progress(rows done, position, total): position and total in bytes of the input (rows for Parquet)
ScoreProgress = Callable[[int, int, int], None]


@dataclass(frozen=True)
class ScoreSummary:
    """What a scoring run did: rows read, scored and rejected, where they went, and how fast."""

    input: str
    output: str
    rejects: str | None
    engine: str
    rows: int
    scored: int
    rejected: int
    seconds: float
    resumed_rows: int = 0
    workers: int = 1  # local: the predictor's threads; ray: the workers
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        """Rows read by this run (not counting those a resumed run found done) per second."""
        return (self.rows - self.resumed_rows) / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        extra = out.pop("extra")
        out["seconds"] = round(self.seconds, 3)
        out["rows_per_second"] = round(self.rows_per_second, 1)
        out.update(extra)
        return out


@dataclass(frozen=True)
class ScoreJob:
    """The settled options of one run (what must match for --resume)."""

    input: Path
    output: Path
    rejects: Path
    input_format: str
    output_format: str
    text_field: str
    keep_text: bool
    bundle: str | None
    precision: str

    def identity(self, bundle_sha: str, **more: Any) -> dict[str, Any]:
        stat = self.input.stat()
        return {
            "input": str(self.input.resolve()),
            "input_size": stat.st_size,
            "input_mtime_ns": stat.st_mtime_ns,
            "input_format": self.input_format,
            "output_format": self.output_format,
            "text_field": self.text_field,
            "keep_text": self.keep_text,
            "bundle_manifest_sha256": bundle_sha,
            "precision": self.precision,
            **more,
        }


def make_job(
    input: str | os.PathLike[str], output: str | os.PathLike[str], options: ScoreOptions, rejects_default: Path | None = None
) -> ScoreJob:
    """The settled job of a run: the paths, and the formats worked out from the extensions where not given."""
    source, target = Path(input), Path(output)
    if not source.is_file():
        raise ScoreError(f"{source}: no such file" if not source.exists() else f"{source} is not a file")
    fmt_in = input_format(source, options.input_format)
    fmt_out = output_format(target, options.output_format)
    if options.rejects is not None:
        rejects_path = Path(options.rejects)
    else:
        rejects_path = rejects_default or target.with_name(target.name + ".rejects.jsonl")
    if source.resolve() in (target.resolve(), rejects_path.resolve()):
        raise ScoreError(f"the output {target} would overwrite the input; write it elsewhere")
    bundle = str(options.bundle) if options.bundle else None
    return ScoreJob(
        source, target, rejects_path, fmt_in, fmt_out, options.text_field, options.keep_text, bundle, options.precision
    )


def bundle_sha(bundle: Any) -> str:
    """The sha256 of a loaded bundle's manifest: what a resumed run must match."""
    return manifest_sha256(bundle.manifest)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write obj as JSON to path atomically: a temp file, fsynced, renamed; the temp file is removed on failure."""
    write_atomic(path, json.dumps(obj, indent=1).encode("utf-8"))


def differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The keys whose values differ between two run identities."""
    return sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))


@contextmanager
def file_faults(partial: Path, source: Path) -> Iterator[None]:
    """Turn an OSError (disk full, read-only folder, file too large, unreadable input) into one ScoreError."""
    try:
        yield
    except OSError as exc:
        name = exc.filename or ""
        if not name:
            what = "cannot read the input or write the output"
        else:
            what = f"cannot read {name}" if Path(name) == source else f"cannot write {name}"
        reason = exc.strerror or str(exc) or type(exc).__name__
        kept = (
            f"the rows done so far are kept in {partial}: fix that and rerun with --resume"
            if (partial / "run.json").exists()
            else "nothing was written"
        )
        raise ScoreError(f"{what}: {reason}; {kept}") from None
