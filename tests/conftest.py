"""Shared fixtures: the real IMDB archive (skipped where absent) and tiny archives built on the fly."""

from __future__ import annotations

import importlib.util
import io
import os
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ASSETS = Path(__file__).resolve().parent / "assets"
HAS_TF = importlib.util.find_spec("tensorflow") is not None

# A test that needs TensorFlow carries the needs_tf marker: `-m "not needs_tf"` runs the runtime alone,
# and where TensorFlow is absent such tests are skipped with the reason (pytest_collection_modifyitems).
needs_tf = pytest.mark.needs_tf


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_tf = pytest.mark.skip(reason="needs TensorFlow: pip install 'edge-sentiment[train]'")
    for item in items:
        if "imdb_path" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.needs_data)
        if not HAS_TF and item.get_closest_marker("needs_tf"):
            item.add_marker(skip_tf)


@pytest.fixture(autouse=True)
def _own_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets an empty download cache: an archive a user cached (edge-sentiment data download)
    must not stand in for the data a test gives or withholds."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def imdb_path() -> Path:
    """The real aclImdb.tar.gz from $EDGE_SENTIMENT_DATA (the test is skipped without it)."""
    value = os.environ.get("EDGE_SENTIMENT_DATA")
    if not value:
        pytest.skip("needs the IMDB archive: set EDGE_SENTIMENT_DATA to aclImdb.tar.gz (.ci/run does)")
    path = Path(value)
    if not path.exists():
        pytest.skip(f"EDGE_SENTIMENT_DATA={value} does not exist")
    return path


POSITIVE = [
    "A wonderful, moving film. The acting is great and the story is brilliant.",
    "I loved this movie! Great cast, great music, a brilliant and beautiful film.",
    "One of the best films I have seen. Wonderful, funny and moving.",
    "Excellent direction, superb acting; a great and beautiful story.",
]
NEGATIVE = [
    "A terrible, boring film. The acting is awful and the story is stupid.",
    "I hated this movie. Bad cast, bad music, an awful and boring waste of time.",
    "One of the worst films I have seen. Boring, dull and stupid.",
    "Poor direction, awful acting; a bad and boring story.",
]


def make_archive(path: Path, per_class: int = 8, extra: dict[str, bytes] | None = None) -> Path:
    """Write a tiny aclImdb-layout .tar.gz with per_class reviews in each split and polarity."""
    with tarfile.open(path, "w:gz") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("aclImdb/README", b"tiny test archive\n")
        for split in ("train", "test"):
            for polarity, texts, ratings in (("pos", POSITIVE, (7, 8, 9, 10)), ("neg", NEGATIVE, (1, 2, 3, 4))):
                for i in range(per_class):
                    text = f"{texts[i % len(texts)]} Review number {i}.<br /><br />The end."
                    add(f"aclImdb/{split}/{polarity}/{i}_{ratings[i % 4]}.txt", text.encode())
        add("aclImdb/train/unsup/0_0.txt", b"unlabeled, must be ignored")
        add("aclImdb/train/labeledBow.feat", b"0 0:1\n")
        for name, data in (extra or {}).items():
            add(name, data)
    return path


@pytest.fixture
def tiny_archive(tmp_path: Path) -> Path:
    return make_archive(tmp_path / "aclImdb.tar.gz")
