"""score --engine ray and edge_sentiment.ray.score_dataset, in Ray local mode with 2 CPUs: the same rows and
scores as the local engine, row for row, also when a worker is killed mid-run (tests/ray_faults.py)."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import ASSETS, NEGATIVE, POSITIVE

from edge_sentiment import Predictor, ScoreError, score_file

pytestmark = pytest.mark.needs_ray  # the [ray] extra: not part of the runtime's own suite (make test-runtime)

ray = pytest.importorskip("ray", reason="needs Ray: pip install 'edge-sentiment[ray]'")
pytest.importorskip("ray.data", reason="needs Ray Data: pip install 'edge-sentiment[ray]'")

TESTS = Path(__file__).resolve().parent
TINY = ASSETS / "tiny_bundle"
SPLIT = 40_000  # bytes: the 3,000-row inputs below make 5-6 splits


@pytest.fixture(scope="module")
def faults(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Ray in local mode with 2 CPUs; every worker runs ray_faults.setup; yields the faults folder."""
    folder = tmp_path_factory.mktemp("faults")
    path = os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        logging_level=logging.WARNING,
        runtime_env={
            "env_vars": {"EDGE_SENTIMENT_TEST_FAULTS": str(folder), "PYTHONPATH": path},
            "worker_process_setup_hook": "ray_faults.setup",
        },
    )
    yield folder
    ray.shutdown()


def texts(n: int) -> list[Any]:
    words = " ".join(POSITIVE + NEGATIVE).split()
    out: list[Any] = [" ".join(words[(i * 5 + k) % len(words)] for k in range(5 + i % 60)) + f" n{i}" for i in range(n)]
    for bad in range(7, n, 401):
        out[bad] = None if bad % 2 else 17
    return out


def write(tmp_path: Path, fmt: str, n: int = 3000) -> Path:
    rows = texts(n)
    if fmt == "jsonl":
        path = tmp_path / "in.jsonl"
        path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(rows)), encoding="utf-8")
    elif fmt == "text":
        path = tmp_path / "in.txt"
        path.write_bytes(b"".join((t.encode() if isinstance(t, str) else b"\xff\xfe") + b"\n" for t in rows))
    elif fmt == "csv":
        import csv

        path = tmp_path / "in.csv"
        with open(path, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["id", "text"])
            writer.writerows([i, t] if isinstance(t, str) else [i] for i, t in enumerate(rows))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = tmp_path / "in.parquet"
        values = [t if isinstance(t, str) else None for t in rows]
        pq.write_table(pa.table({"id": list(range(n)), "text": values}), path, row_group_size=700)
    return path


def joined(folder: Path) -> tuple[bytes, bytes, dict[str, Any]]:
    """The shards and reject shards joined in manifest order, and the manifest."""
    manifest = json.loads((folder / "manifest.json").read_text())
    rows = b"".join((folder / s["file"]).read_bytes() for s in manifest["shards"])
    rejects = b"".join((folder / s["rejects"]).read_bytes() for s in manifest["shards"] if "rejects" in s)
    return rows, rejects, manifest


def local_run(source: Path, tmp_path: Path) -> tuple[bytes, bytes]:
    out = tmp_path / "local.jsonl"
    score_file(source, out, bundle=TINY)
    return out.read_bytes(), Path(f"{out}.rejects.jsonl").read_bytes()


@pytest.mark.parametrize("fmt", ["jsonl", "text", "csv", "parquet"])
def test_ray_gives_the_local_rows_and_scores_row_for_row(faults: Path, tmp_path: Path, fmt: str) -> None:
    source = write(tmp_path, fmt)
    rows, rejects = local_run(source, tmp_path)
    summary = score_file(source, tmp_path / "ray", bundle=TINY, engine="ray", split_bytes=SPLIT)
    got, got_rejects, manifest = joined(tmp_path / "ray")
    assert got == rows and got_rejects == rejects  # byte for byte: every row once, in order, the same scores
    assert (summary.rows, summary.engine, summary.workers) == (3000, "ray", 2)
    assert manifest["rows"] == 3000 and manifest["scored"] + manifest["rejected"] == 3000
    assert len(manifest["shards"]) == (1 if fmt == "csv" else len(manifest["shards"])) and manifest["versions"]["ray"]
    if fmt != "csv":
        assert len(manifest["shards"]) >= 3, "the input must be split for the test to mean anything"
    assert sorted(p.name for p in (tmp_path / "ray").iterdir() if not p.name.startswith(("part-", "rejects-"))) == [
        "manifest.json"
    ]


