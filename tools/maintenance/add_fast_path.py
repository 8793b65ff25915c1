"""Add the fp32 fast path (export/fastpath.py) to bundles made before it, built from each bundle's own
model.onnx (no retraining) and refused unless its scores equal model.onnx's bit for bit at every length
and on every IMDB test review. Every other file is kept byte for byte.

    python tools/maintenance/add_fast_path.py --data ../shared/data/aclImdb.tar.gz BUNDLE...
"""

from __future__ import annotations

import argparse
import sys

from edge_sentiment.errors import EdgeSentimentError
from edge_sentiment.export.fastpath import add_fast_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundles", nargs="+")
    parser.add_argument("--data", default=None, help="the aclImdb .tar.gz: compare on its 25,000 test reviews too")
    args = parser.parse_args()
    for path in args.bundles:
        try:
            manifest, line = add_fast_path(path, args.data, log=lambda m: print(f"  {m} ...", file=sys.stderr))
        except EdgeSentimentError as exc:
            print(f"✗ {path}: {exc}", file=sys.stderr)
            return 1
        size = sum(manifest["files"][name]["bytes"] for name in manifest["fast_path"]["files"].values())
        print(f"✓ {path}: fast path ({size / 1024:.0f} KiB): {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
