"""Add model.text.onnx to bundles made before it, built from each bundle's own model.onnx and tokenizer
(no retraining); measured against the Python runtime on the IMDB test set, fuzzed texts and the
conformance texts, and refused when any IMDB test review differs. Every other file is kept byte for byte.

    python tools/maintenance/add_text_model.py --data ../shared/data/aclImdb.tar.gz [--fuzz 100000] BUNDLE...
"""

from __future__ import annotations

import argparse
import sys

from edge_sentiment.errors import EdgeSentimentError
from edge_sentiment.export.textgate import add_text_model


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("bundles", nargs="+")
    parser.add_argument("--data", default=None, help="the aclImdb .tar.gz (default: $EDGE_SENTIMENT_DATA)")
    parser.add_argument("--fuzz", type=int, default=100_000, help="fuzzed texts to compare on (default 100000)")
    args = parser.parse_args()
    for path in args.bundles:
        try:
            manifest, lines = add_text_model(path, args.data, args.fuzz, log=lambda m: print(f"  {m} ...", file=sys.stderr))
        except EdgeSentimentError as exc:
            print(f"✗ {path}: {exc}", file=sys.stderr)
            return 1
        size = manifest["files"]["model.text.onnx"]["bytes"]
        print(f"✓ {path}: model.text.onnx ({size / 1024:.0f} KiB)")
        for line in lines:
            print(f"  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
