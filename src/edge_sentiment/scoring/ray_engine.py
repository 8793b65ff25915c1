"""`score --engine ray`: the input cut into splits, each scored by a Ray Data actor into one shard.

The driver cuts the input at line ends (Parquet: at row groups) and counts each split's rows, so every
split knows its first row number. Ray Data maps the splits over a pool of actors, each holding one
Predictor built from the bundle's bytes (shipped once through the object store, verified once per
worker). An actor reads its split itself and writes part-NNNNN.EXT (and rejects-NNNNN.jsonl)
atomically under a name fixed by the split, then part-NNNNN.done.json: a task Ray retries after a
worker dies rewrites the same files, so no row is lost or written twice. The driver checks every
split's rows, writes manifest.json, and renames the folder into place.
"""

from __future__ import annotations

import gc
import json
import logging
import math
import os
import shutil
import tempfile
import time
from dataclasses import replace
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from .._meta import __version__
from ..errors import MissingDependencyError, ScoreError
from ..runtime.bundle import default_bundle_path, load_bundle
from .formats import Item, parquet_file, read_items, window_splits
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
from .options import ScoreOptions
from .output import EXTENSIONS, WINDOW, count_rows, score_items, write_part, write_rejects

__all__ = ["score_file_ray", "import_ray", "bundle_files", "start_ray", "WorkerPredictor"]

MANIFEST_FORMAT = "edge-sentiment/scores"

# A run never waits for good. Before its pool starts, one worker's CPUs must be free within START_SECONDS
# (Ray Data would wait for them for ever: the actors of a failed run still held, another job); then some split
# must finish within STALL_SECONDS plus a second per STALL_BYTES_PER_SECOND bytes of the largest split (Ray
# Data's own no-progress limit, 30 minutes by default; a smaller one set on its DataContext is kept).
START_SECONDS = 300
STALL_SECONDS = 300
STALL_BYTES_PER_SECOND = 50_000  # ~25x below one worker's 1.2 MB/s (docs/scoring.md): only a stuck worker hits it


def import_ray() -> Any:
    """ray with Ray Data, or the install command."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise MissingDependencyError.for_extra("ray[data]", "ray", "--engine ray") from None
    return ray


def bundle_files(bundle: str | os.PathLike[str] | None) -> dict[str, bytes]:
    """The bundle's files (manifest.json and those it lists) as bytes, to ship to workers."""
    folder = Path(bundle) if bundle is not None else default_bundle_path()
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return {name: (folder / name).read_bytes() for name in ["manifest.json", *manifest.get("files", {})]}


class WorkerPredictor:
    """One Predictor per Ray worker, from bundle bytes written to a private folder and verified there."""

    def __init__(self, files: Any, precision: str, threads: int) -> None:
        import ray

        from ..runtime.predictor import Predictor

        if isinstance(files, list):  # [ObjectRef]: nested, so the actor's own arguments stay small
            files = ray.get(files[0])
        started = time.perf_counter()
        self._folder = tempfile.mkdtemp(prefix="edge-sentiment-bundle-")
        for name, data in files.items():
            Path(self._folder, name).write_bytes(data)
        self.predictor = Predictor.load(self._folder, precision=precision, threads=threads)
        self.load_seconds = round(time.perf_counter() - started, 3)  # the bundle fetched, written, verified, a session

    def __del__(self) -> None:
        shutil.rmtree(getattr(self, "_folder", ""), ignore_errors=True)


