"""Cold start: a fresh process's import, load and first prediction, each phase's time and memory, paired
with a baseline commit's code and with other ways in.

    python tools/benchmarks/cold_start.py [--pairs 30] [--bundle DIR] [--baseline-commit HEAD]
        [--baseline-bundle DIR] [--text "A wonderful, moving film."]
        [--json-file tools/benchmarks/results/records/cold_start.json]

Each round starts, in turn (the order rotating between rounds), a fresh Python process for each variant and
times it from start to exit:
  api               from edge_sentiment import Predictor; Predictor.load(BUNDLE).predict(TEXT), in phases:
                    numpy, onnxruntime, edge_sentiment (the imports), load_bundle (reading and verifying the
                    bundle: manifest, tokenizer, sha256, the ONNX checks), Predictor (the sessions it opens at
                    load) and the first prediction, with the peak RSS (VmHWM) after each
  api, COMMIT       the same with --baseline-commit's src/ (`git archive COMMIT src`, on PYTHONPATH), when
                    given, on --baseline-bundle (default: the shipped one)
  cli               python -m edge_sentiment predict --bundle BUNDLE TEXT
Prints each variant's median wall time and peak RSS, its median difference from api over the rounds (the
pairs share the machine's state, so the difference is steadier than either figure), and the phases.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEXT = "A wonderful, moving film."
PHASES = """
import time
t0 = time.perf_counter()
marks = {{}}
def mark(name):
    hwm = [line for line in open('/proc/self/status') if line.startswith('VmHWM:')][0].split()[1]
    marks[name] = [time.perf_counter() - t0, int(hwm) / 1024]
import numpy
mark('numpy')
import onnxruntime
mark('onnxruntime')
from edge_sentiment import Predictor, load_bundle
mark('edge_sentiment')
bundle = load_bundle({bundle!r})
mark('load_bundle')
predictor = Predictor(bundle)
mark('Predictor')
predictor.predict({text!r})
mark('first prediction')
import json
print(json.dumps(marks))
"""


def baseline_src(commit: str) -> Path:
    """A commit's src/ folder, extracted with `git archive` (nothing in the working tree changes)."""
    folder = Path(tempfile.mkdtemp(prefix="cold-start-baseline-"))
    archive = subprocess.run(["git", "archive", commit, "src"], cwd=ROOT, check=True, capture_output=True).stdout
    archive_path = folder / "src.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(folder, filter="data")
    return folder / "src"


def run(command: list[str], env: dict[str, str]) -> tuple[float, dict[str, Any] | None, float]:
    """Wall seconds, the phases the process printed (if any) and its peak RSS in MiB (from the phases, or
    from the rusage of the children, whichever is known)."""
    start = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    try:
        phases = json.loads(done.stdout.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        phases = None
    peak = max(v[1] for v in phases.values()) if isinstance(phases, dict) else float("nan")
    return wall, phases if isinstance(phases, dict) else None, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--bundle", default=None, help="the bundle (default: the shipped one)")
    parser.add_argument("--baseline-commit", default=None)
    parser.add_argument("--baseline-bundle", default=None, help="the baseline's bundle (default: the shipped one)")
    parser.add_argument("--text", default=TEXT)
    parser.add_argument("--json-file", default=None)
    args = parser.parse_args()
    from edge_sentiment.runtime.bundle import default_bundle_path

    bundle = str(Path(args.bundle).resolve()) if args.bundle else str(default_bundle_path())
    code = PHASES.format(bundle=bundle, text=args.text)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    variants: dict[str, tuple[list[str], dict[str, str]]] = {"api": ([sys.executable, "-c", code], env)}
    if args.baseline_commit:
        src = baseline_src(args.baseline_commit)
        other = str(Path(args.baseline_bundle).resolve()) if args.baseline_bundle else str(default_bundle_path())
        baseline_code = PHASES.format(bundle=other, text=args.text)
        variants[f"api, {args.baseline_commit}"] = ([sys.executable, "-c", baseline_code], {**env, "PYTHONPATH": str(src)})
    variants["cli"] = ([sys.executable, "-m", "edge_sentiment", "predict", "--bundle", bundle, args.text], env)
    walls: dict[str, list[float]] = {name: [] for name in variants}
    peaks: dict[str, list[float]] = {name: [] for name in variants}
    phases: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
    names = list(variants)
    for round_ in range(args.pairs + 1):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            wall, marks, peak = run(*variants[name])
            if round_:  # the first round warms the file cache, unrecorded
                walls[name].append(wall)
                peaks[name].append(peak)
                if marks:
                    phases[name].append(marks)
    result: dict[str, Any] = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "tools/benchmarks/cold_start.py", *sys.argv[1:]]),
        "machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f} at the end",
        "pairs": args.pairs,
        "median_s": {name: round(statistics.median(v), 4) for name, v in walls.items()},
        "median_minus_api_s": {
            name: round(statistics.median(a - b for a, b in zip(v, walls["api"])), 4) for name, v in walls.items()
        },
        "peak_rss_mib": {name: round(statistics.median(v), 1) for name, v in peaks.items() if phases[name]},
        "phases": {},
        "seconds": {name: [round(x, 4) for x in v] for name, v in walls.items()},
    }
    for name, rows in phases.items():
        if rows:
            steps, last = {}, 0.0
            for step in rows[0]:
                at = statistics.median(r[step][0] for r in rows)
                steps[step] = {"s": round(at - last, 4), "peak_rss_mib": round(statistics.median(r[step][1] for r in rows), 1)}
                last = at
            result["phases"][name] = steps
    for name in variants:
        rss = f"  peak {result['peak_rss_mib'][name]:.1f} MiB" if name in result["peak_rss_mib"] else ""
        print(f"{name:18s} {result['median_s'][name]:.3f} s   minus api {result['median_minus_api_s'][name]:+.3f} s{rss}")
    for name, steps in result["phases"].items():
        print(
            f"  {name}: " + ", ".join(f"{step} {v['s'] * 1000:.0f} ms ({v['peak_rss_mib']:.0f} MiB)" for step, v in steps.items())
        )
    if args.json_file:
        with open(args.json_file, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
