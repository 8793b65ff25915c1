"""The IMDB loader: tiny archives and folders, errors, hostile and damaged archives, subsets, the real data."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest
from conftest import NEGATIVE, POSITIVE, make_archive

from edge_sentiment.data import DATA_ENV, DOWNLOAD_URL, MAX_REVIEW_BYTES, Reviews, load_imdb, resolve_data_path
from edge_sentiment.errors import DataError

PER_CLASS = 8  # what the tiny_archive fixture holds


def _tar_members(archive: Path) -> dict[str, bytes]:
    """Every regular file of an archive, read with tarfile itself (not with the code under test)."""
    with tarfile.open(archive) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}  # type: ignore[union-attr]


def _write_folder(root: Path, members: dict[str, bytes]) -> None:
    for name, data in members.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)


def _files_under(path: Path) -> list[Path]:
    return sorted(path.rglob("*"))


# -- the tiny archive ----------------------------------------------------------------------------


def test_tiny_archive_loads_both_splits(tiny_archive: Path) -> None:
    data = load_imdb(tiny_archive)
    assert sorted(data) == ["test", "train"]
    for split, reviews in data.items():
        assert reviews.split == split
        assert len(reviews) == 2 * PER_CLASS
        assert len(reviews.labels) == len(reviews.ids) == len(reviews.ratings) == len(reviews.texts)
        assert reviews.labels == [0] * PER_CLASS + [1] * PER_CLASS  # sorted by label, then id
        assert reviews.ids == list(range(PER_CLASS)) * 2
        assert reviews.ratings == [(1, 2, 3, 4)[i % 4] for i in range(PER_CLASS)] + [
            (7, 8, 9, 10)[i % 4] for i in range(PER_CLASS)
        ]


def test_tiny_archive_texts_are_unchanged(tiny_archive: Path) -> None:
    train = load_imdb(tiny_archive)["train"]
    assert train.texts[0] == f"{NEGATIVE[0]} Review number 0.<br /><br />The end."
    assert train.texts[PER_CLASS + 5] == f"{POSITIVE[1]} Review number 5.<br /><br />The end."
    assert all("<br /><br />" in t for t in train.texts)
    assert not any("unlabeled" in t for t in train.texts)  # train/unsup is ignored


def test_ignores_unsup_feat_and_other_files(tmp_path: Path) -> None:
    archive = make_archive(
        tmp_path / "a.tar.gz",
        per_class=2,
        extra={
            "aclImdb/train/unsup/5_0.txt": b"unsup",
            "aclImdb/test/labeledBow.feat": b"1 2:3\n",
            "aclImdb/imdb.vocab": b"the\nmovie\n",
            "aclImdb/test/urls_pos.txt": b"http://example.com\n",
            "aclImdb/train/pos/notes.txt": b"not a review",
            "aclImdb/train/pos/3_7.txt.bak": b"not a review",
        },
    )
    data = load_imdb(archive)
    assert [len(data[s]) for s in ("train", "test")] == [4, 4]


def test_order_is_deterministic_whatever_the_member_order(tmp_path: Path) -> None:
    """The same reviews, stored in reverse order, load identically."""
    members = _tar_members(make_archive(tmp_path / "a.tar.gz"))
    reverse = tmp_path / "reverse.tar.gz"
    with tarfile.open(reverse, "w:gz") as tar:
        for name, data in reversed(list(members.items())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    a, b = load_imdb(tmp_path / "a.tar.gz"), load_imdb(reverse)
    for split in ("train", "test"):
        assert a[split] == b[split]
        assert a[split].checksum() == b[split].checksum()


def test_one_split_only(tiny_archive: Path) -> None:
    assert list(load_imdb(tiny_archive, splits=["test"])) == ["test"]


def test_checksum_depends_on_content(tiny_archive: Path) -> None:
    train = load_imdb(tiny_archive)["train"]
    assert len(train.checksum()) == 64
    changed = Reviews(train.split, list(train.texts), list(train.labels), list(train.ids), list(train.ratings))
    assert changed.checksum() == train.checksum()
    changed.texts[3] += " "
    assert changed.checksum() != train.checksum()
    swapped = Reviews(train.split, list(train.texts), list(train.labels), list(train.ids), list(train.ratings))
    swapped.ratings[0] = 9
    assert swapped.checksum() != train.checksum()


def test_non_utf8_review_is_decoded_with_replacement(tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "a.tar.gz", per_class=1, extra={"aclImdb/train/pos/50_9.txt": b"caf\xe9 ok"})
    train = load_imdb(archive)["train"]
    assert train.texts[train.ids.index(50)] == "caf\ufffd ok"


# -- the extracted folder ------------------------------------------------------------------------


@pytest.mark.parametrize("point_at", ["parent", "aclImdb"])
def test_folder_equals_archive(tiny_archive: Path, tmp_path: Path, point_at: str) -> None:
    root = tmp_path / "extracted"
    _write_folder(root, _tar_members(tiny_archive))
    assert (root / "aclImdb" / "train" / "unsup" / "0_0.txt").exists()
    assert (root / "aclImdb" / "train" / "labeledBow.feat").exists()
    from_folder = load_imdb(root if point_at == "parent" else root / "aclImdb")
    from_archive = load_imdb(tiny_archive)
    for split in ("train", "test"):
        assert from_folder[split] == from_archive[split]
        assert from_folder[split].checksum() == from_archive[split].checksum()


def test_folder_symlink_review_is_refused(tiny_archive: Path, tmp_path: Path) -> None:
    root = tmp_path / "extracted"
    _write_folder(root, _tar_members(tiny_archive))
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (root / "aclImdb" / "train" / "pos" / "99_9.txt").symlink_to(secret)
    with pytest.raises(DataError, match="not a regular file"):
        load_imdb(root)


def test_folder_oversized_review_is_refused(tiny_archive: Path, tmp_path: Path) -> None:
    root = tmp_path / "extracted"
    _write_folder(root, _tar_members(tiny_archive))
    (root / "aclImdb" / "test" / "neg" / "99_1.txt").write_bytes(b"a" * (MAX_REVIEW_BYTES + 1))
    with pytest.raises(DataError, match="too large"):
        load_imdb(root)


# -- errors --------------------------------------------------------------------------------------


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found") as exc:
        load_imdb(tmp_path / "nope.tar.gz")
    assert "nope.tar.gz" in str(exc.value)


@pytest.mark.parametrize("content", [b"", b"this is not an archive\n" * 100, gzip.compress(b"not a tar" * 100)])
def test_not_an_archive(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "aclImdb.tar.gz"
    path.write_bytes(content)
    with pytest.raises(DataError, match="not a readable .tar.gz"):
        load_imdb(path)


def test_archive_without_test_split(tmp_path: Path) -> None:
    members = {n: d for n, d in _tar_members(make_archive(tmp_path / "full.tar.gz")).items() if "/test/" not in n}
    path = tmp_path / "no_test.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    with pytest.raises(DataError, match="no test reviews") as exc:
        load_imdb(path)
    assert "aclImdb/test/pos/" in str(exc.value)
    assert len(load_imdb(path, splits=["train"])["train"]) == 2 * PER_CLASS


@pytest.mark.parametrize("missing", ["neg", "pos"])
def test_split_with_one_polarity_only(tiny_archive: Path, tmp_path: Path, missing: str) -> None:
    root = tmp_path / "extracted"
    _write_folder(root, {n: d for n, d in _tar_members(tiny_archive).items() if f"train/{missing}/" not in n})
    with pytest.raises(DataError, match=f"no train/{missing} reviews"):
        load_imdb(root)


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no train reviews"):
        load_imdb(tmp_path)


def test_no_path_and_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(DATA_ENV, raising=False)
    for call in (lambda: resolve_data_path(None), lambda: resolve_data_path(""), lambda: load_imdb()):
        with pytest.raises(DataError) as exc:
            call()
        message = str(exc.value)
        assert "--data" in message
        assert "EDGE_SENTIMENT_DATA" in message
        assert DOWNLOAD_URL in message
        assert "aclImdb_v1.tar.gz" in message


def test_path_from_environment(tiny_archive: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_ENV, str(tiny_archive))
    assert resolve_data_path(None) == tiny_archive
    assert len(load_imdb()["test"]) == 2 * PER_CLASS


def test_explicit_path_wins_over_environment(tiny_archive: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DATA_ENV, str(tmp_path / "elsewhere.tar.gz"))
    assert resolve_data_path(tiny_archive) == tiny_archive


@pytest.mark.parametrize("splits", [["valid"], ["train", "unsup"], ["Train"]])
def test_unknown_split(tiny_archive: Path, splits: list[str]) -> None:
    with pytest.raises(DataError, match="unknown split"):
        load_imdb(tiny_archive, splits=splits)


# -- hostile archives ----------------------------------------------------------------------------


def _member(name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.linkname = linkname
    if kind == tarfile.CHRTYPE:
        info.devmajor, info.devminor = 1, 3
    return info


def _hostile_archive(path: Path, hostile: tarfile.TarInfo, data: bytes = b"", first: bool = False) -> Path:
    """The tiny archive's reviews with one hostile member, placed first or last."""
    members = _tar_members(make_archive(path.with_name("base.tar.gz")))
    path.with_name("base.tar.gz").unlink()
    with tarfile.open(path, "w:gz") as tar:
        if first:
            tar.addfile(hostile, io.BytesIO(data) if hostile.isreg() else None)
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        if not first:
            tar.addfile(hostile, io.BytesIO(data) if hostile.isreg() else None)
    return path


