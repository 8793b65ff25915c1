"""Stamp a bundle's model files with its manifest's metadata and write its MODEL_CARD.md (bundles made
before them, or after the manifest changed); every other byte of every file is kept.

    python tools/maintenance/add_metadata.py src/edge_sentiment/assets/default tests/assets/tiny_bundle ...

Each bundle is verified first (load_bundle), rewritten atomically through export/writer.py's write_bundle
(which stamps every .onnx file and regenerates MODEL_CARD.md), then re-checked with verify_bundle.
Needs the onnx package (pip install 'edge-sentiment[train]').
"""

from __future__ import annotations

import sys

from edge_sentiment.errors import EdgeSentimentError
from edge_sentiment.export.writer import restamp_bundle
from edge_sentiment.runtime.verify import verify_bundle


def main(paths: list[str]) -> int:
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    for path in paths:
        try:
            restamp_bundle(path)
            report = verify_bundle(path)
        except EdgeSentimentError as exc:
            print(f"✗ {path}: {exc}", file=sys.stderr)
            return 1
        keys = max((report.metadata or {}).values(), default=0)
        print(f"✓ {path}: {len(report.metadata or {})} model files stamped with {keys} keys each; MODEL_CARD.md written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
