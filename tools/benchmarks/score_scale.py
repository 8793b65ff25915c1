"""`edge-sentiment score` at scale: the local engine against Ray Data in local mode, in one run.

    python tools/benchmarks/score_scale.py [--rows 1000000] [--workers 2] [--rounds 1] [--data ARCHIVE] [--bundle DIR]
                                     [--engines local,ray] [--json-file tools/benchmarks/results/score_scale.json]

The input is the IMDB test set repeated to --rows texts, as JSON Lines ({"id", "text"}). Each engine
runs the real command (`python -m edge_sentiment score ... --json`) in its own process; the peak
memory is the largest sum of resident memory over that process and all its descendants (for Ray: the
driver, GCS, raylet and every worker), sampled every 0.2 s with psutil. The two outputs are checked
to hold the same rows and scores (the Ray shards joined in manifest order equal the local file, byte
for byte). Needs the [ray] and [bench] extras; the machine's load is recorded beside the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import psutil

from edge_sentiment.data import load_imdb, resolve_data_path


def write_input(path: Path, rows: int, data: str | None) -> int:
    texts = load_imdb(resolve_data_path(data), splits=("test",))["test"].texts
    with open(path, "w", encoding="utf-8") as out:
        for i in range(rows):
            out.write(json.dumps({"id": i, "text": texts[i % len(texts)]}, ensure_ascii=False) + "\n")
    return path.stat().st_size


def tree_rss(process: psutil.Process) -> int:
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def run_engine(command: list[str], env: dict[str, str] | None = None) -> dict[str, object]:
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    process = psutil.Process(child.pid)
    peak = {"tree": 0, "driver": 0}
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            try:
                peak["tree"] = max(peak["tree"], tree_rss(process))
                peak["driver"] = max(peak["driver"], process.memory_info().rss)
            except psutil.NoSuchProcess:
                return
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = child.communicate()
    done.set()
    sampler.join()
    wall = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(f"{shlex.join(command)} failed ({child.returncode}):\n{err[-3000:]}")
    summary = json.loads(out.strip().splitlines()[-1])
    return {
        "command": shlex.join(command),
        "wall_seconds": round(wall, 2),
        "summary": summary,
        "rows_per_second_wall": round(summary["rows"] / wall, 1),
        "peak_rss_mib_all_processes": round(peak["tree"] / 2**20, 1),
        "peak_rss_mib_driver": round(peak["driver"] / 2**20, 1),
    }


def digest(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as stream:
            while block := stream.read(1 << 20):
                h.update(block)
    return h.hexdigest()


def versions() -> dict[str, str]:
    import importlib.metadata

    out = {"python": platform.python_version()}
    for name in ("edge-sentiment", "numpy", "onnxruntime", "ray", "pyarrow", "click"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data", default=None, help="the aclImdb archive (default: $EDGE_SENTIMENT_DATA)")
    parser.add_argument("--bundle", default=None)
    parser.add_argument("--engines", default="local,ray")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each engine, interleaved")
    parser.add_argument("--work-dir", default=None, help="where the input and outputs go (default: a temporary folder)")
    parser.add_argument("--json-file", default="tools/benchmarks/results/score_scale.json")
    args = parser.parse_args()

    work = Path(args.work_dir or tempfile.mkdtemp(prefix="score-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    source = work / "reviews.jsonl"
    size = write_input(source, args.rows, args.data)
    report: dict[str, object] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "rows": args.rows,
        "input_bytes": size,
        "input": "IMDB test set repeated, JSON Lines {id, text}",
        "cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "load_average_before": [round(v, 2) for v in os.getloadavg()],
        "niceness": os.nice(0),
        "ray_worker_niceness": "0 (RAY_worker_niceness, added to this niceness)",
        "versions": versions(),
        "engines": {},
    }
    base = [sys.executable, "-m", "edge_sentiment", "score", str(source), "--json", "--force"]
    if args.bundle:
        base += ["--bundle", args.bundle]
    outputs: dict[str, list[Path]] = {}
    runs: dict[str, list[dict[str, object]]] = {engine: [] for engine in args.engines.split(",")}
    for round_ in range(args.rounds):
        for engine in runs:
            if engine == "local":
                target = work / "scores.jsonl"
                command = [*base, "--out", str(target), "--threads", str(args.workers)]
            else:
                target = work / "scores-ray"
                command = [*base, "--out", str(target), "--engine", "ray", "--workers", str(args.workers)]
            print(f"round {round_ + 1}: {engine} ...", file=sys.stderr, flush=True)
            # Ray starts its workers at niceness +15 by default (RAY_worker_niceness): on a shared host that alone
            # makes them yield to every other process; 0 keeps them at this process's niceness, like the local engine.
            result = run_engine(command, env={**os.environ, "RAY_worker_niceness": "0"} if engine == "ray" else None)
            result["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
            runs[engine].append(result)
            print(json.dumps(result), file=sys.stderr, flush=True)
            if engine == "local":
                outputs[engine] = [target]
            else:
                manifest = json.loads((target / "manifest.json").read_text())
                outputs[engine] = [target / shard["file"] for shard in manifest["shards"]]
    for engine, results in runs.items():
        rates = sorted(float(r["summary"]["rows_per_second"]) for r in results)  # type: ignore[index]
        peaks = sorted(float(r["peak_rss_mib_all_processes"]) for r in results)  # type: ignore[arg-type]
        report["engines"][engine] = {  # type: ignore[index]
            "rows_per_second_median": statistics.median(rates),
            "peak_rss_mib_all_processes_max": peaks[-1],
            "runs": results,
        }
    if len(outputs) == 2:
        digests = {engine: digest(paths) for engine, paths in outputs.items()}
        report["same_output"] = len(set(digests.values())) == 1
        report["output_sha256"] = digests
    Path(args.json_file).write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
