"""Add conformance.jsonl to bundles made before it, computed from each bundle's own tokenizer and fp32
model through the runtime (no retraining, no data); every other file is kept byte for byte.

    python tools/maintenance/add_conformance.py src/edge_sentiment/assets/default tests/assets/tiny_bundle ...
"""

from __future__ import annotations

import sys

from edge_sentiment.errors import EdgeSentimentError
from edge_sentiment.export.conformance import add_conformance


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    for path in paths:
        try:
            manifest = add_conformance(path)
        except EdgeSentimentError as exc:
            print(f"✗ {path}: {exc}", file=sys.stderr)
            return 1
        print(f"✓ {path}: {manifest['conformance']['texts']} conformance vectors")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
