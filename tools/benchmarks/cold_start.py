"""Cold start of `edge-sentiment predict` against the Python API, in fresh processes, paired and interleaved.

    python tools/benchmarks/cold_start.py [--pairs 30] [--json-file tools/benchmarks/results/cold_start.json]

Each round starts, in turn, a fresh Python process for each variant and times it from start to exit:
  api               from edge_sentiment import Predictor; Predictor.load().predict(TEXT)
  api+scoring       the same after importing edge_sentiment.scoring (as `import edge_sentiment` did before
                    score_file was loaded on first use)
  cli               python -m edge_sentiment predict TEXT (each command's module loaded only when asked for)
  cli+all commands  the same after importing every command's module (as the CLI did before)
Prints each variant's median and its median difference from api over the rounds (the pairs share the
machine's state, so the difference is steadier than either figure).
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone

TEXT = "A wonderful, moving film."
ALL_COMMANDS = (
    "import sys; sys.argv = ['edge-sentiment', 'predict', {text!r}]\n"
    "from edge_sentiment.cli import bench, export, score, serve, train\n"
    "from edge_sentiment.cli import main; main()"
)
VARIANTS = {
    "api": [sys.executable, "-c", f"from edge_sentiment import Predictor; Predictor.load().predict({TEXT!r})"],
    "api+scoring": [
        sys.executable,
        "-c",
        f"import edge_sentiment.scoring\nfrom edge_sentiment import Predictor; Predictor.load().predict({TEXT!r})",
    ],
    "cli": [sys.executable, "-m", "edge_sentiment", "predict", TEXT],
    "cli+all commands": [sys.executable, "-c", ALL_COMMANDS.format(text=TEXT)],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=30)
    parser.add_argument("--json-file", default=None)
    args = parser.parse_args()
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.pairs):
        for name, command in VARIANTS.items():
            start = time.perf_counter()
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            seconds[name].append(time.perf_counter() - start)
    result = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", "tools/benchmarks/cold_start.py", *sys.argv[1:]]),
        "pairs": args.pairs,
        "median_s": {name: round(statistics.median(v), 4) for name, v in seconds.items()},
        "median_minus_api_s": {
            name: round(statistics.median(a - b for a, b in zip(v, seconds["api"])), 4) for name, v in seconds.items()
        },
        "seconds": {name: [round(x, 4) for x in v] for name, v in seconds.items()},
    }
    for name in VARIANTS:
        print(f"{name:18s} {result['median_s'][name]:.3f} s   minus api {result['median_minus_api_s'][name]:+.3f} s")
    if args.json_file:
        with open(args.json_file, "w", encoding="utf-8") as f:
            json.dump(result, f, indent=1)
            f.write("\n")


if __name__ == "__main__":
    main()
