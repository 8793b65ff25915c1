"""Remake the bundle shipped inside the package (src/edge_sentiment/assets/default).

Trains a recipe on the full IMDB training set with the project's own `train`, exports it with
`export --quantize int8 --text-model --parity-samples 25000` (all gates: Keras/ONNX parity, the int8
accuracy gate and the text model's ids on the whole test split, the fast path at every length), and
writes the bundle into the package. The manifest records the commands and the metrics.

    python tools/maintenance/make_default_bundle.py --data ../shared/data/aclImdb.tar.gz [--recipe default]
    python tools/maintenance/make_default_bundle.py --run runs/default  # export a finished run only
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the project's root: this file is in tools/maintenance/
TARGET = ROOT / "src" / "edge_sentiment" / "assets" / "default"


def run(cmd: list[str]) -> None:
    print("$ " + shlex.join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=ROOT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="../shared/data/aclImdb.tar.gz", help="the aclImdb .tar.gz")
    parser.add_argument("--recipe", default="default", help="training recipe (default: default)")
    parser.add_argument("--run", default=None, help="a finished run folder to export instead of training")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "edge_sentiment"]
    run_dir = args.run or f"runs/default-{args.recipe}"
    if args.run is None:
        run(cli + ["train", "--recipe", args.recipe, "--data", args.data, "--out", run_dir, "--force"])
    run(
        cli
        + [
            "export",
            run_dir,
            "--out",
            str(TARGET.relative_to(ROOT)),
            "--data",
            args.data,
            "--quantize",
            "int8",
            "--text-model",
            "--parity-samples",
            "25000",
            "--force",
        ]
    )
    run(cli + ["verify", str(TARGET.relative_to(ROOT))])


if __name__ == "__main__":
    main()