@pytest.mark.parametrize("where", ["scoring", "written"])
def test_a_worker_killed_mid_run_loses_and_repeats_no_row(faults: Path, tmp_path: Path, where: str) -> None:
    source = write(tmp_path, "jsonl")
    rows, rejects = local_run(source, tmp_path)
    (faults / "fired").unlink(missing_ok=True)
    (faults / "plan.json").write_text(json.dumps({"where": where, "row": 1500}))
    try:
        score_file(source, tmp_path / "ray", bundle=TINY, engine="ray", split_bytes=SPLIT)
    finally:
        (faults / "plan.json").unlink()
    killed = int((faults / "fired").read_text())  # the fault fired: a worker died holding row 1500's split
    got, got_rejects, manifest = joined(tmp_path / "ray")
    assert got == rows and got_rejects == rejects
    shard = next(s for s in manifest["shards"] if s["first_row"] <= 1500 < s["first_row"] + s["rows"])
    assert shard["rows"] > 0 and manifest["rows"] == 3000
    assert shard["worker_pid"] != killed  # redone by the restarted worker


def test_strict_stops_and_writes_nothing(faults: Path, tmp_path: Path) -> None:
    source = write(tmp_path, "jsonl")
    with pytest.raises(ScoreError, match=r"row \d+ of .*not a string.*--strict"):
        score_file(source, tmp_path / "ray", bundle=TINY, engine="ray", split_bytes=SPLIT, strict=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]


def test_score_dataset_adds_label_and_score(faults: Path) -> None:
    from edge_sentiment.ray import score_dataset

    values = texts(300)
    dataset = ray.data.from_items([{"id": i, "text": t if isinstance(t, str) else None} for i, t in enumerate(values)])
    rows = sorted(score_dataset(dataset, bundle=TINY, batch_size=64).take_all(), key=lambda r: r["id"])
    good = [t for t in values if isinstance(t, str)]
    want = iter(Predictor.load(TINY).predict(good))
    for row, text in zip(rows, values):
        if isinstance(text, str):
            p = next(want)
            assert row["label"] == p.label and row["score"] == pytest.approx(p.score, abs=1e-5)
        else:
            assert row["label"] is None and row["score"] is None
    assert len(rows) == 300


def test_ray_refuses_an_existing_output_and_a_file(faults: Path, tmp_path: Path) -> None:
    source = write(tmp_path, "jsonl", 10)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ScoreError, match="is a file"):
        score_file(source, tmp_path / "file", bundle=TINY, engine="ray")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ScoreError, match="already exists; pass --force"):
        score_file(source, tmp_path / "folder", bundle=TINY, engine="ray")
    assert sys.modules.get("ray") is ray


def test_ray_treats_hostile_rows_as_the_local_engine_does(faults: Path, tmp_path: Path) -> None:
    """Nested 100,000 deep, lone surrogates in carried fields, fields named row/label/score: the same rejects
    and the same renamed columns as a local run, byte for byte."""
    lines = [json.dumps({"id": i, "text": t}) for i, t in enumerate(texts(3000))]
    lines[100] = '{"text": "fine", "m": ' + "[" * 100_000 + "]" * 100_000 + "}"
    lines[1700] = '{"text": "fine", "note": "\\ud800"}'
    lines[2900] = json.dumps({"text": "fine", "row": 5, "label": "pos", "score": 1})
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows, rejects = local_run(source, tmp_path)
    score_file(source, tmp_path / "ray", bundle=TINY, engine="ray", split_bytes=SPLIT)
    got, got_rejects, manifest = joined(tmp_path / "ray")
    assert got == rows and got_rejects == rejects and len(manifest["shards"]) >= 3
    reasons = {r["row"]: r["reason"] for r in map(json.loads, got_rejects.decode().splitlines())}
    assert "nested deeper" in reasons[100] and "lone surrogate" in reasons[1700]
    assert b'"row": 2900, "input_row": 5, "input_label": "pos", "input_score": 1, "label"' in got


def free_cpus(want: float, seconds: float = 20) -> float:
    """Ray's free CPUs once they reach want, or what they are after seconds."""
    deadline = time.monotonic() + seconds
    while (free := ray.available_resources().get("CPU", 0)) < want and time.monotonic() < deadline:
        time.sleep(0.2)
    return free


