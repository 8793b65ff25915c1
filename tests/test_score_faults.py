"""score on a file system that fails: a full disk, a folder that turns read-only, a file-size limit.

Each fault ends the run with one `Error:` line (no traceback), leaves the finished checkpoints and no
temporary file, and a --resume once the cause is gone writes the same bytes as a run never interrupted.
The full disk and the read-only folder are small tmpfs mounts (root with mount rights; skipped elsewhere);
the size limit is RLIMIT_FSIZE in a child process.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT
from test_score import TINY, fails, invoke, needs_pyarrow

from edge_sentiment import ScoreError, score_file

OUT_FORMATS = ["jsonl", "csv", pytest.param("parquet", marks=needs_pyarrow)]
ROWS = 5000


def crawl(path: Path) -> Path:
    """ROWS short rows with an id, a few of them bad (rejected)."""
    with open(path, "w", encoding="utf-8") as out:
        for i in range(ROWS):
            row = {"id": i, "text": f"a {'wonderful' if i % 3 else 'boring'} film, number {i}"}
            out.write(json.dumps(row if i % 701 != 9 else {"id": i, "text": None}) + "\n")
    return path


def mount(folder: Path, options: str) -> None:
    done = subprocess.run(["mount", *options.split(), str(folder)], capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}): needs root with mount rights")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, unmounted after the test."""
    folder = tmp_path / "disk"
    folder.mkdir()
    mount(folder, "-t tmpfs -o size=1m tmpfs")
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=False)


def reference(tmp_path: Path, source: Path, fmt: str) -> tuple[bytes, bytes]:
    out = tmp_path / f"reference.{fmt}"
    score_file(source, out, bundle=TINY, checkpoint_rows=1024)
    return out.read_bytes(), Path(f"{out}.rejects.jsonl").read_bytes()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".tmp-" in p.name)


def assert_resumable(out: Path) -> None:
    """The partial folder holds a readable journal and every part it lists (a part written after the last
    record may be there too: --resume redoes it), and no temporary file is left anywhere."""
    partial = out.with_name(f".{out.name}.partial")
    journal = json.loads((partial / "run.json").read_text())
    listed = {f"part-{i:06d}{out.suffix}" for i in range(len(journal["parts"]))}
    listed |= {f"rejects-{i:06d}.jsonl" for i, part in enumerate(journal["parts"]) if part["rejected"]}
    assert listed <= {p.name for p in partial.iterdir()}
    assert leftovers(out.parent) == []


@pytest.mark.parametrize("fmt", OUT_FORMATS)
def test_disk_full_mid_run_is_one_error_and_resume_equals_an_uninterrupted_run(disk: Path, tmp_path: Path, fmt: str) -> None:
    source = crawl(tmp_path / "in.jsonl")
    rows, rejects = reference(tmp_path, source, fmt)
    stat = os.statvfs(disk)
    filler = disk / "filler"
    filler.write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - len(rows) // 2))  # room for about half the parts
    out = disk / f"scores.{fmt}"
    args = ["score", source, "--out", out, "--bundle", TINY, "--checkpoint-rows", 1024]
    fails(invoke(*args), "Error: cannot write", "No space left on device", "kept in", "--resume")
    assert not out.exists()
    assert_resumable(out)
    done = len(json.loads((disk / f".{out.name}.partial" / "run.json").read_text())["parts"])
    assert 0 < done < 5, "the disk must fill mid-run"
    filler.unlink()  # the user frees space
    result = invoke(*args, "--resume", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["resumed_rows"] == done * 1024
    assert out.read_bytes() == rows and Path(f"{out}.rejects.jsonl").read_bytes() == rejects
    assert sorted(p.name for p in disk.iterdir()) == sorted([out.name, f"{out.name}.rejects.jsonl"])


def test_disk_full_while_joining_the_parts(disk: Path, tmp_path: Path) -> None:
    source = crawl(tmp_path / "in.jsonl")
    rows, rejects = reference(tmp_path, source, "jsonl")
    stat = os.statvfs(disk)
    filler = disk / "filler"
    filler.write_bytes(b"\0" * (stat.f_bavail * stat.f_frsize - len(rows) - len(rows) // 2 - 16 * 4096))
    out = disk / "scores.jsonl"
    with pytest.raises(ScoreError, match=r"cannot write .*\.scores\.jsonl\.tmp-\d+: No space left on device; .*--resume"):
        score_file(source, out, bundle=TINY, checkpoint_rows=1024)
    assert_resumable(out)
    assert len(json.loads((disk / ".scores.jsonl.partial" / "run.json").read_text())["parts"]) == 5  # every part done
    filler.unlink()
    summary = score_file(source, out, bundle=TINY, checkpoint_rows=1024, resume=True)
    assert summary.resumed_rows == ROWS
    assert out.read_bytes() == rows and Path(f"{out}.rejects.jsonl").read_bytes() == rejects


def test_a_folder_that_turns_read_only_mid_run(disk: Path, tmp_path: Path) -> None:
    source = crawl(tmp_path / "in.jsonl")
    rows, rejects = reference(tmp_path, source, "jsonl")
    out = disk / "scores.jsonl"
    turned = []

    def turn_read_only(done: int, position: int, total: int) -> None:
        if done >= 2048 and not turned:  # while the second checkpoint is scored
            turned.append(done)
            subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)

    with pytest.raises(ScoreError, match="cannot write .*: Read-only file system; the rows done so far are kept in"):
        score_file(source, out, bundle=TINY, checkpoint_rows=1024, progress=turn_read_only)
    assert turned
    subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
    assert_resumable(out)
    summary = score_file(source, out, bundle=TINY, checkpoint_rows=1024, resume=True)
    assert summary.resumed_rows == 1024
    assert out.read_bytes() == rows and Path(f"{out}.rejects.jsonl").read_bytes() == rejects


def test_a_read_only_folder_is_one_error_and_nothing_written(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    mount(folder, "-t tmpfs -o size=1m,ro tmpfs")
    try:
        source = crawl(tmp_path / "in.jsonl")
        fails(
            invoke("score", source, "--out", folder / "scores.csv", "--bundle", TINY),
            "Error: cannot write",
            "Read-only file system; nothing was written",
        )
        assert list(folder.iterdir()) == []
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.parametrize("limit", [40_000, 150_000])  # a part over the limit; only the joined file over it
def test_a_file_size_limit_is_one_error_and_resume_equals_an_uninterrupted_run(tmp_path: Path, limit: int) -> None:
    source = crawl(tmp_path / "in.jsonl")
    rows, rejects = reference(tmp_path, source, "jsonl")
    assert 1024 * len(rows) // ROWS < 150_000 < len(rows)
    out = tmp_path / "scores.jsonl"
    command = [sys.executable, "-m", "edge_sentiment", "score", str(source), "--out", str(out), "--bundle", str(TINY)]
    command += ["--checkpoint-rows", "1024"]

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT, preexec_fn=cap)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stderr.count("Error:") == 1, done.stderr
    assert "File too large" in done.stderr and "--resume" in done.stderr
    assert not out.exists()
    assert_resumable(out)
    result = invoke("score", source, "--out", out, "--bundle", TINY, "--checkpoint-rows", 1024, "--resume")
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == rows and Path(f"{out}.rejects.jsonl").read_bytes() == rejects