class _SplitScorer(WorkerPredictor):
    """The Ray Data UDF of the CLI engine: scores whole splits into their shards."""

    def __init__(self, files: Any, precision: str, threads: int, job: dict[str, Any]) -> None:
        super().__init__(files, precision, threads)
        self.job = job

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[Any]]:
        splits = [{key: values[i].item() for key, values in batch.items()} for i in range(len(batch["index"]))]
        try:
            results = [self._split(split) for split in splits]
        except OSError as exc:  # a full disk on this worker: one ScoreError the driver shows as it is
            raise ScoreError(
                f"cannot write {exc.filename or 'a shard'}: {exc.strerror or exc}; the finished splits are kept in "
                f"{self.job['folder']}: fix that and rerun with --resume"
            ) from None
        return {key: [result[key] for result in results] for key in results[0]}

    def _stop(self, index: int, count: int, first: Item) -> dict[str, Any]:
        """--strict: record the first bad row for the driver, and report the split stopped."""
        write_json_atomic(Path(self.job["folder"]) / f"strict-{index:05d}.json", {"row": first.row, "reason": first.reason})
        return {"index": index, "rows": count, "scored": 0, "rejected": 1, "seconds": 0.0, "pid": os.getpid(), "stopped": 1}

    def _split(self, split: dict[str, Any]) -> dict[str, Any]:
        job, started, index = self.job, time.perf_counter(), split["index"]
        folder, ext = Path(job["folder"]), EXTENSIONS[job["output_format"]]
        parquet = job["input_format"] == "parquet"
        items = read_items(
            job["input"],
            job["input_format"],
            job["text_field"],
            row=split["first_row"],
            start=split["start"],
            end=split["first_row"] + split["rows"] if parquet else (split["end"] if split["rows"] >= 0 else None),
        )
        rows: list[dict[str, Any]] = []
        bad: list[Item] = []
        count = 0
        keep = job["text_field"] if job["keep_text"] else None
        while chunk := list(islice(items, 8 * WINDOW)):
            count += len(chunk)
            first = next((item for item in chunk if item.reason is not None), None) if job["strict"] else None
            if first is not None:
                return self._stop(index, count, first)
            scored, rejected = score_items(self.predictor, chunk, keep)
            rows += scored
            bad += rejected
        _, refused = write_part(folder / f"part-{index:05d}.{ext}", job["output_format"], rows, job["columns"])
        if refused and job["strict"]:
            return self._stop(index, count, refused[0])
        bad = sorted([*bad, *refused], key=lambda item: item.row)
        if bad:
            write_rejects(folder / f"rejects-{index:05d}.jsonl", bad)
        result = {
            "index": index,
            "rows": count,
            "scored": len(rows) - len(refused),
            "rejected": len(bad),
            "seconds": round(time.perf_counter() - started, 3),
            "pid": os.getpid(),
            "stopped": 0,
            "load_seconds": self.load_seconds,
        }
        write_json_atomic(folder / f"part-{index:05d}.done.json", result)
        return result


def _splits(job: ScoreJob, split_bytes: int) -> list[dict[str, int]]:
    """Splits of whole windows of rows (so both engines score the same batches), about split_bytes each."""
    if job.input_format in ("text", "jsonl"):
        splits = window_splits(job.input, WINDOW, split_bytes)
    elif job.input_format == "csv":  # a quoted field may hold line ends: one split, read in order
        splits = [{"start": 0, "end": job.input.stat().st_size, "first_row": 0, "rows": -1}]
    else:
        meta = parquet_file(job.input).metadata
        per_row = max(1.0, sum(meta.row_group(g).total_byte_size for g in range(meta.num_row_groups)) / max(meta.num_rows, 1))
        step = max(1, round(split_bytes / per_row / WINDOW)) * WINDOW
        splits = [
            {"start": 0, "end": 0, "first_row": first, "rows": min(step, meta.num_rows - first)}
            for first in range(0, meta.num_rows, step)
        ]
    return [{"index": i, **split} for i, split in enumerate(splits)]


def start_ray(ray: Any, address: str | None, workers: int | None) -> bool:
    """Join the cluster at address, or start Ray in local mode with workers CPUs; True if this call started it."""
    from ..runtime.predictor import usable_cores

    if ray.is_initialized():
        return False
    options: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING, "configure_logging": True}
    if address:
        ray.init(address=address, **options)
    else:
        ray.init(num_cpus=workers or usable_cores(), **options)
    return True


