"""The IMDB archive: where it comes from, what it must be (sha256, size), and where the cache keeps it.

Standard library only and no network: data.py finds the cached archive through it, download.py fetches it.
The cache is $XDG_CACHE_HOME/edge-sentiment (default ~/.cache/edge-sentiment); the address, checksum, size
and timeout can be overridden by environment variables (for tests and mirrors).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DataError
from .runtime.files import cache_dir

__all__ = [
    "ArchiveSource",
    "source_from_env",
    "archive_path",
    "cached_archive",
    "file_sha256",
    "identify",
    "DOWNLOAD_URL",
    "ARCHIVE_NAME",
    "ARCHIVE_BYTES",
    "ARCHIVE_SHA256",
    "URL_ENV",
    "SHA256_ENV",
    "BYTES_ENV",
    "TIMEOUT_ENV",
]

DOWNLOAD_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
ARCHIVE_NAME = "aclImdb_v1.tar.gz"  # what DOWNLOAD_URL serves, and its name in the cache
ARCHIVE_BYTES = 84_125_825
ARCHIVE_SHA256 = "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe"
URL_ENV = "EDGE_SENTIMENT_DATA_URL"
SHA256_ENV = "EDGE_SENTIMENT_DATA_SHA256"
BYTES_ENV = "EDGE_SENTIMENT_DATA_BYTES"
TIMEOUT_ENV = "EDGE_SENTIMENT_DATA_TIMEOUT"
DEFAULT_TIMEOUT = 30.0  # seconds without a byte from the server before giving up


@dataclass(frozen=True)
class ArchiveSource:
    """Where the archive comes from and what it must be."""

    url: str = DOWNLOAD_URL
    sha256: str = ARCHIVE_SHA256
    size: int = ARCHIVE_BYTES
    timeout: float = DEFAULT_TIMEOUT


def source_from_env() -> ArchiveSource:
    """The canonical Source, with $EDGE_SENTIMENT_DATA_URL, _SHA256, _BYTES and _TIMEOUT applied."""
    url = os.environ.get(URL_ENV) or DOWNLOAD_URL
    if not url.startswith(("http://", "https://")):
        raise DataError(f"{URL_ENV}={url!r} is not an http:// or https:// address")
    sha256 = (os.environ.get(SHA256_ENV) or ARCHIVE_SHA256).lower()
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        raise DataError(f"{SHA256_ENV}={sha256!r} is not a sha256 (64 hexadecimal digits)")
    return ArchiveSource(
        url, sha256, number_from_env(BYTES_ENV, ARCHIVE_BYTES, int), number_from_env(TIMEOUT_ENV, DEFAULT_TIMEOUT, float)
    )


def number_from_env(name: str, default: Any, kind: Callable[[str], Any]) -> Any:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        number = kind(value)
    except ValueError:
        number = 0
    if not number > 0:
        raise DataError(f"{name}={value!r} must be a number above 0")
    return number


def archive_path() -> Path:
    """Where the verified archive lives in the cache (present or not)."""
    return cache_dir() / ARCHIVE_NAME


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def identify(path: Path, source: ArchiveSource) -> tuple[int, str | None]:
    """The file's size, and its sha256 when the size is the expected one (else None: no need to read it)."""
    size = path.stat().st_size
    return size, file_sha256(path) if size == source.size else None


def cached_archive(source: ArchiveSource | None = None) -> Path | None:
    """The cached archive when it is there and verified; None when absent; an error when it is the wrong file."""
    source = source or source_from_env()
    path = archive_path()
    if not path.is_file():
        return None
    size, digest = identify(path, source)
    if digest != source.sha256:
        raise DataError(
            f"{path} is not the IMDB archive ({size} bytes, sha256 {digest or 'not computed'}; expected "
            f"{source.size} bytes, sha256 {source.sha256}): delete it, or run 'edge-sentiment data download' "
            f"to replace it"
        )
    return path
