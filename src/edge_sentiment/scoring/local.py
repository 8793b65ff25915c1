"""score_file: score a large file into another, in bounded memory, resumable after a crash.

The run works in a folder next to the output (.NAME.partial): every checkpoint_rows input rows it
writes one part (and a reject part), each atomically, then records the part in run.json, also
atomically. A crash or Ctrl-C loses at most the part being written; --resume reads run.json, drops
any part it does not list, and goes on from the byte just after the last recorded row. At the end the
parts are joined into a temporary file, its rows counted against the run's, and it is renamed.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import Any

from ..errors import ScoreError
from ..runtime.bundle import load_bundle
from .formats import Item, carried_columns, parquet_file, read_items
from .options import ScoreOptions
from .output import (
    EXTENSIONS,
    WINDOW,
    first_schema,
    join_parts,
    replace_file,
    score_items,
    write_part,
    write_rejects,
)

from .job import (
    JOURNAL_VERSION,
    ScoreJob,
    ScoreProgress,
    ScoreSummary,
    bundle_sha,
    differences,
    file_faults,
    make_job,
    write_json_atomic,
)

__all__ = ["score_file", "ScoreSummary", "ScoreJob", "ScoreProgress", "file_faults"]


def _open_partial(partial: Path, identity: dict[str, Any], resume: bool, force: bool) -> dict[str, Any] | None:
    """The unfinished run's journal to go on with, or None to start afresh (refusing what would lose work)."""
    journal_path = partial / "run.json"
    if not partial.exists():
        return None
    if force and not resume:
        shutil.rmtree(partial)
        return None
    try:
        journal: dict[str, Any] = json.loads(journal_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        journal = {}
    done = sum(part["rows"] for part in journal.get("parts", []))
    if not resume:
        raise ScoreError(
            f"{partial} holds an unfinished run ({done} rows done); pass --resume to go on with it, or --force to start over"
        )
    if journal.get("format_version") != JOURNAL_VERSION or "identity" not in journal:
        raise ScoreError(f"{journal_path} is missing or not one this version wrote; pass --force to start over")
    changed = differences(journal["identity"], identity)
    if changed:
        raise ScoreError(
            f"the unfinished run in {partial} was started with another input, bundle or options "
            f"(differs in: {', '.join(changed)}); rerun with the same ones, or --force to start over"
        )
    return journal


def check_outputs_free(job: ScoreJob, resume: bool, force: bool, partial: Path) -> None:
    """Refuse to overwrite an earlier output or reject file unless forced or resuming; the output's folder must exist."""
    if job.output.exists() and job.output.is_dir() and job.output_format != "dir":
        raise ScoreError(f"{job.output} is a folder; give the output file's path")
    if job.output.exists() and not force and not (resume and partial.exists()):
        raise ScoreError(f"{job.output} already exists; pass --force to replace it")
    if job.rejects.exists() and not force and not (resume and partial.exists()):
        raise ScoreError(f"{job.rejects} already exists (the reject file of an earlier run); pass --force to replace it")
    if not job.output.parent.is_dir():
        raise ScoreError(f"{job.output.parent} is not a folder; create it first")


def score_file(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str],
    options: ScoreOptions | None = None,
    *,
    progress: ScoreProgress | None = None,
    **kwargs: Any,
) -> ScoreSummary:
    """Score every row of a text, JSON Lines, CSV or Parquet file into output (JSON Lines, CSV or Parquet).

    Options are a ScoreOptions, or its fields as keyword arguments (bundle, precision, input_format,
    output_format, text_field, keep_text, rejects, strict, resume, force, engine, threads, workers,
    address, checkpoint_rows, split_bytes); one that does not apply to the engine is refused. Bad rows
    go to rejects (default OUTPUT.rejects.jsonl) with their row number and reason, or raise ScoreError
    under strict. engine="ray" runs on Ray Data (pip install 'edge-sentiment[ray]'): output is then a
    folder of shards and a manifest. A file-system fault (disk full, read-only, file too large) raises
    ScoreError and keeps the finished checkpoints for resume=True. Returns a ScoreSummary.
    """
    if options is not None and kwargs:
        raise ScoreError(f"give score_file a ScoreOptions or keyword options, not both ({', '.join(sorted(kwargs))})")
    options = options if options is not None else ScoreOptions.of(**kwargs)
    if options.engine == "ray":
        from .ray_engine import score_file_ray

        return score_file_ray(input, output, options, progress)
    job = make_job(input, output, options)
    checkpoint_rows = -(-options.checkpoint // WINDOW) * WINDOW  # whole windows: the same batches as any other run
    partial = job.output.with_name(f".{job.output.name}.partial")
    with file_faults(partial, job.input):
        return _score_local(job, options, checkpoint_rows, partial, progress)


def _score_local(
    job: ScoreJob, options: ScoreOptions, checkpoint_rows: int, partial: Path, progress: ScoreProgress | None
) -> ScoreSummary:
    from ..runtime.predictor import Predictor

    started = time.perf_counter()
    resume, force, strict = options.resume, options.force, options.strict
    check_outputs_free(job, resume, force, partial)
    loaded = load_bundle(job.bundle, precision=job.precision)
    identity = job.identity(bundle_sha(loaded), checkpoint_rows=checkpoint_rows)
    journal = _open_partial(partial, identity, resume, force)
    if journal is None:
        columns = carried_columns(job.input, job.input_format, job.text_field)
        if job.keep_text:
            columns.append(job.text_field)
        partial.mkdir()
        journal = {
            "format_version": JOURNAL_VERSION,
            "identity": identity,
            "columns": ["row", *columns, "label", "score"],
            "parts": [],
        }
        write_json_atomic(partial / "run.json", journal)
    parts: list[dict[str, Any]] = journal["parts"]
    columns = journal["columns"]
    ext = EXTENSIONS[job.output_format]
    listed = {f"part-{i:06d}.{ext}" for i in range(len(parts))} | {f"rejects-{i:06d}.jsonl" for i in range(len(parts))}
    for stray in partial.iterdir():  # written after the last journal entry, or a temp file: redone
        if stray.name != "run.json" and stray.name not in listed:
            stray.unlink()
    resumed = sum(part["rows"] for part in parts)
    row, offset = (parts[-1]["first_row"] + parts[-1]["rows"], parts[-1]["end"]) if parts else (0, 0)
    total = job.input.stat().st_size
    if job.input_format == "parquet":
        total = int(parquet_file(job.input).metadata.num_rows)
    predictor = Predictor(loaded, threads=options.threads)
    schema = None
    if job.output_format == "parquet" and any(part["scored"] for part in parts):
        schema = first_schema([partial / f"part-{i:06d}.{ext}" for i in range(len(parts))])
    items = read_items(job.input, job.input_format, job.text_field, row=row, start=offset)
    keep = job.text_field if job.keep_text else None
    try:
        while batch := list(islice(items, checkpoint_rows)):
            bad = [item for item in batch if item.reason is not None]
            if bad and strict:
                shutil.rmtree(partial, ignore_errors=True)
                raise ScoreError(
                    f"row {bad[0].row} of {job.input}: {bad[0].reason}; stopped (--strict), nothing written. "
                    f"Without --strict bad rows go to {job.rejects}"
                )
            index = len(parts)
            before = sum(part["rows"] for part in parts)

            def report(item: Item) -> None:
                if progress is not None:
                    progress(before + item.row - batch[0].row + 1, item.end, total)

            rows, bad = score_items(predictor, batch, keep, report)
            used, refused = write_part(partial / f"part-{index:06d}.{ext}", job.output_format, rows, columns, schema)
            if refused and strict:
                shutil.rmtree(partial, ignore_errors=True)
                raise ScoreError(f"row {refused[0].row} of {job.input}: {refused[0].reason}; stopped (--strict), nothing written")
            schema = schema if schema is not None or len(rows) == len(refused) else used
            bad = sorted([*bad, *refused], key=lambda item: item.row)
            if bad:
                write_rejects(partial / f"rejects-{index:06d}.jsonl", bad)
            parts.append(_part_entry(batch, len(rows) - len(refused), len(bad)))
            write_json_atomic(partial / "run.json", journal)
            if progress is not None:
                progress(sum(part["rows"] for part in parts), batch[-1].end, total)
    finally:
        predictor.close()
    summary = _finish(job, partial, parts, columns, ext, resumed, time.perf_counter() - started)
    return replace(summary, workers=predictor.threads)


def _part_entry(batch: list[Item], scored: int, rejected: int) -> dict[str, Any]:
    return {"first_row": batch[0].row, "rows": len(batch), "scored": scored, "rejected": rejected, "end": batch[-1].end}


def _finish(
    job: ScoreJob,
    partial: Path,
    parts: list[dict[str, Any]],
    columns: list[str],
    ext: str,
    resumed: int,
    seconds: float,
) -> ScoreSummary:
    """Check the parts cover the input once, join them, count the joined rows, rename; remove the partial folder."""
    expected_row = 0
    for part in parts:
        if part["first_row"] != expected_row or part["scored"] + part["rejected"] != part["rows"]:
            raise ScoreError(
                f"the parts in {partial} do not cover the input in order at row {expected_row}; pass --force to start over"
            )
        expected_row += part["rows"]
    scored = sum(part["scored"] for part in parts)
    rejected = sum(part["rejected"] for part in parts)
    tmp = job.output.with_name(f".{job.output.name}.tmp-{os.getpid()}")
    join_parts([partial / f"part-{i:06d}.{ext}" for i in range(len(parts))], job.output_format, columns, tmp)
    replace_file(tmp, job.output, job.output_format, scored, str(job.output))
    rejects_out: str | None = None
    if rejected:
        tmp = job.rejects.with_name(f".{job.rejects.name}.tmp-{os.getpid()}")
        join_parts([partial / f"rejects-{i:06d}.jsonl" for i, part in enumerate(parts) if part["rejected"]], "jsonl", [], tmp)
        replace_file(tmp, job.rejects, "jsonl", rejected, str(job.rejects))
        rejects_out = str(job.rejects)
    elif job.rejects.exists():
        job.rejects.unlink()  # a reject file from an earlier run of this output would describe other rows
    shutil.rmtree(partial)
    return ScoreSummary(str(job.input), str(job.output), rejects_out, "local", expected_row, scored, rejected, seconds, resumed)