def score_file_ray(
    input: str | os.PathLike[str], output: str | os.PathLike[str], options: ScoreOptions, progress: ScoreProgress | None
) -> ScoreSummary:
    """score_file with engine="ray": output is a folder of shards and manifest.json."""
    ray = import_ray()
    job = make_job(input, output, options, rejects_default=Path(output) / "rejects")
    partial = job.output.with_name(f".{job.output.name}.partial")
    with file_faults(partial, job.input):
        return _score_ray(ray, job, options, partial, progress)


def _score_ray(ray: Any, job: ScoreJob, options: ScoreOptions, partial: Path, progress: ScoreProgress | None) -> ScoreSummary:
    started = time.perf_counter()
    target, split_bytes, force = job.output, options.split, options.force
    if target.exists() and not target.is_dir():
        raise ScoreError(f"{target} is a file; --engine ray writes a folder of shards")
    if target.exists() and not force:
        raise ScoreError(f"{target} already exists; pass --force to replace it")
    if not target.parent.is_dir():
        raise ScoreError(f"{target.parent} is not a folder; create it first")
    loaded = load_bundle(job.bundle, precision=job.precision)  # fail here, before any worker starts
    identity = job.identity(bundle_sha(loaded), split_bytes=split_bytes, engine="ray")
    _open_folder(partial, identity, options.resume, force)
    from .formats import carried_columns

    columns = ["row", *carried_columns(job.input, job.input_format, job.text_field)]
    columns += [job.text_field] if job.keep_text else []
    columns += ["label", "score"]
    planned = time.perf_counter()
    splits = _splits(job, split_bytes)
    timings = {"plan_seconds": round(time.perf_counter() - planned, 3)}
    write_json_atomic(partial / "run.json", {"format_version": JOURNAL_VERSION, "identity": identity, "splits": splits})
    done = {split["index"] for split in splits if (partial / f"part-{split['index']:05d}.done.json").exists()}
    todo = [split for split in splits if split["index"] not in done]
    resumed = sum(_done(partial, i)["rows"] for i in done)
    threads = options.threads or 1
    booted = time.perf_counter()
    own = start_ray(ray, options.address, options.workers)
    timings["ray_start_seconds"] = round(time.perf_counter() - booted, 3)
    try:
        pool = options.workers or max(1, int(ray.cluster_resources().get("CPU", 1) // threads))
        if todo:
            total = sum(s["rows"] for s in splits)
            _run(ray, job, partial, todo, columns, pool, threads, options.strict, resumed, progress, total)
    finally:
        if own:
            ray.shutdown()
    summary = _finish(job, partial, splits, columns, identity, resumed, pool, time.perf_counter() - started, timings)
    return replace(summary, extra=timings)


def _done(partial: Path, index: int) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((partial / f"part-{index:05d}.done.json").read_text(encoding="utf-8"))
    return result


def _open_folder(partial: Path, identity: dict[str, Any], resume: bool, force: bool) -> None:
    if partial.exists():
        if not resume and not force:
            raise ScoreError(f"{partial} holds an unfinished run; pass --resume to go on with it, or --force to start over")
        if resume:
            try:
                old = json.loads((partial / "run.json").read_text(encoding="utf-8"))["identity"]
            except (OSError, ValueError, KeyError):
                raise ScoreError(f"{partial}/run.json is missing or unreadable; pass --force to start over") from None
            changed = differences(old, identity)
            if changed:
                raise ScoreError(
                    f"the unfinished run in {partial} was started with another input, bundle or options "
                    f"(differs in: {', '.join(changed)}); rerun with the same ones, or --force to start over"
                )
            for stale in partial.glob("strict-*.json"):
                stale.unlink()
            return
        shutil.rmtree(partial)
    partial.mkdir()


def _run(
    ray: Any,
    job: ScoreJob,
    partial: Path,
    todo: list[dict[str, int]],
    columns: list[str],
    pool: int,
    threads: int,
    strict: bool,
    resumed: int,
    progress: ScoreProgress | None,
    total: int,
) -> None:
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)  # not its notes on progress bars and deprecations
    spec = {
        "folder": str(partial.resolve()),
        "input": str(job.input.resolve()),
        "input_format": job.input_format,
        "output_format": job.output_format,
        "text_field": job.text_field,
        "keep_text": job.keep_text,
        "strict": strict,
        "columns": columns,
    }
    files = [ray.put(bundle_files(job.bundle))]
    dataset = ray.data.from_items(todo, override_num_blocks=len(todo)).map_batches(
        _SplitScorer,
        batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=min(pool, len(todo))),
        num_cpus=threads,
        fn_constructor_kwargs={"files": files, "precision": job.precision, "threads": threads, "job": spec},
    )
    _wait_for_cpus(ray, threads, partial)
    stall = _bound_stall(dataset.context, _largest_split(todo, job))
    results = _results(dataset, partial, stall)
    done, failure = resumed, None
    try:
        for result in results:
            if result["stopped"]:
                stop = json.loads(next(partial.glob("strict-*.json")).read_text(encoding="utf-8"))
                shutil.rmtree(partial, ignore_errors=True)
                failure = (
                    f"row {stop['row']} of {job.input}: {stop['reason']}; stopped (--strict), nothing written. "
                    "Without --strict bad rows go to the rejects shards"
                )
                break
            done += int(result["rows"])
            if progress is not None:
                progress(done, done, max(total, done))
    except ScoreError as exc:
        failure = str(exc)
    finally:
        results.close()
    if failure is not None:
        # The stopped execution's operators hold their actors, and so the CPUs those reserve, until the executor
        # is collected; an error that kept it (through its traceback) would leave the next run in this Ray
        # instance (a --resume from Python, a notebook) waiting for CPUs. Drop it here and raise a fresh error.
        del dataset, results
        gc.collect()
        raise ScoreError(failure)


