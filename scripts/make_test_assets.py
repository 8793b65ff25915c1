"""Remake tests/assets: a tiny run and bundle made by the project's own train and export (no IMDB data).

A synthetic archive in the aclImdb layout (seeded; positive and negative word lists over filler text)
goes through the real `train` and `export`, so the committed assets are exactly what the tools write.
Run: make test-assets
"""

from __future__ import annotations

import io
import random
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "tests" / "assets"
GOOD = "good great wonderful brilliant moving superb excellent loved beautiful best".split()
BAD = "bad awful boring terrible dull worst hated stupid poor waste".split()
FILLER = ("the a film movie story actor plot scene was is and it this of to in "
          "director cast music ending character time").split()


def synthetic_review(rng: random.Random, positive: bool) -> str:
    words = [rng.choice(FILLER) for _ in range(rng.randint(5, 60))]
    for _ in range(rng.randint(1, 4)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(GOOD if positive else BAD))
    return " ".join(words).capitalize() + ".<br /><br />"


def write_archive(path: Path, per_class: int = 200, seed: int = 0) -> Path:
    rng = random.Random(seed)
    with tarfile.open(path, "w:gz") as tar:
        for split in ("train", "test"):
            for polarity in ("pos", "neg"):
                for i in range(per_class):
                    data = synthetic_review(rng, polarity == "pos").encode()
                    info = tarfile.TarInfo(f"aclImdb/{split}/{polarity}/{i}_{8 if polarity == 'pos' else 2}.txt")
                    info.size = len(data)
                    tar.addfile(info, io.BytesIO(data))
    return path


def main() -> None:
    from edge_sentiment.export.exporter import export_bundle
    from edge_sentiment.train.recipes import Recipe
    from edge_sentiment.train.trainer import train

    recipe = Recipe(name="tiny", vocab_size=32, max_len=40, embedding_dim=8, lstm_units=8,
                    epochs=20, batch_size=16, learning_rate=0.01, dropout=0.0, recurrent_dropout=0.2, seed=7)
    with tempfile.TemporaryDirectory() as tmp:
        archive = write_archive(Path(tmp) / "synthetic.tar.gz")
        run = ASSETS / "tiny_run"
        metrics = train(archive, run, recipe, force=True, verbose=0, command="scripts/make_test_assets.py")
        export_bundle(run, ASSETS / "tiny_bundle", parity_samples=200, data=archive, force=True,
                      command="scripts/make_test_assets.py")
    # The run records where the temporary archive was; keep the assets free of machine paths.
    for folder in ("tiny_run", "tiny_bundle"):
        for name in ("metrics.json", "manifest.json"):
            path = ASSETS / folder / name
            if path.exists():
                path.write_text(path.read_text().replace(str(archive), "synthetic.tar.gz"))
    print(f"test accuracy {metrics['test_accuracy']:.3f}; wrote {ASSETS}/tiny_run and tiny_bundle")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