HOSTILE = {
    "dotdot-review": (lambda tmp: _member("aclImdb/train/pos/../../../escape_1_9.txt", size=4), "unsafe member"),
    "dotdot-other": (lambda tmp: _member("../escape.txt", size=4), "unsafe member"),
    "dotdot-named-like-review": (lambda tmp: _member("../train/pos/5_9.txt", size=4), "unsafe member"),
    "absolute": (lambda tmp: _member(str(tmp / "abs_escape.txt"), size=4), "unsafe member"),
    "absolute-review": (lambda tmp: _member("/aclImdb/train/pos/90_9.txt", size=4), "unsafe member"),
    "symlink-review": (
        lambda tmp: _member("aclImdb/train/pos/99_9.txt", tarfile.SYMTYPE, linkname="/etc/passwd"),
        "not a regular file",
    ),
    "hardlink-review": (
        lambda tmp: _member("aclImdb/train/pos/98_9.txt", tarfile.LNKTYPE, linkname="aclImdb/train/pos/0_7.txt"),
        "not a regular file",
    ),
    "device-review": (lambda tmp: _member("aclImdb/train/neg/97_1.txt", tarfile.CHRTYPE), "not a regular file"),
    "fifo-review": (lambda tmp: _member("aclImdb/test/neg/96_1.txt", tarfile.FIFOTYPE), "not a regular file"),
    "directory-review": (lambda tmp: _member("aclImdb/test/pos/95_8.txt", tarfile.DIRTYPE), "not a regular file"),
    "too-large": (lambda tmp: _member("aclImdb/train/pos/94_9.txt", size=MAX_REVIEW_BYTES + 1), "too large"),
}