def _largest_split(todo: list[dict[str, int]], job: ScoreJob) -> int:
    """The largest split's bytes (Parquet: its rows at a nominal 2 KB each), for the no-progress limit."""
    if job.input_format == "parquet":
        return max(split["rows"] for split in todo) * 2048
    return max(split["end"] - split["start"] for split in todo)


def _wait_for_cpus(ray: Any, threads: int, partial: Path) -> None:
    """Wait, at most START_SECONDS, until one worker's CPUs are free; Ray Data itself would wait for ever."""
    deadline = time.monotonic() + START_SECONDS
    while (free := ray.available_resources().get("CPU", 0)) < threads:
        if time.monotonic() > deadline:
            raise ScoreError(
                f"Ray has {free:g} of its {ray.cluster_resources().get('CPU', 0):g} CPUs free after {START_SECONDS} s, "
                f"and a worker needs {threads} (--threads): another job holds them; the finished splits are kept "
                f"in {partial}: free them and rerun with --resume"
            )
        time.sleep(0.2)


def _bound_stall(context: Any, split_bytes: int) -> int:
    """Set the dataset's limit on waiting for a split to finish (a smaller one already set is kept); the limit."""
    current = getattr(context, "execution_no_progress_timeout_s", -1)
    ours = STALL_SECONDS + split_bytes / STALL_BYTES_PER_SECOND
    context.execution_no_progress_timeout_s = math.ceil(ours if current <= 0 else min(current, ours))
    return int(context.execution_no_progress_timeout_s)


