"""Reads the Large Movie Review Dataset (Maas et al., 2011) from its .tar.gz or a folder, without extracting."""

from __future__ import annotations

import hashlib
import lzma
import os
import re
import tarfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from .archive import ARCHIVE_BYTES, ARCHIVE_NAME, ARCHIVE_SHA256, DOWNLOAD_URL, archive_path, cached_archive, source_from_env
from .errors import DataError

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "Reviews",
    "load_imdb",
    "resolve_data_path",
    "keras_imdb",
    "keras_imdb_texts",
    "DATA_ENV",
    "DOWNLOAD_URL",
    "ARCHIVE_NAME",
    "ARCHIVE_BYTES",
    "ARCHIVE_SHA256",
]

DATA_ENV = "EDGE_SENTIMENT_DATA"
SPLITS = ("train", "test")
LABELS = {"neg": 0, "pos": 1}
MAX_REVIEW_BYTES = 1 << 20  # the largest IMDB review is ~14 KB
_MEMBER = re.compile(r"^(?:\./)?(?:aclImdb/)?(train|test)/(pos|neg)/(\d{1,9})_(\d{1,2})\.txt$")


@dataclass
class Reviews:
    """One split: texts with their labels (1 = positive), review ids and star ratings, in a fixed order."""

    split: str
    texts: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    ids: list[int] = field(default_factory=list)
    ratings: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.texts)

    def checksum(self) -> str:
        """sha256 over (label, id, rating, text) in order: the same for the archive and the folder."""
        h = hashlib.sha256()
        for text, label, rid, rating in zip(self.texts, self.labels, self.ids, self.ratings):
            h.update(f"{label}\t{rid}\t{rating}\t{len(text)}\n".encode())
            h.update(text.encode("utf-8", "surrogatepass"))
        return h.hexdigest()

    def subset(self, n: int, seed: int = 0) -> "Reviews":
        """A deterministic, class-balanced sample of n reviews (all when n >= len)."""
        if n < 0:
            raise DataError(f"a subset needs a size of 0 or more, got {n}")
        if n >= len(self):
            return Reviews(self.split, list(self.texts), list(self.labels), list(self.ids), list(self.ratings))
        import random

        order = list(range(len(self)))
        random.Random(seed).shuffle(order)
        pos = [i for i in order if self.labels[i] == 1][: (n + 1) // 2]
        neg = [i for i in order if self.labels[i] == 0][: n - len(pos)]
        keep = sorted(pos + neg)
        return Reviews(
            self.split,
            [self.texts[i] for i in keep],
            [self.labels[i] for i in keep],
            [self.ids[i] for i in keep],
            [self.ratings[i] for i in keep],
        )


def resolve_data_path(path: str | os.PathLike[str] | None) -> Path:
    """The --data path, else $EDGE_SENTIMENT_DATA, else the verified archive in the cache; never downloads."""
    if path is None or str(path) == "":
        env = os.environ.get(DATA_ENV, "")
        if not env:
            cached = cached_archive()
            if cached is not None:
                return cached
            raise DataError(
                f"no IMDB data given: pass --data PATH, set {DATA_ENV}, or run 'edge-sentiment data download', "
                f"which fetches the archive ({source_from_env().url}, 84 MB) into {archive_path()}. "
                f"The .tar.gz ({ARCHIVE_NAME}) is read as it is, without extracting."
            )
        path = env
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError(f"IMDB data not found at {p}: pass the aclImdb .tar.gz or its extracted folder")
    return p


def load_imdb(path: str | os.PathLike[str] | None = None, splits: Sequence[str] = SPLITS) -> dict[str, Reviews]:
    """Load the requested splits from an aclImdb .tar.gz (streamed, never extracted) or folder."""
    for s in splits:
        if s not in SPLITS:
            raise DataError(f"unknown split {s!r}; the IMDB splits are {', '.join(SPLITS)}")
    root = resolve_data_path(path)
    rows: dict[str, list[tuple[int, int, int, str]]] = {s: [] for s in splits}
    source = _walk_folder(root) if root.is_dir() else _walk_archive(root)
    for split, label, rid, rating, raw in source:
        if split in rows:
            rows[split].append((label, rid, rating, raw.decode("utf-8", "replace")))
    out = {}
    for split in splits:
        found = sorted(rows[split])
        if not found:
            raise DataError(f"no {split} reviews in {root}: expected files like aclImdb/{split}/pos/<id>_<rating>.txt")
        for name, value in LABELS.items():
            if not any(r[0] == value for r in found):
                raise DataError(f"{root} has no {split}/{name} reviews; the split is incomplete")
        out[split] = Reviews(
            split,
            texts=[r[3] for r in found],
            labels=[r[0] for r in found],
            ids=[r[1] for r in found],
            ratings=[r[2] for r in found],
        )
    return out


def _parse(name: str) -> tuple[str, int, int, int] | None:
    m = _MEMBER.match(name)
    if m is None:
        return None
    split, polarity, rid, rating = m.groups()
    return split, LABELS[polarity], int(rid), int(rating)


def _walk_archive(path: Path) -> Iterator[tuple[str, int, int, int, bytes]]:
    try:
        archive = tarfile.open(path, mode="r:*")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{path} is not a readable .tar.gz archive of the IMDB data ({exc})") from None
    with archive:
        try:
            for member in archive:
                name = member.name
                if name.startswith(("/", "\\")) or ".." in Path(name).parts:
                    raise DataError(f"{path} holds an unsafe member name {name!r}; refusing the archive")
                parsed = _parse(name)
                if parsed is None:
                    continue  # README, imdb.vocab, unsup/, *.feat and folders are not reviews
                if not member.isreg():
                    raise DataError(f"{path}: member {name!r} is not a regular file (link or device); refused")
                if member.size > MAX_REVIEW_BYTES:
                    raise DataError(f"{path}: member {name!r} is {member.size} bytes, too large for a review")
                handle = archive.extractfile(member)
                if handle is None:
                    raise DataError(f"{path}: member {name!r} could not be read")
                yield (*parsed, handle.read(MAX_REVIEW_BYTES + 1))
            # tarfile stops at the end-of-archive marker; read to the end so gzip checks its CRC.
            while archive.fileobj.read(1 << 20):
                pass
        except (tarfile.TarError, OSError, EOFError, ValueError, zlib.error, lzma.LZMAError) as exc:
            raise DataError(f"{path} is truncated or corrupt ({exc}); download it again") from None


def _walk_folder(root: Path) -> Iterator[tuple[str, int, int, int, bytes]]:
    base = root / "aclImdb" if (root / "aclImdb").is_dir() else root
    for split in SPLITS:
        for polarity in LABELS:
            folder = base / split / polarity
            if not folder.is_dir():
                continue
            for entry in os.scandir(folder):
                parsed = _parse(f"{split}/{polarity}/{entry.name}")
                if parsed is None:
                    continue
                if not entry.is_file(follow_symlinks=False):
                    raise DataError(f"{entry.path} is not a regular file (link or device); refused")
                if entry.stat(follow_symlinks=False).st_size > MAX_REVIEW_BYTES:
                    raise DataError(f"{entry.path} is too large for a review")
                with open(entry.path, "rb") as fh:
                    yield (*parsed, fh.read())


def keras_imdb_texts(path: str | os.PathLike[str] | None = None, seed: int = 113) -> dict[str, tuple[list[str], np.ndarray]]:
    """Each split's raw texts and labels in the order keras.datasets.imdb.load_data(seed=seed) gives them.

    Keras's imdb.npz lists each split's positive reviews, then its negative ones, each by file name
    (as a string: 0_9.txt, 10000_8.txt, ...); load_data shuffles train, then test, with one
    np.random.RandomState(seed). Checked against the first 5,000 training reviews of Keras's own file.
    """
    import numpy as np

    splits = load_imdb(path)
    rng = np.random.RandomState(seed)
    out = {}
    for split in SPLITS:
        reviews = splits[split]
        order = sorted(range(len(reviews)), key=lambda i: (-reviews.labels[i], f"{reviews.ids[i]}_{reviews.ratings[i]}.txt"))
        indices = np.arange(len(order))
        rng.shuffle(indices)
        picked = [order[i] for i in indices]
        out[split] = ([reviews.texts[i] for i in picked], np.asarray([reviews.labels[i] for i in picked], dtype=np.int64))
    return out


def keras_imdb(
    path: str | os.PathLike[str] | None = None,
    *,
    word_index: str | os.PathLike[str] | dict[str, int],
    num_words: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int = 2,
    index_from: int = 3,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(x_train, y_train), (x_test, y_test) as keras.datasets.imdb.load_data gives them (skip_top=0,
    maxlen=None), rebuilt from the raw archive and the Keras word index with the keras-imdb tokenizer."""
    import json

    import numpy as np

    from .runtime.keras_tokenizers import KerasImdbTokenizer
    from .runtime.tokenizer_base import MAX_IDS_PER_TEXT

    if not isinstance(word_index, dict):
        word_index = json.loads(Path(word_index).read_text(encoding="utf-8"))
    texts = keras_imdb_texts(path, seed)
    limit = num_words or max(word_index.values()) + index_from + 1
    tok = KerasImdbTokenizer(
        word_index, num_words=limit, index_from=index_from, start_char=start_char, oov_char=oov_char, max_len=MAX_IDS_PER_TEXT
    )
    ids = {split: [tok.all_ids(t) for t in texts[split][0]] for split in SPLITS}
    if num_words is None:  # load_data then takes the largest id present as num_words, which excludes that id
        top = max(max(x) for rows in ids.values() for x in rows if x)
        ids = {split: [[w if w < top else oov_char for w in x] for x in rows] for split, rows in ids.items()}
    arrays = []
    for split in SPLITS:
        x = np.empty(len(ids[split]), dtype=object)
        x[:] = ids[split]
        arrays.append((x, texts[split][1]))
    return arrays[0], arrays[1]