@pytest.mark.parametrize("first", [True, False], ids=["first", "last"])
@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_hostile_archive_is_refused_and_nothing_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, first: bool
) -> None:
    make, message = HOSTILE[kind]
    hostile = make(tmp_path)
    archive = _hostile_archive(tmp_path / "aclImdb.tar.gz", hostile, b"x" * hostile.size, first=first)
    with tarfile.open(archive) as tar:  # the hostile member really is in the archive, as built
        stored = tar.getmember(hostile.name)
        assert stored.type == hostile.type and stored.size == hostile.size
    monkeypatch.chdir(tmp_path)  # relative member names would land here if anything were extracted
    with pytest.raises(DataError, match=message) as exc:
        load_imdb(archive)
    assert hostile.name in str(exc.value)
    assert _files_under(tmp_path) == [archive]


# -- damaged archives ----------------------------------------------------------------------------


def test_truncated_archive(tmp_path: Path) -> None:
    archive = make_archive(tmp_path / "aclImdb.tar.gz", per_class=200)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_imdb(archive)


def test_tiny_archive_cut_in_half(tiny_archive: Path) -> None:
    data = tiny_archive.read_bytes()
    tiny_archive.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="truncated|corrupt"):
        load_imdb(tiny_archive)


@pytest.mark.parametrize("cut", [1, 4, 8])
def test_archive_missing_its_gzip_trailer(tiny_archive: Path, cut: int) -> None:
    """A download that stopped just before the end (the gzip CRC and size) is truncated too."""
    data = tiny_archive.read_bytes()
    tiny_archive.write_bytes(data[:-cut])
    with pytest.raises(EOFError):
        gzip.decompress(data[:-cut])  # the premise: gzip itself sees the archive as truncated
    with pytest.raises(DataError, match="truncated or corrupt"):
        load_imdb(tiny_archive)