# The resume once waited on Ray Data's executor for good (py-spy: OpState.get_output_blocking): the failed run's
# ScoreError kept, through the Ray error in its context, the executor whose tasks held both workers, and so both
# CPUs, for as long as the caller held the error (as pytest.raises does). The free-CPU check catches that at once.
def test_a_full_disk_under_ray_is_one_error_and_resume_finishes(faults: Path, tmp_path: Path) -> None:
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)], capture_output=True, text=True)
    if mounted.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({mounted.stderr.strip()}): needs root with mount rights")
    try:
        source = write(tmp_path, "jsonl")
        rows, rejects = local_run(source, tmp_path)
        stat = os.statvfs(disk)
        filler = disk / "filler"
        filler.write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - len(rows) // 2))
        with pytest.raises(ScoreError, match="cannot write .*No space left on device; .*--resume") as caught:
            score_file(source, disk / "ray", bundle=TINY, engine="ray", split_bytes=SPLIT)
        assert "Traceback" not in str(caught.value) and "\n" not in str(caught.value)
        assert caught.value.__context__ is None and caught.value.__cause__ is None
        assert free_cpus(2) == 2, "the failed run's workers still hold their CPUs"
        filler.unlink()
        summary = score_file(source, disk / "ray", bundle=TINY, engine="ray", split_bytes=SPLIT, resume=True)
        assert summary.resumed_rows > 0
        got, got_rejects, _ = joined(disk / "ray")
        assert got == rows and got_rejects == rejects
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def test_score_dataset_keeps_an_input_label_column(faults: Path) -> None:
    from edge_sentiment.ray import score_dataset

    dataset = ray.data.from_items([{"text": "wonderful", "label": "gold", "row": 7}])
    (row,) = score_dataset(dataset, bundle=TINY).take_all()
    assert (row["input_label"], row["input_row"]) == ("gold", 7)
    assert (row["label"], row["score"]) == (Predictor.load(TINY).predict("wonderful")[0].label, pytest.approx(row["score"]))


def test_a_ray_run_waits_a_bounded_time_for_free_cpus(faults: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every CPU held (another job; once, a failed run's workers): one error after START_SECONDS that says so,
    not a wait for good in Ray Data's executor; once they are free, --resume finishes."""
    from edge_sentiment.scoring import ray_engine

    @ray.remote(num_cpus=2)
    class Hog:
        def ready(self) -> bool:
            return True

    source = write(tmp_path, "jsonl", 300)
    hog = Hog.remote()  # type: ignore[attr-defined]
    ray.get(hog.ready.remote())
    monkeypatch.setattr(ray_engine, "START_SECONDS", 1)
    try:
        with pytest.raises(ScoreError, match=r"Ray has 0 of its 2 CPUs free after 1 s, .*--threads.*kept in .*--resume"):
            score_file(source, tmp_path / "ray", bundle=TINY, engine="ray")
    finally:
        ray.kill(hog)
    monkeypatch.setattr(ray_engine, "START_SECONDS", 60)
    summary = score_file(source, tmp_path / "ray", bundle=TINY, engine="ray", resume=True)
    assert (summary.rows, summary.resumed_rows) == (300, 0)


# Slow (about 45 s: the limit must outlast a worker's start on a loaded host); in the default suite
# test_a_ray_run_waits_a_bounded_time_for_free_cpus covers the other bounded wait and the error's way out.
@pytest.mark.slow
def test_a_stuck_worker_ends_in_one_error_not_a_wait_for_good(faults: Path, tmp_path: Path) -> None:
    """A worker that stops (here: sleeps two minutes at row 1,500) fails the run once Ray Data sees no split
    finish for the no-progress limit (ours is 300 s + 1 s per 50 KB of split; a smaller one the caller set is kept)."""
    import signal

    source = write(tmp_path, "jsonl")
    context = ray.data.DataContext.get_current()
    before = context.execution_no_progress_timeout_s
    context.execution_no_progress_timeout_s = 30
    (faults / "fired").unlink(missing_ok=True)
    (faults / "plan.json").write_text(json.dumps({"where": "scoring", "row": 1500, "stall": 120}))
    try:
        with pytest.raises(ScoreError, match=r"Ray finished no split for 30 s .*kept in .*\.ray\.partial: rerun with --resume"):
            score_file(source, tmp_path / "ray", bundle=TINY, engine="ray", split_bytes=SPLIT)
    finally:
        (faults / "plan.json").unlink()
        context.execution_no_progress_timeout_s = before
    os.kill(int((faults / "fired").read_text()), signal.SIGKILL)  # the stuck worker, so the next test has its CPU
    assert (tmp_path / ".ray.partial" / "run.json").exists() and not (tmp_path / "ray").exists()
    assert free_cpus(2) == 2