def _results(dataset: Any, partial: Path, stall: int) -> Any:
    """The dataset's rows; a ScoreError raised in a worker (a full disk there) comes out as itself, one line,
    and so does Ray Data giving up after stall seconds without a finished split.

    Ray Data logs a failed task with its stack trace at ERROR: that logger is quiet while the rows are read,
    and an error that is not the package's own is raised as Ray gives it.
    """
    data_log = logging.getLogger("ray.data")
    level = data_log.level
    data_log.setLevel(logging.CRITICAL)
    try:
        yield from dataset.iter_rows()
    except Exception as exc:
        cause: BaseException | None = exc
        while cause is not None and not isinstance(cause, ScoreError):
            if type(cause).__name__ == "ExecutionTimeoutError":
                raise ScoreError(
                    f"Ray finished no split for {stall} s (a worker is stuck, or one split takes longer than that); "
                    f"the finished splits are kept in {partial}: rerun with --resume, with a smaller --split-mb if "
                    "splits are that slow"
                ) from None
            cause = cause.__cause__ or getattr(cause, "cause", None)
        text = str(cause if cause is not None else exc)
        marker = "ScoreError: "  # Ray keeps the worker's exception only as text in its own
        if cause is None and marker not in text:
            raise
        message = text.split(marker, 1)[-1].strip().splitlines()[0] if marker in text else text.strip().splitlines()[-1]
        raise ScoreError(message) from None
    finally:
        data_log.setLevel(level)


def _finish(
    job: ScoreJob,
    partial: Path,
    splits: list[dict[str, int]],
    columns: list[str],
    identity: dict[str, Any],
    resumed: int,
    workers: int,
    seconds: float,
    timings: dict[str, float],
) -> ScoreSummary:
    """Check every split once with its planned rows and shard, write manifest.json, rename the folder into place."""
    ext = EXTENSIONS[job.output_format]
    shards = []
    for split in splits:
        index = split["index"]
        marker = partial / f"part-{index:05d}.done.json"
        if not marker.exists():
            raise ScoreError(f"split {index} of {job.input} was not scored; rerun with --resume to finish it")
        result = _done(partial, index)
        shard = partial / f"part-{index:05d}.{ext}"
        if split["rows"] >= 0 and result["rows"] != split["rows"]:
            raise ScoreError(
                f"split {index} read {result['rows']} rows where the input holds {split['rows']}; pass --force to redo"
            )
        if count_rows(shard, job.output_format) != result["scored"]:
            raise ScoreError(f"{shard} does not hold the {result['scored']} rows its split scored; pass --force to redo")
        entry = {"file": shard.name, "first_row": split["first_row"], "rows": result["rows"], "scored": result["scored"]}
        entry["rejected"], entry["worker_pid"] = result["rejected"], result["pid"]
        entry["seconds"], entry["worker_load_seconds"] = result["seconds"], result.get("load_seconds")
        if result["rejected"]:
            entry["rejects"] = f"rejects-{index:05d}.jsonl"
            if count_rows(partial / entry["rejects"], "jsonl") != result["rejected"]:
                raise ScoreError(f"{partial / entry['rejects']} does not hold its split's {result['rejected']} rejects")
        shards.append(entry)
    for stale in [*partial.glob("*.done.json"), *partial.glob("*.tmp-*"), partial / "run.json"]:
        stale.unlink(missing_ok=True)
    rows = sum(entry["rows"] for entry in shards)
    scored = sum(entry["scored"] for entry in shards)
    rejected = sum(entry["rejected"] for entry in shards)
    manifest = {
        "format": MANIFEST_FORMAT,
        "format_version": 1,
        "engine": "ray",
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "identity": identity,
        "columns": columns,
        "rows": rows,
        "scored": scored,
        "rejected": rejected,
        "seconds": round(seconds, 3),
        "workers": workers,
        **timings,
        "versions": _versions(),
        "shards": shards,
    }
    write_json_atomic(partial / "manifest.json", manifest)
    if job.output.exists():
        trash = job.output.with_name(f".{job.output.name}.old-{os.getpid()}")
        os.replace(job.output, trash)
        os.replace(partial, job.output)
        shutil.rmtree(trash)
    else:
        os.replace(partial, job.output)
    rejects = str(job.output) if rejected else None
    return ScoreSummary(str(job.input), str(job.output), rejects, "ray", rows, scored, rejected, seconds, resumed, workers)


def _versions() -> dict[str, str]:
    import importlib.metadata

    out = {"edge-sentiment": __version__}
    for name in ("ray", "onnxruntime", "numpy", "pyarrow"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out
