"""Run the reliability trials at full scale and print the figures of docs/reliability.md.

The trials live in tests/reliability_trials.py, which tests/test_reliability.py imports and runs small.
Run: python scripts/reliability.py [--json-file runs/reliability.json] (--help for the sizes)
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from reliability_trials import main  # noqa: E402  (tests/ is not a package on the default path)

if __name__ == "__main__":
    raise SystemExit(main())
