"""The smallest edge-sentiment program: load a bundle, score two sentences, print label and score.

python examples/minimal.py                      # the bundle shipped inside the package
python examples/minimal.py --bundle bundles/lab # a bundle you exported yourself
"""

from __future__ import annotations

import argparse
import sys

from edge_sentiment import EdgeSentimentError, Predictor

SENTENCES = [
    "A wonderful, moving film. I loved it.",
    "Dull, boring and a waste of time.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description="Score two sentences with an edge-sentiment bundle.")
    parser.add_argument("--bundle", default=None, help="bundle folder (default: the one shipped in the package)")
    args = parser.parse_args()

    try:
        predictor = Predictor.load(args.bundle, threads=1)  # verifies the bundle's checksums first
    except EdgeSentimentError as exc:  # its messages say what is wrong and what to do
        sys.exit(f"error: {exc}")
    for sentence, result in zip(SENTENCES, predictor.predict(SENTENCES)):
        print(f"{result.label:<8}  {result.score:.4f}  {sentence}")


if __name__ == "__main__":
    main()