def test_corrupted_archive_is_never_read_silently(tiny_archive: Path) -> None:
    """Each one-byte corruption of the compressed stream is refused, or loads exactly the original reviews."""
    original = {s: r.checksum() for s, r in load_imdb(tiny_archive).items()}
    data = tiny_archive.read_bytes()
    silent = []
    for i in range(10, len(data)):  # after the gzip header's flags and mtime
        damaged = bytearray(data)
        damaged[i] ^= 0x55
        tiny_archive.write_bytes(bytes(damaged))
        try:
            loaded = load_imdb(tiny_archive)
        except DataError:
            continue
        if {s: r.checksum() for s, r in loaded.items()} != original:
            silent.append(i)
    assert silent == [], f"{len(silent)} corrupted archives loaded with changed reviews (byte offsets {silent[:10]})"


# -- subset --------------------------------------------------------------------------------------


@pytest.fixture
def forty(tmp_path: Path) -> Reviews:
    return load_imdb(make_archive(tmp_path / "a.tar.gz", per_class=20), splits=["train"])["train"]


@pytest.mark.parametrize("n", [2, 10, 11, 39])
def test_subset_balanced_deterministic_and_a_subset(forty: Reviews, n: int) -> None:
    sub = forty.subset(n, seed=3)
    assert len(sub) == n
    assert sub.split == "train"
    assert abs(sub.labels.count(1) - sub.labels.count(0)) <= 1
    rows = list(zip(forty.labels, forty.ids, forty.ratings, forty.texts))
    sub_rows = list(zip(sub.labels, sub.ids, sub.ratings, sub.texts))
    assert set(sub_rows) <= set(rows)
    assert sub_rows == sorted(sub_rows, key=rows.index)  # the original order is kept
    again = forty.subset(n, seed=3)
    assert again == sub and again.checksum() == sub.checksum()


def test_subset_seed_changes_the_sample(forty: Reviews) -> None:
    samples = {tuple(forty.subset(10, seed=s).ids) for s in range(5)}
    assert len(samples) > 1


@pytest.mark.parametrize("n", [40, 41, 10_000])
def test_subset_of_everything(forty: Reviews, n: int) -> None:
    assert forty.subset(n) == forty


def test_subset_zero(forty: Reviews) -> None:
    assert len(forty.subset(0)) == 0


# -- the real archive ----------------------------------------------------------------------------


def test_real_imdb_archive(imdb_path: Path) -> None:
    data = load_imdb(imdb_path)
    for split in ("train", "test"):
        reviews = data[split]
        assert len(reviews) == 25_000
        assert reviews.labels.count(0) == reviews.labels.count(1) == 12_500
        assert reviews.labels == sorted(reviews.labels)
        for label, allowed in ((0, range(1, 5)), (1, range(7, 11))):
            ids = [i for i, lab in zip(reviews.ids, reviews.labels) if lab == label]
            ratings = {r for r, lab in zip(reviews.ratings, reviews.labels) if lab == label}
            assert ids == sorted(ids)
            assert len(set(ids)) == 12_500
            assert ratings <= set(allowed), (split, label, sorted(ratings))
        assert all(reviews.texts)
        assert any("<br />" in t for t in reviews.texts)
